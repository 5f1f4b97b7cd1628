"""Operations routes: the test-mode clock for every service, and the merged OpenAPI document."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from services.gateway.auth import require_principal
from services.gateway.domain.openapi_merge import merge_documents
from services.gateway.models import ClockIn, ClockOut
from services.gateway.upstream import call
from shared.auth import Identity
from shared.errors import Problem
from shared.http import json_response, parse_body
from shared.openapi import API_ROUTES, openapi_document
from shared.runtime import RUNTIME, Runtime, broadcast_clock
from shared.settings import SERVICE_NAMES

log = logging.getLogger(__name__)

CLOCK_CONFIRM_SECONDS = 10.0
# A copy that has not taken the broadcast after this long is told directly.
CLOCK_NUDGE_AFTER_SECONDS = 1.0
_PROBE_TIMEOUT = aiohttp.ClientTimeout(total=2)


async def set_test_clock(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    if not runtime.settings.is_test:
        raise Problem(404, "Not found.")
    await require_principal(request, "admin")
    body = await parse_body(request, ClockIn)
    offset = body.now - datetime.now(UTC) if body.now is not None else timedelta(0)
    runtime.clock.set_offset(offset)
    await broadcast_clock(runtime, offset)
    await confirm_clock(runtime, offset)
    log.info("test clock set for every service", extra={"now": runtime.clock.now().isoformat()})
    return json_response(
        ClockOut(now=runtime.clock.now(), offset_seconds=runtime.clock.offset.total_seconds())
    )


async def _probe_clock(runtime: Runtime, url: str, expected: float) -> str:
    """'ok' when the copy reports the offset, 'down' when it refuses connections, else 'pending'."""
    assert runtime.http is not None
    try:
        async with runtime.http.get(
            f"{url}/internal/clock", headers=runtime.internal_headers(), timeout=_PROBE_TIMEOUT
        ) as resp:
            if resp.status != 200:
                return "pending"
            data = await resp.json()
            return "ok" if abs(float(data["offset_seconds"]) - expected) < 0.01 else "pending"
    except aiohttp.ClientConnectorError:
        # Not running (or not listening yet): it takes the gateway's clock when it starts.
        return "down"
    except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError):
        return "pending"


async def _nudge_clock(runtime: Runtime, url: str, offset_seconds: float) -> None:
    assert runtime.http is not None
    try:
        async with runtime.http.post(
            f"{url}/internal/clock",
            json={"offset_seconds": offset_seconds},
            headers=runtime.internal_headers(),
            timeout=_PROBE_TIMEOUT,
        ):
            pass
    except (aiohttp.ClientError, TimeoutError):
        pass


async def confirm_clock(runtime: Runtime, offset: timedelta) -> None:
    """Wait until every copy of every service reports the new offset (or refuses connections)."""
    expected = offset.total_seconds()
    pending = [url for name in SERVICE_NAMES for url in runtime.settings.service_urls(name)]
    started = time.monotonic()
    nudged: set[str] = set()
    while pending:
        results = await asyncio.gather(*(_probe_clock(runtime, u, expected) for u in pending))
        pending = [u for u, r in zip(pending, results, strict=True) if r == "pending"]
        if not pending:
            return
        elapsed = time.monotonic() - started
        if elapsed > CLOCK_CONFIRM_SECONDS:
            raise Problem(
                503,
                "The clock was moved but these service copies did not confirm it: "
                + ", ".join(pending),
                unconfirmed=pending,
            )
        if elapsed > CLOCK_NUDGE_AFTER_SECONDS:
            late = [u for u in pending if u not in nudged]
            await asyncio.gather(*(_nudge_clock(runtime, u, expected) for u in late))
            nudged.update(late)
        await asyncio.sleep(0.05)


GATEWAY_IDENTITY = Identity(sub="gateway", role="service", name="gateway")


async def _fragment(runtime: Runtime, service: str) -> dict[str, Any] | None:
    try:
        answer = await call(runtime, service, GATEWAY_IDENTITY, "GET", "/openapi.json")
    except Problem:
        return None
    if answer.status == 200 and isinstance(answer.data, dict):
        return answer.data
    return None


async def openapi(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    own = openapi_document(request.app[API_ROUTES], "gateway")
    found = await asyncio.gather(*(_fragment(runtime, s) for s in SERVICE_NAMES))
    fragments = {s: f for s, f in zip(SERVICE_NAMES, found, strict=True) if f is not None}
    document = merge_documents(
        own,
        fragments,
        title="Appointment Invites API",
        version="1",
        server_url=runtime.settings.public_base_url.rstrip("/"),
        unavailable=[s for s, f in zip(SERVICE_NAMES, found, strict=True) if f is None],
    )
    return json_response(document)
