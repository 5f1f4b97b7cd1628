"""Booking through the student's link, and the student's view of the appointment.

Every restriction is checked again on the server (the slot the client sends is never
trusted); PostgreSQL's constraints and capacity trigger have the last word.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from aiohttp import web

from services.search_service import repository as repo
from services.search_service.api_invitations import (
    NOT_FOUND,
    Invitation,
    duration_for,
    open_link,
    resolve_link,
)
from services.search_service.domain.model import Busy, Center
from services.search_service.domain.slots import SearchInput, check_booking
from services.search_service.domain.window import Window
from services.search_service.models import BookIn
from services.search_service.outbox_events import booked_event
from services.search_service.presenters import student_appointment_out
from services.search_service.slot_cache import slot_cache
from shared.bus.outbox import add_to_outbox
from shared.errors import Problem, field_problem
from shared.http import identity, json_response, parse_body
from shared.runtime import RUNTIME
from shared.tokens import hash_token, looks_like_token

log = logging.getLogger(__name__)

ALREADY_BOOKED = "You already have an appointment for this invite."
TAKEN = "That time was just taken. Please choose another."


def _open_link(ctx: Any, now: datetime) -> Invitation:
    """The link as ``resolve`` would resolve it, from a ``booking_context`` row."""
    if ctx is None or ctx["invitee_id"] is None:
        raise Problem(404, NOT_FOUND)
    return open_link(ctx, {c["id"]: Center(**c) for c in ctx["link_centers"]}, now)


async def book(request: web.Request) -> web.Response:
    ident = identity(request)
    runtime = request.app[RUNTIME]
    body = await parse_body(request, BookIn)
    token = request.match_info["token"]
    if not looks_like_token(token):
        raise Problem(404, NOT_FOUND)
    # A student books through the link; staff using the link book on the student's behalf.
    booked_by = ident.sub if ident.is_staff else "student"
    now = runtime.clock.now()
    async with runtime.db.acquire() as conn:
        # One read answers the refusals (most attempts in a rush are for a taken time)
        # without a transaction. It decides nothing alone: the insert below is checked
        # again by PostgreSQL (the capacity trigger locks the availability and counts,
        # the unique index allows one active appointment per invitee).
        ctx = await repo.booking_context(conn, hash_token(token), body.availability_id)
        inv = _open_link(ctx, now)
        if inv.status == "booked":
            raise Problem(409, ALREADY_BOOKED)
        avail = inv.row  # the same row carries the availability's columns
        if avail["id"] is None:
            raise field_problem("availability_id", "no such availability")
        center = inv.centers.get(avail["center_id"])
        if center is None:
            if inv.restrictions.center_ids:
                raise field_problem("center", "the invite is not for this availability's center")
            raise field_problem("availability_id", "no such availability")
        duration = duration_for(inv, center, repo.rules_of(avail["rules"]))
        tz = ZoneInfo(center.timezone)
        plan = SearchInput(
            restrictions=inv.restrictions,
            interval_minutes=center.slot_interval_minutes,
            duration_minutes=duration.minutes,
            timezone=tz,
            window=Window(body.starts_at, body.starts_at),  # no search window here
            now=now,
        )
        busy = [Busy(r.lower, r.upper) for r in avail["busy"]]
        refusals = check_booking(repo.availability_of(avail), busy, body.starts_at, plan)
        if any(r.taken for r in refusals):
            raise Problem(409, TAKEN)
        if refusals:
            errors = [{"field": r.field, "message": r.message} for r in refusals]
            detail = "; ".join(f"{r.field}: {r.message}" for r in refusals)
            raise Problem(422, f"The invite does not allow this booking ({detail}).", errors=errors)
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
        try:
            async with conn.transaction():
                await repo.insert_appointment(conn, values)
                await add_to_outbox(conn, [booked_event(values, avail, duration.rule)])
        except asyncpg.UniqueViolationError as exc:
            raise Problem(409, ALREADY_BOOKED) from exc
        except asyncpg.ExclusionViolationError as exc:
            raise Problem(409, TAKEN) from exc
        except asyncpg.CheckViolationError as exc:
            raise field_problem(
                "starts_at", "the appointment does not fit the availability"
            ) from exc
    runtime.wake_relay()
    log.info(
        "appointment booked",
        extra={"appointment_id": values["id"], "invitee_id": values["invitee_id"]},
    )
    # What was just written (availabilities never change), so no read back.
    row = {
        **values,
        "status": "active",
        "consultant_name": avail["consultant_name"],
        "center_name": avail["center_name"],
        "timezone": avail["timezone"],
        "modality": avail["modality"],
        "kind": avail["kind"],
    }
    return json_response(student_appointment_out(row), status=201)


async def get_my_appointment(request: web.Request) -> web.Response:
    identity(request)
    runtime = request.app[RUNTIME]
    async with runtime.db.acquire() as conn:
        inv, _ = await resolve_link(
            conn, slot_cache(request), request.match_info["token"], runtime.clock.now()
        )
        appointment_id = inv.row["appointment_id"]
        if appointment_id is None:
            raise Problem(404, "There is no appointment booked for this invite yet.")
        row = await repo.get_appointment(conn, appointment_id)
    if row is None:
        raise Problem(404, "There is no appointment booked for this invite yet.")
    return json_response(student_appointment_out(row))
