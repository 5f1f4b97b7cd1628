"""SQL of the report service: the read store's writes, the report query, deliveries.

Every write here is idempotent and order-tolerant (see the migration's header):
- reference data is last-writer-wins by ``(occurred_at, event id)``: the row
  comparison ``(version_at, version_id) < (new_at, new_id)`` lets only a newer
  event through, so a replay in any order ends with the same row;
- a column group owned by one event type (the invite's columns, the booking's
  columns) is simply set by that event; other events only fill gaps with
  ``COALESCE`` and never clear what the owner wrote.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.report_service.domain.columns import ROW_KEYS, needed_keys
from services.report_service.domain.criteria import ReportCriteria
from services.report_service.domain.presets import Term

# The store's derived tables, emptied by the rebuild (deliveries are this
# service's own requests and are kept).
STORE_TABLES: tuple[str, ...] = (
    "students",
    "sections",
    "reasons",
    "terms",
    "widgets",
    "centers",
    "invitee_rows",
    "appointment_rows",
    "invitee_emails",
    "delivery_emails",
)


@dataclass(frozen=True)
class Version:
    """Which event wrote a value: later (occurred_at, id) wins."""

    at: datetime
    id: uuid.UUID


# ------------------------------------------------------------------ event log
async def log_event(conn: asyncpg.Connection, event: Any) -> None:
    await conn.execute(
        """INSERT INTO event_log(event_id, event_type, occurred_at, body)
           VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING""",
        event.id,
        event.type,
        event.occurred_at,
        event.model_dump(mode="json"),
    )


async def truncate_store(conn: asyncpg.Connection) -> None:
    await conn.execute(f"TRUNCATE {', '.join(STORE_TABLES)}")


# ------------------------------------------------------------------ directory
async def upsert_students(
    conn: asyncpg.Connection, students: Sequence[Any], version: Version
) -> None:
    await conn.executemany(
        """INSERT INTO students(student_id, first_name, last_name, email, lists,
                                version_at, version_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (student_id) DO UPDATE SET
               first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,
               email = EXCLUDED.email, lists = EXCLUDED.lists,
               version_at = EXCLUDED.version_at, version_id = EXCLUDED.version_id
           WHERE (students.version_at, students.version_id)
                 < (EXCLUDED.version_at, EXCLUDED.version_id)""",
        [
            (s.student_id, s.first_name, s.last_name, s.email, list(s.lists), *_v(version))
            for s in students
        ],
    )


async def upsert_section(conn: asyncpg.Connection, p: Any, version: Version) -> None:
    await conn.execute(
        """INSERT INTO sections(section_id, subject, course, section, term_id,
                                version_at, version_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (section_id) DO UPDATE SET
               subject = EXCLUDED.subject, course = EXCLUDED.course,
               section = EXCLUDED.section, term_id = EXCLUDED.term_id,
               version_at = EXCLUDED.version_at, version_id = EXCLUDED.version_id
           WHERE (sections.version_at, sections.version_id)
                 < (EXCLUDED.version_at, EXCLUDED.version_id)""",
        p.section_id,
        p.subject,
        p.course,
        p.section,
        p.term_id,
        *_v(version),
    )


async def upsert_reason(conn: asyncpg.Connection, p: Any, version: Version) -> None:
    await conn.execute(
        """INSERT INTO reasons(reason_id, name, version_at, version_id)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (reason_id) DO UPDATE SET
               name = EXCLUDED.name,
               version_at = EXCLUDED.version_at, version_id = EXCLUDED.version_id
           WHERE (reasons.version_at, reasons.version_id)
                 < (EXCLUDED.version_at, EXCLUDED.version_id)""",
        p.reason_id,
        p.name,
        *_v(version),
    )


async def upsert_term(conn: asyncpg.Connection, p: Any, version: Version) -> None:
    await conn.execute(
        """INSERT INTO terms(term_id, name, starts_on, ends_on, version_at, version_id)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (term_id) DO UPDATE SET
               name = EXCLUDED.name, starts_on = EXCLUDED.starts_on,
               ends_on = EXCLUDED.ends_on,
               version_at = EXCLUDED.version_at, version_id = EXCLUDED.version_id
           WHERE (terms.version_at, terms.version_id)
                 < (EXCLUDED.version_at, EXCLUDED.version_id)""",
        p.term_id,
        p.name,
        p.starts_on,
        p.ends_on,
        *_v(version),
    )


async def upsert_widget(conn: asyncpg.Connection, p: Any, version: Version) -> None:
    await conn.execute(
        """INSERT INTO widgets(widget_id, name, version_at, version_id)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (widget_id) DO UPDATE SET
               name = EXCLUDED.name,
               version_at = EXCLUDED.version_at, version_id = EXCLUDED.version_id
           WHERE (widgets.version_at, widgets.version_id)
                 < (EXCLUDED.version_at, EXCLUDED.version_id)""",
        p.widget_id,
        p.name,
        *_v(version),
    )


async def upsert_center(
    conn: asyncpg.Connection, center_id: str, name: str, timezone: str, version: Version
) -> None:
    await lock_center(conn, center_id)
    # first_seen_at moves to the earliest event whatever the order; the other
    # columns follow the newest event only.
    newer = (
        "((centers.version_at, centers.version_id) < (EXCLUDED.version_at, EXCLUDED.version_id))"
    )
    await conn.execute(
        f"""INSERT INTO centers(center_id, name, timezone, first_seen_at, version_at, version_id)
            VALUES ($1, $2, $3, $4, $4, $5)
            ON CONFLICT (center_id) DO UPDATE SET
                first_seen_at = LEAST(centers.first_seen_at, EXCLUDED.first_seen_at),
                name = CASE WHEN {newer} THEN EXCLUDED.name ELSE centers.name END,
                timezone = CASE WHEN {newer} THEN EXCLUDED.timezone ELSE centers.timezone END,
                version_id = CASE WHEN {newer} THEN EXCLUDED.version_id
                                  ELSE centers.version_id END,
                version_at = GREATEST(centers.version_at, EXCLUDED.version_at)""",
        center_id,
        name,
        timezone,
        version.at,
        version.id,
    )
    # The appointments' local dates follow the center's current timezone.
    await conn.execute(
        """UPDATE appointment_rows a
           SET local_start_date = (a.starts_at AT TIME ZONE c.timezone)::date
           FROM centers c
           WHERE c.center_id = $1 AND a.center_id = c.center_id AND a.starts_at IS NOT NULL
             AND a.local_start_date IS DISTINCT FROM (a.starts_at AT TIME ZONE c.timezone)::date""",
        center_id,
    )


async def lock_center(conn: asyncpg.Connection, center_id: str) -> None:
    """Serialise a booking's local date against a change of its center's timezone
    (concurrent handlers would otherwise each miss the other's uncommitted row)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('report.center'), hashtext($1))", center_id
    )


# ------------------------------------------------------------------ invites
_INVITE_COLUMNS = (
    "invite_id",
    "invite_created_at",
    "created_by",
    "widget_id",
    "widget_name",
    "invite_type",
    "due_date",
    "section_id",
    "section_subject",
    "section_course",
    "section_name",
    "reason_id",
    "reason_name",
    "duration_minutes",
    "exam_code",
    "exam_file",
    "exam_passcode",
    "notes",
    "student_id",
    "first_name",
    "last_name",
    "email",
    "lists",
)


async def record_invite(conn: asyncpg.Connection, p: Any) -> None:
    """invite.created owns the invite columns of each invitee's row: it sets them all."""
    section, reason = p.section, p.reason
    common = (
        p.invite_id,
        p.created_at,
        p.created_by,
        p.widget_id,
        p.widget_name or None,
        p.type,
        p.due_date,
        section.section_id if section else None,
        section.subject if section else None,
        section.course if section else None,
        section.section if section else None,
        reason.reason_id if reason else None,
        reason.name if reason else None,
        p.duration_minutes,
        p.exam_code,
        p.exam_file,
        p.exam_passcode,
        p.notes,
    )
    columns = ", ".join(("invitee_id", *_INVITE_COLUMNS))
    placeholders = ", ".join(f"${i}" for i in range(1, len(_INVITE_COLUMNS) + 2))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _INVITE_COLUMNS)
    await conn.executemany(
        f"""INSERT INTO invitee_rows({columns}) VALUES ({placeholders})
            ON CONFLICT (invitee_id) DO UPDATE SET {updates}""",
        [
            (
                i.invitee_id,
                *common,
                i.student_id,
                i.first_name,
                i.last_name,
                i.email,
                list(i.lists),
            )
            for i in p.invitees
        ],
    )


async def record_invite_cancelled(conn: asyncpg.Connection, p: Any) -> None:
    await conn.executemany(
        """INSERT INTO invitee_rows(invitee_id, invite_id, invite_cancelled_at)
           VALUES ($1, $2, $3)
           ON CONFLICT (invitee_id) DO UPDATE SET
               invite_id = COALESCE(invitee_rows.invite_id, EXCLUDED.invite_id),
               invite_cancelled_at = LEAST(invitee_rows.invite_cancelled_at,
                                           EXCLUDED.invite_cancelled_at)""",
        [(invitee_id, p.invite_id, p.cancelled_at) for invitee_id in p.invitee_ids],
    )


async def record_invitee_status(conn: asyncpg.Connection, p: Any, version: Version) -> None:
    await conn.execute(
        """INSERT INTO invitee_rows(invitee_id, invite_id, status,
                                    status_version_at, status_version_id)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (invitee_id) DO UPDATE SET
               invite_id = COALESCE(invitee_rows.invite_id, EXCLUDED.invite_id),
               status = CASE WHEN newer THEN EXCLUDED.status ELSE invitee_rows.status END,
               status_version_at = CASE WHEN newer THEN EXCLUDED.status_version_at
                                        ELSE invitee_rows.status_version_at END,
               status_version_id = CASE WHEN newer THEN EXCLUDED.status_version_id
                                        ELSE invitee_rows.status_version_id END""".replace(
            "newer",
            "(invitee_rows.status_version_at IS NULL OR (invitee_rows.status_version_at,"
            " invitee_rows.status_version_id) < (EXCLUDED.status_version_at,"
            " EXCLUDED.status_version_id))",
        ),
        p.invitee_id,
        p.invite_id,
        p.status,
        *_v(version),
    )


# ------------------------------------------------------------------ appointments
_BOOKED_COLUMNS = (
    "invitee_id",
    "invite_id",
    "student_id",
    "starts_at",
    "ends_at",
    "duration_minutes",
    "asked_duration_minutes",
    "consultant_id",
    "consultant_name",
    "center_id",
    "center_name",
    "center_timezone",
    "modality",
    "kind",
    "booked_by",
    "booked_at",
)


async def record_booking(conn: asyncpg.Connection, p: Any, snapshot_timezone: str) -> None:
    """appointment.booked owns the booking columns; cancel/attendance may already be there."""
    values = (
        p.invitee_id,
        p.invite_id,
        p.student_id,
        p.starts_at,
        p.ends_at,
        p.duration_minutes,
        p.asked_duration_minutes,
        p.consultant.id,
        p.consultant.name,
        p.center.id,
        p.center.name,
        snapshot_timezone,
        p.modality,
        p.kind,
        p.booked_by,
        p.booked_at,
    )
    columns = ", ".join(("appointment_id", *_BOOKED_COLUMNS, "local_start_date"))
    n = len(_BOOKED_COLUMNS) + 1
    placeholders = ", ".join(f"${i}" for i in range(1, n + 1))
    # The local date uses the center's current timezone when a center.upserted
    # is known, else the snapshot in the event (center.upserted recomputes it).
    local_date = (
        "($5::timestamptz AT TIME ZONE COALESCE("
        "(SELECT timezone FROM centers WHERE center_id = $11), $13::text))::date"
    )
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in (*_BOOKED_COLUMNS, "local_start_date"))
    await lock_center(conn, p.center.id)
    await conn.execute(
        f"""INSERT INTO appointment_rows({columns}) VALUES ({placeholders}, {local_date})
            ON CONFLICT (appointment_id) DO UPDATE SET {updates}""",
        p.appointment_id,
        *values,
    )


