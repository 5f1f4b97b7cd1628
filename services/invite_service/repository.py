"""SQL of the invite service. Every function takes the caller's connection (its transaction)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg
from asyncpg import Record

from shared.events import DurationRule, StudentData, WidgetData


def as_uuid(value: str) -> uuid.UUID | None:
    """A path or body id as a UUID, or None when it cannot be one (then nothing matches)."""
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None


def like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# ------------------------------------------------------------------ students
async def upsert_students(
    conn: asyncpg.Connection, students: Sequence[StudentData], now: datetime
) -> tuple[int, int]:
    """Create or change students in one statement; returns (created, updated)."""
    if not students:
        return 0, 0
    await conn.execute(
        """CREATE TEMP TABLE student_import (
               student_id text, first_name text, last_name text, email text, lists text[]
           ) ON COMMIT DROP"""
    )
    await conn.copy_records_to_table(
        "student_import",
        records=[(s.student_id, s.first_name, s.last_name, s.email, s.lists) for s in students],
        columns=["student_id", "first_name", "last_name", "email", "lists"],
    )
    # Sorted, so two imports touching the same students lock them in the same order.
    row = await conn.fetchrow(
        """WITH written AS (
               INSERT INTO students (student_id, first_name, last_name, email, lists, updated_at)
               SELECT student_id, first_name, last_name, email, lists, $1
               FROM student_import ORDER BY student_id
               ON CONFLICT (student_id) DO UPDATE SET
                   first_name = excluded.first_name, last_name = excluded.last_name,
                   email = excluded.email, lists = excluded.lists, updated_at = excluded.updated_at
               RETURNING (xmax = 0) AS created)
           SELECT count(*) FILTER (WHERE created) AS created,
                  count(*) FILTER (WHERE NOT created) AS updated
           FROM written""",
        now,
    )
    await conn.execute("DROP TABLE student_import")
    assert row is not None
    return int(row["created"]), int(row["updated"])


async def upsert_student(conn: asyncpg.Connection, student: StudentData, now: datetime) -> bool:
    """Returns True when the student is new."""
    created: bool = await conn.fetchval(
        """INSERT INTO students (student_id, first_name, last_name, email, lists, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (student_id) DO UPDATE SET
               first_name = excluded.first_name, last_name = excluded.last_name,
               email = excluded.email, lists = excluded.lists, updated_at = excluded.updated_at
           RETURNING (xmax = 0)""",
        student.student_id,
        student.first_name,
        student.last_name,
        student.email,
        student.lists,
        now,
    )
    return created


STUDENT_COLUMNS = "s.student_id, s.first_name, s.last_name, s.email, s.lists"


async def get_student(conn: asyncpg.Connection, student_id: str) -> Record | None:
    return await conn.fetchrow(
        f"SELECT {STUDENT_COLUMNS} FROM students s WHERE s.student_id = $1", student_id
    )


async def students_by_ids(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, StudentData]:
    rows = await conn.fetch(
        f"SELECT {STUDENT_COLUMNS} FROM students s WHERE s.student_id = ANY($1::text[])", list(ids)
    )
    return {r["student_id"]: student_from_row(r) for r in rows}


def student_from_row(row: Record) -> StudentData:
    return StudentData(
        student_id=row["student_id"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        email=row["email"],
        lists=list(row["lists"]),
    )


async def list_students(
    conn: asyncpg.Connection,
    *,
    q: str | None,
    list_name: str | None,
    section_id: str | None,
    faculty_id: str | None,
    after: str | None,
    limit: int,
) -> list[Record]:
    """Keyset page by student_id; ``faculty_id`` limits to that faculty member's rosters."""
    return await conn.fetch(
        f"""SELECT {STUDENT_COLUMNS} FROM students s
            WHERE ($1::text IS NULL OR s.student_id > $1)
              AND ($2::text IS NULL OR s.student_id ILIKE $2 OR s.email ILIKE $2
                   OR s.first_name ILIKE $2 OR s.last_name ILIKE $2
                   OR (s.first_name || ' ' || s.last_name) ILIKE $2)
              AND ($3::text IS NULL OR s.lists @> ARRAY[$3::text])
              AND ($4::text IS NULL OR EXISTS (
                    SELECT 1 FROM section_students ss
                    WHERE ss.section_id = $4 AND ss.student_id = s.student_id))
              AND ($5::text IS NULL OR EXISTS (
                    SELECT 1 FROM section_students ss JOIN sections x USING (section_id)
                    WHERE ss.student_id = s.student_id AND x.faculty_ids @> ARRAY[$5::text]))
            ORDER BY s.student_id
            LIMIT $6""",
        after,
        like_pattern(q) if q else None,
        list_name,
        section_id,
        faculty_id,
        limit,
    )


async def on_rosters_of(
    conn: asyncpg.Connection, faculty_id: str, student_ids: Sequence[str]
) -> set[str]:
    """Which of these students are on a roster of one of the faculty member's sections."""
    rows = await conn.fetch(
        """SELECT DISTINCT ss.student_id FROM section_students ss JOIN sections x USING (section_id)
           WHERE x.faculty_ids @> ARRAY[$1::text] AND ss.student_id = ANY($2::text[])""",
        faculty_id,
        list(student_ids),
    )
    return {r["student_id"] for r in rows}


async def existing_student_ids(conn: asyncpg.Connection, ids: Sequence[str]) -> set[str]:
    rows = await conn.fetch(
        "SELECT student_id FROM students WHERE student_id = ANY($1::text[])", list(ids)
    )
    return {r["student_id"] for r in rows}


# ------------------------------------------------------------------ terms, sections, reasons
async def upsert_term(
    conn: asyncpg.Connection, term_id: str, name: str, starts_on: date, ends_on: date
) -> None:
    await conn.execute(
        """INSERT INTO terms (term_id, name, starts_on, ends_on) VALUES ($1, $2, $3, $4)
           ON CONFLICT (term_id) DO UPDATE SET
               name = excluded.name, starts_on = excluded.starts_on, ends_on = excluded.ends_on""",
        term_id,
        name,
        starts_on,
        ends_on,
    )


async def term_exists(conn: asyncpg.Connection, term_id: str) -> bool:
    return bool(await conn.fetchval("SELECT true FROM terms WHERE term_id = $1", term_id))


async def list_terms(conn: asyncpg.Connection, after: str | None, limit: int) -> list[Record]:
    return await conn.fetch(
        """SELECT term_id, name, starts_on, ends_on FROM terms
           WHERE ($1::text IS NULL OR term_id > $1) ORDER BY term_id LIMIT $2""",
        after,
        limit,
    )


async def upsert_section(
    conn: asyncpg.Connection,
    section_id: str,
    *,
    subject: str,
    course: str,
    section: str,
    term_id: str | None,
    faculty_ids: list[str],
    student_ids: list[str],
    now: datetime,
) -> None:
    """The section and its whole roster (the roster given replaces the old one)."""
    await conn.execute(
        """INSERT INTO sections (section_id, subject, course, section, term_id, faculty_ids,
                                 updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (section_id) DO UPDATE SET
               subject = excluded.subject, course = excluded.course, section = excluded.section,
               term_id = excluded.term_id, faculty_ids = excluded.faculty_ids,
               updated_at = excluded.updated_at""",
        section_id,
        subject,
        course,
        section,
        term_id,
        faculty_ids,
        now,
    )
    await conn.execute(
        "DELETE FROM section_students WHERE section_id = $1 AND NOT (student_id = ANY($2::text[]))",
        section_id,
        student_ids,
    )
    await conn.execute(
        """INSERT INTO section_students (section_id, student_id)
           SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING""",
        section_id,
        student_ids,
    )


SECTION_SELECT = """
    SELECT x.section_id, x.subject, x.course, x.section, x.term_id, x.faculty_ids,
           coalesce((SELECT array_agg(ss.student_id ORDER BY ss.student_id)
                     FROM section_students ss WHERE ss.section_id = x.section_id),
                    '{}') AS student_ids
    FROM sections x"""


async def get_section(conn: asyncpg.Connection, section_id: str) -> Record | None:
    return await conn.fetchrow(f"{SECTION_SELECT} WHERE x.section_id = $1", section_id)


async def list_sections(
    conn: asyncpg.Connection, *, faculty_id: str | None, after: str | None, limit: int
) -> list[Record]:
    return await conn.fetch(
        f"""{SECTION_SELECT}
            WHERE ($1::text IS NULL OR x.faculty_ids @> ARRAY[$1::text])
              AND ($2::text IS NULL OR x.section_id > $2)
            ORDER BY x.section_id LIMIT $3""",
        faculty_id,
        after,
        limit,
    )


async def upsert_reason(conn: asyncpg.Connection, reason_id: str, name: str) -> None:
    await conn.execute(
        """INSERT INTO reasons (reason_id, name) VALUES ($1, $2)
           ON CONFLICT (reason_id) DO UPDATE SET name = excluded.name""",
        reason_id,
        name,
    )


async def get_reason(conn: asyncpg.Connection, reason_id: str) -> Record | None:
    return await conn.fetchrow(
        "SELECT reason_id, name FROM reasons WHERE reason_id = $1", reason_id
    )


async def list_reasons(conn: asyncpg.Connection, after: str | None, limit: int) -> list[Record]:
    return await conn.fetch(
        """SELECT reason_id, name FROM reasons
           WHERE ($1::text IS NULL OR reason_id > $1) ORDER BY reason_id LIMIT $2""",
        after,
        limit,
    )


# ------------------------------------------------------------------ centers (replica)
async def upsert_center(
    conn: asyncpg.Connection, center_id: str, name: str, timezone: str, occurred_at: datetime
) -> None:
    """Keeps the newest version: an older event arriving late changes nothing."""
    await conn.execute(
        """INSERT INTO centers (center_id, name, timezone, source_occurred_at)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (center_id) DO UPDATE SET
               name = excluded.name, timezone = excluded.timezone,
               source_occurred_at = excluded.source_occurred_at
           WHERE centers.source_occurred_at <= excluded.source_occurred_at""",
        center_id,
        name,
        timezone,
        occurred_at,
    )


async def get_center(conn: asyncpg.Connection, center_id: str) -> Record | None:
    return await conn.fetchrow(
        "SELECT center_id, name, timezone FROM centers WHERE center_id = $1", center_id
    )


# ------------------------------------------------------------------ widgets
WIDGET_COLUMNS = (
    "widget_id, name, center_ids, is_invitation, hide_on_dashboard, invitation_types, "
    "send_instructions_days, invitation_subject, invitation_instructions, ask_fields, "
    "reminder_every_days, reminder_text, created_at, updated_at"
)


def widget_from_row(row: Record) -> WidgetData:
    return WidgetData(
        widget_id=str(row["widget_id"]),
        name=row["name"],
        center_ids=list(row["center_ids"]),
        is_invitation=row["is_invitation"],
        hide_on_dashboard=row["hide_on_dashboard"],
        invitation_types=list(row["invitation_types"]),
        send_instructions_days=row["send_instructions_days"],
        invitation_subject=row["invitation_subject"],
        invitation_instructions=row["invitation_instructions"],
        ask_fields=list(row["ask_fields"]),
        reminder_every_days=row["reminder_every_days"],
        reminder_text=row["reminder_text"],
    )


async def insert_widget(conn: asyncpg.Connection, widget: WidgetData, now: datetime) -> Record:
    row = await conn.fetchrow(
        f"""INSERT INTO widgets ({WIDGET_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)
            RETURNING {WIDGET_COLUMNS}""",
        uuid.UUID(widget.widget_id),
        widget.name,
        widget.center_ids,
        widget.is_invitation,
        widget.hide_on_dashboard,
        widget.invitation_types,
        widget.send_instructions_days,
        widget.invitation_subject,
        widget.invitation_instructions,
        widget.ask_fields,
        widget.reminder_every_days,
        widget.reminder_text,
        now,
    )
    assert row is not None
    return row


async def update_widget(conn: asyncpg.Connection, widget: WidgetData, now: datetime) -> Record:
    row = await conn.fetchrow(
        f"""UPDATE widgets SET name = $2, center_ids = $3, is_invitation = $4,
                hide_on_dashboard = $5, invitation_types = $6, send_instructions_days = $7,
                invitation_subject = $8, invitation_instructions = $9, ask_fields = $10,
                reminder_every_days = $11, reminder_text = $12, updated_at = $13
            WHERE widget_id = $1 RETURNING {WIDGET_COLUMNS}""",
        uuid.UUID(widget.widget_id),
        widget.name,
        widget.center_ids,
        widget.is_invitation,
        widget.hide_on_dashboard,
        widget.invitation_types,
        widget.send_instructions_days,
        widget.invitation_subject,
        widget.invitation_instructions,
        widget.ask_fields,
        widget.reminder_every_days,
        widget.reminder_text,
        now,
    )
    assert row is not None
    return row


async def get_widget(
    conn: asyncpg.Connection, widget_id: str, *, for_update: bool = False
) -> Record | None:
    key = as_uuid(widget_id)
    if key is None:
        return None
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(
        f"SELECT {WIDGET_COLUMNS} FROM widgets WHERE widget_id = $1{lock}", key
    )


async def list_widgets(
    conn: asyncpg.Connection, after: tuple[str, str] | None, limit: int
) -> list[Record]:
    """Alphabetical by name (then id)."""
    return await conn.fetch(
        f"""SELECT {WIDGET_COLUMNS} FROM widgets
            WHERE ($1::text IS NULL OR (name, widget_id) > ($1::text, $2::uuid))
            ORDER BY name, widget_id LIMIT $3""",
        after[0] if after else None,
        as_uuid(after[1]) if after else None,
        limit,
    )


# ------------------------------------------------------------------ invites
async def insert_invite(conn: asyncpg.Connection, values: dict[str, Any]) -> None:
    columns = list(values)
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    await conn.execute(
        f"INSERT INTO invites ({', '.join(columns)}) VALUES ({placeholders})",
        *values.values(),
    )


async def copy_invitees(
    conn: asyncpg.Connection, rows: Sequence[tuple[uuid.UUID, uuid.UUID, str, str]]
) -> None:
    """(invitee_id, invite_id, student_id, token_hash) rows through COPY: thousands at once."""
    await conn.copy_records_to_table(
        "invitees",
        records=rows,
        columns=["invitee_id", "invite_id", "student_id", "token_hash"],
    )


INVITE_SELECT = """
    SELECT v.*, w.name AS widget_name, w.center_ids,
           x.subject AS section_subject, x.course AS section_course, x.section AS section_section,
           r.name AS reason_name
    FROM invites v
    JOIN widgets w ON w.widget_id = v.widget_id
    LEFT JOIN sections x ON x.section_id = v.section_id
    LEFT JOIN reasons r ON r.reason_id = v.reason_id"""


async def list_invites(
    conn: asyncpg.Connection,
    *,
    widget_id: uuid.UUID | None,
    type_: str | None,
    created_by: str | None,
    status: str | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Record]:
    """Newest first."""
    return await conn.fetch(
        f"""{INVITE_SELECT}
            WHERE ($1::uuid IS NULL OR v.widget_id = $1)
              AND ($2::text IS NULL OR v.type = $2)
              AND ($3::text IS NULL OR v.created_by = $3)
              AND ($4::text IS NULL OR v.status = $4)
              AND ($5::timestamptz IS NULL OR (v.created_at, v.invite_id) < ($5, $6::uuid))
            ORDER BY v.created_at DESC, v.invite_id DESC
            LIMIT $7""",
        widget_id,
        type_,
        created_by,
        status,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )


async def get_invite(
    conn: asyncpg.Connection, invite_id: uuid.UUID, *, for_update: bool = False
) -> Record | None:
    if for_update:
        await conn.execute("SELECT 1 FROM invites WHERE invite_id = $1 FOR UPDATE", invite_id)
    return await conn.fetchrow(f"{INVITE_SELECT} WHERE v.invite_id = $1", invite_id)


async def invitee_counts(
    conn: asyncpg.Connection, invite_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, int]]:
    rows = await conn.fetch(
        """SELECT invite_id, status, count(*) AS n FROM invitees
           WHERE invite_id = ANY($1::uuid[]) GROUP BY invite_id, status""",
        list(invite_ids),
    )
    counts: dict[uuid.UUID, dict[str, int]] = {}
    for r in rows:
        counts.setdefault(r["invite_id"], {})[r["status"]] = int(r["n"])
    return counts


