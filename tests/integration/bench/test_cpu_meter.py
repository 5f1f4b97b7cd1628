"""The bench's CPU meter counts processes that exit before it stops."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench.harness import BENCH_GROUP, CpuMeter

CPU_SECONDS = 0.6
# Burns CPU_SECONDS of its own CPU time (not wall time: the machine is shared), then exits.
BURN = (
    "import resource\n"
    "def used():\n"
    "    u = resource.getrusage(resource.RUSAGE_SELF)\n"
    "    return u.ru_utime + u.ru_stime\n"
    f"while used() < {CPU_SECONDS}:\n"
    "    sum(range(10_000))\n"
)
# Starts BURN (a process that is not this test's child), prints its pid, reaps it when it
# is done (as PostgreSQL's postmaster reaps a backend), then waits for its stdin to close.
PARENT = (
    "import subprocess, sys\n"
    f"p = subprocess.Popen([sys.executable, '-c', {BURN!r}])\n"
    "print(p.pid, flush=True)\n"
    "p.wait()\n"
    "sys.stdin.read()\n"
)


def fake_bench(owners: dict[int, str]) -> Any:
    """What CpuMeter reads of a Bench: the database prefix and the service processes."""

    def processes() -> list[SimpleNamespace]:
        return [
            SimpleNamespace(name=name, process=SimpleNamespace(pid=pid))
            for pid, name in owners.items()
        ]

    return SimpleNamespace(
        settings=SimpleNamespace(db_prefix="nobody_"), system=SimpleNamespace(all=processes)
    )


async def measure(meter: CpuMeter, during: Callable[[], Awaitable[None]]) -> dict[str, float]:
    """CPU seconds per group (the meter gives cores over its time)."""
    started = time.monotonic()
    meter.start()
    await during()
    cores = meter.stop()
    elapsed = time.monotonic() - started
    return {group: value * elapsed for group, value in cores.items()}


async def test_a_child_that_exited_and_was_reaped_counts_as_the_bench():
    async def load_generator() -> None:
        child = await asyncio.create_subprocess_exec(sys.executable, "-c", BURN)
        assert await child.wait() == 0  # gone from /proc when the meter stops

    used = await measure(CpuMeter(fake_bench({})), load_generator)
    assert used[BENCH_GROUP] >= CPU_SECONDS * 0.8


def gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


async def test_another_process_that_exited_counts_in_its_group():
    owners: dict[int, str] = {}
    parent = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        PARENT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert parent.stdin is not None and parent.stdout is not None

    async def a_process_that_comes_and_goes() -> None:
        assert parent.stdout is not None
        pid = int(await parent.stdout.readline())
        owners[pid] = "some service"
        deadline = time.monotonic() + 30
        while not gone(pid):  # exited and reaped by its parent: no trace left in /proc
            assert time.monotonic() < deadline, "the burner did not finish"
            await asyncio.sleep(0.05)

    try:
        meter = CpuMeter(fake_bench(owners), sample_every=0.1)
        used = await measure(meter, a_process_that_comes_and_goes)
    finally:
        parent.stdin.close()
        await parent.wait()
    # At most one sampling interval of its time is lost.
    assert used["some service"] >= CPU_SECONDS * 0.7
