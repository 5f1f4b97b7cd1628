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
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
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
    # Extra environment of every service process (pool size, queue type).
    env: dict[str, str] = field(default_factory=dict)
    # Before each measurement, wait up to this long for the machine to be quiet.
    wait_quiet: float = 0.0
    quiet_machine: float = 0.3
    system: System | None = None
    admin: Api | None = None
    pools: dict[str, asyncpg.Pool] = field(default_factory=dict)

    async def start(self) -> None:
        system = System(
            copies=self.copies,
            extra_env={
                **self.env,
                "SMTP_HOST": self.sink.host,
                "SMTP_PORT": str(self.sink.port),
            },
        )
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
            f"(namespace {system.settings.bus_namespace}, copies {self.copies or 'one each'}, "
            f"pool max {system.env.get('DB_POOL_MAX')}, {system.env.get('BUS_QUEUE_TYPE')} queues)"
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

    @property
    def pool_max(self) -> int:
        """The services' pool size; the raw baselines use the same."""
        return int(self.env.get("DB_POOL_MAX", "10"))

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

    async def settle_system(self, timeout: float = 180.0, quiet_cpu: float = 0.08) -> float:
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

    async def settle(self, timeout: float = 180.0, quiet_cpu: float = 0.08) -> float:
        """The system idle (``settle_system``), then, with ``wait_quiet`` > 0, the machine
        quiet too: others' work below ``quiet_machine`` cores for 3 s, waiting at most
        ``wait_quiet`` seconds (on a shared machine, fewer disturbed measurements)."""
        waited = await self.settle_system(timeout, quiet_cpu)
        if self.wait_quiet <= 0:
            return waited
        started = time.monotonic()
        calm = 0
        while time.monotonic() - started < self.wait_quiet:
            before = _machine_busy_ticks()
            await asyncio.sleep(1.0)
            busy = (_machine_busy_ticks() - before) / os.sysconf("SC_CLK_TCK")
            calm = calm + 1 if busy < self.quiet_machine else 0
            if calm >= 3:
                return waited + time.monotonic() - started
        log(f"machine still busy after waiting {self.wait_quiet:.0f}s; measuring anyway")
        return waited + time.monotonic() - started


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
async def raw_app(dsn: str, pool: int) -> AsyncIterator[str]:
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
        "--pool",
        str(pool),
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


# ------------------------------------------------------------------ profiles
@dataclass
class Profiler:
    """py-spy (``--py-spy PATH``) recording chosen services during a measurement.

    Writes collapsed stacks to ``bench/results/profile-<label>-<service>-<n>.txt``
    and a short top list of where the samples were (self and inclusive)."""

    py_spy: str | None
    services: tuple[str, ...]

    @contextlib.asynccontextmanager
    async def record(self, bench: Bench, label: str) -> AsyncIterator[None]:
        if not self.py_spy or not self.services:
            yield
            return
        out_dir = ROOT / "bench" / "results"
        out_dir.mkdir(parents=True, exist_ok=True)
        procs: list[tuple[asyncio.subprocess.Process, Path]] = []
        for service in self.services:
            for n, pid in enumerate(bench.pids(service), 1):
                path = out_dir / f"profile-{label}-{service}-{n}.txt"
                proc = await asyncio.create_subprocess_exec(
                    self.py_spy,
                    "record",
                    "--pid",
                    str(pid),
                    "--format",
                    "raw",
                    "--rate",
                    "50",
                    "--output",
                    str(path),
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
                procs.append((proc, path))
        try:
            yield
        finally:
            for proc, _ in procs:
                if proc.returncode is None:
                    proc.send_signal(2)  # SIGINT: py-spy writes its output and exits
            for proc, path in procs:
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()
                with contextlib.suppress(OSError):
                    log(f"profile {path.name}:\n{top_frames(path)}")


def _frame(raw: str) -> str:
    """``func (path/to/file.py:123)`` → ``func (file.py)``: samples add up per function."""
    func, _, where = raw.partition(" (")
    return f"{func} ({where.rsplit('/', 1)[-1].split(':')[0]})" if where else func


def top_frames(path: Path, limit: int = 12) -> str:
    """The frames holding most samples (inclusive) and most self time, from collapsed stacks."""
    from collections import Counter

    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame(f) for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    if not total:
        return "  (no samples)"
    lines = [f"  {total} samples; inclusive:"]
    lines += [f"    {n / total:6.1%}  {f}" for f, n in inclusive.most_common(limit)]
    lines.append("  self:")
    lines += [f"    {n / total:6.1%}  {f}" for f, n in own.most_common(limit)]
    return "\n".join(lines)


# ------------------------------------------------------------------ where the CPU went
def _machine_busy_ticks() -> int:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in fields]
    # user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait
    return sum(values) - values[3] - values[4]


# The group of the bench process and its children (the load generator, the raw apps).
BENCH_GROUP = "bench + load generator"
ProcessTable = dict[int, tuple[str, int, str, int]]


def _read(path: str) -> bytes:
    # os-level reads: pathlib's were 3× slower over a whole /proc (it is read twice a second).
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 4096)
    finally:
        os.close(fd)