async def record_appointment_cancelled(conn: asyncpg.Connection, p: Any) -> None:
    # The earliest cancellation wins, so two differing copies still converge.
    await conn.execute(
        """INSERT INTO appointment_rows(appointment_id, invitee_id, invite_id,
                                        cancelled_at, cancelled_by)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (appointment_id) DO UPDATE SET
               cancelled_at = EXCLUDED.cancelled_at, cancelled_by = EXCLUDED.cancelled_by
           WHERE appointment_rows.cancelled_at IS NULL
              OR (appointment_rows.cancelled_at, appointment_rows.cancelled_by)
                 > (EXCLUDED.cancelled_at, EXCLUDED.cancelled_by)""",
        p.appointment_id,
        p.invitee_id,
        p.invite_id,
        p.cancelled_at,
        p.cancelled_by,
    )


async def record_attendance(conn: asyncpg.Connection, p: Any, version: Version) -> None:
    await conn.execute(
        """INSERT INTO appointment_rows(appointment_id, invitee_id, invite_id, attendance,
                                        attendance_version_at, attendance_version_id)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (appointment_id) DO UPDATE SET
               attendance = EXCLUDED.attendance,
               attendance_version_at = EXCLUDED.attendance_version_at,
               attendance_version_id = EXCLUDED.attendance_version_id
           WHERE appointment_rows.attendance_version_at IS NULL
              OR (appointment_rows.attendance_version_at, appointment_rows.attendance_version_id)
                 < (EXCLUDED.attendance_version_at, EXCLUDED.attendance_version_id)""",
        p.appointment_id,
        p.invitee_id,
        p.invite_id,
        p.attendance,
        *_v(version),
    )


