"""Staff routes over appointments: listing, detail with the invite block, attendance, cancel."""

from __future__ import annotations

from aiohttp import web

from services.search_service import repository as repo
from services.search_service.api_staff import STAFF, listing_range
from services.search_service.models import AppointmentList, AppointmentQuery, AttendanceIn
from services.search_service.outbox_events import attendance_event, cancelled_event
from services.search_service.presenters import (
    appointment_detail,
    appointment_out,
    decode_time_cursor,
    encode_cursor,
)
from shared.bus.outbox import add_to_outbox
from shared.errors import Problem
from shared.http import json_response, parse_body, parse_query, require_role
from shared.runtime import RUNTIME


async def list_appointments(request: web.Request) -> web.Response:
    require_role(request, *STAFF)
    q = parse_query(request, AppointmentQuery)
    after = decode_time_cursor(q.cursor)
    async with request.app[RUNTIME].db.acquire() as conn:
        start, end = await listing_range(conn, q.from_, q.to, q.center_id)
        rows = await repo.list_appointments(
            conn,
            start=start,
            end=end,
            consultant_id=q.consultant_id,
            availability_id=q.availability_id,
            center_id=q.center_id,
            student_id=q.student_id,
            invite_id=q.invite_id,
            status=q.status,
            limit=q.limit + 1,
            after=after,
        )
    page = rows[: q.limit]
    cursor = None
    if len(rows) > q.limit:
        cursor = encode_cursor(page[-1]["starts_at"].isoformat(), page[-1]["id"])
    return json_response(
        AppointmentList(items=[appointment_out(r) for r in page], next_cursor=cursor)
    )


async def get_appointment(request: web.Request) -> web.Response:
    require_role(request, *STAFF)
    async with request.app[RUNTIME].db.acquire() as conn:
        row = await repo.get_appointment(conn, request.match_info["appointment_id"])
        if row is None:
            raise Problem(404, "No such appointment.")
        invite = await repo.invite_block(conn, row["invite_id"])
    return json_response(appointment_detail(row, invite))


async def patch_appointment(request: web.Request) -> web.Response:
    """Mark attendance; the event goes out only when it changes."""
    require_role(request, *STAFF)
    body = await parse_body(request, AttendanceIn)
    runtime = request.app[RUNTIME]
    appointment_id = request.match_info["appointment_id"]
    async with runtime.db.acquire() as conn, conn.transaction():
        row = await repo.get_appointment(conn, appointment_id, lock=True)
        if row is None:
            raise Problem(404, "No such appointment.")
        if row["status"] != "active":
            raise Problem(409, "The appointment was cancelled; attendance cannot be marked.")
        if row["attendance"] != body.attendance:
            await repo.set_attendance(conn, appointment_id, body.attendance)
            await add_to_outbox(conn, [attendance_event(row, body.attendance)])
        row = await repo.get_appointment(conn, appointment_id)
        invite = await repo.invite_block(conn, row["invite_id"]) if row else None
    runtime.wake_relay()
    return json_response(appointment_detail(row, invite))


async def cancel_appointment(request: web.Request) -> web.Response:
    """Frees the slot; the invitee can book again (invite_service hears the event)."""
    ident = require_role(request, *STAFF)
    runtime = request.app[RUNTIME]
    appointment_id = request.match_info["appointment_id"]
    now = runtime.clock.now()
    async with runtime.db.acquire() as conn, conn.transaction():
        row = await repo.get_appointment(conn, appointment_id, lock=True)
        if row is None:
            raise Problem(404, "No such appointment.")
        if row["status"] != "active":
            raise Problem(409, "The appointment is already cancelled.")
        await repo.cancel_appointment(conn, appointment_id, now, ident.sub)
        await add_to_outbox(
            conn,
            [cancelled_event(row["id"], row["invitee_id"], row["invite_id"], now, ident.sub)],
        )
        row = await repo.get_appointment(conn, appointment_id)
        invite = await repo.invite_block(conn, row["invite_id"]) if row else None
    runtime.wake_relay()
    return json_response(appointment_detail(row, invite))
