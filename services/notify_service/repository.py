"""SQL of the notify service: the replica (centers, invites, invitees) and the message log."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

INVITE_KINDS = ("instructions", "reminder")


# ------------------------------------------------------------------ centers
async def upsert_center(conn: asyncpg.Connection, center_id: str, name: str, tz: str) -> None:
    await conn.execute(
        """INSERT INTO centers(center_id, name, timezone) VALUES ($1, $2, $3)
           ON CONFLICT (center_id) DO UPDATE
           SET name = EXCLUDED.name, timezone = EXCLUDED.timezone, updated_at = now()""",
        center_id,
        name,
        tz,
    )


async def get_center(conn: asyncpg.Connection, center_id: str | None) -> asyncpg.Record | None:
    if center_id is None:
        return None
    return await conn.fetchrow("SELECT * FROM centers WHERE center_id = $1", center_id)


# ------------------------------------------------------------------ invites
async def upsert_invite(
    conn: asyncpg.Connection, invite_id: str, data: dict[str, Any], center_id: str | None
) -> asyncpg.Record:
    """Store invite.created's data; a stub left by an earlier event is filled in."""
    row = await conn.fetchrow(
        """INSERT INTO invites(invite_id, data, center_id) VALUES ($1, $2, $3)
           ON CONFLICT (invite_id) DO UPDATE
           SET data = EXCLUDED.data, center_id = EXCLUDED.center_id
           WHERE invites.data IS NULL
           RETURNING *""",
        invite_id,
        data,
        center_id,
    )
    if row is None:  # already known: keep the first version
        row = await conn.fetchrow("SELECT * FROM invites WHERE invite_id = $1", invite_id)
    assert row is not None
    return row


async def mark_invite_cancelled(conn: asyncpg.Connection, invite_id: str, at: datetime) -> None:
    await conn.execute(
        """INSERT INTO invites(invite_id, cancelled_at) VALUES ($1, $2)
           ON CONFLICT (invite_id) DO UPDATE
           SET cancelled_at = coalesce(invites.cancelled_at, EXCLUDED.cancelled_at)""",
        invite_id,
        at,
    )


async def get_invite(conn: asyncpg.Connection, invite_id: str | None) -> asyncpg.Record | None:
    if invite_id is None:
        return None
    return await conn.fetchrow("SELECT * FROM invites WHERE invite_id = $1", invite_id)


async def get_invites(
    conn: asyncpg.Connection, invite_ids: Sequence[str]
) -> dict[str, asyncpg.Record]:
    rows = await conn.fetch(
        "SELECT * FROM invites WHERE invite_id = ANY($1::text[])", list(set(invite_ids))
    )
    return {r["invite_id"]: r for r in rows}