# ------------------------------------------------------------------ emails
@dataclass(frozen=True)
class EmailFact:
    """What notify said about one email of an invitee."""

    message_id: str
    invitee_id: str
    invite_id: str | None
    kind: str
    outcome: str
    error: str | None
    at: datetime


async def record_invitee_emails(
    conn: asyncpg.Connection, facts: Sequence[EmailFact], version: Version
) -> None:
    """Per-message facts of one event (one email, or a batch), in three statements."""
    by_message = {f.message_id: f for f in facts}
    if not by_message:
        return
    facts = list(by_message.values())
    invites: dict[str, str | None] = {}
    for f in facts:
        invites[f.invitee_id] = invites.get(f.invitee_id) or f.invite_id
    invitee_ids = sorted(invites)
    # Lock the invitees' rows FIRST, in one order (no deadlock between batches):
    # the consumer runs messages concurrently, and the recompute below must see
    # every fact committed by a competing transaction (under READ COMMITTED each
    # statement takes a fresh snapshot once the lock is ours).
    await conn.execute(
        """INSERT INTO invitee_rows(invitee_id, invite_id)
           SELECT * FROM unnest($1::text[], $2::text[]) ORDER BY 1
           ON CONFLICT (invitee_id) DO UPDATE SET
               invite_id = COALESCE(invitee_rows.invite_id, EXCLUDED.invite_id)""",
        invitee_ids,
        [invites[i] for i in invitee_ids],
    )
    await conn.execute(
        """INSERT INTO invitee_emails(message_id, invitee_id, kind, outcome, error, at,
                                      version_at, version_id)
           SELECT u.*, $7::timestamptz, $8::uuid
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                       $6::timestamptz[]) AS u
           ON CONFLICT (message_id) DO UPDATE SET
               outcome = EXCLUDED.outcome, error = EXCLUDED.error, at = EXCLUDED.at,
               version_at = EXCLUDED.version_at, version_id = EXCLUDED.version_id
           WHERE (invitee_emails.version_at, invitee_emails.version_id)
                 < (EXCLUDED.version_at, EXCLUDED.version_id)""",
        [f.message_id for f in facts],
        [f.invitee_id for f in facts],
        [f.kind for f in facts],
        [f.outcome for f in facts],
        [f.error for f in facts],
        [f.at for f in facts],
        *_v(version),
    )
    # Recomputed from the per-message facts: the same set gives the same stats.
    await conn.execute(
        """UPDATE invitee_rows r SET
               instructions_sent_at = (SELECT min(e.at) FROM invitee_emails e
                   WHERE e.invitee_id = r.invitee_id AND e.kind = 'instructions'
                     AND e.outcome = 'sent'),
               reminders_sent = (SELECT count(*) FROM invitee_emails e
                   WHERE e.invitee_id = r.invitee_id AND e.kind = 'reminder'
                     AND e.outcome = 'sent'),
               last_email_error = (SELECT CASE WHEN e.outcome = 'failed' THEN e.error END
                   FROM invitee_emails e WHERE e.invitee_id = r.invitee_id
                   ORDER BY e.at DESC, e.message_id DESC LIMIT 1)
           WHERE r.invitee_id = ANY($1::text[])""",
        invitee_ids,
    )


