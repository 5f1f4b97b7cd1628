"""Events replayed twice and out of order give the same rows; the rebuild restores them."""

from __future__ import annotations

import asyncio
import os
import random
import sys
from typing import Any

import asyncpg

from services.report_service.app import SPEC
from services.report_service.handlers import apply_event
from services.report_service.rebuild import rebuild
from services.report_service.repository import STORE_TABLES, truncate_store
from shared.events import EmailBatchSent, EmailSent, make_event
from tests.integration.report_service.conftest import wait_logged
from tests.integration.report_service.scenario import scenario_events
from tests.support.infra import publish_events, service_db


async def snapshot(conn: asyncpg.Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every store table, in a stable order."""
    out = {}
    for table in STORE_TABLES:
        rows = await conn.fetch(f"SELECT * FROM {table}")
        out[table] = sorted((tuple(r.items()) for r in rows), key=repr)
    return out


async def apply_all(conn: asyncpg.Connection, events: list[Any]) -> None:
    await truncate_store(conn)
    for event in events:
        async with conn.transaction():
            await apply_event(conn, event)


def shuffled_twice(events: list[Any], seed: int) -> list[Any]:
    doubled = events + events
    random.Random(seed).shuffle(doubled)
    return doubled


async def test_replayed_twice_and_out_of_order_give_the_same_rows(settings, start_service):
    _, runtime = await start_service(SPEC, settings)
    events = scenario_events()

    # Through the real bus: every event twice, newest first.
    await publish_events(settings, *reversed(events), *reversed(events))
    await wait_logged(settings, len(events))
    async with runtime.db.acquire() as conn:
        from_bus = await snapshot(conn)

        # The reference: each event once, in the order the producers emitted them.
        await apply_all(conn, events)
        reference = await snapshot(conn)
        assert from_bus == reference

        # Any order, each twice, straight into an emptied store (no inbox to help).
        for seed in range(6):
            await apply_all(conn, shuffled_twice(events, seed))
            assert await snapshot(conn) == reference, f"permutation {seed}"

        # The values the orders had to agree on.
        appts = {
            r["appointment_id"]: r
            for r in await conn.fetch("SELECT * FROM appointment_rows ORDER BY 1")
        }
        assert appts["ap1"]["attendance"] == "attended"  # the later mark wins
        assert appts["ap2"]["attendance"] == "no_show"
        assert appts["ap4"]["cancelled_at"] is not None
        assert appts["ap4"]["starts_at"] is not None  # the booking was not lost
        assert str(appts["ap3"]["local_start_date"]) == "2026-03-03"
        invitees = {
            r["invitee_id"]: r for r in await conn.fetch("SELECT * FROM invitee_rows ORDER BY 1")
        }
        assert invitees["iv4"]["status"] == "booked"
        assert invitees["iv1"]["reminders_sent"] == 1
        assert invitees["iv1"]["last_email_error"] is None  # failed, then sent
        assert invitees["iv1"]["invite_type"] == "Exam"
        st2 = await conn.fetchrow("SELECT * FROM students WHERE student_id = 'st2'")
        assert st2["first_name"] == "Blaise P."  # the newer directory event wins
        center = await conn.fetchrow("SELECT * FROM centers")
        assert center["name"] == "Learning Center"


async def test_booking_before_invite_is_not_lost(settings, start_service):
    _, runtime = await start_service(SPEC, settings)
    events = scenario_events()
    booked = next(e for e in events if e.type == "appointment.booked")
    invite = next(e for e in events if e.type == "invite.created")
    await publish_events(settings, booked)
    await wait_logged(settings, 1)
    async with runtime.db.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM appointment_rows")
        assert row["appointment_id"] == "ap1" and row["starts_at"] is not None
    await publish_events(settings, invite)
    await wait_logged(settings, 2)
    async with runtime.db.acquire() as conn:
        joined = await conn.fetchrow(
            """SELECT a.duration_minutes, i.invite_type, i.exam_code FROM appointment_rows a
               JOIN invitee_rows i USING (invitee_id)"""
        )
    assert tuple(joined) == (90, "Exam", "MATH-MID")


async def test_rebuild_replays_the_event_log_into_an_empty_store(settings, start_service):
    _, runtime = await start_service(SPEC, settings)
    events = scenario_events()
    await publish_events(settings, *events)
    await wait_logged(settings, len(events))
    async with runtime.db.acquire() as conn:
        before = await snapshot(conn)
        # Damage the store the way a buggy handler could.
        await conn.execute("DELETE FROM appointment_rows WHERE appointment_id = 'ap1'")
        await conn.execute("UPDATE students SET first_name = 'WRONG'")
        dry = await rebuild(conn, dry_run=True)
        assert dry.replayed == len(events)
        assert await snapshot(conn) != before  # a dry run changes nothing
        result = await rebuild(conn)
        assert (result.replayed, result.ignored, result.invalid) == (len(events), 0, 0)
        assert await snapshot(conn) == before


async def test_rebuild_command_line(settings, start_service):
    _, runtime = await start_service(SPEC, settings)
    events = scenario_events()
    await publish_events(settings, *events)
    await wait_logged(settings, len(events))
    async with runtime.db.acquire() as conn:
        before = await snapshot(conn)
        await conn.execute("TRUNCATE appointment_rows")
    env = {
        **os.environ,
        "POSTGRES_DSN": settings.postgres_dsn,
        "DB_PREFIX": settings.db_prefix,
        "LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.report_service.rebuild",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    assert f"replayed {len(events)} events" in out.decode()
    conn = await service_db(settings, SPEC.name)
    try:
        assert await snapshot(conn) == before
    finally:
        await conn.close()


async def test_a_batch_of_sent_emails_counts_like_the_single_events(settings, start_service):
    _, runtime = await start_service(SPEC, settings)
    events = scenario_events()
    singles = [e for e in events if e.type == "email.sent"]
    others = [e for e in events if e.type != "email.sent"]
    report_email = EmailSent(
        message_id="r1", kind="report", delivery_id="d-1", sent_at=singles[0].payload.sent_at
    )
    batch = make_event(
        "email.batch_sent",
        EmailBatchSent(emails=[e.payload for e in singles] + [report_email]),
        producer="notify_service",
        occurred_at=singles[-1].occurred_at,
    )
    stats = "SELECT invitee_id, instructions_sent_at, reminders_sent, last_email_error"
    stats += " FROM invitee_rows ORDER BY 1"
    # Through the bus: the batch is consumed and logged like any event.
    await publish_events(settings, *others, batch)
    await wait_logged(settings, len(others) + 1)
    async with runtime.db.acquire() as conn:
        from_bus = await conn.fetch(stats)
        await apply_all(conn, others + singles)
        one_by_one = await conn.fetch(stats)
        await apply_all(conn, [batch, *others])
        batch_first = await conn.fetch(stats)
        delivery = await conn.fetchrow("SELECT * FROM delivery_emails WHERE message_id = 'r1'")
    assert from_bus == one_by_one == batch_first
    iv1 = {r["invitee_id"]: r for r in one_by_one}["iv1"]
    assert iv1["reminders_sent"] == 1 and iv1["instructions_sent_at"] is not None
    assert delivery["delivery_id"] == "d-1" and delivery["outcome"] == "sent"
