"""Staff routes: centers, consultants, availabilities."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from aiohttp import web
from pydantic import ValidationError

from services.search_service import repository as repo
from services.search_service.domain.window import (
    WindowError,
    end_of_day,
    local_midnight,
    parse_bound,
)
from services.search_service.models import (
    AvailabilityBatchIn,
    AvailabilityIn,
    AvailabilityList,
    AvailabilityQuery,
    CenterIn,
    CenterList,
    CenterPatch,
    ConsultantIn,
    ConsultantList,
)
from services.search_service.outbox_events import center_event
from services.search_service.presenters import (
    availability_out,
    center_out,
    consultant_out,
    decode_cursor,
    decode_time_cursor,
    encode_cursor,
)
from shared.bus.outbox import add_to_outbox
from shared.errors import Problem, field_problem, validation_problem
from shared.http import json_response, parse_body, parse_query, read_json, require_role
from shared.runtime import RUNTIME

STAFF = ("admin", "staff")
READERS = ("admin", "staff", "faculty")


def new_id() -> str:
    return str(uuid.uuid4())


# ------------------------------------------------------------------ centers
async def create_center(request: web.Request) -> web.Response:
    require_role(request, *STAFF)
    body = await parse_body(request, CenterIn)
    runtime = request.app[RUNTIME]
    try:
        async with runtime.db.acquire() as conn, conn.transaction():
            row = await repo.insert_center(conn, body.id or new_id(), body.model_dump())
            await add_to_outbox(conn, [center_event(row)])
    except asyncpg.UniqueViolationError as exc:
        raise Problem(409, f"A center with id {body.id} already exists.") from exc
    runtime.wake_relay()
    return json_response(center_out(row), status=201)


async def list_centers(request: web.Request) -> web.Response:
    require_role(request, *READERS)
    limit, after = _page(request)
    async with request.app[RUNTIME].db.acquire() as conn:
        rows = await repo.list_centers(conn, limit + 1, after)
    items = [center_out(r) for r in rows[:limit]]
    cursor = encode_cursor(rows[limit - 1]["id"]) if len(rows) > limit else None
    return json_response(CenterList(items=items, next_cursor=cursor))


async def get_center(request: web.Request) -> web.Response:
    require_role(request, *READERS)
    async with request.app[RUNTIME].db.acquire() as conn:
        row = await repo.get_center_row(conn, request.match_info["center_id"])
    if row is None:
        raise Problem(404, "No such center.")
    return json_response(center_out(row))


async def patch_center(request: web.Request) -> web.Response:
    require_role(request, *STAFF)
    body = await parse_body(request, CenterPatch)
    changes = body.model_dump(exclude_unset=True)
    for name, value in changes.items():
        if value is None:
            raise field_problem(name, "may not be null")
    runtime = request.app[RUNTIME]
    async with runtime.db.acquire() as conn, conn.transaction():
        row = await repo.update_center(conn, request.match_info["center_id"], changes)
        if row is None:
            raise Problem(404, "No such center.")
        if changes:
            await add_to_outbox(conn, [center_event(row)])
    runtime.wake_relay()
    return json_response(center_out(row))


# ------------------------------------------------------------------ consultants
async def create_consultant(request: web.Request) -> web.Response:
    require_role(request, *STAFF)
    body = await parse_body(request, ConsultantIn)
    try:
        async with request.app[RUNTIME].db.acquire() as conn:
            row = await repo.insert_consultant(conn, body.id or new_id(), body.name, body.email)
    except asyncpg.UniqueViolationError as exc:
        raise Problem(409, f"A consultant with id {body.id} already exists.") from exc
    return json_response(consultant_out(row), status=201)


async def list_consultants(request: web.Request) -> web.Response:
    require_role(request, *READERS)
    limit, after = _page(request)
    async with request.app[RUNTIME].db.acquire() as conn:
        rows = await repo.list_consultants(conn, limit + 1, after)
    items = [consultant_out(r) for r in rows[:limit]]
    cursor = encode_cursor(rows[limit - 1]["id"]) if len(rows) > limit else None
    return json_response(ConsultantList(items=items, next_cursor=cursor))


async def get_consultant(request: web.Request) -> web.Response:
    require_role(request, *READERS)
    async with request.app[RUNTIME].db.acquire() as conn:
        row = await repo.get_consultant(conn, request.match_info["consultant_id"])
    if row is None:
        raise Problem(404, "No such consultant.")
    return json_response(consultant_out(row))


def _page(request: web.Request) -> tuple[int, str | None]:
    raw = request.query.get("limit", "100")
    try:
        limit = int(raw)
    except ValueError as exc:
        raise field_problem("limit", "must be a whole number") from exc
    if not 1 <= limit <= 1000:
        raise field_problem("limit", "must be between 1 and 1000")
    parts = decode_cursor(request.query.get("cursor"), 1)
    return limit, parts[0] if parts else None


# ------------------------------------------------------------------ availabilities
async def create_availabilities(request: web.Request) -> web.Response:
    """One availability, or ``{"items": [...]}`` for many: all or nothing, bad items named."""
    ident = require_role(request, *STAFF)
    data = await read_json(request)
    batch = isinstance(data, dict) and "items" in data
    try:
        items = (
            AvailabilityBatchIn.model_validate(data).items
            if batch
            else [AvailabilityIn.model_validate(data)]
        )
    except ValidationError as exc:
        raise validation_problem(exc) from exc
    runtime = request.app[RUNTIME]
    async with runtime.db.acquire() as conn, conn.transaction():
        consultants = await repo.existing_ids(conn, "consultants", {i.consultant_id for i in items})
        centers = await repo.existing_ids(conn, "centers", {i.center_id for i in items})
        errors: list[dict[str, Any]] = []
        for n, item in enumerate(items):
            prefix = f"items.{n}." if batch else ""
            if item.consultant_id not in consultants:
                errors.append({"field": f"{prefix}consultant_id", "message": "no such consultant"})
            if item.center_id not in centers:
                errors.append({"field": f"{prefix}center_id", "message": "no such center"})
        if errors:
            fields = ", ".join(e["field"] for e in errors[:10])
            raise Problem(422, f"Invalid input: {fields}", errors=errors)
        ids = [new_id() for _ in items]
        await repo.insert_availabilities(
            conn,
            [
                (
                    ids[n],
                    item.consultant_id,
                    item.center_id,
                    item.starts_at,
                    item.ends_at,
                    item.modality,
                    item.kind,
                    item.capacity,
                    repo.join_ids(item.section_ids),
                    repo.join_ids(item.reason_ids),
                )
                for n, item in enumerate(items)
            ],
            ident.sub,
        )
        rows = await repo.availabilities_by_ids(conn, ids)
    by_id = {r["id"]: availability_out(r) for r in rows}
    created = [by_id[i] for i in ids]
    if batch:
        return json_response(AvailabilityList(items=created), status=201)
    return json_response(created[0], status=201)


async def list_availabilities(request: web.Request) -> web.Response:
    require_role(request, *STAFF)
    q = parse_query(request, AvailabilityQuery)
    after = decode_time_cursor(q.cursor)
    async with request.app[RUNTIME].db.acquire() as conn:
        start, end = await listing_range(conn, q.from_, q.to, q.center_id)
        rows = await repo.list_availabilities(
            conn,
            start=start,
            end=end,
            consultant_id=q.consultant_id,
            center_id=q.center_id,
            limit=q.limit + 1,
            after=after,
        )
        page = rows[: q.limit]
        counts = await repo.booked_counts(conn, [r["id"] for r in page])
    items = [availability_out(r, counts.get(r["id"], 0)) for r in page]
    cursor = None
    if len(rows) > q.limit:
        last = page[-1]
        cursor = encode_cursor(last["starts_at"].isoformat(), last["id"])
    return json_response(AvailabilityList(items=items, next_cursor=cursor))


async def get_availability(request: web.Request) -> web.Response:
    require_role(request, *STAFF)
    async with request.app[RUNTIME].db.acquire() as conn:
        rows = await repo.availabilities_by_ids(conn, [request.match_info["availability_id"]])
        if not rows:
            raise Problem(404, "No such availability.")
        counts = await repo.booked_counts(conn, [rows[0]["id"]])
    return json_response(availability_out(rows[0], counts.get(rows[0]["id"], 0)))


async def listing_range(
    conn: asyncpg.Connection, raw_from: str | None, raw_to: str | None, center_id: str | None
) -> tuple[datetime | None, datetime | None]:
    """``from``/``to`` of a staff listing: dates in the center's timezone (UTC without one)."""
    try:
        start = parse_bound(raw_from, "from")
        end = parse_bound(raw_to, "to")
    except WindowError as exc:
        raise field_problem(exc.field, exc.message) from exc
    tz = ZoneInfo("UTC")
    if center_id is not None:
        row = await repo.get_center_row(conn, center_id)
        if row is not None:
            tz = ZoneInfo(row["timezone"])
    start_at = start if isinstance(start, datetime) or start is None else local_midnight(start, tz)
    end_at = end if isinstance(end, datetime) or end is None else end_of_day(end, tz)
    if start_at is not None and end_at is not None and end_at <= start_at:
        raise field_problem("to", "must not be before from")
    return start_at, end_at
