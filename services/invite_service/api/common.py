"""What every route module of the invite service uses."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import asyncpg
from aiohttp import web

from shared.auth import Identity
from shared.bus.outbox import add_to_outbox
from shared.errors import Problem, field_problem
from shared.events import Payload, make_event
from shared.runtime import RUNTIME, Runtime

from ..domain.fields import clean_identifier
from ..domain.pagination import BadCursor, decode_cursor, encode_cursor

SERVICE = "invite_service"
ADMIN = ("admin",)
STAFF = ("admin", "staff")
INVITERS = ("admin", "staff", "faculty")

T = TypeVar("T")


def runtime_of(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


def path_identifier(request: web.Request, name: str) -> str:
    """A directory id from the path, checked like one in a body."""
    try:
        return clean_identifier(request.match_info[name])
    except ValueError as exc:
        raise field_problem(name, str(exc)) from exc


def lookup_identifier(request: web.Request, name: str, what: str) -> str:
    """A directory id from the path of a read: one that cannot exist is simply not found."""
    try:
        return clean_identifier(request.match_info[name])
    except ValueError as exc:
        raise Problem(404, f"No such {what}.") from exc


def cursor_key(cursor: str | None, length: int) -> list[Any] | None:
    if cursor is None:
        return None
    try:
        return decode_cursor(cursor, length)
    except BadCursor as exc:
        raise field_problem("cursor", str(exc)) from exc


def paginate(
    rows: Sequence[T], limit: int, key: Callable[[T], list[Any]]
) -> tuple[list[T], str | None]:
    """Rows fetched with ``limit + 1``: the page and the cursor of the next one."""
    page = list(rows[:limit])
    next_cursor = encode_cursor(key(page[-1])) if len(rows) > limit and page else None
    return page, next_cursor


def invalid(errors: list[dict[str, Any]], what: str = "input") -> Problem:
    fields = ", ".join(dict.fromkeys(str(e["field"]) for e in errors))
    return Problem(422, f"Invalid {what}: {fields}", errors=errors)


def faculty_id_of(ident: Identity) -> str:
    if not ident.faculty_id:
        raise Problem(403, "This faculty account has no faculty id; ask an administrator.")
    return ident.faculty_id


async def emit(conn: asyncpg.Connection, type_: str, payload: Payload) -> None:
    """The event goes out through the outbox, in the caller's transaction."""
    await add_to_outbox(conn, [make_event(type_, payload, producer=SERVICE)])
