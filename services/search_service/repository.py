"""SQL of the search service. Every function takes the caller's connection (its unit of work)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

from services.search_service.domain.model import Availability, Busy, Center
from shared.events import DurationRule

Row: TypeAlias = asyncpg.Record


# ------------------------------------------------------------------ centers
CENTER_COLUMNS = (
    "id, name, timezone, slot_interval_minutes, default_appointment_minutes, created_at, updated_at"
)


async def insert_center(conn: asyncpg.Connection, center_id: str, data: dict[str, Any]) -> Row:
    row = await conn.fetchrow(
        f"""INSERT INTO centers(id, name, timezone, slot_interval_minutes,
                                default_appointment_minutes)
            VALUES ($1, $2, $3, $4, $5) RETURNING {CENTER_COLUMNS}""",
        center_id,
        data["name"],
        data["timezone"],
        data["slot_interval_minutes"],
        data["default_appointment_minutes"],
    )
    assert row is not None
    return row


async def update_center(
    conn: asyncpg.Connection, center_id: str, changes: dict[str, Any]
) -> Row | None:
    allowed = ("name", "timezone", "slot_interval_minutes", "default_appointment_minutes")
    sets = [f"{name} = ${i + 2}" for i, name in enumerate(k for k in allowed if k in changes)]
    values = [changes[k] for k in allowed if k in changes]
    if not sets:
        return await get_center_row(conn, center_id)
    return await conn.fetchrow(
        f"""UPDATE centers SET {", ".join(sets)}, updated_at = now()
            WHERE id = $1 RETURNING {CENTER_COLUMNS}""",
        center_id,
        *values,
    )


async def get_center_row(conn: asyncpg.Connection, center_id: str) -> Row | None:
    return await conn.fetchrow(f"SELECT {CENTER_COLUMNS} FROM centers WHERE id = $1", center_id)


async def list_centers(conn: asyncpg.Connection, limit: int, after: str | None) -> list[Row]:
    return await conn.fetch(
        f"""SELECT {CENTER_COLUMNS} FROM centers WHERE ($1::text IS NULL OR id > $1)
            ORDER BY id LIMIT $2""",
        after,
        limit,
    )


def center_of(row: Row) -> Center:
    return Center(
        id=row["id"],
        name=row["name"],
        timezone=row["timezone"],
        slot_interval_minutes=row["slot_interval_minutes"],
        default_appointment_minutes=row["default_appointment_minutes"],
    )


async def centers(conn: asyncpg.Connection, ids: Sequence[str] | None) -> dict[str, Center]:
    """The named centers, or every center when ``ids`` is None."""
    rows = await conn.fetch(
        f"SELECT {CENTER_COLUMNS} FROM centers WHERE $1::text[] IS NULL OR id = ANY($1)",
        None if ids is None else list(ids),
    )
    return {r["id"]: center_of(r) for r in rows}


# ------------------------------------------------------------------ consultants
async def insert_consultant(
    conn: asyncpg.Connection, consultant_id: str, name: str, email: str
) -> Row:
    row = await conn.fetchrow(
        """INSERT INTO consultants(id, name, email) VALUES ($1, $2, $3)
           RETURNING id, name, email, created_at""",
        consultant_id,
        name,
        email,
    )
    assert row is not None
    return row


async def get_consultant(conn: asyncpg.Connection, consultant_id: str) -> Row | None:
    return await conn.fetchrow(
        "SELECT id, name, email, created_at FROM consultants WHERE id = $1", consultant_id
    )


async def list_consultants(conn: asyncpg.Connection, limit: int, after: str | None) -> list[Row]:
    return await conn.fetch(
        """SELECT id, name, email, created_at FROM consultants
           WHERE ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2""",
        after,
        limit,
    )


async def existing_ids(conn: asyncpg.Connection, table: str, ids: set[str]) -> set[str]:
    assert table in ("consultants", "centers")
    rows = await conn.fetch(f"SELECT id FROM {table} WHERE id = ANY($1::text[])", list(ids))
    return {r["id"] for r in rows}


# ------------------------------------------------------------------ availabilities
AVAILABILITY_SELECT = """
    SELECT a.id, a.consultant_id, k.name AS consultant_name, a.center_id,
           c.name AS center_name, c.timezone, a.starts_at, a.ends_at, a.modality, a.kind,
           a.capacity, a.section_ids, a.reason_ids, a.created_at
      FROM availabilities a
      JOIN consultants k ON k.id = a.consultant_id
      JOIN centers c ON c.id = a.center_id
