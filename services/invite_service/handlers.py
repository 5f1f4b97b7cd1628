"""Event handlers: invitee status and delivery facts from search and notify, the centers replica.

Each runs in the consumer's transaction with the inbox row, so a redelivered
event has no second effect. Beyond that, each tolerates events arriving out of
order or twice under different ids (see the repository functions they call).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import asyncpg

from shared.bus.consumer import Handler
from shared.runtime import Runtime

from . import repository as repo
from .domain.invites import timezone_or_utc

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 1000


async def on_appointment_booked(conn: asyncpg.Connection, event: Any) -> None:
    p = event.payload
    invitee_id = repo.as_uuid(p.invitee_id)
    if invitee_id is None:
        log.warning("booking for an unknown invitee ignored", extra={"invitee_id": p.invitee_id})
        return
    await repo.record_booking(conn, invitee_id, p.appointment_id, p.booked_at)


async def on_appointment_cancelled(conn: asyncpg.Connection, event: Any) -> None:
    p = event.payload
    invitee_id = repo.as_uuid(p.invitee_id)
    if invitee_id is None:
        return
    await repo.record_appointment_cancelled(conn, invitee_id, p.appointment_id, p.cancelled_at)


async def on_email_sent(conn: asyncpg.Connection, event: Any) -> None:
    """The per-email event of earlier notify versions (still accepted while queued ones drain)."""
    await repo.record_emails_sent(conn, _receipts([event.payload]))


async def on_email_batch_sent(conn: asyncpg.Connection, event: Any) -> None:
    await repo.record_emails_sent(conn, _receipts(event.payload.emails))


def _receipts(emails: Iterable[Any]) -> list[repo.EmailReceipt]:
    receipts = []
    for p in emails:
        invitee_id = repo.as_uuid(p.invitee_id) if p.invitee_id else None
        if invitee_id is None or p.kind not in ("instructions", "reminder"):
            continue  # confirmations and report emails change nothing here
        receipts.append(repo.EmailReceipt(invitee_id, p.message_id, p.kind, p.sent_at))
    return receipts


async def on_email_failed(conn: asyncpg.Connection, event: Any) -> None:
    p = event.payload
    invitee_id = repo.as_uuid(p.invitee_id) if p.invitee_id else None
    if invitee_id is None:
        return
    what = "permanent" if p.permanent else "temporary"
    error = f"{p.kind} email ({what}): {p.error}"[:MAX_ERROR_CHARS]
    await repo.record_email_failed(conn, invitee_id, error, p.failed_at)


async def on_center_upserted(conn: asyncpg.Connection, event: Any) -> None:
    p = event.payload
    timezone = p.timezone
    if timezone_or_utc(timezone).key != timezone:
        log.warning("center with an unknown timezone; using UTC", extra={"timezone": timezone})
        timezone = "UTC"
    await repo.upsert_center(conn, p.center_id, p.name, timezone, event.occurred_at)


def handlers(runtime: Runtime) -> Mapping[str, Handler]:
    return {
        "appointment.booked": on_appointment_booked,
        "appointment.cancelled": on_appointment_cancelled,
        "email.sent": on_email_sent,
        "email.batch_sent": on_email_batch_sent,
        "email.failed": on_email_failed,
        "center.upserted": on_center_upserted,
    }
