"""Event handlers: each event is logged raw (for the rebuild) and applied to the read store.

``apply_event`` is the single entry used both by the consumer (inside its
inbox transaction) and by the rebuild (replaying ``event_log``). Every apply is
idempotent and order-tolerant on its own (see repository.py), so the store
ends the same whatever order and however often the same events arrive.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg

from services.report_service import repository as repo
from services.report_service.repository import Version
from shared.bus.consumer import Handler
from shared.runtime import Runtime

log = logging.getLogger(__name__)

Apply = Callable[[asyncpg.Connection, Any], Awaitable[None]]


def _version(event: Any) -> Version:
    return Version(event.occurred_at, event.id)


def valid_timezone(name: str, *, context: str) -> str:
    """An IANA name PostgreSQL and zoneinfo both know; a bad one is stored as UTC (logged)
    rather than parking every later event of that center."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown timezone; using UTC", extra={"timezone": name, "context": context})
        return "UTC"
    return name


async def _students(conn: asyncpg.Connection, event: Any) -> None:
    await repo.upsert_students(conn, event.payload.students, _version(event))


async def _section(conn: asyncpg.Connection, event: Any) -> None:
    await repo.upsert_section(conn, event.payload, _version(event))


async def _reason(conn: asyncpg.Connection, event: Any) -> None:
    await repo.upsert_reason(conn, event.payload, _version(event))


async def _term(conn: asyncpg.Connection, event: Any) -> None:
    await repo.upsert_term(conn, event.payload, _version(event))


async def _widget(conn: asyncpg.Connection, event: Any) -> None:
    await repo.upsert_widget(conn, event.payload, _version(event))


async def _center(conn: asyncpg.Connection, event: Any) -> None:
    p = event.payload
    tz = valid_timezone(p.timezone, context=f"center {p.center_id}")
    await repo.upsert_center(conn, p.center_id, p.name, tz, _version(event))


async def _invite_created(conn: asyncpg.Connection, event: Any) -> None:
    await repo.record_invite(conn, event.payload)


async def _invite_cancelled(conn: asyncpg.Connection, event: Any) -> None:
    await repo.record_invite_cancelled(conn, event.payload)


async def _invitee_status(conn: asyncpg.Connection, event: Any) -> None:
    await repo.record_invitee_status(conn, event.payload, _version(event))


async def _booked(conn: asyncpg.Connection, event: Any) -> None:
    p = event.payload
    tz = valid_timezone(p.center.timezone, context=f"appointment {p.appointment_id}")
    await repo.record_booking(conn, p, tz)


async def _appointment_cancelled(conn: asyncpg.Connection, event: Any) -> None:
    await repo.record_appointment_cancelled(conn, event.payload)


async def _attendance(conn: asyncpg.Connection, event: Any) -> None:
    await repo.record_attendance(conn, event.payload, _version(event))


async def _email(conn: asyncpg.Connection, event: Any) -> None:
    """email.sent / email.failed: one email."""
    sent = event.type == "email.sent"
    await _emails(conn, [(event.payload, sent)], _version(event))


async def _email_batch(conn: asyncpg.Connection, event: Any) -> None:
    """email.batch_sent: every email of the batch in this one transaction."""
    await _emails(conn, [(p, True) for p in event.payload.emails], _version(event))


async def _emails(
    conn: asyncpg.Connection, emails: list[tuple[Any, bool]], version: Version
) -> None:
    facts: list[repo.EmailFact] = []
    for p, sent in emails:
        outcome = "sent" if sent else "failed"
        at = p.sent_at if sent else p.failed_at
        error = None if sent else p.error
        if p.delivery_id:
            await repo.record_delivery_email(
                conn,
                message_id=p.message_id,
                delivery_id=p.delivery_id,
                outcome=outcome,
                error=error,
                permanent=False if sent else p.permanent,
                at=at,
                version=version,
            )
        if p.invitee_id:
            facts.append(
                repo.EmailFact(p.message_id, p.invitee_id, p.invite_id, p.kind, outcome, error, at)
            )
    await repo.record_invitee_emails(conn, facts, version)


APPLY: dict[str, Apply] = {
    "directory.students_upserted": _students,
    "directory.section_upserted": _section,
    "directory.reason_upserted": _reason,
    "directory.term_upserted": _term,
    "widget.created": _widget,
    "widget.updated": _widget,
    "center.upserted": _center,
    "invite.created": _invite_created,
    "invite.cancelled": _invite_cancelled,
    "invitee.status_changed": _invitee_status,
    "appointment.booked": _booked,
    "appointment.cancelled": _appointment_cancelled,
    "appointment.attendance_marked": _attendance,
    "email.sent": _email,
    "email.batch_sent": _email_batch,
    "email.failed": _email,
}


async def apply_event(conn: asyncpg.Connection, event: Any) -> bool:
    """Apply one event to the store; False when this service does not use its type."""
    apply = APPLY.get(event.type)
    if apply is None:
        return False
    await apply(conn, event)
    return True


async def consume(conn: asyncpg.Connection, event: Any) -> None:
    """The consumer's handler: log the raw event, then apply it, in the inbox transaction."""
    await repo.log_event(conn, event)
    await apply_event(conn, event)


def handlers(runtime: Runtime) -> Mapping[str, Handler]:
    return dict.fromkeys(APPLY, consume)