async def record_delivery_email(
    conn: asyncpg.Connection,
    *,
    message_id: str,
    delivery_id: str,
    outcome: str,
    error: str | None,
    permanent: bool,
    at: datetime,
    version: Version,
) -> None:
    await conn.execute(
        """INSERT INTO delivery_emails(message_id, delivery_id, outcome, error, permanent, at,
                                       version_at, version_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (message_id) DO UPDATE SET
               outcome = EXCLUDED.outcome, error = EXCLUDED.error,
               permanent = EXCLUDED.permanent, at = EXCLUDED.at,
               version_at = EXCLUDED.version_at, version_id = EXCLUDED.version_id
           WHERE (delivery_emails.version_at, delivery_emails.version_id)
                 < (EXCLUDED.version_at, EXCLUDED.version_id)""",
        message_id,
        delivery_id,
        outcome,
        error,
        permanent,
        at,
        *_v(version),
    )


# ------------------------------------------------------------------ lookups
async def center_timezone(conn: asyncpg.Connection, center_id: str) -> str | None:
    value: str | None = await conn.fetchval(
        "SELECT timezone FROM centers WHERE center_id = $1", center_id
    )
    return value


async def first_center_timezone(conn: asyncpg.Connection) -> str | None:
    value: str | None = await conn.fetchval(
        "SELECT timezone FROM centers ORDER BY first_seen_at, center_id LIMIT 1"
    )
    return value


