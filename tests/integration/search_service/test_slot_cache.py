"""The cached slot lists: changes are seen at once here and soon in every other copy."""

from __future__ import annotations

import asyncio
import gzip
from datetime import UTC, datetime, timedelta
from typing import Any

import brotli
from prometheus_client import REGISTRY

from services.search_service.app import SPEC
from services.search_service.slot_cache import SLOT_CACHE, SlotCache
from shared.clock import FixedClock
from tests.integration.search_service.helpers import (
    DAY,
    STAFF,
    STUDENT,
    book,
    clock,
    invite_event,
    make_availability,
    make_center,
    make_consultant,
    publish_invite,
    slots,
)
from tests.support.infra import eventually

WINDOW = {"from": DAY, "to": DAY}


def cache_of(client: Any) -> SlotCache:
    return client.server.app[SLOT_CACHE]


async def start_listening(start_service: Any, settings: Any, the_clock: Any = None) -> Any:
    client, _ = await start_service(SPEC, settings, the_clock or clock())
    await eventually(lambda: asyncio.sleep(0, cache_of(client).listening), message="listening")
    return client


async def starts(client: Any, token: str) -> list[str]:
    return [s["starts_at"][11:16] for s in await slots(client, token, **WINDOW)]


def lookups(outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "search_slot_cache_lookups_total", {"service": "search_service", "outcome": outcome}
    )
    return value or 0.0


async def world(client: Any, settings: Any, invitees: int = 3) -> tuple[dict, dict, list[str]]:
    center = await make_center(client)
    consultant = await make_consultant(client)
    avail = await make_availability(client, center, consultant, "09:00", "11:00")
    event, tokens = invite_event(invitees, center_ids=[center["id"]], duration_minutes=60)
    await publish_invite(settings, client, event, tokens)
    return center, avail, tokens


def deaf_to_notifications(monkeypatch: Any, client: Any) -> None:
    """Leave only this copy's own invalidation (notifications may come a little later)."""
    monkeypatch.setattr(cache_of(client), "center_changed", lambda _center_id: None)


async def test_a_booking_is_gone_from_the_very_next_search_here(
    settings, start_service, monkeypatch
):
    client = await start_listening(start_service, settings)
    _, avail, tokens = await world(client, settings)
    deaf_to_notifications(monkeypatch, client)
    hits = lookups("hit")
    assert await starts(client, tokens[0]) == ["09:00", "09:30", "10:00"]
    # Another invitee of the invite gets the same answer from the cache.
    assert await starts(client, tokens[2]) == ["09:00", "09:30", "10:00"]
    assert lookups("hit") > hits and len(cache_of(client)) == 1

    booked = await book(client, tokens[1], avail["id"], f"{DAY}T09:00:00-05:00")
    assert booked.status == 201
    assert await starts(client, tokens[0]) == ["10:00"]


async def test_a_refused_booking_keeps_the_cache(settings, start_service, monkeypatch):
    client = await start_listening(start_service, settings)
    _, avail, tokens = await world(client, settings)
    deaf_to_notifications(monkeypatch, client)
    assert (await book(client, tokens[1], avail["id"], f"{DAY}T09:00:00-05:00")).status == 201
    assert await starts(client, tokens[0]) == ["10:00"]
    hits = lookups("hit")
    taken = await book(client, tokens[2], avail["id"], f"{DAY}T09:00:00-05:00")
    assert taken.status == 409
    assert len(cache_of(client)) == 1
    assert await starts(client, tokens[0]) == ["10:00"]
    assert lookups("hit") == hits + 1


async def test_a_new_availability_is_in_the_very_next_search_here(
    settings, start_service, monkeypatch
):
    client = await start_listening(start_service, settings)
    center, _, tokens = await world(client, settings)
    deaf_to_notifications(monkeypatch, client)
    assert await starts(client, tokens[0]) == ["09:00", "09:30", "10:00"]
    await make_availability(client, center, await make_consultant(client, "Bo"), "13:00", "14:00")
    assert await starts(client, tokens[0]) == ["09:00", "09:30", "10:00", "13:00"]