async def invitees_of(conn: asyncpg.Connection, invite_id: uuid.UUID) -> list[Record]:
    return await conn.fetch(
        """SELECT i.invitee_id, i.student_id, i.status, i.instructions_sent_at, i.reminders_sent,
                  i.last_delivery_error, i.appointment_id, s.first_name, s.last_name, s.email
           FROM invitees i JOIN students s ON s.student_id = i.student_id
           WHERE i.invite_id = $1
           ORDER BY s.last_name, s.first_name, i.student_id""",
        invite_id,
    )


async def cancel_invite(
    conn: asyncpg.Connection, invite_id: uuid.UUID, *, at: datetime, by: str
) -> list[uuid.UUID]:
    """Cancel the invite (row locked by the caller); returns the invitees now cancelled."""
    await conn.execute(
        """UPDATE invites SET status = 'cancelled', cancelled_at = $2, cancelled_by = $3
           WHERE invite_id = $1""",
        invite_id,
        at,
        by,
    )
    rows = await conn.fetch(
        """UPDATE invitees SET status = 'cancelled'
           WHERE invite_id = $1 AND status IN ('invited', 'booked')
           RETURNING invitee_id""",
        invite_id,
    )
    return [r["invitee_id"] for r in rows]


# ------------------------------------------------------------------ invitee updates from events
async def lock_invitee(conn: asyncpg.Connection, invitee_id: uuid.UUID) -> None:
    """Booking and cancellation events of one invitee are handled one after the other.

    The consumer handles messages concurrently; without this lock a booking could
    miss the tombstone of its own cancellation written by a transaction not yet
    committed. Under READ COMMITTED the statements after the lock see it.
    """
    await conn.execute("SELECT 1 FROM invitees WHERE invitee_id = $1 FOR UPDATE", invitee_id)


