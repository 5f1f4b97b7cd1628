"""The bench's harness: a fresh system on this machine, the sink, database access, settling.

``Bench`` starts ``tests.support.system.System`` (every service as a process on a
free port, its own databases and bus namespace, the gateway in front) with
notify pointed at the bench's own SMTP sink, logs in as the first admin, and
cleans up the databases, queues and exchanges it made when it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg

from bench.sink import Sink
from shared.bus.topology import (
    SUBSCRIPTIONS,
    control_exchange,
    events_exchange,
    parked_queue,
    retry_queue,
    service_queue,
)
from shared.db import dsn_for_database
from tests.support.infra import AMQP_URL, SERVER_DSN
from tests.support.system import Api, System

ROOT = Path(__file__).resolve().parents[1]
ADMIN = ("admin", "admin-password-1")
SERVICES = tuple(SUBSCRIPTIONS)
# System's BUS_RETRY_DELAYS_MS, plus the test default: every retry tier that may exist.
RETRY_DELAYS = (100, 200, 1000)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Bench:
    """One running system, its admin client and direct database access for checks."""

    sink: Sink
    copies: dict[str, int] = field(default_factory=dict)
    system: System | None = None
    admin: Api | None = None
    pools: dict[str, asyncpg.Pool] = field(default_factory=dict)

    async def start(self) -> None:
        system = System(copies=self.copies, extra_env={"SMTP_PORT": str(self.sink.port)})
        # System drops SMTP_HOST (its processes use notify's built-in sink); every Proc
        # shares this dict, so setting it here points notify at the bench's sink.
        system.env["SMTP_HOST"] = self.sink.host
        self.system = system
        started = time.monotonic()
        try:
            await system.start(timeout=120)
        except BaseException:
            system.stop()
            await self.cleanup()
            raise
        log(
            f"system up in {time.monotonic() - started:.1f}s at {system.url} "
            f"(namespace {system.settings.bus_namespace}, copies {self.copies or 'one each'})"
        )
        self.admin = Api(system.url)
        await self.admin.login(*ADMIN)

    @property
    def url(self) -> str:
        assert self.system is not None
        return self.system.url

    @property
    def settings(self) -> Any:
        assert self.system is not None
        return self.system.settings

    def dsn(self, service: str) -> str:
        return dsn_for_database(SERVER_DSN, self.settings.database_name(service))

    async def db(self, service: str) -> asyncpg.Pool:
        pool = self.pools.get(service)
        if pool is None:
            pool = self.pools[service] = await asyncpg.create_pool(
                self.dsn(service), min_size=1, max_size=4
            )
        return pool

    def pids(self, service: str) -> list[int]:
        assert self.system is not None
        return [p.process.pid for p in self.system.procs[service] if p.process is not None]

    def all_pids(self) -> list[int]:
        assert self.system is not None
        return [p.process.pid for p in self.system.all() if p.process is not None]

    def log_paths(self, service: str) -> list[Path]:
        assert self.system is not None
        return [p.log_path for p in self.system.procs[service]]

    async def stop(self) -> None:
        if self.admin is not None:
            await self.admin.close()
        for pool in self.pools.values():
            await pool.close()
        self.pools = {}
        if self.system is not None:
            self.system.stop()
        await self.cleanup()

    async def cleanup(self) -> None:
        """Drop this system's databases, queues and exchanges (never fails the run)."""
        if self.system is None:
            return
        try:
            await asyncio.wait_for(self._cleanup(), timeout=90)
        except Exception as exc:
            log(f"cleanup incomplete: {exc!r}")

    async def _cleanup(self) -> None:
        settings = self.settings
        conn = await asyncpg.connect(SERVER_DSN)
        try:
            for name in (*SERVICES, "gateway", "bench"):
                database = settings.database_name(name)
                await conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                    database,
                )
                await conn.execute(f'DROP DATABASE IF EXISTS "{database}"')
        finally:
            await conn.close()
        ns = settings.bus_namespace
        connection = await aio_pika.connect(AMQP_URL, timeout=20)
        async with connection:
            names = [
                name
                for service in SERVICES
                for name in (
                    service_queue(ns, service),
                    parked_queue(ns, service),
                    *(retry_queue(ns, service, d) for d in RETRY_DELAYS),
                )
            ]
            for name in names:
                channel = await connection.channel()
                with contextlib.suppress(Exception):
                    await channel.queue_delete(name)
                if not channel.is_closed:
                    await channel.close()
            for ex in (events_exchange(ns), control_exchange(ns)):
                channel = await connection.channel()
                with contextlib.suppress(Exception):
                    await channel.exchange_delete(ex)
                if not channel.is_closed:
                    await channel.close()

    # ------------------------------------------------------------------ quiescence
    async def queue_depths(self) -> dict[str, int]:
        """Ready messages per service queue and parked queue (passive declares)."""
        ns = self.settings.bus_namespace
        depths: dict[str, int] = {}
        connection = await aio_pika.connect(AMQP_URL, timeout=20)
        async with connection:
            for service in SERVICES:
                for name in (service_queue(ns, service), parked_queue(ns, service)):
                    channel = await connection.channel()
                    try:
                        queue = await channel.declare_queue(name, passive=True)
                        depths[name] = queue.declaration_result.message_count or 0
                    except Exception:
                        depths[name] = 0
                    finally:
                        if not channel.is_closed:
                            await channel.close()
        return depths

    async def parked(self) -> int:
        return sum(n for name, n in (await self.queue_depths()).items() if name.endswith("parked"))

    async def pending_outbox(self) -> int:
        total = 0
        for service in SERVICES:
            pool = await self.db(service)
            total += await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        return total

    async def settle(self, timeout: float = 180.0, quiet_cpu: float = 0.08) -> float:
        """Wait until the system is idle: no ready messages, no unpublished outbox rows,
        and the service processes together below ``quiet_cpu`` cores for a second, twice
        in a row. Leftover work of one measurement must not slow the next one down."""
        started = time.monotonic()
        calm = 0
        while time.monotonic() - started < timeout:
            depths = await self.queue_depths()
            ready = sum(n for name, n in depths.items() if not name.endswith("parked"))
            pending = await self.pending_outbox()
            cpu = await cpu_cores(self.all_pids(), 1.0)
            calm = calm + 1 if ready == 0 and pending == 0 and cpu < quiet_cpu else 0
            if calm >= 2:
                return time.monotonic() - started
        log(f"system did not settle within {timeout:.0f}s; measuring anyway")
        return time.monotonic() - started


