"""Scenario 2: the restricted search over one semester, under 50 concurrent clients.

Seeded through the public API (``POST /api/v1/availabilities {"items": [...]}`` in
chunks of 1,000): one center, C consultants × W weeks × 5 days of 09:00–17:00
blocks, and one invite for S students. The load: ``GET
/api/v1/invitations/{token}/slots`` for one week (Monday..Friday) through the
gateway, each request with another student's token, from ``bench.loadgen`` in its
own process. The raw baseline: the same client and concurrency against
``bench.rawapp`` (one asyncpg primary-key select of an availability per request).
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import brotli

from bench import loadgen, seeding
from bench.harness import (
    Bench,
    Profiler,
    cpu_text,
    cpu_usage,
    log,
    raw_app,
    run_loadgen,
    server_timings,
)
from bench.stats import percentile

DECODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.decompress,
    "br": brotli.decompress,
}


@dataclass
class World:
    tokens: list[str]
    availability_ids: list[str]
    week: tuple[date, date]
    slots: int
    body_bytes: int  # one answer as JSON
    gzip_bytes: int  # the same answer to a client accepting only gzip
    br_bytes: int  # the same answer as sent to a browser (gzip, deflate, br: brotli)
    seed_s: float


async def prepare(bench: Bench, consultants: int, weeks: int, students: int) -> World:
    admin = bench.admin
    assert admin is not None
    started = time.monotonic()
    center = await seeding.create_center(admin, "Semester Center")
    people = await seeding.create_consultants(admin, consultants, "semester")
    first_monday = seeding.next_monday(seeding.local_today())
    items = [
        seeding.block(
            k,
            center,
            seeding.local(first_monday + timedelta(weeks=w, days=d), 9),
            seeding.local(first_monday + timedelta(weeks=w, days=d), 17),
        )
        for w in range(weeks)
        for d in range(5)
        for k in people
    ]
    availability_ids = await seeding.add_availabilities(admin, items)
    api_s = time.monotonic() - started
    log(f"search: {len(items)} availabilities through the API in {api_s:.1f}s")
    widget = await seeding.create_widget(admin, center, "Semester invites", 1)
    ids = await seeding.import_students(admin, "S", students)
    last_day = first_monday + timedelta(weeks=weeks, days=-3)
    invite_id, _ = await seeding.create_invite(admin, widget, ids, last_day + timedelta(days=1))
    await seeding.wait_for_search_replica(bench, invite_id, students)
    tokens = list((await seeding.invite_tokens(bench, invite_id)).values())
    # The week in the middle of the semester.
    monday = first_monday + timedelta(weeks=weeks // 2)
    week = (monday, monday + timedelta(days=4))
    url = f"/api/v1/invitations/{tokens[0]}/slots"
    params = {"from": str(week[0]), "to": str(week[1])}
    async with admin.session.get(
        url, params=params, headers={"Accept-Encoding": "identity"}
    ) as resp:
        assert resp.status == 200, await resp.text()
        raw = await resp.read()
    sizes: dict[str, int] = {}
    for accept, expected in (("gzip", "gzip"), (loadgen.BROWSER_HEADERS["Accept-Encoding"], "br")):
        async with admin.session.get(
            url, params=params, headers={"Accept-Encoding": accept}, auto_decompress=False
        ) as resp:
            assert resp.status == 200, await resp.text()
            packed = await resp.read()
            encoding = resp.headers.get("Content-Encoding", "identity")
        assert encoding == expected, f"asked {accept!r}, got {encoding}"
        # The compressed answer is exactly the same answer.
        assert DECODERS[encoding](packed) == raw, f"{encoding} answer differs from the plain one"
        sizes[encoding] = len(packed)
    slots = len(json.loads(raw)["items"])
    seed_s = time.monotonic() - started
    log(
        f"search: semester seeded in {seed_s:.1f}s; one week = {slots} slots, "
        f"{len(raw) / 1024:,.0f} KiB as JSON, {sizes['gzip'] / 1024:,.0f} KiB gzip, "
        f"{sizes['br'] / 1024:,.0f} KiB brotli (what a browser gets)"
    )
    return World(
        tokens, availability_ids, week, slots, len(raw), sizes["gzip"], sizes["br"], seed_s
    )


async def run_rep(
    bench: Bench,
    world: World,
    concurrency: int,
    duration: float,
    profiler: Profiler | None = None,
) -> dict[str, Any]:
    base = bench.url
    frm, to = world.week
    requests = [
        {"method": "GET", "url": f"{base}/api/v1/invitations/{t}/slots?from={frm}&to={to}"}
        for t in world.tokens
    ]
    since = datetime.now(UTC)
    spec = {
        "mode": "duration",
        "concurrency": concurrency,
        "duration": duration,
        "warmup": 1.0,
        "requests": requests,
    }
    with cpu_usage(bench) as cores:
        if profiler is not None:
            async with profiler.record(bench, "search"):
                system = await run_loadgen(spec)
        else:
            system = await run_loadgen(spec)
    until = datetime.now(UTC)
    system["cpu_cores"] = cores
    system.pop("per_request", None)
    served = server_timings(bench.log_paths("search_service"), "/slots", since, until)
    gateway = server_timings(bench.log_paths("gateway"), "/slots", since, until)
    system["search_service_p50_ms"] = percentile(served, 50)
    system["search_service_p95_ms"] = percentile(served, 95)
    system["gateway_p50_ms"] = percentile(gateway, 50)
    system["gateway_p95_ms"] = percentile(gateway, 95)
    # Over the wire (brotli when the client accepts it, as the load generator does).
    system["bytes_per_response"] = system["bytes"] / system["count"] if system["count"] else 0
    system["uncompressed_bytes_per_response"] = world.body_bytes
    system["gzip_bytes_per_response"] = world.gzip_bytes
    system["br_bytes_per_response"] = world.br_bytes
    await bench.settle()
    async with raw_app(bench.dsn("search_service"), bench.pool_max) as url:
        with cpu_usage(bench) as raw_cores:
            raw = await run_loadgen(
                {
                    "mode": "duration",
                    "concurrency": concurrency,
                    "duration": duration,
                    "warmup": 1.0,
                    "requests": [
                        {"method": "GET", "url": f"{url}/raw/{a}"} for a in world.availability_ids
                    ],
                }
            )
    raw.pop("per_request", None)
    raw["cpu_cores"] = raw_cores
    await bench.settle()
    # The same search from one client at a time: the latency without queueing.
    alone = await run_loadgen(
        {
            "mode": "duration",
            "concurrency": 1,
            "duration": min(duration, 5.0),
            "warmup": 0.5,
            "requests": requests,
        }
    )
    system["single_client_p50_ms"] = alone["p50_ms"]
    system["single_client_p95_ms"] = alone["p95_ms"]
    return {
        "system": system,
        "raw": raw,
        "throughput_ratio": system["throughput"] / raw["throughput"],
    }


async def scenario(
    bench: Bench,
    world: World,
    repeat: int,
    concurrency: int,
    duration: float,
    profiler: Profiler | None = None,
) -> list[dict[str, Any]]:
    reps = []
    for n in range(repeat):
        rep = await run_rep(bench, world, concurrency, duration, profiler if n == 0 else None)
        s, r = rep["system"], rep["raw"]
        log(
            f"search #{n + 1}: {s['throughput']:.1f} req/s p50 {s['p50_ms']:.0f} ms "
            f"p95 {s['p95_ms']:.0f} ms (search_service p50 {s['search_service_p50_ms']:.0f} ms) "
            f"statuses {s['statuses']}, {s['bytes_per_response'] / 1024:,.0f} KiB per answer "
            f"{s.get('encodings')}; raw {r['throughput']:.0f} req/s p95 {r['p95_ms']:.1f} ms "
            f"→ {rep['throughput_ratio']:.1%}; one client alone: "
            f"p50 {s['single_client_p50_ms']:.0f} ms p95 {s['single_client_p95_ms']:.0f} ms\n"
            f"    system {cpu_text(s['cpu_cores'])}\n    raw {cpu_text(r['cpu_cores'])}"
        )
        reps.append(rep)
        await bench.settle()
    return reps
