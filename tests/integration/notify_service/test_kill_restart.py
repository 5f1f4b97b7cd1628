"""Kill -9 the notify service in the middle of 2,000 emails, restart it, and count."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from tests.integration.notify_service.support import (
    SmtpServer,
    free_port,
    invite_event,
    make_invitees,
)
from tests.support.infra import eventually, publish_events, service_db

ROOT = Path(__file__).resolve().parents[3]
TOTAL = 2000
CONCURRENCY = 8


def service_env(settings, smtp_port: int, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TZ")}
    env.update(
        {
            "APP_ENV": "test",
            "POSTGRES_DSN": settings.postgres_dsn,
            "AMQP_URL": settings.amqp_url,
            "DB_PREFIX": settings.db_prefix,
            "BUS_NAMESPACE": settings.bus_namespace,
            "BUS_RETRY_DELAYS_MS": json.dumps(settings.bus_retry_delays_ms),
            "INTERNAL_AUTH_SECRET": settings.internal_auth_secret,
            "PUBLIC_BASE_URL": settings.public_base_url,
            "GATEWAY_PORT": "1",
            "SERVICE_PORT": str(port),
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "MAIL_FROM": "Appointment Invites <invites@center.example.edu>",
            "NOTIFY_POLL_SECONDS": "0.1",
            "NOTIFY_SMTP_CONCURRENCY": str(CONCURRENCY),
            "NOTIFY_SMTP_TIMEOUT_SECONDS": "2",
            # Short lease so the restarted copy takes over interrupted sends quickly.
            "NOTIFY_SENDING_LEASE_SECONDS": "4",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


class ServiceProcess:
    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(  # noqa: ASYNC220 (start-up is not time-critical)
                [sys.executable, "-m", "services.notify_service"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

        async def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"service exited: {self.log.read_text()[-3000:]}")
            try:
                async with aiohttp.ClientSession() as http:
                    async with http.get(f"http://127.0.0.1:{self.port}/readyz") as resp:
                        return resp.status == 200
            except aiohttp.ClientError:
                return False

        await eventually(ready, timeout=60, interval=0.2, message="service ready")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@pytest.mark.slow
async def test_killed_mid_batch_restarts_and_every_invitee_is_emailed_once(
    settings, record_property
):
    smtp = SmtpServer()
    await smtp.start()
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="notify-kill-", suffix=".log")[1])
    service = ServiceProcess(service_env(settings, smtp.port, port), port, log)
    students = make_invitees(TOTAL)
    due = datetime.now(UTC).date() + timedelta(days=5)
    try:
        await service.start()
        await publish_events(
            settings,
            *(
                invite_event(students[i : i + 500], due_date=due, every=None)
                for i in range(0, TOTAL, 500)
            ),
        )
        await eventually(
            lambda: _received(smtp), lambda n: n >= 600, timeout=90, message="600 emails sent"
        )
        service.kill()
        conn = await service_db(settings, "notify_service")
        try:
            in_flight = await conn.fetchval(
                "SELECT count(*) FROM messages WHERE status = 'sending'"
            )
            sent_before = await conn.fetchval("SELECT count(*) FROM messages WHERE status = 'sent'")
        finally:
            await conn.close()
        received_at_kill = len(smtp.received)

        await service.start()
        await eventually(
            lambda: _distinct(smtp),
            lambda n: n >= TOTAL,
            timeout=150,
            interval=0.5,
            message="all emailed",
        )

        async def settled() -> list[str]:
            conn = await service_db(settings, "notify_service")
            try:
                rows = await conn.fetch("SELECT DISTINCT status FROM messages")
            finally:
                await conn.close()
            return sorted(r["status"] for r in rows)

        await eventually(settled, lambda s: s == ["sent"], timeout=30, message="all recorded sent")
        await asyncio.sleep(0.5)  # a stray duplicate would arrive within the next poll
    finally:
        service.stop()
        await smtp.stop()

    emailed = {r.rcpt_tos[0] for r in smtp.received}
    assert emailed == {s.email for s in students}, "every invitee emailed"
    duplicates = smtp.duplicates()
    # Only messages in flight at the kill (SMTP may have accepted them before 'sent'
    # was committed) can arrive twice, and each with the same Message-ID.
    assert duplicates <= in_flight <= CONCURRENCY
    report = (
        f"kill/restart: {TOTAL} emails, killed after {received_at_kill} received "
        f"({sent_before} recorded sent), in flight at the kill: {in_flight}, "
        f"delivered twice: {duplicates}"
    )
    record_property("kill_restart", report)
    print(report)
    log.unlink(missing_ok=True)  # noqa: ASYNC240


async def _received(smtp: SmtpServer) -> int:
    return len(smtp.received)


async def _distinct(smtp: SmtpServer) -> int:
    return len({r.message_id for r in smtp.received})