async def invites_of_center(conn: asyncpg.Connection, center_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT * FROM invites
           WHERE center_id = $1 AND data IS NOT NULL AND cancelled_at IS NULL""",
        center_id,
    )


# ------------------------------------------------------------------ invitees
async def upsert_invitees(
    conn: asyncpg.Connection,
    invite_id: str,
    rows: Sequence[tuple[str, dict[str, Any]]],
    *,
    scheduled_at: datetime,
    anchor_at: datetime,
    tz_known: bool,
) -> None:
    """Fill in the invitees of invite.created; stubs keep the status they already have.

    One statement for the whole invite (thousands of rows), not one per invitee.
    """
    unique = dict(rows)
    await conn.execute(
        """INSERT INTO invitees(invitee_id, invite_id, data, scheduled_at, anchor_at, tz_known)
           SELECT u.invitee_id, $3, u.data::jsonb, $4, $5, $6
           FROM unnest($1::text[], $2::text[]) AS u(invitee_id, data)
           ON CONFLICT (invitee_id) DO UPDATE
           SET invite_id = EXCLUDED.invite_id, data = EXCLUDED.data,
               scheduled_at = EXCLUDED.scheduled_at, anchor_at = EXCLUDED.anchor_at,
               tz_known = EXCLUDED.tz_known
           WHERE invitees.data IS NULL""",
        list(unique),
        [json.dumps(data) for data in unique.values()],
        invite_id,
        scheduled_at,
        anchor_at,
        tz_known,
    )


async def lock_invitee(conn: asyncpg.Connection, invitee_id: str) -> asyncpg.Record:
    """The invitee row, locked; a stub is created when no event about it came yet."""
    await conn.execute(
        "INSERT INTO invitees(invitee_id) VALUES ($1) ON CONFLICT DO NOTHING", invitee_id
    )
    row = await conn.fetchrow("SELECT * FROM invitees WHERE invitee_id = $1 FOR UPDATE", invitee_id)
    assert row is not None
    return row


async def lock_invitees(
    conn: asyncpg.Connection, invitee_ids: Sequence[str]
) -> dict[str, asyncpg.Record]:
    """The invitees' rows, locked in one order (so two batches cannot deadlock each other)."""
    if not invitee_ids:
        return {}
    rows = await conn.fetch(
        """SELECT * FROM invitees WHERE invitee_id = ANY($1::text[])
           ORDER BY invitee_id FOR UPDATE""",
        sorted(set(invitee_ids)),
    )
    return {r["invitee_id"]: r for r in rows}


async def get_invitee(conn: asyncpg.Connection, invitee_id: str | None) -> asyncpg.Record | None:
    if invitee_id is None:
        return None
    return await conn.fetchrow("SELECT * FROM invitees WHERE invitee_id = $1", invitee_id)


async def set_invitee_state(
    conn: asyncpg.Connection,
    invitee_id: str,
    status: str,
    *,
    invite_id: str | None = None,
    state_at: datetime | None = None,
    appointment_id: str | None = None,
    keep_appointment: bool = True,
) -> None:
    await conn.execute(
        """UPDATE invitees SET status = $2,
               invite_id = coalesce(invite_id, $3),
               state_at = coalesce($4, state_at),
               appointment_id = CASE WHEN $6 THEN coalesce($5, appointment_id) ELSE $5 END
           WHERE invitee_id = $1""",
        invitee_id,
        status,
        invite_id,
        state_at,
        appointment_id,
        keep_appointment,
    )


async def terminate_invitees(
    conn: asyncpg.Connection, invitee_ids: Sequence[str], status: str, invite_id: str | None
) -> None:
    """Cancelled/expired for good (stubs created for invitees not heard of yet)."""
    await conn.executemany(
        """INSERT INTO invitees(invitee_id, invite_id, status) VALUES ($1, $2, $3)
           ON CONFLICT (invitee_id) DO UPDATE SET status = EXCLUDED.status,
               invite_id = coalesce(invitees.invite_id, EXCLUDED.invite_id)""",
        [(i, invite_id, status) for i in invitee_ids],
    )


async def shift_anchor(
    conn: asyncpg.Connection,
    invite_id: str,
    scheduled_at: datetime,
    old_anchor: datetime,
    new_anchor: datetime,
) -> None:
    """The center's timezone became known: move the anchor and what is pending with it."""
    await conn.execute(
        """UPDATE messages m SET due_at = m.due_at + ($4::timestamptz - $3::timestamptz)
           FROM invitees i
           WHERE i.invite_id = $1 AND i.scheduled_at = $2 AND i.anchor_at = $3
             AND m.invitee_id = i.invitee_id AND m.status = 'pending'
             AND m.kind IN ('instructions', 'reminder')""",
        invite_id,
        scheduled_at,
        old_anchor,
        new_anchor,
    )
    await conn.execute(
        """UPDATE invitees SET anchor_at = $4, tz_known = true
           WHERE invite_id = $1 AND scheduled_at = $2 AND anchor_at = $3""",
        invite_id,
        scheduled_at,
        old_anchor,
        new_anchor,
    )


async def anchors_of_invite(conn: asyncpg.Connection, invite_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT DISTINCT scheduled_at, anchor_at FROM invitees
           WHERE invite_id = $1 AND scheduled_at IS NOT NULL""",
        invite_id,
    )


# ------------------------------------------------------------------ messages
def new_id() -> uuid.UUID:
    return uuid.uuid4()


async def insert_invite_messages(
    conn: asyncpg.Connection,
    rows: Sequence[tuple[str, str, str, str, int, str | None, datetime]],
) -> None:
    """(invitee_id, invite_id, message_id, kind, sequence, recipient, due_at); a row that
    exists already is revived only if it had been cancelled (never sent). One statement
    for any number of rows."""
    unique = list({(r[0], r[3], r[4]): r for r in rows}.values())
    if not unique:
        return
    columns = list(zip(*unique, strict=True))
    await conn.execute(
        """INSERT INTO messages(id, invitee_id, invite_id, message_id, kind, sequence,
                                recipient, due_at)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
                                $6::int[], $7::text[], $8::timestamptz[])
           ON CONFLICT (invitee_id, kind, sequence) WHERE invitee_id IS NOT NULL
           DO UPDATE SET status = 'pending', due_at = EXCLUDED.due_at, attempts = 0,
                         next_attempt_at = now(), last_error = NULL
           WHERE messages.status = 'cancelled'""",
        [new_id() for _ in unique],
        *(list(c) for c in columns),
    )


async def cancel_pending(conn: asyncpg.Connection, invitee_ids: Sequence[str], reason: str) -> int:
    result = await conn.execute(
        """UPDATE messages SET status = 'cancelled', last_error = $2
           WHERE invitee_id = ANY($1::text[]) AND status = 'pending'
             AND kind IN ('instructions', 'reminder')""",
        list(invitee_ids),
        reason,
    )
    return int(result.split()[-1])


async def invitee_progress(
    conn: asyncpg.Connection, invitee_ids: Sequence[str]
) -> dict[str, asyncpg.Record]:
    """What went out for each invitee: instructions' status and reminders done."""
    rows = await conn.fetch(
        """SELECT k.invitee_id,
             (SELECT status FROM messages m
               WHERE m.invitee_id = k.invitee_id AND m.kind = 'instructions'
                 AND m.sequence = 0) AS instructions,
             coalesce((SELECT max(sequence) FROM messages m
               WHERE m.invitee_id = k.invitee_id AND m.kind = 'reminder'
                 AND m.status IN ('sent', 'failed', 'sending')), 0) AS reminders_done,
             EXISTS (SELECT 1 FROM messages m
               WHERE m.invitee_id = k.invitee_id AND m.kind IN ('instructions', 'reminder')
                 AND m.status IN ('pending', 'sending')) AS has_pending
           FROM unnest($1::text[]) AS k(invitee_id)""",
        list(invitee_ids),
    )
    return {r["invitee_id"]: r for r in rows}


async def insert_confirmation(
    conn: asyncpg.Connection,
    *,
    invitee_id: str,
    invite_id: str,
    appointment_id: str,
    domain_message_id: Any,
    recipient: str | None,
    data: dict[str, Any] | None,
    due_at: datetime,
    status: str = "pending",
) -> None:
    """One confirmation per appointment; ``domain_message_id(seq)`` builds its Message-ID."""
    seq = await conn.fetchval(
        "SELECT count(*) FROM messages WHERE invitee_id = $1 AND kind = 'confirmation'",
        invitee_id,
    )
    await conn.execute(
        """INSERT INTO messages(id, invitee_id, invite_id, appointment_id, message_id, kind,
                                sequence, recipient, data, due_at, status)
           VALUES ($1, $2, $3, $4, $5, 'confirmation', $6, $7, $8, $9, $10)
           ON CONFLICT (appointment_id) WHERE kind = 'confirmation' DO NOTHING""",
        new_id(),
        invitee_id,
        invite_id,
        appointment_id,
        domain_message_id(seq),
        seq,
        recipient,
        data,
        due_at,
        status,
    )


async def cancel_confirmation(conn: asyncpg.Connection, appointment_id: str) -> int:
    result = await conn.execute(
        """UPDATE messages SET status = 'cancelled', last_error = 'appointment cancelled'
           WHERE appointment_id = $1 AND kind = 'confirmation' AND status = 'pending'""",
        appointment_id,
    )
    return int(result.split()[-1])


async def confirmation_exists(conn: asyncpg.Connection, appointment_id: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM messages WHERE appointment_id = $1 AND kind = 'confirmation'",
            appointment_id,
        )
    )