async def test_another_copy_hears_bookings_availabilities_and_center_changes(
    settings, start_service
):
    one = await start_listening(start_service, settings)
    two = await start_listening(start_service, settings)
    center, avail, tokens = await world(one, settings)
    assert await starts(two, tokens[0]) == ["09:00", "09:30", "10:00"]
    hits = lookups("hit")
    assert await starts(two, tokens[0]) == ["09:00", "09:30", "10:00"]
    assert lookups("hit") > hits  # copy two answers from its cache now

    booked = await book(one, tokens[1], avail["id"], f"{DAY}T09:30:00-05:00")
    assert booked.status == 201
    await eventually(lambda: starts(two, tokens[0]), lambda s: s == [], message="booking seen")

    await make_availability(one, center, await make_consultant(one, "Bo"), "13:00", "14:00")
    await eventually(
        lambda: starts(two, tokens[0]), lambda s: s == ["13:00"], message="availability seen"
    )

    # Centers come from memory too: a changed interval reaches the other copy.
    resp = await one.patch(
        f"/api/v1/centers/{center['id']}", json={"slot_interval_minutes": 20}, headers=STAFF
    )
    assert resp.status == 200, await resp.text()
    await make_availability(one, center, await make_consultant(one, "Cy"), "15:00", "16:20")
    await eventually(
        lambda: starts(two, tokens[0]),
        lambda s: s == ["13:00", "15:00", "15:20"],
        message="center change seen",
    )


async def test_past_times_are_not_offered_from_the_cache(settings, start_service):
    # 09:29:30 in New York on DAY: the 09:00 start has passed, 09:30 has not.
    the_clock = FixedClock(datetime.fromisoformat(f"{DAY}T09:29:30-05:00").astimezone(UTC))
    client = await start_listening(start_service, settings, the_clock)
    _, _, tokens = await world(client, settings)
    assert await starts(client, tokens[0]) == ["09:30", "10:00"]
    the_clock.advance(timedelta(seconds=29))
    assert await starts(client, tokens[1]) == ["09:30", "10:00"]
    the_clock.advance(timedelta(seconds=2))  # 09:30:01
    assert await starts(client, tokens[1]) == ["10:00"]


async def test_each_accepted_coding_is_the_same_answer(settings, start_service):
    client = await start_listening(start_service, settings)
    _, _, tokens = await world(client, settings)
    url = f"/api/v1/invitations/{tokens[0]}/slots"

    async def ask(**headers: str) -> Any:
        return await client.get(
            url,
            params=WINDOW,
            headers={**STUDENT, **headers},
            auto_decompress=False,
            # Without a header of its own the test client would send one.
            skip_auto_headers=() if "Accept-Encoding" in headers else ("Accept-Encoding",),
        )

    plain = await ask()
    assert plain.status == 200 and "Content-Encoding" not in plain.headers
    body = await plain.read()
    assert body.count(b'"availability_id"') == 3 and b'"09:00' not in body

    identity = await ask(**{"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in identity.headers and await identity.read() == body

    browser = await ask(**{"Accept-Encoding": "gzip, deflate, br"})  # br preferred on a tie
    assert browser.headers["Content-Encoding"] == "br"
    assert brotli.decompress(await browser.read()) == body

    no_br = await ask(**{"Accept-Encoding": "gzip, deflate, br;q=0"})
    assert no_br.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(await no_br.read()) == body

    for resp in (plain, identity, browser, no_br):
        assert resp.status == 200
        assert resp.headers["Vary"] == "Accept-Encoding"
        assert resp.headers["Content-Type"] == "application/json; charset=utf-8"


async def test_lookups_are_in_the_metrics(settings, start_service):
    client = await start_listening(start_service, settings)
    _, _, tokens = await world(client, settings)
    misses, hits = lookups("miss"), lookups("hit")
    await starts(client, tokens[0])
    await starts(client, tokens[1])
    assert lookups("miss") == misses + 1 and lookups("hit") == hits + 1
    text = await (await client.get("/metrics")).text()
    assert 'search_slot_cache_lookups_total{outcome="hit",service="search_service"}' in text
    assert "search_slot_cache_bytes" in text


async def test_another_copy_sees_a_new_center(settings, start_service):
    one = await start_listening(start_service, settings)
    two = await start_listening(start_service, settings)
    _, _, tokens = await world(one, settings)
    assert await starts(two, tokens[0]) == ["09:00", "09:30", "10:00"]  # centers now in memory

    _, _, later = await world(one, settings)  # a new center, its block, an invite for it
    await eventually(
        lambda: starts(two, later[0]),
        lambda s: s == ["09:00", "09:30", "10:00"],
        message="new center seen",
    )
