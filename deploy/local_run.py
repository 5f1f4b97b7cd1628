"""Run every service on this machine: ``bin/run [--copies search_service=3,...] [--demo]``.

Starts each service (and copies of it) as a child process, waits until each
answers ``/readyz``, starts the gateway pointed at every copy, prints where to
open it, restarts a child that dies, and stops everything cleanly on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.preflight import problems  # noqa: E402
from shared.settings import DEFAULT_PORTS, SERVICE_NAMES, load_settings  # noqa: E402

COPY_PORT_STEP = 100  # copy i of a service listens on its port + i * 100


@dataclass
class Child:
    name: str
    copy: int
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)

    @property
    def label(self) -> str:
        return self.name if self.copy == 0 else f"{self.name}#{self.copy + 1}"

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.name}", "--port", str(self.port)],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us, and we stop children in order
        )
        self.started_at = time.monotonic()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)


def parse_copies(text: str | None) -> dict[str, int]:
    copies = dict.fromkeys((*SERVICE_NAMES, "gateway"), 1)
    if not text:
        return copies
    for part in text.split(","):
        name, _, count = part.strip().partition("=")
        if name not in copies:
            raise SystemExit(f"--copies: unknown service '{name}' (one of {', '.join(copies)})")
        if not count.isdigit() or not 1 <= int(count) <= 9:
            raise SystemExit(f"--copies: {name} takes a number from 1 to 9")
        copies[name] = int(count)
    if copies["gateway"] != 1:
        raise SystemExit(
            "--copies: run one gateway locally (put a load balancer in front for more)"
        )
    return copies


def wait_ready(children: list[Child], deadline: float) -> list[Child]:
    pending = list(children)
    while pending and time.monotonic() < deadline:
        for child in list(pending):
            if child.process is not None and child.process.poll() is not None:
                return [child]
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{child.port}/readyz", timeout=2
                ) as resp:
                    if resp.status == 200:
                        pending.remove(child)
            except (urllib.error.URLError, OSError):
                pass
        time.sleep(0.3)
    return pending


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bin/run", description=__doc__)
    parser.add_argument(
        "--copies", help="copies per service, e.g. search_service=3,notify_service=2"
    )
    parser.add_argument("--demo", action="store_true", help="load demo data once everything runs")
    parser.add_argument("--ready-timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    copies = parse_copies(args.copies)

    found = problems()
    if found:
        for line in found:
            print(line, file=sys.stderr)
        return 2

    settings = load_settings()
    log_dir = ROOT / ".run" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    base_env = dict(os.environ)
    base_env.setdefault("APP_ENV", settings.app_env)
    base_env["PYTHONPATH"] = str(ROOT)
    base_env["PYTHONUNBUFFERED"] = "1"

    services: list[Child] = []
    urls: dict[str, list[str]] = {}
    for name in SERVICE_NAMES:
        base_port = int(os.environ.get(f"{name.upper()}_PORT", DEFAULT_PORTS[name]))
        for i in range(copies[name]):
            port = base_port + i * COPY_PORT_STEP
            services.append(Child(name, i, port, base_env, log_dir / f"{name}-{i + 1}.log"))
            urls.setdefault(name, []).append(f"http://127.0.0.1:{port}")
    gateway_env = dict(base_env)
    for name, addresses in urls.items():
        gateway_env[f"{name.upper()}_URL"] = ",".join(addresses)
    for child in services:
        child.env = gateway_env  # services call each other through the same settings
    gateway = Child("gateway", 0, settings.gateway_port, gateway_env, log_dir / "gateway-1.log")
    everyone = [*services, gateway]

    stopping = False

    def shutdown(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)

    print(f"starting {len(everyone)} processes (logs in {log_dir.relative_to(ROOT)}/)")
    for child in services:
        child.start()
    not_ready = wait_ready(services, time.monotonic() + args.ready_timeout)
    if not not_ready:
        gateway.start()
        not_ready = wait_ready([gateway], time.monotonic() + args.ready_timeout)
    if not_ready:
        for child in not_ready:
            print(
                f"{child.label} did not become ready; last lines of {child.log_path}:",
                file=sys.stderr,
            )
            lines = child.log_path.read_text(errors="replace").splitlines()[-15:]
            print("\n".join("  " + line for line in lines), file=sys.stderr)
        stop_all(everyone)
        return 1

    url = settings.public_base_url
    print()
    print(f"  Appointment Invites is running: {url}")
    print(
        f"  sign in as {settings.admin_username} / {settings.admin_password}"
        "  (ADMIN_USERNAME / ADMIN_PASSWORD)"
    )
    if not settings.smtp_host:
        print(
            f"  emails are kept by the built-in sink: {url}/dev/mail"
            f"  (SMTP on 127.0.0.1:{settings.mail_sink_port})"
        )
    print("  Ctrl-C stops everything.")
    print()
    if args.demo:
        from deploy.demo import load_demo

        load_demo(url, settings.admin_username, settings.admin_password)

    while not stopping:
        for child in everyone:
            if child.process is not None and child.process.poll() is not None and not stopping:
                child.restarts += 1
                print(
                    f"{child.label} exited ({child.process.returncode}); restarting "
                    f"(restart {child.restarts})",
                    file=sys.stderr,
                )
                time.sleep(min(5, child.restarts))
                child.start()
        time.sleep(0.5)
    print("stopping…")
    stop_all(everyone)
    return 0


def stop_all(children: list[Child]) -> None:
    # The gateway first (no new requests), then the services.
    for child in reversed(children):
        child.stop()
    deadline = time.monotonic() + 15
    for child in children:
        if child.process is None:
            continue
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.stop(signal.SIGKILL)
            child.process.wait()


if __name__ == "__main__":
    raise SystemExit(main())