"""


async def insert_availabilities(
    conn: asyncpg.Connection, rows: Sequence[tuple[Any, ...]], created_by: str
) -> None:
    """Insert many at once (one statement over arrays; all or nothing with the caller's tx)."""
    if not rows:
        return
    columns = list(zip(*rows, strict=True))
    await conn.execute(
        """INSERT INTO availabilities(id, consultant_id, center_id, starts_at, ends_at, modality,
                                      kind, capacity, section_ids, reason_ids, created_by)
           SELECT u.id, u.consultant_id, u.center_id, u.starts_at, u.ends_at, u.modality, u.kind,
                  u.capacity, coalesce(string_to_array(u.section_ids, chr(31)), '{}'),
                  coalesce(string_to_array(u.reason_ids, chr(31)), '{}'), $11
             FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[],
                         $5::timestamptz[], $6::text[], $7::text[], $8::int[], $9::text[],
                         $10::text[])
                  AS u(id, consultant_id, center_id, starts_at, ends_at, modality, kind,
                       capacity, section_ids, reason_ids)""",
        *[list(c) for c in columns],
        created_by,
    )


def join_ids(ids: Sequence[str]) -> str | None:
    """Arrays of arrays do not pass through unnest; ids travel joined by a unit separator."""
    return chr(31).join(ids) if ids else None


async def availabilities_by_ids(conn: asyncpg.Connection, ids: Sequence[str]) -> list[Row]:
    return await conn.fetch(
        AVAILABILITY_SELECT + " WHERE a.id = ANY($1::text[]) ORDER BY a.starts_at, a.id",
        list(ids),
    )


async def list_availabilities(
    conn: asyncpg.Connection,
    *,
    start: datetime | None,
    end: datetime | None,
    consultant_id: str | None,
    center_id: str | None,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[Row]:
    return await conn.fetch(
        AVAILABILITY_SELECT
        + """ WHERE ($1::timestamptz IS NULL OR a.ends_at > $1)
              AND ($2::timestamptz IS NULL OR a.starts_at < $2)
              AND ($3::text IS NULL OR a.consultant_id = $3)
              AND ($4::text IS NULL OR a.center_id = $4)
              AND ($5::timestamptz IS NULL OR (a.starts_at, a.id) > ($5, $6))
            ORDER BY a.starts_at, a.id LIMIT $7""",
        start,
        end,
        consultant_id,
        center_id,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )


async def booked_counts(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, int]:
    rows = await conn.fetch(
        """SELECT availability_id, count(*) AS n FROM appointments
           WHERE status = 'active' AND availability_id = ANY($1::text[])
           GROUP BY availability_id""",
        list(ids),
    )
    return {r["availability_id"]: r["n"] for r in rows}


def availability_of(row: Row) -> Availability:
    return Availability(
        id=row["id"],
        center_id=row["center_id"],
        consultant_id=row["consultant_id"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        capacity=row["capacity"],
        modality=row["modality"],
        kind=row["kind"],
        section_ids=tuple(row["section_ids"] or ()),
        reason_ids=tuple(row["reason_ids"] or ()),
    )


async def search_availabilities(
    conn: asyncpg.Connection,
    *,
    center_ids: Sequence[str],
    start: datetime,
    end: datetime,
    modalities: Sequence[str],
    kinds: Sequence[str],
    section_id: str | None,
    reason_id: str | None,
    min_minutes: int,
) -> list[Row]:
    """Availabilities overlapping [start, end) that the invite may use (coarse filter;
    the domain re-checks). Blocks last at most 24 hours, so a range on starts_at
    bounds the scan."""
    return await conn.fetch(
        AVAILABILITY_SELECT
        + """ WHERE a.center_id = ANY($1::text[])
              AND a.starts_at >= $2::timestamptz - interval '24 hours'
              AND a.starts_at < $3 AND a.ends_at > $2
              AND a.modality = ANY($4::text[]) AND a.kind = ANY($5::text[])
              AND (cardinality(a.section_ids) = 0 OR $6::text = ANY(a.section_ids))
              AND (cardinality(a.reason_ids) = 0 OR $7::text = ANY(a.reason_ids))
              AND a.ends_at - a.starts_at >= make_interval(mins => $8)""",
        list(center_ids),
        start,
        end,
        list(modalities),
        list(kinds),
        section_id,
        reason_id,
        min_minutes,
    )


async def busy_for(
    conn: asyncpg.Connection, availability_ids: Sequence[str]
) -> dict[str, list[Busy]]:
    rows = await conn.fetch(
        """SELECT availability_id, starts_at, ends_at FROM appointments
           WHERE status = 'active' AND availability_id = ANY($1::text[])""",
        list(availability_ids),
    )
    busy: dict[str, list[Busy]] = defaultdict(list)
    for r in rows:
        busy[r["availability_id"]].append(Busy(r["starts_at"], r["ends_at"]))
    return busy


# ------------------------------------------------------------------ the replica
INVITATION_SELECT = """
    SELECT i.invite_id, i.widget_id, i.center_ids, i.type, i.due_date, i.section,
           i.reason, i.duration_minutes, i.modalities, i.instructions_template,
           e.invitee_id, e.student_id, e.first_name, e.last_name, e.email,
           (c.invite_id IS NOT NULL AND (cardinality(c.invitee_ids) = 0
                OR e.invitee_id = ANY(c.invitee_ids))) AS cancelled,
           s.status AS replica_status,
           coalesce(sl.lists, '{}') AS lists,
           ap.id AS appointment_id
      FROM invitees e
      JOIN invites i ON i.invite_id = e.invite_id
      LEFT JOIN invite_cancellations c ON c.invite_id = e.invite_id
      LEFT JOIN invitee_statuses s ON s.invitee_id = e.invitee_id
      LEFT JOIN student_lists sl ON sl.student_id = e.student_id
      LEFT JOIN appointments ap ON ap.invitee_id = e.invitee_id AND ap.status = 'active'
"""


async def invitation_by_token(conn: asyncpg.Connection, token_hash: str) -> Row | None:
    return await conn.fetchrow(INVITATION_SELECT + " WHERE e.token_hash = $1", token_hash)


async def booking_context(
    conn: asyncpg.Connection, token_hash: str, availability_id: str
) -> Row | None:
    """Everything a booking checks, in one round trip (a read: it decides nothing alone).

    One row: the link's columns (as ``invitation_by_token``; ``invitee_id`` is NULL for
    an unknown token), ``link_centers`` (the invite's centers, all of them when it names
    none, as JSON objects), ``rules`` (the duration rules' JSON), the availability's
    columns (as ``AVAILABILITY_SELECT``; ``id`` is NULL when there is none; the names
    do not clash with the link's) and ``busy``, its active appointments as ranges.
    """
    return await conn.fetchrow(
        f"""WITH inv AS ({INVITATION_SELECT} WHERE e.token_hash = $1),
                 av AS ({AVAILABILITY_SELECT} WHERE a.id = $2)
            SELECT inv.*, av.*,
                   (SELECT coalesce(jsonb_agg(jsonb_build_object(
                               'id', c.id, 'name', c.name, 'timezone', c.timezone,
                               'slot_interval_minutes', c.slot_interval_minutes,
                               'default_appointment_minutes', c.default_appointment_minutes)
                               ORDER BY c.id), '[]')
                      FROM centers c
                     WHERE cardinality(inv.center_ids) = 0 OR c.id = ANY(inv.center_ids))
                       AS link_centers,
                   (SELECT rules FROM duration_rules) AS rules,
                   ARRAY(SELECT tstzrange(p.starts_at, p.ends_at) FROM appointments p
                          WHERE p.availability_id = $2 AND p.status = 'active') AS busy
              FROM (SELECT) AS one
              LEFT JOIN inv ON true
              LEFT JOIN av ON true""",
        token_hash,
        availability_id,
    )


async def duration_rules(conn: asyncpg.Connection) -> list[DurationRule]:
    return rules_of(await conn.fetchval("SELECT rules FROM duration_rules"))


def rules_of(rules: list[Any] | None) -> list[DurationRule]:
    return [DurationRule.model_validate(r) for r in rules or []]


# ------------------------------------------------------------------ appointments
APPOINTMENT_SELECT = """
    SELECT p.id, p.availability_id, p.consultant_id, k.name AS consultant_name, p.center_id,
           c.name AS center_name, c.timezone, a.modality, a.kind, p.invitee_id, p.invite_id,
           p.student_id, p.starts_at, p.ends_at, p.duration_minutes, p.asked_duration_minutes,
           p.applied_rule, p.status, p.attendance, p.booked_by, p.booked_at, p.cancelled_at,
           p.cancelled_by
      FROM appointments p
      JOIN availabilities a ON a.id = p.availability_id
      JOIN consultants k ON k.id = p.consultant_id
      JOIN centers c ON c.id = p.center_id
"""


async def insert_appointment(conn: asyncpg.Connection, values: dict[str, Any]) -> None:
    await conn.execute(
        """INSERT INTO appointments(id, availability_id, consultant_id, center_id, invitee_id,
                                    invite_id, student_id, starts_at, ends_at, duration_minutes,
                                    asked_duration_minutes, applied_rule, booked_by, booked_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)""",
        values["id"],
        values["availability_id"],
        values["consultant_id"],
        values["center_id"],
        values["invitee_id"],
        values["invite_id"],
        values["student_id"],
        values["starts_at"],
        values["ends_at"],
        values["duration_minutes"],
        values["asked_duration_minutes"],
        values["applied_rule"],
        values["booked_by"],
        values["booked_at"],
    )


async def get_appointment(
    conn: asyncpg.Connection, appointment_id: str, *, lock: bool = False
) -> Row | None:
    sql = APPOINTMENT_SELECT + " WHERE p.id = $1"
    if lock:
        sql += " FOR UPDATE OF p"
    return await conn.fetchrow(sql, appointment_id)


async def invite_block(conn: asyncpg.Connection, invite_id: str) -> Row | None:
    return await conn.fetchrow(
        """SELECT type, exam_code, exam_file, exam_passcode, notes
             FROM invites WHERE invite_id = $1""",
        invite_id,
    )


async def list_appointments(
    conn: asyncpg.Connection,
    *,
    start: datetime | None,
    end: datetime | None,
    consultant_id: str | None,
    availability_id: str | None,
    center_id: str | None,
    student_id: str | None,
    invite_id: str | None,
    status: str | None,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[Row]:
    return await conn.fetch(
        APPOINTMENT_SELECT
        + """ WHERE ($1::timestamptz IS NULL OR p.ends_at > $1)
              AND ($2::timestamptz IS NULL OR p.starts_at < $2)
              AND ($3::text IS NULL OR p.consultant_id = $3)
              AND ($4::text IS NULL OR p.availability_id = $4)
              AND ($5::text IS NULL OR p.center_id = $5)
              AND ($6::text IS NULL OR p.student_id = $6)
              AND ($7::text IS NULL OR p.invite_id = $7)
              AND ($8::text IS NULL OR p.status = $8)
              AND ($9::timestamptz IS NULL OR (p.starts_at, p.id) > ($9, $10))
            ORDER BY p.starts_at, p.id LIMIT $11""",
        start,
        end,
        consultant_id,
        availability_id,
        center_id,
        student_id,
        invite_id,
        status,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )


async def cancel_appointment(
    conn: asyncpg.Connection, appointment_id: str, when: datetime, by: str
) -> None:
    await conn.execute(
        """UPDATE appointments SET status = 'cancelled', cancelled_at = $2, cancelled_by = $3
           WHERE id = $1""",
        appointment_id,
        when,
        by,
    )


async def set_attendance(conn: asyncpg.Connection, appointment_id: str, attendance: str) -> None:
    await conn.execute(
        "UPDATE appointments SET attendance = $2 WHERE id = $1", appointment_id, attendance
    )


async def active_appointments_of(
    conn: asyncpg.Connection, invitee_ids: Sequence[str] | None, invite_id: str
) -> list[Row]:
    """Active appointments of some invitees of an invite (all of them when ids is None)."""
    return await conn.fetch(
        """SELECT id, invitee_id, invite_id FROM appointments
           WHERE status = 'active' AND invite_id = $1
             AND ($2::text[] IS NULL OR invitee_id = ANY($2))
           FOR UPDATE""",
        invite_id,
        None if invitee_ids is None else list(invitee_ids),
    )
