"""The student's link: what the invite allows, its slots, booking, and the appointment.

The token in the path is what authorises (any signed identity may call; the gateway
sends students as role "student"). An unknown, cancelled or expired token gets the
same 404 as every other, so a link reveals nothing about why it does not work.
"""

from __future__ import annotations

import heapq
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from aiohttp import web

from services.search_service import repository as repo
from services.search_service.domain.duration import BookedDuration, booked_duration
from services.search_service.domain.links import link_status
from services.search_service.domain.model import Center, Restrictions, Slot
from services.search_service.domain.slot_key import (
    center_plan,
    next_minute,
    preferred_encoding,
    slots_key,
)
from services.search_service.domain.slots import SearchInput, search_slots
from services.search_service.domain.window import (
    Bound,
    Window,
    WindowError,
    parse_bound,
    resolve_window,
)
from services.search_service.models import (
    InvitationOut,
    ModalitiesView,
    ReasonView,
    Ref,
    RestrictionsView,
    SectionView,
    SlotsQuery,
)
from services.search_service.slot_cache import Answer, SlotCache, encode, respond, slot_cache
from shared.errors import Problem, field_problem
from shared.events import DurationRule
from shared.http import identity, json_response, parse_query
from shared.runtime import RUNTIME, Runtime
from shared.templates import TemplateProblem, invite_email_context, render
from shared.tokens import hash_token, link_for, looks_like_token

log = logging.getLogger(__name__)

NOT_FOUND = "This link is not valid. Please contact the center that sent it."


def _not_found() -> Problem:
    return Problem(404, NOT_FOUND)


@dataclass(frozen=True)
class Invitation:
    """A resolved, open link: the invitee's row and what the invite allows."""

    row: Any
    restrictions: Restrictions
    status: str
    centers: dict[str, Center]


def restrictions_of(row: Any) -> Restrictions:
    modalities = row["modalities"] or {}
    section = row["section"]
    reason = row["reason"]
    return Restrictions(
        due_date=row["due_date"],
        type=row["type"],
        section_id=section["section_id"] if section else None,
        reason_id=reason["reason_id"] if reason else None,
        duration_minutes=row["duration_minutes"],
        in_person=bool(modalities.get("in_person", True)),
        online=bool(modalities.get("online", False)),
        one_on_one=bool(modalities.get("one_on_one", True)),
        group=bool(modalities.get("group", True)),
        center_ids=frozenset(row["center_ids"] or ()),
    )


def open_link(row: Any, centers: dict[str, Center], now: datetime) -> Invitation:
    """The invitation of a link's row, or the same 404 as an unknown link when closed."""
    status = link_status(
        cancelled=bool(row["cancelled"]),
        replica_status=row["replica_status"],
        has_appointment=row["appointment_id"] is not None,
        due_date=row["due_date"],
        timezones=[ZoneInfo(c.timezone) for c in centers.values()],
        now=now,
    )
    if status in ("cancelled", "expired"):
        raise _not_found()
    return Invitation(row, restrictions_of(row), status, centers)


async def resolve_link(
    conn: asyncpg.Connection, cache: SlotCache, token: str, now: datetime
) -> tuple[Invitation, list[DurationRule]]:
    """``resolve`` plus the duration rules in one round trip: the link's row is read,
    centers and rules come from the cache's directory (read only after a change)."""
    if not looks_like_token(token):
        raise _not_found()
    row = await repo.invitation_by_token(conn, hash_token(token))
    if row is None:
        raise _not_found()
    directory = await cache.directory(conn)
    return open_link(row, directory.centers_of(row["center_ids"]), now), directory.rules


def duration_for(inv: Invitation, center: Center, rules: list[Any]) -> BookedDuration:
    return booked_duration(
        invite_duration=inv.restrictions.duration_minutes,
        center_default=center.default_appointment_minutes,
        invite_type=inv.restrictions.type,
        lists=inv.row["lists"],
        rules=rules,
    )


