"""Event handlers: the replica of invites, invitees, duration rules and student lists.

Each runs inside the consumer's transaction (with the inbox row), so a redelivery is
skipped; each is also idempotent on its own and tolerant of arrival order:
- ``invite.cancelled`` is stored apart and joined at read time, so one that arrives
  before ``invite.created`` still closes the links;
- statuses, rules and lists keep the newest by ``occurred_at``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import asyncpg

from services.search_service import repository as repo
from services.search_service.outbox_events import cancelled_event
from shared.bus.consumer import Handler
from shared.bus.outbox import add_to_outbox
from shared.runtime import Runtime

log = logging.getLogger(__name__)


async def _upsert_lists(
    conn: asyncpg.Connection, rows: list[tuple[str, list[str]]], occurred_at: Any
) -> None:
    if not rows:
        return
    await conn.executemany(
        """INSERT INTO student_lists(student_id, lists, occurred_at) VALUES ($1, $2, $3)
           ON CONFLICT (student_id) DO UPDATE SET lists = EXCLUDED.lists,
                                                 occurred_at = EXCLUDED.occurred_at
           WHERE student_lists.occurred_at <= EXCLUDED.occurred_at""",
        [(student_id, lists, occurred_at) for student_id, lists in rows],
    )


async def on_invite_created(conn: asyncpg.Connection, event: Any) -> None:
    p = event.payload
    await conn.execute(
        """INSERT INTO invites(invite_id, widget_id, center_ids, type, due_date, section, reason,
                               duration_minutes, modalities, exam_code, exam_file, exam_passcode,
                               notes, instructions_template, created_by, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
           ON CONFLICT (invite_id) DO NOTHING""",
        p.invite_id,
        p.widget_id,
        list(p.center_ids),
        p.type,
        p.due_date,
        p.section.model_dump() if p.section is not None else None,
        p.reason.model_dump() if p.reason is not None else None,
        p.duration_minutes,
        p.modalities.model_dump(),
        p.exam_code,
        p.exam_file,
        p.exam_passcode,
        p.notes,
        p.instructions_template,
        p.created_by,
        p.created_at,
    )
    await conn.executemany(
        """INSERT INTO invitees(invitee_id, invite_id, student_id, first_name, last_name, email,
                                token_hash)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (invitee_id) DO NOTHING""",
        [
            (
                i.invitee_id,
                p.invite_id,
                i.student_id,
                i.first_name,
                i.last_name,
                i.email,
                i.token_hash,
            )
            for i in p.invitees
        ],
    )
    # The lists as invite_service saw them when the invite was made; newer directory
    # events win, older ones do not overwrite this.
    await _upsert_lists(
        conn, [(i.student_id, list(i.lists)) for i in p.invitees], event.occurred_at
    )


def _cancel_handler(runtime: Runtime) -> Handler:
    async def on_invite_cancelled(conn: asyncpg.Connection, event: Any) -> None:
        p = event.payload
        await conn.execute(
            """INSERT INTO invite_cancellations(invite_id, invitee_ids, cancelled_at, cancelled_by)
               VALUES ($1, $2, $3, $4)
               ON CONFLICT (invite_id) DO UPDATE SET
                   invitee_ids = CASE
                       WHEN cardinality(invite_cancellations.invitee_ids) = 0
                            OR cardinality(EXCLUDED.invitee_ids) = 0 THEN '{}'::text[]
                       ELSE (SELECT array_agg(DISTINCT x) FROM unnest(
                                invite_cancellations.invitee_ids || EXCLUDED.invitee_ids) AS x)
                   END,
                   cancelled_at = least(invite_cancellations.cancelled_at,
                                        EXCLUDED.cancelled_at)""",
            p.invite_id,
            list(p.invitee_ids),
            p.cancelled_at,
            p.cancelled_by,
        )
        # A cancelled invite frees the consultants' time it held.
        held = await repo.active_appointments_of(conn, list(p.invitee_ids) or None, p.invite_id)
        now = runtime.clock.now()
        events = []
        for row in held:
            await repo.cancel_appointment(conn, row["id"], now, p.cancelled_by)
            events.append(
                cancelled_event(row["id"], row["invitee_id"], row["invite_id"], now, p.cancelled_by)
            )
        await add_to_outbox(conn, events)
        if events:
            log.info(
                "appointments cancelled with their invite",
                extra={"invite_id": p.invite_id, "appointments": len(events)},
            )

    return on_invite_cancelled


async def on_invitee_status_changed(conn: asyncpg.Connection, event: Any) -> None:
    p = event.payload
    await conn.execute(
        """INSERT INTO invitee_statuses(invitee_id, status, occurred_at) VALUES ($1, $2, $3)
           ON CONFLICT (invitee_id) DO UPDATE SET status = EXCLUDED.status,
                                                 occurred_at = EXCLUDED.occurred_at
           WHERE invitee_statuses.occurred_at <= EXCLUDED.occurred_at""",
        p.invitee_id,
        p.status,
        event.occurred_at,
    )


async def on_duration_rules_changed(conn: asyncpg.Connection, event: Any) -> None:
    await conn.execute(
        """INSERT INTO duration_rules(singleton, rules, occurred_at) VALUES (true, $1, $2)
           ON CONFLICT (singleton) DO UPDATE SET rules = EXCLUDED.rules,
                                                occurred_at = EXCLUDED.occurred_at
           WHERE duration_rules.occurred_at <= EXCLUDED.occurred_at""",
        [r.model_dump() for r in event.payload.rules],
        event.occurred_at,
    )


async def on_students_upserted(conn: asyncpg.Connection, event: Any) -> None:
    await _upsert_lists(
        conn, [(s.student_id, list(s.lists)) for s in event.payload.students], event.occurred_at
    )


def handlers(runtime: Runtime) -> Mapping[str, Handler]:
    return {
        "invite.created": on_invite_created,
        "invite.cancelled": _cancel_handler(runtime),
        "invitee.status_changed": on_invitee_status_changed,
        "duration_rules.changed": on_duration_rules_changed,
        "directory.students_upserted": on_students_upserted,
    }