async def list_terms(conn: asyncpg.Connection) -> list[Term]:
    rows = await conn.fetch("SELECT term_id, name, starts_on, ends_on FROM terms")
    return [Term(r["term_id"], r["name"], r["starts_on"], r["ends_on"]) for r in rows]


# ------------------------------------------------------------------ the report
# What each row key of the report is, in SQL. The directory's current values
# win over the invite's snapshot (the directory is the newest truth once all
# events are in); the snapshot covers what the directory has not sent.
_ROW_SQL: dict[str, str] = {
    "appointment_id": "a.appointment_id",
    "invitee_id": "a.invitee_id",
    "invite_id": "a.invite_id",
    "student_id": "COALESCE(a.student_id, i.student_id)",
    "first_name": "COALESCE(s.first_name, i.first_name)",
    "last_name": "COALESCE(s.last_name, i.last_name)",
    "email": "COALESCE(s.email, i.email)",
    "lists": "COALESCE(s.lists, i.lists)",
    "invite_type": "i.invite_type",
    "starts_at": "a.starts_at",
    "ends_at": "a.ends_at",
    "duration_minutes": "a.duration_minutes",
    "asked_duration_minutes": "a.asked_duration_minutes",
    "consultant_id": "a.consultant_id",
    "consultant_name": "a.consultant_name",
    "booked_by": "a.booked_by",
    "booked_at": "a.booked_at",
    "exam_code": "i.exam_code",
    "exam_passcode": "i.exam_passcode",
    "exam_file": "i.exam_file",
    "attendance": "COALESCE(a.attendance, 'pending')",
    "section_id": "i.section_id",
    "subject": "COALESCE(sec.subject, i.section_subject)",
    "course": "COALESCE(sec.course, i.section_course)",
    "section_name": "COALESCE(sec.section, i.section_name)",
    "reason_id": "i.reason_id",
    "reason_name": "COALESCE(rs.name, i.reason_name)",
    "due_date": "i.due_date",
    "center_id": "a.center_id",
    "center_name": "COALESCE(c.name, a.center_name)",
    "timezone": "COALESCE(c.timezone, a.center_timezone, 'UTC')",
    "widget_name": "COALESCE(w.name, i.widget_name)",
    "term_name": "t.name",
    "modality": "a.modality",
    "kind": "a.kind",
    "cancelled_at": "a.cancelled_at",
    "invitee_status": "i.status",
    "instructions_sent_at": "i.instructions_sent_at",
    "reminders_sent": "i.reminders_sent",
    "last_email_error": "i.last_email_error",
    "notes": "i.notes",
    "created_by": "i.created_by",
}
assert tuple(_ROW_SQL) == ROW_KEYS

# Every join is on a unique key, so PostgreSQL drops the ones a report's
# columns and filters do not use (left join removal).
_REPORT_FROM = """
FROM appointment_rows a
LEFT JOIN invitee_rows i ON i.invitee_id = a.invitee_id
LEFT JOIN students s ON s.student_id = COALESCE(a.student_id, i.student_id)
LEFT JOIN sections sec ON sec.section_id = i.section_id
LEFT JOIN reasons rs ON rs.reason_id = i.reason_id
LEFT JOIN centers c ON c.center_id = a.center_id
LEFT JOIN widgets w ON w.widget_id = i.widget_id
LEFT JOIN terms t ON t.term_id = sec.term_id
"""

