"""PostgreSQL itself refuses double bookings, over-capacity groups and a second active
appointment per invitee, whatever code writes the rows."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg
import pytest

from services.search_service.app import SPEC
from tests.integration.search_service.helpers import (
    clock,
    make_availability,
    make_center,
    make_consultant,
)
from tests.support.infra import service_db

NINE = datetime.fromisoformat("2026-01-06T09:00:00-05:00")


async def insert(conn, avail, n: int, start: datetime, minutes: int = 60, invitee: str = ""):
    await conn.execute(
        """INSERT INTO appointments(id, availability_id, consultant_id, center_id, invitee_id,
                                    invite_id, student_id, starts_at, ends_at, duration_minutes,
                                    booked_by, booked_at)
           VALUES ($1, $2, $3, $4, $5, 'inv', 's', $6, $7, $8, 'test', now())""",
        f"p{n}",
        avail["id"],
        avail["consultant"]["id"],
        avail["center"]["id"],
        invitee or f"ie{n}",
        start,
        start + timedelta(minutes=minutes),
        minutes,
    )


async def test_database_enforces_capacity_overlap_and_one_per_invitee(settings, start_service):
    client, _ = await start_service(SPEC, settings, clock())
    center = await make_center(client)
    consultant = await make_consultant(client)
    solo = await make_availability(client, center, consultant, "09:00", "12:00")
    group = await make_availability(
        client, center, consultant, "13:00", "16:00", kind="group", capacity=2
    )
    conn = await service_db(settings, "search_service")
    try:
        await insert(conn, solo, 1, NINE)
        with pytest.raises(asyncpg.ExclusionViolationError):
            await insert(conn, solo, 2, NINE + timedelta(minutes=30))
        await insert(conn, solo, 3, NINE + timedelta(hours=1))  # touching is fine
        with pytest.raises(asyncpg.CheckViolationError):
            await insert(conn, solo, 4, NINE + timedelta(hours=2, minutes=30))  # spills out

        one = NINE + timedelta(hours=4)
        await insert(conn, group, 5, one)
        await insert(conn, group, 6, one + timedelta(minutes=30))
        # 13:30-14:00 already has two: a third overlapping that instant is refused.
        with pytest.raises(asyncpg.ExclusionViolationError):
            await insert(conn, group, 7, one + timedelta(minutes=45), minutes=30)
        # 14:00-14:30 has only the second: room for one more.
        await insert(conn, group, 8, one + timedelta(hours=1), minutes=30)

        with pytest.raises(asyncpg.UniqueViolationError):
            await insert(conn, group, 9, one + timedelta(hours=2), invitee="ie5")
        # A cancelled appointment frees both the seat and the invitee.
        await conn.execute("UPDATE appointments SET status = 'cancelled' WHERE id = 'p5'")
        await insert(conn, group, 10, one, invitee="ie5")
        assert await conn.fetchval("SELECT count(*) FROM appointments WHERE status = 'active'") == 5
    finally:
        await conn.close()
