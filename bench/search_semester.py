"""Bench: the slots search over one semester of availabilities (not a test).

Seeds directly into a throw-away database: 100 consultants × 15 weeks × 5 days of
8-hour blocks (7,500 availabilities) at one center in America/New_York, about one
appointment in four blocks, and one invite. Then times ``GET
/api/v1/invitations/{token}/slots`` for one week through the real app (in-process
HTTP, real PostgreSQL and RabbitMQ) and prints the median and p95.

    .venv/bin/python bench/search_semester.py [--runs 50]

Needs PostgreSQL and RabbitMQ as for the tests (POSTGRES_DSN, AMQP_URL).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aio_pika
import asyncpg
from aiohttp.test_utils import TestClient, TestServer

from services.search_service.app import SPEC
from shared.auth import IDENTITY_HEADER, Identity, sign_identity
from shared.bus.topology import (
    control_exchange,
    events_exchange,
    parked_queue,
    retry_queue,
    service_queue,
)
from shared.clock import FixedClock
from shared.runtime import RUNTIME, build_service_app
from shared.settings import Settings
from shared.tokens import hash_token, new_token

TZ = ZoneInfo("America/New_York")
CONSULTANTS = 100
WEEKS = 15
FIRST_MONDAY = date(2026, 1, 12)
SECRET = "bench-secret"


class ServerTimings(logging.Handler):
    """Collects the ``ms`` the HTTP middleware logs for each request it served."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.values: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        ms = getattr(record, "ms", None)
        if ms is not None and "/slots" in str(getattr(record, "path", "")):
            self.values.append(float(ms))


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


async def seed(pool: asyncpg.Pool, token: str) -> int:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO centers(id, name, timezone, slot_interval_minutes,
                                   default_appointment_minutes)
               VALUES ('c1', 'Tutoring Center', 'America/New_York', 30, 60)"""
        )
        await conn.copy_records_to_table(
            "consultants",
            records=[
                (f"k{n:03d}", f"Consultant {n}", f"k{n}@example.edu") for n in range(CONSULTANTS)
            ],
            columns=["id", "name", "email"],
        )
        blocks: list[tuple[Any, ...]] = []
        for week in range(WEEKS):
            for weekday in range(5):
                day = FIRST_MONDAY + timedelta(weeks=week, days=weekday)
                start = datetime(day.year, day.month, day.day, 9, tzinfo=TZ).astimezone(UTC)
                end = datetime(day.year, day.month, day.day, 17, tzinfo=TZ).astimezone(UTC)
                for n in range(CONSULTANTS):
                    blocks.append(
                        (
                            f"a-{week}-{weekday}-{n}",
                            f"k{n:03d}",
                            "c1",
                            start,
                            end,
                            "in_person",
                            "one_on_one",
                            1,
                            [],
                            [],
                            "bench",
                        )
                    )
        await conn.copy_records_to_table(
            "availabilities",
            records=blocks,
            columns=[
                "id",
                "consultant_id",
                "center_id",
                "starts_at",
                "ends_at",
                "modality",
                "kind",
                "capacity",
                "section_ids",
                "reason_ids",
                "created_by",
            ],
        )
        # Every fourth block has an appointment at 11:00 (the capacity trigger runs).
        appointments = [
            (
                f"p-{b[0]}",
                b[0],
                b[1],
                "c1",
                f"ie-{b[0]}",
                "bench-invite",
                f"s-{b[0]}",
                b[3] + timedelta(hours=2),
                b[3] + timedelta(hours=3),
                60,
                "bench",
                b[3],
            )
            for i, b in enumerate(blocks)
            if i % 4 == 0
        ]
        await conn.copy_records_to_table(
            "appointments",
            records=appointments,
            columns=[
                "id",
                "availability_id",
                "consultant_id",
                "center_id",
                "invitee_id",
                "invite_id",
                "student_id",
                "starts_at",
                "ends_at",
                "duration_minutes",
                "booked_by",
                "booked_at",
            ],
        )
        await conn.execute(
            """INSERT INTO invites(invite_id, widget_id, center_ids, type, due_date, modalities,
                                   created_by, created_at)
               VALUES ('inv-1', 'w1', '{c1}', 'Exam', '2026-05-30',
                       '{"in_person": true, "online": false, "one_on_one": true,
                         "group": true}', 'bench', now())"""
        )
        await conn.execute(
            """INSERT INTO invitees(invitee_id, invite_id, student_id, first_name, last_name,
                                    email, token_hash)
               VALUES ('ie-1', 'inv-1', 's1', 'Sam', 'Student', 's1@example.edu', $1)""",
            hash_token(token),
        )
        await conn.execute("ANALYZE")
        return len(blocks)


