"""A fuzz run of the gateway's OpenAPI description (schemathesis): zero 5xx.

Every public route is called with generated valid and invalid inputs, as an
admin with an API token, against the whole system running as processes. The
schemathesis command line runs it (its pytest plugin does not load under our
pytest version); its exit code and report are the verdict.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import aiohttp

from tests.support.system import ROOT, System

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


async def test_no_route_answers_5xx(system: System) -> None:
    jar = aiohttp.CookieJar(unsafe=True)  # the gateway is on an IP address
    async with aiohttp.ClientSession(base_url=system.url, cookie_jar=jar) as s:
        login = await s.post(
            "/api/v1/auth/login", json={"username": "admin", "password": "admin-password-1"}
        )
        assert login.status == 200, await login.text()
        me = await (await s.get("/api/v1/auth/me")).json()
        user_id = me.get("id") or me.get("user", {}).get("id")
        created = await s.post(f"/api/v1/users/{user_id}/tokens", json={"name": "fuzz"})
        assert created.status == 201, await created.text()
        token = (await created.json())["token"]

    report = ROOT / "artifacts" / "schemathesis-junit.xml"
    report.parent.mkdir(parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS),
        "run",
        f"{system.url}/api/v1/openapi.json",
        "--url",
        system.url,
        "--checks",
        "not_a_server_error",
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        "5",
        "--seed",
        "20261203",
        "--generation-deterministic",
        "--request-timeout",
        "30",
        # Moving every clock mid-run is not what this run is about.
        "--exclude-path",
        "/api/v1/test/clock",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=ROOT,
    )
    out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-6000:]
    assert "not_a_server_error" in text or "passed" in text.lower(), text[-2000:]