def _process_table(known: ProcessTable | None = None) -> ProcessTable:
    """pid → (comm, cpu ticks, postgres database or '', parent pid) for every process now
    (a PostgreSQL backend's database taken from ``known`` when it was there already)."""
    table: ProcessTable = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        try:
            stat = _read(f"/proc/{name}/stat").decode()
            close = stat.rindex(")")
            comm = stat[stat.index("(") + 1 : close]
            fields = stat[close + 1 :].split()
            ticks = int(fields[11]) + int(fields[12])
            database = ""
            if comm == "postgres":
                prior = known.get(pid) if known else None
                if prior is not None and prior[0] == comm:
                    database = prior[2]
                else:
                    # "postgres: 15/main: postgres <database> 127.0.0.1(port) idle"
                    words = _read(f"/proc/{name}/cmdline").replace(b"\0", b" ").decode().split()
                    database = words[3] if len(words) > 3 else ""
        except (OSError, ValueError, IndexError):
            continue
        table[pid] = (comm, ticks, database, int(fields[1]))
    return table


def _reaped_children_ticks() -> float:
    """CPU of this process's children that exited and were waited for, in clock ticks
    (the kernel adds a child's whole lifetime here when it is reaped)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) * os.sysconf("SC_CLK_TCK")


@dataclass
class CpuMeter:
    """CPU seconds per group over a measurement: each service of this system, PostgreSQL
    backends of this system's databases, RabbitMQ, the bench process and its load
    generator, and everything else on the machine (other people's work).

    A process that exits before the meter stops is gone from /proc: this process's own
    children (the load generator) are counted from the kernel's total for reaped
    children, every other process from its last reading (the table is read every
    ``sample_every`` seconds meanwhile, so at most that much of its time is lost)."""

    bench: Bench
    sample_every: float = 0.5
    _before: ProcessTable = field(default_factory=dict)
    _seen: ProcessTable = field(default_factory=dict)
    _children_before: float = 0.0
    _busy_before: int = 0
    _started: float = 0.0
    _halt: threading.Event = field(default_factory=threading.Event)
    _sampler: threading.Thread | None = None

    def _group(self, pid: int, comm: str, database: str, ppid: int, owners: dict[int, str]) -> str:
        if pid in owners:
            return owners[pid]
        if comm == "postgres":
            return "postgres (this system)" if database.startswith(self.prefix) else "other"
        if comm.startswith("beam"):
            return "rabbitmq"
        if os.getpid() in (pid, ppid):
            return BENCH_GROUP
        return "other"

    @property
    def prefix(self) -> str:
        return str(self.bench.settings.db_prefix)

    def _sample(self) -> None:
        # A thread, not a task: the meter also spans stretches where the loop is busy.
        while not self._halt.wait(self.sample_every):
            self._seen.update(_process_table(self._seen))

    def start(self) -> None:
        self._children_before = _reaped_children_ticks()
        self._before = _process_table()
        self._seen = dict(self._before)
        self._busy_before = _machine_busy_ticks()
        self._started = time.monotonic()
        self._halt.clear()
        self._sampler = threading.Thread(target=self._sample, name="cpu-meter", daemon=True)
        self._sampler.start()

    def stop(self) -> dict[str, float]:
        self._halt.set()
        if self._sampler is not None:
            self._sampler.join()
        # Reaped children first, then the table: a child reaped in between is counted
        # once (in the reaped total, and absent from the table).
        reaped = _reaped_children_ticks() - self._children_before
        after = _process_table()
        busy = _machine_busy_ticks() - self._busy_before
        seconds = max(time.monotonic() - self._started, 1e-6)
        hz = os.sysconf("SC_CLK_TCK")
        assert self.bench.system is not None
        owners = {p.process.pid: p.name for p in self.bench.system.all() if p.process is not None}
        me = os.getpid()
        groups: dict[str, float] = {}
        for pid, (comm, ticks, database, ppid) in {**self._seen, **after}.items():
            before = self._before.get(pid)
            start_ticks = before[1] if before and before[0] == comm else 0
            if pid not in after and ppid == me:
                # Reaped: its whole life is in ``reaped``; take off what came before.
                reaped -= start_ticks
                continue
            used = ticks - start_ticks
            if used <= 0:
                continue
            group = self._group(pid, comm, database, ppid, owners)
            groups[group] = groups.get(group, 0.0) + used
        if reaped > 0:
            groups[BENCH_GROUP] = groups.get(BENCH_GROUP, 0.0) + reaped
        accounted = sum(v for k, v in groups.items() if k != "other")
        # Others' processes come and go (and exec) too often for a per-process sum: the
        # machine's busy time minus what was accounted is the truth.
        groups["other"] = max(busy - accounted, 0.0)
        cores = {k: round(v / hz / seconds, 2) for k, v in sorted(groups.items())}
        cores["machine busy"] = round(busy / hz / seconds, 2)
        return cores


def cpu_text(cores: dict[str, float]) -> str:
    parts = [f"{k} {v:.2f}" for k, v in sorted(cores.items(), key=lambda kv: -kv[1]) if v >= 0.05]
    return "CPU cores: " + ", ".join(parts)


@contextlib.contextmanager
def cpu_usage(bench: Bench) -> Iterator[dict[str, float]]:
    """``with cpu_usage(bench) as cores:`` — filled with CpuMeter's split on exit."""
    meter = CpuMeter(bench)
    cores: dict[str, float] = {}
    meter.start()
    try:
        yield cores
    finally:
        cores.update(meter.stop())