async def cleanup(settings: Settings) -> None:
    ns = settings.bus_namespace
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        for name in (
            service_queue(ns, "search_service"),
            parked_queue(ns, "search_service"),
            *(retry_queue(ns, "search_service", d) for d in settings.retry_delays),
        ):
            channel = await connection.channel()
            await channel.queue_delete(name)
            await channel.close()
        for name in (events_exchange(ns), control_exchange(ns)):
            channel = await connection.channel()
            await channel.exchange_delete(name)
            await channel.close()
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        database = settings.database_name("search_service")
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", database
        )
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}"')
    finally:
        await conn.close()


async def main(runs: int) -> None:
    unique = f"bench_{uuid.uuid4().hex[:6]}"
    settings = Settings(
        app_env="test",
        postgres_dsn=os.environ.get(
            "POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        amqp_url=os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
        db_prefix=unique,
        bus_namespace=unique,
        internal_auth_secret=SECRET,
        gateway_port=1,
        log_level="WARNING",
    )
    # The semester's first morning, so the whole of week 8 lies ahead.
    now = datetime(2026, 1, 12, 8, tzinfo=TZ).astimezone(UTC)
    app = build_service_app(SPEC, settings, FixedClock(now))
    client: TestClient = TestClient(TestServer(app))
    await client.start_server()
    try:
        token = new_token()
        started = time.perf_counter()
        blocks = await seed(app[RUNTIME].db, token)
        print(f"seeded {blocks} availabilities in {time.perf_counter() - started:.1f}s")
        headers = {
            IDENTITY_HEADER: sign_identity(
                SECRET, Identity(sub="link", role="student"), ttl_seconds=3600
            )
        }
        monday = FIRST_MONDAY + timedelta(weeks=7)
        params = {"from": monday.isoformat(), "to": (monday + timedelta(days=4)).isoformat()}
        url = f"/api/v1/invitations/{token}/slots"
        count = 0
        for _ in range(5):  # warm up the pool, caches and plans
            resp = await client.get(url, params=params, headers=headers)
            count = len((await resp.json())["items"])
            assert resp.status == 200
        server_ms = ServerTimings()
        http_log = logging.getLogger("shared.http")
        http_log.setLevel(logging.INFO)
        http_log.addHandler(server_ms)
        timings = []
        for _ in range(runs):
            t0 = time.perf_counter()
            resp = await client.get(url, params=params, headers=headers)
            body = await resp.read()
            timings.append((time.perf_counter() - t0) * 1000)
            assert resp.status == 200, body
        print(
            f"slots for one week ({params['from']}..{params['to']}): {count} slots from "
            f"{CONSULTANTS * 5} blocks, {len(body) / 1024:.0f} KiB"
        )
        print(
            f"{runs} runs, client-observed (in-process client reading 2 MB too): "
            f"median {statistics.median(timings):.1f} ms, "
            f"p95 {percentile(timings, 95):.1f} ms, max {max(timings):.1f} ms"
        )
        served = server_ms.values[-runs:]
        print(
            f"{len(served)} runs, server-side (request in to response out): "
            f"median {statistics.median(served):.1f} ms, p95 {percentile(served, 95):.1f} ms"
        )
    finally:
        await client.close()
        await cleanup(settings)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    asyncio.run(main(parser.parse_args().runs))
