"""Bench: the Appointment Invite Schedule as a 200,000-row CSV, streamed (not a test).

Starts the report service as its own process (``python -m services.report_service``)
on a throw-away database and bus namespace, seeds N read-store rows straight
into its database (one month, one center in America/New_York), then:

1. streams a one-day report and then the whole month as CSV through the
   service over HTTP, printing rows/s and the service process's peak RSS
   (VmHWM) before and after: flat memory means the month (30x the rows) does
   not raise the peak noticeably above the one-day run;
2. the same month as HTML;
3. the baseline: a raw asyncpg cursor over the same query into ``csv.writer``,
   in a child process of its own, with its rows/s and peak RSS.

    .venv/bin/python bench/report_csv.py [--rows 200000]

Needs PostgreSQL and RabbitMQ as for the tests (POSTGRES_DSN, AMQP_URL).

Measured on the shared 2-core dev machine (load average 5-11, so rates vary
by 2x between runs): service peak RSS 58 MiB idle, 62 MiB after the one-day
CSV, 63 MiB after the 200,000-row CSV and 64 MiB after the same as HTML
(flat); CSV 11,000-14,000 rows/s (38.6 MB), HTML ~5,800 rows/s, against the
raw cursor -> csv.writer baseline at 12,000-24,000 rows/s (55 MiB).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import socket
import sys
import time
import uuid
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aio_pika
import aiohttp
import asyncpg

from services.report_service.domain.criteria import ReportCriteria
from services.report_service.domain.presets import DateRange
from services.report_service.repository import report_query
from shared.auth import IDENTITY_HEADER, Identity, sign_identity
from shared.bus.topology import (
    control_exchange,
    events_exchange,
    parked_queue,
    retry_queue,
    service_queue,
)
from shared.db import dsn_for_database
from tests.integration.report_service.seed import SEED_FROM, SEED_TO, seed_rows

ROOT = Path(__file__).resolve().parents[1]
SERVICE = "report_service"
SECRET = "bench-secret"
PATH = "/api/v1/reports/appointment-invite-schedule"
POSTGRES_DSN = os.environ.get("POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


def peak_rss_mib(pid: int | str = "self") -> float:
    """VmHWM: the process's peak resident set size so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def stream(
    session: aiohttp.ClientSession, url: str, params: dict[str, str]
) -> tuple[int, int, float]:
    """Read the response chunk by chunk (kept nowhere); returns bytes, lines, seconds."""
    headers = {IDENTITY_HEADER: sign_identity(SECRET, Identity(sub="bench", role="staff"), 3600)}
    started = time.perf_counter()
    size = lines = 0
    async with session.get(url, params=params, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        async for chunk in resp.content.iter_chunked(256 * 1024):
            size += len(chunk)
            lines += chunk.count(b"\r\n")  # CSV lines (the HTML has none)
    return size, lines, time.perf_counter() - started


async def wait_ready(
    session: aiohttp.ClientSession, base: str, process: asyncio.subprocess.Process
) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise RuntimeError("the report service exited at start")
        try:
            async with session.get(f"{base}/readyz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("the report service did not become ready")


async def baseline(dsn: str) -> None:
    """Child process: raw cursor → csv.writer, same query, output discarded."""
    criteria = ReportCriteria(
        range=DateRange(date.fromisoformat(SEED_FROM), date.fromisoformat(SEED_TO)),
        timezone="America/New_York",
        format="csv",
    )
    sql, args = report_query(criteria)
    conn = await asyncpg.connect(dsn)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    rows = 0
    started = time.perf_counter()
    async with conn.transaction(readonly=True):
        async for record in conn.cursor(sql, *args, prefetch=2000):
            writer.writerow(["" if v is None else str(v) for v in record.values()])
            rows += 1
            if buffer.tell() > 64 * 1024:
                buffer.seek(0)
                buffer.truncate()
    elapsed = time.perf_counter() - started
    await conn.close()
    print(f"{rows} {elapsed:.3f} {peak_rss_mib():.1f}")


async def cleanup(namespace: str, database: str) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        for name in (
            service_queue(namespace, SERVICE),
            parked_queue(namespace, SERVICE),
            *(retry_queue(namespace, SERVICE, d) for d in (1_000, 10_000, 60_000)),
        ):
            channel = await connection.channel()
            await channel.queue_delete(name)
            await channel.close()
        for name in (events_exchange(namespace), control_exchange(namespace)):
            channel = await connection.channel()
            await channel.exchange_delete(name)
            await channel.close()
    conn = await asyncpg.connect(POSTGRES_DSN)
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", database
        )
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}"')
    finally:
        await conn.close()


async def main(rows: int) -> None:
    unique = f"bench_{uuid.uuid4().hex[:6]}"
    database = f"{unique}_{SERVICE}"
    dsn = dsn_for_database(POSTGRES_DSN, database)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "APP_ENV": "test",
        "POSTGRES_DSN": POSTGRES_DSN,
        "AMQP_URL": AMQP_URL,
        "DB_PREFIX": unique,
        "BUS_NAMESPACE": unique,
        "INTERNAL_AUTH_SECRET": SECRET,
        "GATEWAY_PORT": "1",
        "LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", f"services.{SERVICE}", "--port", str(port), env=env, cwd=ROOT
    )
    timeout = aiohttp.ClientTimeout(total=None, sock_read=120)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await wait_ready(session, base, process)
            conn = await asyncpg.connect(dsn)
            try:
                started = time.perf_counter()
                await seed_rows(conn, rows)
                print(f"seeded {rows} read-store rows in {time.perf_counter() - started:.1f}s")
            finally:
                await conn.close()
            url = f"{base}{PATH}"
            print(f"service process peak RSS after start: {peak_rss_mib(process.pid):.1f} MiB")

            day = {"from": "2026-03-10", "to": "2026-03-10", "format": "csv"}
            size, lines, seconds = await stream(session, url, day)
            print(
                f"CSV, one day: {lines - 1} rows, {size / 1e6:.1f} MB in {seconds:.2f}s; "
                f"service peak RSS {peak_rss_mib(process.pid):.1f} MiB"
            )
            month = {"from": SEED_FROM, "to": SEED_TO, "format": "csv"}
            for run in (1, 2):
                size, lines, seconds = await stream(session, url, month)
                print(
                    f"CSV, month (run {run}): {lines - 1} rows, {size / 1e6:.1f} MB in "
                    f"{seconds:.2f}s = {(lines - 1) / seconds:,.0f} rows/s; "
                    f"service peak RSS {peak_rss_mib(process.pid):.1f} MiB"
                )
            size, _, seconds = await stream(session, url, {**month, "format": "html"})
            print(
                f"HTML, month: {size / 1e6:.1f} MB in {seconds:.2f}s = "
                f"{rows / seconds:,.0f} rows/s; service peak RSS "
                f"{peak_rss_mib(process.pid):.1f} MiB"
            )

        child = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--baseline",
            dsn,
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        out, _ = await child.communicate()
        count, seconds_text, rss = out.decode().split()
        print(
            f"baseline (raw asyncpg cursor -> csv.writer, own process): {count} rows in "
            f"{float(seconds_text):.2f}s = {int(count) / float(seconds_text):,.0f} rows/s; "
            f"peak RSS {rss} MiB"
        )
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
        await cleanup(unique, database)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--baseline", metavar="DSN", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline:
        asyncio.run(baseline(args.baseline))
    else:
        asyncio.run(main(args.rows))