# ------------------------------------------------------------------ GET the invitation
async def get_invitation(request: web.Request) -> web.Response:
    identity(request)
    runtime = request.app[RUNTIME]
    token = request.match_info["token"]
    async with runtime.db.acquire() as conn:
        inv, rules = await resolve_link(conn, slot_cache(request), token, runtime.clock.now())
    row = inv.row
    # The duration the student will book; the same at every center unless the invite
    # leaves it to each center's default, then it is shown only when all agree.
    durations = {duration_for(inv, c, rules).minutes for c in inv.centers.values()}
    if not inv.centers and inv.restrictions.duration_minutes is not None:
        durations = {inv.restrictions.duration_minutes}
    first_center = next(iter(inv.centers.values()), None)
    instructions = _instructions(row, token, runtime.settings.public_base_url, first_center)
    section, reason, modalities = row["section"], row["reason"], row["modalities"] or {}
    body = InvitationOut(
        type=row["type"],
        due_date=row["due_date"],
        instructions=instructions,
        restrictions=RestrictionsView(
            section=SectionView(**section) if section else None,
            reason=ReasonView(**reason) if reason else None,
            duration_minutes=durations.pop() if len(durations) == 1 else None,
            modalities=ModalitiesView(
                in_person=bool(modalities.get("in_person", True)),
                online=bool(modalities.get("online", False)),
                one_on_one=bool(modalities.get("one_on_one", True)),
                group=bool(modalities.get("group", True)),
            ),
        ),
        status="booked" if inv.status == "booked" else "invited",
        appointment_id=row["appointment_id"],
        centers=[Ref(id=c.id, name=c.name) for c in inv.centers.values()],
    )
    return json_response(body)


def _instructions(row: Any, token: str, base_url: str, center: Center | None) -> str:
    """The widget's instructions rendered for this student (as in the email)."""
    source = row["instructions_template"] or ""
    if not source:
        return ""
    section, reason = row["section"], row["reason"]
    invite = SimpleNamespace(
        type=row["type"],
        due_date=row["due_date"],
        duration_minutes=row["duration_minutes"],
        notes=None,  # staff notes never reach the student's page
        section=SimpleNamespace(**section) if section else None,
        reason=SimpleNamespace(**reason) if reason else None,
    )
    invitee = SimpleNamespace(
        first_name=row["first_name"],
        last_name=row["last_name"],
        email=row["email"],
        student_id=row["student_id"],
        link=link_for(base_url, token),
    )
    context = invite_email_context(invite, invitee, center_name=center.name if center else "")
    try:
        return render(source, context)
    except TemplateProblem as exc:
        log.warning("instructions did not render", extra={"error": str(exc)})
        return ""


# ------------------------------------------------------------------ slots
def parse_window_bounds(q: SlotsQuery) -> tuple[Bound | None, Bound | None]:
    try:
        return parse_bound(q.from_, "from"), parse_bound(q.to, "to")
    except WindowError as exc:
        raise field_problem(exc.field, exc.message) from exc


def window_for(
    start: Bound | None, end: Bound | None, tz: ZoneInfo, now: datetime, inv: Invitation
) -> Window:
    try:
        return resolve_window(start, end, tz=tz, now=now, due_date=inv.restrictions.due_date)
    except WindowError as exc:
        raise field_problem(exc.field, exc.message) from exc


async def get_slots(request: web.Request) -> web.Response:
    """Every slot of the window at once, the same for every invitee of the invite.

    One query resolves the link; the answer is the cache's (domain/slot_key.py says
    what it is keyed on), computed from the database only when it is not there.
    """
    identity(request)
    runtime = request.app[RUNTIME]
    q = parse_query(request, SlotsQuery)
    start, end = parse_window_bounds(q)
    now = runtime.clock.now()
    cache = slot_cache(request)
    async with runtime.db.acquire() as conn:
        inv, rules = await resolve_link(conn, cache, request.match_info["token"], now)
    # The window is checked even when no center is known yet.
    window_for(start, end, ZoneInfo("UTC"), now, inv)
    # Slots as of the next whole minute: never a start before now, and one answer
    # serves everyone asking during this minute.
    as_of = next_minute(now)
    plans: dict[str, SearchInput] = {}
    for center in inv.centers.values():
        tz = ZoneInfo(center.timezone)
        plans[center.id] = SearchInput(
            restrictions=inv.restrictions,
            interval_minutes=center.slot_interval_minutes,
            duration_minutes=duration_for(inv, center, rules).minutes,
            timezone=tz,
            window=window_for(start, end, tz, now, inv),
            now=as_of,
        )
    if not plans:
        return json_response({"items": []})
    key = slots_key(
        now,
        inv.restrictions,
        (
            center_plan(
                center_id=cid,
                name=inv.centers[cid].name,
                timezone=inv.centers[cid].timezone,
                interval_minutes=plan.interval_minutes,
                duration_minutes=plan.duration_minutes,
                window=plan.window,
            )
            for cid, plan in plans.items()
        ),
    )
    answer = await cache.get(key, lambda: _compute(runtime, inv, plans))
    return respond(answer, preferred_encoding(request.headers.get("Accept-Encoding")))


