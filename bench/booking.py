"""Scenario 3: the booking storm.

Per repetition: S one-hour one-on-one availabilities (each exactly one 60-minute
slot; consultants × hours on one future day), one invite for N students, and N
booking attempts ``POST /api/v1/invitations/{token}/appointments`` through the
gateway, ``concurrency`` at a time, each student trying one slot (every slot
wanted by N/S students, in a shuffled order). Checked afterwards in search's
database: exactly S active appointments for the invite and no two active
appointments of one consultant overlapping.

The raw baseline: the same number of single-row INSERT transactions through
asyncpg at the same concurrency (a pool as large as a service's), into
a table with a unique slot, so the same S rows win.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

from bench import seeding
from bench.harness import Bench, Profiler, cpu_text, cpu_usage, log, run_loadgen
from tests.support.infra import SERVER_DSN

OVERLAPS = """
SELECT count(*) FROM appointments a
JOIN appointments b
  ON a.consultant_id = b.consultant_id AND a.id < b.id
 AND tstzrange(a.starts_at, a.ends_at) && tstzrange(b.starts_at, b.ends_at)
WHERE a.status = 'active' AND b.status = 'active'
"""


@dataclass
class World:
    center_id: str
    widget_id: str
    consultants: list[str]
    student_ids: list[str]


async def prepare(bench: Bench, consultants: int, students: int) -> World:
    admin = bench.admin
    assert admin is not None
    center = await seeding.create_center(admin, "Booking Center")
    people = await seeding.create_consultants(admin, consultants, "booking")
    widget = await seeding.create_widget(admin, center, "Booking invites", 1)
    ids = await seeding.import_students(admin, "B", students)
    return World(center, widget, people, ids)


async def run_rep(
    bench: Bench,
    world: World,
    rep: int,
    slots: int,
    concurrency: int,
    profiler: Profiler | None = None,
) -> dict[str, Any]:
    admin = bench.admin
    assert admin is not None
    hours = slots // len(world.consultants)
    day = seeding.local_today() + timedelta(days=3 + rep)
    items = [
        seeding.block(k, world.center_id, seeding.local(day, 8 + h), seeding.local(day, 9 + h))
        for k in world.consultants
        for h in range(hours)
    ]
    availability_ids = await seeding.add_availabilities(admin, items)
    invite_id, _ = await seeding.create_invite(
        admin, world.widget_id, world.student_ids, seeding.local_today() + timedelta(days=30)
    )
    await seeding.wait_for_search_replica(bench, invite_id, len(world.student_ids))
    tokens = await seeding.invite_tokens(bench, invite_id)
    attempts = [
        (tokens[sid], availability_ids[n % len(availability_ids)], items[n % len(items)])
        for n, sid in enumerate(world.student_ids)
    ]
    random.Random(rep).shuffle(attempts)
    base = bench.url
    requests = [
        {
            "method": "POST",
            "url": f"{base}/api/v1/invitations/{token}/appointments",
            "json": {"availability_id": aid, "starts_at": item["starts_at"]},
        }
        for token, aid, item in attempts
    ]
    await bench.settle()
    spec = {"mode": "once", "concurrency": concurrency, "requests": requests}
    with cpu_usage(bench) as cores:
        if profiler is not None:
            async with profiler.record(bench, "booking"):
                system = await run_loadgen(spec)
        else:
            system = await run_loadgen(spec)
    system["cpu_cores"] = cores
    system.pop("per_request", None)
    pool = await bench.db("search_service")
    booked = await pool.fetchval(
        "SELECT count(*) FROM appointments WHERE invite_id = $1 AND status = 'active'", invite_id
    )
    overlaps = await pool.fetchval(OVERLAPS)
    system.update({"appointments": booked, "overlaps": overlaps, "slots": len(items)})
    await bench.settle()
    with cpu_usage(bench) as raw_cores:
        raw = await baseline(bench, len(requests), len(items), concurrency)
    raw["cpu_cores"] = raw_cores
    return {
        "system": system,
        "raw": raw,
        "throughput_ratio": system["throughput"] / raw["throughput"],
    }


async def baseline(bench: Bench, attempts: int, slots: int, concurrency: int) -> dict[str, Any]:
    database = bench.settings.database_name("bench")
    server = await asyncpg.connect(SERVER_DSN)
    try:
        if not await server.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            await server.execute(f'CREATE DATABASE "{database}"')
    finally:
        await server.close()
    pool = await asyncpg.create_pool(
        bench.dsn("bench"), min_size=bench.pool_max, max_size=bench.pool_max
    )
    try:
        await pool.execute(
            """CREATE TABLE IF NOT EXISTS bookings (
                   id bigint PRIMARY KEY, slot integer NOT NULL UNIQUE,
                   invitee integer NOT NULL, booked_at timestamptz NOT NULL DEFAULT now())"""
        )
        await pool.execute("TRUNCATE bookings")
        order = list(range(attempts))
        random.Random(attempts).shuffle(order)
        pending = iter(order)
        won = 0

        async def client() -> None:
            nonlocal won
            for n in pending:
                async with pool.acquire() as conn, conn.transaction():
                    result = await conn.execute(
                        """INSERT INTO bookings(id, slot, invitee) VALUES ($1, $2, $3)
                           ON CONFLICT (slot) DO NOTHING""",
                        n,
                        n % slots,
                        n,
                    )
                won += result == "INSERT 0 1"

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    finally:
        await pool.close()
    return {"count": attempts, "elapsed": elapsed, "throughput": attempts / elapsed, "rows": won}


async def scenario(
    bench: Bench,
    world: World,
    repeat: int,
    slots: int,
    concurrency: int,
    profiler: Profiler | None = None,
) -> list[dict[str, Any]]:
    reps = []
    for n in range(repeat):
        rep = await run_rep(bench, world, n, slots, concurrency, profiler if n == 0 else None)
        s, r = rep["system"], rep["raw"]
        log(
            f"booking #{n + 1}: {s['count']} attempts in {s['elapsed']:.2f}s "
            f"({s['throughput']:.0f}/s, p95 {s['p95_ms']:.0f} ms) statuses {s['statuses']}; "
            f"{s['appointments']} appointments, {s['overlaps']} overlaps; "
            f"raw {r['throughput']:.0f}/s → {rep['throughput_ratio']:.1%}\n"
            f"    system {cpu_text(s['cpu_cores'])}\n    raw {cpu_text(r['cpu_cores'])}"
        )
        reps.append(rep)
        await bench.settle()
    return reps