async def insert_report_messages(
    conn: asyncpg.Connection,
    rows: Sequence[tuple[str, int, str, str, dict[str, Any], datetime]],
) -> None:
    """(delivery_id, sequence, recipient, message_id, data, due_at)."""
    await conn.executemany(
        """INSERT INTO messages(id, delivery_id, sequence, recipient, message_id, data, due_at,
                                kind)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'report')
           ON CONFLICT (delivery_id, sequence) WHERE delivery_id IS NOT NULL DO NOTHING""",
        [(new_id(), *r) for r in rows],
    )


# ------------------------------------------------------------------ the scheduler's claims
async def claim_due(
    conn: asyncpg.Connection, *, now: datetime, limit: int, lease_seconds: float, worker: str
) -> list[asyncpg.Record]:
    """Claim due messages (and ones whose sender died mid-send) as 'sending', committed.

    Each row comes with what writing it needs, in the same round trip: the
    invitee's data and status, whether the invite is known and cancelled, the
    center (the invite's own data, which never changes, is read once per invite
    by ``invite_data``). ``was_status`` tells a re-send after an interrupted
    attempt ('sending').
    """
    return await conn.fetch(
        """WITH due AS (
             SELECT id, status AS was_status FROM messages
             WHERE (status = 'pending' AND due_at <= $1 AND next_attempt_at <= now())
                OR (status = 'sending' AND lease_until < now())
             ORDER BY due_at
             LIMIT $2
             FOR UPDATE SKIP LOCKED),
           claimed AS (
             UPDATE messages m
             SET status = 'sending', attempts = m.attempts + 1, claimed_by = $4,
                 lease_until = now() + make_interval(secs => $3)
             FROM due WHERE m.id = due.id
             RETURNING m.*, due.was_status)
           SELECT c.*, i.data AS invitee_data, i.status AS invitee_status,
                  i.anchor_at AS invitee_anchor_at,
                  v.data IS NOT NULL AS invite_known, v.cancelled_at,
                  ce.name AS center_name, ce.timezone AS center_timezone
           FROM claimed c
           LEFT JOIN invitees i ON i.invitee_id = c.invitee_id
           LEFT JOIN invites v ON v.invite_id = c.invite_id
           LEFT JOIN centers ce ON ce.center_id = v.center_id""",
        now,
        limit,
        lease_seconds,
        worker,
    )


