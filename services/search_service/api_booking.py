"""Booking through the student's link, and the student's view of the appointment.

Every restriction is checked again on the server (the slot the client sends is never
trusted); PostgreSQL's constraints and capacity trigger have the last word.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import asyncpg
from aiohttp import web

from services.search_service import repository as repo
from services.search_service.api_invitations import duration_for, resolve
from services.search_service.domain.slots import SearchInput, check_booking
from services.search_service.domain.window import Window
from services.search_service.models import BookIn
from services.search_service.outbox_events import booked_event
from services.search_service.presenters import student_appointment_out
from shared.bus.outbox import add_to_outbox
from shared.errors import Problem, field_problem
from shared.http import identity, json_response, parse_body
from shared.runtime import RUNTIME

log = logging.getLogger(__name__)


async def book(request: web.Request) -> web.Response:
    ident = identity(request)
    runtime = request.app[RUNTIME]
    body = await parse_body(request, BookIn)
    # A student books through the link; staff using the link book on the student's behalf.
    booked_by = ident.sub if ident.is_staff else "student"
    now = runtime.clock.now()
    try:
        async with runtime.db.acquire() as conn, conn.transaction():
            inv = await resolve(conn, request.match_info["token"], now)
            if inv.status == "booked":
                raise Problem(409, "You already have an appointment for this invite.")
            # The row lock serialises bookings of one availability; the capacity
            # trigger and the constraints re-check in PostgreSQL whatever happens here.
            avail = await repo.lock_availability(conn, body.availability_id)
            if avail is None:
                raise field_problem("availability_id", "no such availability")
            center = inv.centers.get(avail["center_id"])
            if center is None:
                if inv.restrictions.center_ids:
                    raise field_problem(
                        "center", "the invite is not for this availability's center"
                    )
                raise field_problem("availability_id", "no such availability")
            rules = await repo.duration_rules(conn)
            duration = duration_for(inv, center, rules)
            tz = ZoneInfo(center.timezone)
            plan = SearchInput(
                restrictions=inv.restrictions,
                interval_minutes=center.slot_interval_minutes,
                duration_minutes=duration.minutes,
                timezone=tz,
                window=Window(body.starts_at, body.starts_at),  # no search window here
                now=now,
            )
            busy = await repo.busy_for(conn, [avail["id"]])
            refusals = check_booking(
                repo.availability_of(avail), busy.get(avail["id"], []), body.starts_at, plan
            )
            if any(r.taken for r in refusals):
                raise Problem(409, "That time was just taken. Please choose another.")
            if refusals:
                errors = [{"field": r.field, "message": r.message} for r in refusals]
                detail = "; ".join(f"{r.field}: {r.message}" for r in refusals)
                raise Problem(
                    422, f"The invite does not allow this booking ({detail}).", errors=errors
                )
            # UTC: adding minutes to a time in a DST zone would add wall-clock minutes.
            starts_at = body.starts_at.astimezone(UTC)
            values = {
                "id": str(uuid.uuid4()),
                "availability_id": avail["id"],
                "consultant_id": avail["consultant_id"],
                "center_id": avail["center_id"],
                "invitee_id": inv.row["invitee_id"],
                "invite_id": inv.row["invite_id"],
                "student_id": inv.row["student_id"],
                "starts_at": starts_at,
                "ends_at": starts_at + timedelta(minutes=duration.minutes),
                "duration_minutes": duration.minutes,
                "asked_duration_minutes": duration.asked_minutes,
                "applied_rule": duration.rule.model_dump() if duration.rule else None,
                "booked_by": booked_by,
                "booked_at": now,
            }
            await repo.insert_appointment(conn, values)
            await add_to_outbox(conn, [booked_event(values, avail, duration.rule)])
            row = await repo.get_appointment(conn, values["id"])
    except asyncpg.UniqueViolationError as exc:
        raise Problem(409, "You already have an appointment for this invite.") from exc
    except asyncpg.ExclusionViolationError as exc:
        raise Problem(409, "That time was just taken. Please choose another.") from exc
    except asyncpg.CheckViolationError as exc:
        raise field_problem("starts_at", "the appointment does not fit the availability") from exc
    runtime.wake_relay()
    log.info(
        "appointment booked",
        extra={"appointment_id": values["id"], "invitee_id": values["invitee_id"]},
    )
    return json_response(student_appointment_out(row), status=201)


async def get_my_appointment(request: web.Request) -> web.Response:
    identity(request)
    runtime = request.app[RUNTIME]
    async with runtime.db.acquire() as conn:
        inv = await resolve(conn, request.match_info["token"], runtime.clock.now())
        appointment_id = inv.row["appointment_id"]
        if appointment_id is None:
            raise Problem(404, "There is no appointment booked for this invite yet.")
        row = await repo.get_appointment(conn, appointment_id)
    if row is None:
        raise Problem(404, "There is no appointment booked for this invite yet.")
    return json_response(student_appointment_out(row))