async def record_booking(
    conn: asyncpg.Connection, invitee_id: uuid.UUID, appointment_id: str, booked_at: datetime
) -> bool:
    """Booked, unless this appointment was already heard cancelled or a newer booking is in."""
    await lock_invitee(conn, invitee_id)
    result = await conn.execute(
        """UPDATE invitees SET appointment_id = $2, appointment_booked_at = $3,
               status = CASE WHEN status = 'cancelled' THEN status ELSE 'booked' END
           WHERE invitee_id = $1
             AND (appointment_booked_at IS NULL OR appointment_booked_at <= $3)
             AND NOT EXISTS (SELECT 1 FROM cancelled_appointments WHERE appointment_id = $2)""",
        invitee_id,
        appointment_id,
        booked_at,
    )
    return result != "UPDATE 0"


async def record_appointment_cancelled(
    conn: asyncpg.Connection, invitee_id: uuid.UUID, appointment_id: str, cancelled_at: datetime
) -> bool:
    await lock_invitee(conn, invitee_id)
    await conn.execute(
        """INSERT INTO cancelled_appointments (appointment_id, cancelled_at) VALUES ($1, $2)
           ON CONFLICT (appointment_id) DO NOTHING""",
        appointment_id,
        cancelled_at,
    )
    # Only the invitee's current appointment frees it: a late cancel of an older one does not.
    result = await conn.execute(
        """UPDATE invitees SET appointment_id = NULL,
               status = CASE WHEN status = 'booked' THEN 'invited' ELSE status END
           WHERE invitee_id = $1 AND appointment_id = $2""",
        invitee_id,
        appointment_id,
    )
    return result != "UPDATE 0"