async def invite_data(conn: asyncpg.Connection, invite_ids: Sequence[str]) -> dict[str, Any]:
    """invite.created's data of each invite (written once, never changed)."""
    rows = await conn.fetch(
        """SELECT invite_id, data FROM invites
           WHERE invite_id = ANY($1::text[]) AND data IS NOT NULL""",
        list(set(invite_ids)),
    )
    return {r["invite_id"]: r["data"] for r in rows}


@dataclass(frozen=True)
class Finish:
    """The outcome of one send attempt, to record."""

    pk: uuid.UUID
    status: str  # sent | failed | pending (retry later) | cancelled
    error: str | None = None
    retry_in_seconds: float | None = None
    at: datetime | None = None  # sent_at / failed_at
    subject: str | None = None


async def finish(
    conn: asyncpg.Connection, worker: str, outcomes: Sequence[Finish]
) -> set[uuid.UUID]:
    """Record outcomes in one statement, each only if this worker still holds its claim.

    Returns the ids recorded (a missing one's lease ran out and another claim took it).
    """
    if not outcomes:
        return set()
    rows = await conn.fetch(
        """UPDATE messages m SET status = u.status, last_error = u.error,
               next_attempt_at = CASE WHEN u.retry IS NULL THEN m.next_attempt_at
                                      ELSE now() + make_interval(secs => u.retry) END,
               sent_at = CASE WHEN u.status = 'sent' THEN u.at ELSE m.sent_at END,
               failed_at = CASE WHEN u.status = 'failed' THEN u.at ELSE m.failed_at END,
               subject = coalesce(u.subject, m.subject),
               lease_until = NULL, claimed_by = NULL
           FROM unnest($2::uuid[], $3::text[], $4::text[], $5::float8[], $6::timestamptz[],
                       $7::text[]) AS u(id, status, error, retry, at, subject)
           WHERE m.id = u.id AND m.status = 'sending' AND m.claimed_by = $1
           RETURNING m.id""",
        worker,
        [o.pk for o in outcomes],
        [o.status for o in outcomes],
        [o.error for o in outcomes],
        [o.retry_in_seconds for o in outcomes],
        [o.at for o in outcomes],
        [o.subject for o in outcomes],
    )
    return {r["id"] for r in rows}


async def oldest_due_seconds(conn: asyncpg.Connection, now: datetime) -> float:
    """How long the oldest due, unsent message has been waiting (retries included)."""
    value = await conn.fetchval(
        """SELECT coalesce(extract(epoch FROM $1::timestamptz - min(due_at)), 0)
           FROM messages WHERE status IN ('pending', 'sending') AND due_at <= $1""",
        now,
    )
    return max(float(value or 0), 0.0)


async def count_stale_sending(conn: asyncpg.Connection) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM messages WHERE status = 'sending' AND lease_until < now()"
        )
    )


# ------------------------------------------------------------------ the sink's mailbox
async def store_sink_message(
    conn: asyncpg.Connection,
    *,
    mail_from: str,
    rcpt_tos: Sequence[str],
    subject: str,
    message_id: str,
    date: str,
    raw: bytes,
) -> int:
    return int(
        await conn.fetchval(
            """INSERT INTO sink_messages(mail_from, rcpt_tos, subject, message_id, date, raw)
               VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""",
            mail_from,
            [r.lower() for r in rcpt_tos],
            subject,
            message_id,
            date,
            raw,
        )
    )


async def list_sink_messages(
    conn: asyncpg.Connection, *, to: str | None, limit: int, before_id: int | None
) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT * FROM sink_messages
           WHERE ($1::text IS NULL OR rcpt_tos @> ARRAY[lower($1::text)])
             AND ($3::bigint IS NULL OR id < $3::bigint)
           ORDER BY id DESC LIMIT $2""",
        to,
        limit,
        before_id,
    )


async def get_sink_message(conn: asyncpg.Connection, message_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM sink_messages WHERE id = $1", message_id)