async def _compute(runtime: Runtime, inv: Invitation, plans: dict[str, SearchInput]) -> Answer:
    """The answer from the database: the usable blocks, their appointments, the slots."""
    r = inv.restrictions
    as_of = next(iter(plans.values())).now
    async with runtime.db.acquire() as conn:
        rows = await repo.search_availabilities(
            conn,
            center_ids=list(plans),
            start=max(min(p.window.start for p in plans.values()), as_of),
            end=max(p.window.end for p in plans.values()),
            modalities=sorted(r.modalities),
            kinds=sorted(r.kinds),
            section_id=r.section_id,
            reason_id=r.reason_id,
            min_minutes=min(p.duration_minutes for p in plans.values()),
        )
        busy = await repo.busy_for(conn, [row["id"] for row in rows])
    by_center: dict[str, list[Any]] = {}
    info: dict[str, Any] = {}
    for row in rows:
        by_center.setdefault(row["center_id"], []).append(repo.availability_of(row))
        info[row["id"]] = row
    # Centers in id order, so ties in time come out the same way every time.
    per_center = [search_slots(by_center[cid], busy, plans[cid]) for cid in sorted(by_center)]
    # Each center's slots are in time order already; merging keeps the whole in order.
    ordered: list[Slot] = (
        []
        if not per_center
        else per_center[0]
        if len(per_center) == 1
        else list(heapq.merge(*per_center, key=attrgetter("starts_at")))
    )
    return await encode(render_slots(ordered, info, plans, inv.centers))


def render_slots(
    slots: list[Slot],
    rows: dict[str, Any],
    plans: dict[str, SearchInput],
    centers: dict[str, Center],
) -> str:
    """The ``{"items": [...]}`` body, each item shaped like ``SlotOut``.

    A week of a busy center is thousands of slots sharing a few dozen distinct times
    and a few hundred availabilities, so each time is formatted once per timezone and
    each availability's constant fields are encoded once (json.dumps escapes them), and
    only strings are made per slot (no containers for the garbage collector to chase).
    This keeps the search well under 100 ms (bench/search_semester.py).
    """
    times: dict[str, dict[datetime, str]] = {}
    heads: dict[str, tuple[str, str, dict[datetime, str], ZoneInfo]] = {}
    last_start: datetime | None = None
    last_end: datetime | None = None
    last_zone: dict[datetime, str] | None = None
    start = end = ""
    parts: list[str] = []
    for slot in slots:
        head = heads.get(slot.availability_id)
        if head is None:
            row = rows[slot.availability_id]
            center = centers[row["center_id"]]
            tz = plans[center.id].timezone
            rest = {
                "duration_minutes": slot.duration_minutes,
                "consultant": {"id": row["consultant_id"], "name": row["consultant_name"]},
                "center": {"id": center.id, "name": center.name},
                "modality": row["modality"],
                "kind": row["kind"],
            }
            head = heads[slot.availability_id] = (
                '{"availability_id": ' + json.dumps(slot.availability_id) + ', "starts_at": "',
                '", ' + json.dumps(rest)[1:],
                times.setdefault(center.timezone, {}),
                tz,
            )
        zone = head[2]
        # Slots are in time order, so most starts (and ends) repeat the previous one.
        if slot.starts_at is not last_start or zone is not last_zone:
            start = _local_iso(zone, slot.starts_at, head[3])
        if slot.ends_at is not last_end or zone is not last_zone:
            end = _local_iso(zone, slot.ends_at, head[3])
        last_start, last_end, last_zone = slot.starts_at, slot.ends_at, zone
        parts.append(f'{head[0]}{start}", "ends_at": "{end}{head[1]}')
    return '{"items": [' + ", ".join(parts) + "]}"


def _local_iso(cache: dict[datetime, str], when: datetime, tz: ZoneInfo) -> str:
    text = cache.get(when)
    if text is None:
        text = cache[when] = when.astimezone(tz).isoformat()
    return text