# ------------------------------------------------------------------ processes
def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0


async def cpu_cores(pids: list[int], interval: float) -> float:
    """CPU used by ``pids`` over ``interval`` seconds, in cores."""
    hz = os.sysconf("SC_CLK_TCK")
    before = sum(_cpu_ticks(p) for p in pids)
    await asyncio.sleep(interval)
    after = sum(_cpu_ticks(p) for p in pids)
    return (after - before) / hz / interval


def proc_status(pid: int, key: str) -> int:
    """A /proc/<pid>/status value in kB (VmHWM, VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


async def run_loadgen(spec: dict[str, Any]) -> dict[str, Any]:
    """bench.loadgen in its own process (never inside a service, nor in this process)."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        spec_path, result_path = Path(tmp, "spec.json"), Path(tmp, "result.json")
        await asyncio.to_thread(spec_path.write_text, json.dumps(spec))
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.loadgen",
            str(spec_path),
            str(result_path),
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        rc = await proc.wait()
        if rc != 0:
            raise RuntimeError(f"load generator failed with exit code {rc}")
        result: dict[str, Any] = json.loads(await asyncio.to_thread(result_path.read_text))
        return result


@contextlib.asynccontextmanager
async def raw_app(dsn: str) -> AsyncIterator[str]:
    """bench.rawapp in a subprocess; yields its base URL."""
    from tests.support.system import free_port

    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.rawapp",
        "--dsn",
        dsn,
        "--port",
        str(port),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        import aiohttp

        deadline = time.monotonic() + 30
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.get(f"{url}/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline or proc.returncode is not None:
                    raise RuntimeError("raw baseline app did not start")
                await asyncio.sleep(0.1)
        yield url
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_avg_at_start": os.getloadavg(),
    }


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def server_timings(paths: list[Path], marker: str, since: datetime, until: datetime) -> list[float]:
    """The ``ms`` the services' HTTP middleware logged (JSON log lines) for requests
    whose path contains ``marker``, logged between ``since`` and ``until`` (UTC)."""
    low, high = since.isoformat(timespec="milliseconds"), until.isoformat(timespec="milliseconds")
    values: list[float] = []
    for path in paths:
        with contextlib.suppress(OSError), path.open() as f:
            for line in f:
                if marker not in line or '"ms"' not in line:
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                ts = str(record.get("ts", ""))
                if marker in str(record.get("path", "")) and "ms" in record and low <= ts <= high:
                    values.append(float(record["ms"]))
    return values
