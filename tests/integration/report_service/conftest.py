from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from services.report_service.app import SPEC
from shared.clock import FixedClock
from tests.integration.report_service.scenario import scenario_events
from tests.support.infra import eventually, headers_for, publish_events, service_db

STAFF = headers_for("staff", "staff-7", name="Sam Staff")
# 2026-03-04 03:00 UTC is still 2026-03-03 (22:00) in New York.
NOW = datetime(2026, 3, 4, 3, 0, tzinfo=UTC)


async def event_log_count(settings: Any) -> int:
    conn = await service_db(settings, SPEC.name)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM event_log"))
    finally:
        await conn.close()


async def wait_logged(settings: Any, count: int) -> None:
    await eventually(
        lambda: event_log_count(settings),
        lambda n: n >= count,
        timeout=40,  # generous: the machine is shared with other test runs
        message=f"{count} events logged",
    )


def parse_csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf"), "the CSV starts with a UTF-8 BOM"
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


@pytest.fixture
async def scenario_service(settings: Any, start_service: Callable[..., Any]) -> Any:
    """The report service with the scenario's events consumed; the clock at NOW."""
    clock = FixedClock(NOW)
    client, runtime = await start_service(SPEC, settings, clock)
    events = scenario_events()
    await publish_events(settings, *events)
    await wait_logged(settings, len(events))
    return client, runtime, clock


async def fetch_csv(client: Any, **params: str) -> list[list[str]]:
    resp = await client.get(
        "/api/v1/reports/appointment-invite-schedule",
        params={"format": "csv", **params},
        headers=STAFF,
    )
    body = await resp.read()
    assert resp.status == 200, body[:500]
    assert resp.headers["Content-Type"].startswith("text/csv")
    return parse_csv(body)