# ORDER BY prefixes that make each group contiguous (label, then id); they
# must agree with domain.grouping.group_key.
_GROUP_ORDER = {
    "type": "i.invite_type NULLS LAST",
    "reason": "COALESCE(rs.name, i.reason_name) NULLS LAST, i.reason_id NULLS LAST",
    "section": (
        "COALESCE(sec.subject, i.section_subject) NULLS LAST,"
        " COALESCE(sec.course, i.section_course) NULLS LAST,"
        " COALESCE(sec.section, i.section_name) NULLS LAST, i.section_id NULLS LAST"
    ),
    "consultant": "a.consultant_name NULLS LAST, a.consultant_id NULLS LAST",
}


def report_query(
    criteria: ReportCriteria, keys: Sequence[str] | None = None
) -> tuple[str, list[Any]]:
    """The SQL and arguments of one report (pure: unit tested without a database).

    ``keys`` are the row keys to select (default: what the criteria's columns
    and grouping need). Text filters (type, subject, course) ignore case; ids
    match exactly. The time frame is the appointment's start date in its
    center's timezone; rows come by local day, then start time.
    """
    if keys is None:
        keys = needed_keys(criteria.columns, criteria.group_by)
    select = ", ".join(f"{_ROW_SQL[k]} AS {k}" for k in keys)
    args: list[Any] = [criteria.range.start, criteria.range.end]
    where = [
        "a.starts_at IS NOT NULL",
        "a.local_start_date BETWEEN $1 AND $2",
    ]
    if not criteria.include_cancelled:
        where.append("a.cancelled_at IS NULL")

    def add(condition: str, value: Any) -> None:
        args.append(value)
        where.append(condition.replace("?", f"${len(args)}"))

    if criteria.center_id is not None:
        add("a.center_id = ?", criteria.center_id)
    if criteria.type is not None:
        add("lower(i.invite_type) = lower(?)", criteria.type)
    if criteria.subject is not None:
        add("lower(COALESCE(sec.subject, i.section_subject)) = lower(?)", criteria.subject)
    if criteria.course is not None:
        add("lower(COALESCE(sec.course, i.section_course)) = lower(?)", criteria.course)
    if criteria.section_id is not None:
        add("i.section_id = ?", criteria.section_id)
    if criteria.reason_id is not None:
        add("i.reason_id = ?", criteria.reason_id)
    order = ["a.local_start_date", "a.starts_at", "a.appointment_id"]
    if criteria.group_by is not None:
        order.insert(0, _GROUP_ORDER[criteria.group_by])
    sql = f"SELECT {select} {_REPORT_FROM} WHERE {' AND '.join(where)} ORDER BY {', '.join(order)}"
    return sql, args


async def stream_report_rows(
    conn: asyncpg.Connection, criteria: ReportCriteria, *, prefetch: int = 2000
) -> AsyncGenerator[asyncpg.Record, None]:
    """The rows through a server-side cursor: memory stays flat however many there are.

    The caller owns ``conn`` and must hold it until the iteration ends.
    """
    sql, args = report_query(criteria)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        # JIT compiling costs more than it saves on this plain join.
        await conn.execute("SET LOCAL jit = off")
        async for record in conn.cursor(sql, *args, prefetch=prefetch):
            yield record


# ------------------------------------------------------------------ deliveries
async def insert_delivery(
    conn: asyncpg.Connection,
    *,
    delivery_id: str,
    requested_at: datetime,
    requested_by: str,
    recipients: list[str],
    format: str,
    filename: str,
    subject: str,
    parameters: dict[str, Any],
    row_count: int,
    size_bytes: int,
) -> None:
    await conn.execute(
        """INSERT INTO deliveries(delivery_id, requested_at, requested_by, recipients, format,
                                  filename, subject, parameters, row_count, size_bytes)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
        delivery_id,
        requested_at,
        requested_by,
        recipients,
        format,
        filename,
        subject,
        json.loads(json.dumps(parameters, default=str)),
        row_count,
        size_bytes,
    )


async def get_delivery(
    conn: asyncpg.Connection, delivery_id: str
) -> tuple[asyncpg.Record, list[asyncpg.Record]] | None:
    row = await conn.fetchrow("SELECT * FROM deliveries WHERE delivery_id = $1", delivery_id)
    if row is None:
        return None
    emails = await conn.fetch(
        """SELECT message_id, outcome, error, permanent, at FROM delivery_emails
           WHERE delivery_id = $1 ORDER BY at, message_id""",
        delivery_id,
    )
    return row, list(emails)


def _v(version: Version) -> tuple[datetime, uuid.UUID]:
    return version.at, version.id