@dataclass(frozen=True)
class EmailReceipt:
    """An instruction or reminder email notify reported as sent."""

    invitee_id: uuid.UUID
    message_id: str
    kind: str
    sent_at: datetime


async def record_emails_sent(conn: asyncpg.Connection, receipts: Sequence[EmailReceipt]) -> int:
    """Count sent emails, each message once whatever the events; returns how many were new.

    One statement for a whole batch: the receipts not seen before update their
    invitees (first instructions time, reminders count).
    """
    unique = list({r.message_id: r for r in receipts}.values())
    if not unique:
        return 0
    counted: int = await conn.fetchval(
        """WITH batch AS (
               SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::timestamptz[])
                   AS b(message_id, invitee_id, kind, sent_at)),
           new AS (
               INSERT INTO email_receipts (message_id, invitee_id, kind)
               SELECT message_id, invitee_id, kind FROM batch
               ON CONFLICT (message_id) DO NOTHING
               RETURNING message_id),
           per_invitee AS (
               SELECT b.invitee_id,
                      -- the first time instructions went out, whatever order events come in
                      min(b.sent_at) FILTER (WHERE b.kind = 'instructions') AS instructions_at,
                      count(*) FILTER (WHERE b.kind = 'reminder') AS reminders
               FROM batch b JOIN new USING (message_id)
               GROUP BY b.invitee_id),
           updated AS (
               UPDATE invitees i
               SET instructions_sent_at = LEAST(i.instructions_sent_at, p.instructions_at),
                   reminders_sent = i.reminders_sent + p.reminders
               FROM per_invitee p WHERE i.invitee_id = p.invitee_id
               RETURNING 1)
           SELECT count(*) FROM new""",
        [r.message_id for r in unique],
        [r.invitee_id for r in unique],
        [r.kind for r in unique],
        [r.sent_at for r in unique],
    )
    return counted


