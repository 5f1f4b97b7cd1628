"""Scenarios 1 and 5: invite fan-out (one copy of each service, and two of notify and search).

The figure: one ``POST /api/v1/invites`` for N students through the gateway, timed
from the request until every instruction email was accepted by the bench's SMTP
sink AND every invitee is in report_service's read store (``invitee_rows`` with
the invite's columns, polled in its database).

The raw baseline, in the same repetition: aiosmtplib sending the very same N
messages (the bytes the sink just received) to the same sink with notify's SMTP
concurrency, each send slot keeping one connection open as notify does.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiosmtplib

from bench import seeding
from bench.harness import Bench, Profiler, cpu_text, cpu_usage, log
from bench.sink import Received, Sink
from services.notify_service.settings import NotifySettings


def notify_concurrency(env: dict[str, str]) -> int:
    """notify's SMTP sends in flight per process (its setting's value for this run)."""
    settings = NotifySettings(
        **{k.lower(): v for k, v in env.items() if k.startswith("NOTIFY_")}  # type: ignore[arg-type]
    )
    return settings.notify_smtp_concurrency


@dataclass
class World:
    bench: Bench
    widget_id: str
    student_ids: list[str]


async def prepare(bench: Bench, sink: Sink, size: int, label: str) -> World:
    admin = bench.admin
    assert admin is not None
    center = await seeding.create_center(admin, f"{label} Center")
    # Instructions 3 days before a due date of tomorrow: due at once.
    widget = await seeding.create_widget(admin, center, f"{label} invites", 3)
    students = await seeding.import_students(admin, label[:1].upper(), size)
    # Warm-up: a small invite through the whole path (connections, plans, caches).
    world = World(bench, widget, students)
    await measure(world, sink, students[:20])
    await bench.settle()
    return world


async def _report_rows(bench: Bench, invite_id: str) -> int:
    pool = await bench.db("report_service")
    found: int = await pool.fetchval(
        """SELECT count(*) FROM invitee_rows
           WHERE invite_id = $1 AND invite_created_at IS NOT NULL""",
        invite_id,
    )
    return found


async def measure(world: World, sink: Sink, students: list[str]) -> dict[str, Any]:
    """One fan-out; the sink holds exactly its messages afterwards."""
    bench = world.bench
    sink.reset()
    due = seeding.local_today() + timedelta(days=1)
    with cpu_usage(bench) as cores:
        result = await _measure(world, sink, students, due)
    result["cpu_cores"] = cores
    return result


async def _measure(world: World, sink: Sink, students: list[str], due: Any) -> dict[str, Any]:
    bench, size = world.bench, len(students)
    admin = bench.admin
    assert admin is not None
    started = time.monotonic()
    invite_id, request_s = await seeding.create_invite(admin, world.widget_id, students, due)
    timeout = 120 + size * 0.1

    async def report_done() -> float:
        deadline = started + timeout
        while True:
            if await _report_rows(bench, invite_id) >= size:
                return time.monotonic()
            if time.monotonic() > deadline:
                raise AssertionError(f"report store incomplete after {timeout:.0f}s")
            await asyncio.sleep(0.05)

    mail_at, report_at = await asyncio.gather(sink.wait_for(size, timeout), report_done())
    total = max(mail_at, report_at) - started
    return {
        "invite_id": invite_id,
        "invitees": size,
        "request_s": request_s,
        "total_s": total,
        "mail_s": mail_at - started,
        "report_s": report_at - started,
        "emails_per_s": size / total,
    }


async def check_duplicates(world: World, sink: Sink, result: dict[str, Any]) -> None:
    """After the system settled (late re-sends would have arrived): what the sink holds."""
    await world.bench.settle()
    result["accepted"] = len(sink.messages)
    result["duplicates"] = sink.duplicates()
    result["distinct_recipients"] = len(sink.recipients())


async def baseline(
    bench: Bench, sink: Sink, messages: list[Received], concurrency: int
) -> dict[str, Any]:
    """aiosmtplib sends the same messages to the same sink, ``concurrency`` at a time."""
    with cpu_usage(bench) as cores:
        result = await _baseline(sink, messages, concurrency)
    result["cpu_cores"] = cores
    return result


async def _baseline(sink: Sink, messages: list[Received], concurrency: int) -> dict[str, Any]:
    sink.reset()
    queue: asyncio.Queue[Received] = asyncio.Queue()
    for m in messages:
        queue.put_nowait(m)

    async def worker() -> None:
        # One connection per send slot, message after message on it (as notify does).
        client = aiosmtplib.SMTP(hostname=sink.host, port=sink.port, timeout=30)
        await client.connect()
        try:
            while not queue.empty():
                m = queue.get_nowait()
                await client.sendmail(m.mail_from, m.rcpt_tos, m.raw)
        finally:
            await client.quit()

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    last = await sink.wait_for(len(messages), 60)
    total = last - started
    return {"total_s": total, "emails_per_s": len(messages) / total, "concurrency": concurrency}


async def run_rep(
    world: World, sink: Sink, size: int, concurrency: int, profiler: Profiler | None = None
) -> dict[str, Any]:
    if profiler is not None:
        async with profiler.record(world.bench, "fanout"):
            system = await measure(world, sink, world.student_ids[:size])
    else:
        system = await measure(world, sink, world.student_ids[:size])
    await check_duplicates(world, sink, system)
    messages = list(sink.messages)
    raw = await baseline(world.bench, sink, messages, concurrency)
    sink.reset()
    return {"system": system, "raw": raw, "ratio": system["total_s"] / raw["total_s"]}


async def scenario(
    world: World, sink: Sink, size: int, repeat: int, profiler: Profiler | None = None
) -> list[dict[str, Any]]:
    """Repetitions of the fan-out, each followed by its raw baseline."""
    concurrency = notify_concurrency(world.bench.env)
    reps: list[dict[str, Any]] = []
    for n in range(repeat):
        rep = await run_rep(world, sink, size, concurrency, profiler if n == 0 else None)
        reps.append(rep)
        s, r = rep["system"], rep["raw"]
        log(
            f"fan-out #{n + 1}: {s['total_s']:.2f}s ({s['emails_per_s']:.0f}/s; mail "
            f"{s['mail_s']:.2f}s, report {s['report_s']:.2f}s), request {s['request_s']:.3f}s, "
            f"dup {s['duplicates']}; raw {r['total_s']:.2f}s → ×{rep['ratio']:.2f}\n"
            f"    system {cpu_text(s['cpu_cores'])}\n    raw {cpu_text(r['cpu_cores'])}"
        )
        await world.bench.settle()
    return reps


async def scaleout(
    world: World, sink: Sink, size: int, one_copy: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The fan-out on the system with copies (bench/run --copies), as many times as
    the one-copy fan-out ran just before (paired in order for the ratios)."""
    reps: list[dict[str, Any]] = []
    for n, one in enumerate(one_copy):
        two = await measure(world, sink, world.student_ids[:size])
        await check_duplicates(world, sink, two)
        sink.reset()
        reps.append(
            {
                "one_copy": one["system"],
                "two_copies": two,
                "throughput_ratio": two["emails_per_s"] / one["system"]["emails_per_s"],
            }
        )
        log(
            f"scale-out #{n + 1}: two copies {two['total_s']:.2f}s "
            f"({two['emails_per_s']:.0f}/s), dup {two['duplicates']}, "
            f"vs one copy ×{reps[-1]['throughput_ratio']:.2f} throughput\n"
            f"    {cpu_text(two['cpu_cores'])}"
        )
    return reps
