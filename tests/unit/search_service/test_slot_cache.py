"""The slot cache in memory: one computation per key, invalidation, bounds, no listener."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
from datetime import UTC, date, datetime, timedelta

import brotli

from services.search_service.domain.model import Restrictions
from services.search_service.domain.slot_key import SlotsKey, center_plan, slots_key
from services.search_service.domain.window import Window
from services.search_service.slot_cache import Answer, SlotCache, encode

NOW = datetime(2026, 1, 6, 14, 29, 30, tzinfo=UTC)
WEEK = Window(datetime(2026, 1, 5, 5, tzinfo=UTC), datetime(2026, 1, 10, 5, tzinfo=UTC))


def key(*centers: str, section: str = "S1", now: datetime = NOW) -> SlotsKey:
    r = Restrictions(due_date=date(2026, 1, 20), section_id=section)
    plans = [
        center_plan(
            center_id=c,
            name=c,
            timezone="UTC",
            interval_minutes=30,
            duration_minutes=60,
            window=WEEK,
        )
        for c in centers or ("c1",)
    ]
    return slots_key(now, r, plans)


class Source:
    """Counts computations; each answer says which one it was."""

    def __init__(self, size: int = 10) -> None:
        self.calls = 0
        self.size = size
        self.gate: asyncio.Event | None = None
        self.during: list[object] = []

    async def __call__(self) -> Answer:
        self.calls += 1
        n = self.calls
        if self.gate is not None:
            await self.gate.wait()
        for step in self.during:
            step()  # type: ignore[operator]
        return Answer(f"{n}".encode().ljust(self.size), b"z", b"b")


def listening(**kw: int) -> SlotCache:
    cache = SlotCache("test", **kw)
    cache.on_listening(True)
    return cache


async def test_concurrent_askers_share_one_computation_then_hit():
    cache, source = listening(), Source()
    source.gate = asyncio.Event()
    asks = [asyncio.create_task(cache.get(key(), source)) for _ in range(5)]
    await asyncio.sleep(0)
    source.gate.set()
    answers = await asyncio.gather(*asks)
    assert source.calls == 1 and len({a.body for a in answers}) == 1
    assert (await cache.get(key(), source)).body == answers[0].body
    assert source.calls == 1


async def test_an_asker_that_goes_away_does_not_cancel_the_others():
    cache, source = listening(), Source()
    source.gate = asyncio.Event()
    first = asyncio.create_task(cache.get(key(), source))
    second = asyncio.create_task(cache.get(key(), source))
    await asyncio.sleep(0)
    first.cancel()
    source.gate.set()
    assert (await second).body.startswith(b"1")
    assert len(cache) == 1


async def test_a_change_during_the_computation_is_not_kept():
    cache, source = listening(), Source()
    source.during = [lambda: cache.center_changed("c1")]
    assert (await cache.get(key(), source)).body.startswith(b"1")
    source.during = []
    assert (await cache.get(key(), source)).body.startswith(b"2")
    assert (await cache.get(key(), source)).body.startswith(b"2")


async def test_a_change_drops_only_the_answers_with_that_center():
    cache, source = listening(), Source()
    await cache.get(key("c1"), source)
    await cache.get(key("c2"), source)
    await cache.get(key("c1", "c2", section="S2"), source)
    cache.on_notify("c2")
    assert len(cache) == 1
    await cache.get(key("c1"), source)
    assert source.calls == 3
    cache.on_notify("*")
    assert len(cache) == 0 and cache.bytes == 0


async def test_nothing_is_cached_while_not_listening():
    cache, source = SlotCache("test"), Source()
    await cache.get(key(), source)
    await cache.get(key(), source)
    assert source.calls == 2 and len(cache) == 0
    cache.on_listening(True)
    await cache.get(key(), source)
    await cache.get(key(), source)
    assert source.calls == 3
    # Lost, then back: what was heard before may be stale, so it starts over.
    cache.on_listening(False)
    assert len(cache) == 0
    cache.on_listening(True)
    await cache.get(key(), source)
    assert source.calls == 4


async def test_bounded_by_entries_and_bytes_least_recently_used_first():
    cache, source = listening(max_entries=2, max_bytes=10_000), Source(size=1_000)
    await cache.get(key("c1"), source)
    await cache.get(key("c2"), source)
    await cache.get(key("c1"), source)  # c1 used last
    await cache.get(key("c3"), source)
    assert len(cache) == 2
    await cache.get(key("c1"), source)
    assert source.calls == 3  # c1 kept, c2 evicted
    await cache.get(key("c2"), source)
    assert source.calls == 4

    small = listening(max_entries=10, max_bytes=2_500)
    for c in ("c1", "c2", "c3"):
        await small.get(key(c), Source(size=1_000))
    assert len(small) == 2 and small.bytes <= 2_500
    huge = listening(max_bytes=100)
    await huge.get(key(), Source(size=1_000))
    assert len(huge) == 0


async def test_answers_of_a_past_minute_are_dropped():
    cache, source = listening(), Source()
    await cache.get(key(now=NOW), source)
    await cache.get(key("c2", now=NOW), source)
    await cache.get(key(now=NOW + timedelta(minutes=1)), source)
    assert len(cache) == 1


async def test_an_answer_is_kept_plain_gzip_and_brotli_each_decoding_to_the_same_bytes():
    # Shaped like a week: an availability's fields come back far beyond gzip's window.
    ids = [hashlib.sha256(b"%d" % n).hexdigest() for n in range(1_000)]
    items = [
        {"availability_id": ids[i % 500], "consultant": ids[500 + i % 500], "at": i // 500}
        for i in range(7_500)
    ]
    text = json.dumps({"items": items})
    answer = await encode(text)
    assert answer.coded("identity") == answer.body == text.encode()
    assert gzip.decompress(answer.coded("gzip")) == answer.body
    assert brotli.decompress(answer.coded("br")) == answer.body
    assert len(answer.brotli) * 4 < len(answer.gzipped)
    assert answer.size == len(answer.body) + len(answer.gzipped) + len(answer.brotli)
