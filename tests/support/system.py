"""The whole system as real processes, for end-to-end, resilience and browser tests.

Each service (and any copies) runs as ``python -m services.<name>`` on a free
port with this test's own databases and bus namespace, the gateway in front,
and notify's built-in SMTP sink capturing every email.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from shared.settings import SERVICE_NAMES
from tests.support.infra import AMQP_URL, SERVER_DSN, make_settings

ROOT = Path(__file__).resolve().parents[2]
LOG_DIR = ROOT / "artifacts" / "logs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.name}", "--port", str(self.port)],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        """SIGKILL: no cleanup, as a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class System:
    copies: dict[str, int] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, list[Proc]] = field(default_factory=dict)
    settings: Any = None

    def __post_init__(self) -> None:
        self.settings = make_settings()
        self.mail_port = free_port()
        self.gateway_port = free_port()
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "APP_ENV": "test",
            "POSTGRES_DSN": SERVER_DSN,
            "AMQP_URL": AMQP_URL,
            "DB_PREFIX": self.settings.db_prefix,
            "BUS_NAMESPACE": self.settings.bus_namespace,
            "BUS_RETRY_DELAYS_MS": "[200, 1000]",
            "INTERNAL_AUTH_SECRET": self.settings.internal_auth_secret,
            "GATEWAY_PORT": str(self.gateway_port),
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{self.gateway_port}",
            "MAIL_SINK_PORT": str(self.mail_port),
            "ADMIN_USERNAME": "admin",
            "ADMIN_PASSWORD": "admin-password-1",
            "OUTBOX_POLL_SECONDS": "0.5",
            # Several whole systems may run at once in parallel workers: small
            # pools keep them all under PostgreSQL's max_connections (100).
            "DB_POOL_MAX": "5",
            "BUS_QUEUE_TYPE": self.settings.bus_queue_type,
        }
        self.env.pop("SMTP_HOST", None)  # the built-in sink, unless the test brings a server
        self.env.update(self.extra_env)
        urls: dict[str, list[str]] = {}
        for name in SERVICE_NAMES:
            for i in range(self.copies.get(name, 1)):
                port = free_port()
                proc = Proc(
                    name,
                    port,
                    self.env,
                    LOG_DIR / f"{self.settings.bus_namespace}-{name}-{i + 1}.log",
                )
                self.procs.setdefault(name, []).append(proc)
                urls.setdefault(name, []).append(proc.url)
        for name, addresses in urls.items():
            self.env[f"{name.upper()}_URL"] = ",".join(addresses)
        self.procs["gateway"] = [
            Proc(
                "gateway",
                self.gateway_port,
                self.env,
                LOG_DIR / f"{self.settings.bus_namespace}-gateway-1.log",
            )
        ]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def all(self) -> list[Proc]:
        return [p for procs in self.procs.values() for p in procs]

    async def start(self, timeout: float = 60.0) -> None:
        services = [p for p in self.all() if p.name != "gateway"]
        for proc in services:
            proc.start()
        await self.wait_ready(services, timeout)
        self.procs["gateway"][0].start()
        await self.wait_ready(self.procs["gateway"], timeout)

    async def wait_ready(self, procs: list[Proc], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        pending = list(procs)
        async with aiohttp.ClientSession() as session:
            while pending:
                for proc in list(pending):
                    if not proc.alive():
                        raise AssertionError(f"{proc.name} exited; see {proc.log_path}")
                    try:
                        async with session.get(
                            f"{proc.url}/readyz", timeout=aiohttp.ClientTimeout(total=2)
                        ) as r:
                            if r.status == 200:
                                pending.remove(proc)
                    except (aiohttp.ClientError, TimeoutError):
                        pass
                if pending and time.monotonic() > deadline:
                    names = ", ".join(p.name for p in pending)
                    raise AssertionError(f"not ready within {timeout}s: {names}")
                await asyncio.sleep(0.2)

    async def restart(self, proc: Proc, timeout: float = 60.0) -> None:
        proc.start()
        await self.wait_ready([proc], timeout)

    def stop(self) -> None:
        for proc in reversed(self.all()):
            proc.stop()


class Api:
    """A logged-in client of the public API (cookie session + CSRF header when needed)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = aiohttp.ClientSession(
            base_url=base_url, cookie_jar=aiohttp.CookieJar(unsafe=True)
        )
        self.headers: dict[str, str] = {}

    async def login(self, username: str, password: str) -> None:
        async with self.session.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        ) as r:
            assert r.status == 200, await r.text()
            body = await r.json()
        csrf = body.get("csrf_token") if isinstance(body, dict) else None
        if csrf:
            self.headers["X-CSRF-Token"] = csrf

    async def call(
        self, method: str, path: str, expect: int | tuple[int, ...] | None = None, **kwargs: Any
    ) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        async with self.session.request(method, path, headers=headers, **kwargs) as r:
            if "json" in (r.content_type or ""):
                body: Any = await r.json()
            else:
                body = await r.text()
            if expect is not None:
                expected = (expect,) if isinstance(expect, int) else expect
                assert r.status in expected, f"{method} {path} → {r.status}: {body}"
            return r.status, body

    async def close(self) -> None:
        await self.session.close()
