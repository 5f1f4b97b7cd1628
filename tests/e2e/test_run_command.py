"""The README's run command brings every service to /readyz 200 within 60 s and stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

from shared.settings import SERVICE_NAMES
from tests.support.infra import make_settings
from tests.support.system import ROOT, free_port


def test_run_command_starts_everything_and_stops_on_ctrl_c():
    settings = make_settings()
    ports = {name: free_port() for name in (*SERVICE_NAMES, "gateway")}
    env = {
        **os.environ,
        "APP_ENV": "test",
        "DB_PREFIX": settings.db_prefix,
        "BUS_NAMESPACE": settings.bus_namespace,
        "GATEWAY_PORT": str(ports["gateway"]),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{ports['gateway']}",
        "MAIL_SINK_PORT": str(free_port()),
        **{f"{name.upper()}_PORT": str(ports[name]) for name in SERVICE_NAMES},
    }
    env.pop("SMTP_HOST", None)
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "deploy/local_run.py", "--copies", "search_service=2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            if "Ctrl-C stops everything" in line:
                break
        elapsed = time.monotonic() - started
        assert any("is running" in line for line in output), "".join(output)
        assert elapsed < 60, f"took {elapsed:.1f}s"
        for name, port in ports.items():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as resp:
                assert resp.status == 200, name
        # The second copy of search_service listens one step (100) above the first.
        with urllib.request.urlopen(
            f"http://127.0.0.1:{ports['search_service'] + 100}/readyz", timeout=5
        ) as resp:
            assert resp.status == 200
        rest = "".join(output)
        assert "admin" in rest and f"127.0.0.1:{ports['gateway']}" in rest
    finally:
        proc.send_signal(signal.SIGINT)
        remaining, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, remaining