async def record_email_failed(
    conn: asyncpg.Connection, invitee_id: uuid.UUID, error: str, failed_at: datetime
) -> None:
    await conn.execute(
        """UPDATE invitees SET last_delivery_error = $2, last_delivery_error_at = $3
           WHERE invitee_id = $1
             AND (last_delivery_error_at IS NULL OR last_delivery_error_at <= $3)""",
        invitee_id,
        error,
        failed_at,
    )


async def claim_expired(conn: asyncpg.Connection, now: datetime, limit: int) -> list[Record]:
    """Mark invited invitees whose due date is over (in their center's timezone) expired.

    Rows are claimed with SKIP LOCKED, so several copies of the service sweep
    side by side without waiting on or double-counting each other.
    """
    return await conn.fetch(
        """WITH due AS (
               SELECT i.invitee_id FROM invitees i
               JOIN invites v ON v.invite_id = i.invite_id
               LEFT JOIN centers c ON c.center_id = v.center_id
               WHERE i.status = 'invited' AND v.status = 'active'
                 -- index-friendly pre-filter: no timezone is a full day ahead of UTC
                 AND v.due_date <= (($1::timestamptz) AT TIME ZONE 'UTC')::date
                 AND (timezone(coalesce(c.timezone, 'UTC'), $1::timestamptz))::date > v.due_date
               ORDER BY i.invitee_id
               LIMIT $2
               FOR UPDATE OF i SKIP LOCKED)
           UPDATE invitees SET status = 'expired'
           FROM due WHERE invitees.invitee_id = due.invitee_id
           RETURNING invitees.invitee_id, invitees.invite_id""",
        now,
        limit,
    )


# ------------------------------------------------------------------ duration rules
async def get_rules(conn: asyncpg.Connection) -> list[DurationRule]:
    rows = await conn.fetch(
        """SELECT list, type, duration_minutes, new_duration_minutes
           FROM duration_rules ORDER BY position"""
    )
    return [DurationRule(**dict(r)) for r in rows]


async def replace_rules(conn: asyncpg.Connection, rules: Sequence[DurationRule]) -> None:
    # One writer at a time, so the events leave in the order the lists were saved.
    await conn.execute("LOCK TABLE duration_rules IN SHARE ROW EXCLUSIVE MODE")
    await conn.execute("DELETE FROM duration_rules")
    await conn.executemany(
        """INSERT INTO duration_rules (position, list, type, duration_minutes,
                                       new_duration_minutes)
           VALUES ($1, $2, $3, $4, $5)""",
        [
            (i, r.list, r.type, r.duration_minutes, r.new_duration_minutes)
            for i, r in enumerate(rules)
        ],
    )
