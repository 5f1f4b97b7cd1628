"""The rendered slot lists, cached per process, and the centers and duration rules they use.

All invitees of an invite share restrictions, so a week's answer (thousands of slots,
megabytes of JSON) is computed once per ``SlotsKey`` (domain/slot_key.py), encoded
once, compressed once with gzip and once with brotli, and served as bytes to everyone
asking for it (README.md, "The slot cache").

Correctness rests on invalidation, not on expiry:
- in this process, every write request (booking, cancelling, availabilities, centers)
  clears the cache when it returns, so the very next search sees it;
- across copies, triggers (migration 0003) NOTIFY ``search_slots_changed`` from the
  changing transaction with the center's id (or ``*``), heard on the outbox relay's
  LISTEN connection (``Runtime.listen``);
- while that connection is down nothing is served from or kept in the cache (a
  notification may be missed), and everything is dropped when it comes back;
- an answer computed while a change came in is not kept (a generation ticket taken
  before reading the database must still hold when storing).
The key carries the minute, so even a missed notification could not outlive it.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import brotli
from aiohttp import web

from services.search_service import repository as repo
from services.search_service.domain.model import Center
from services.search_service.domain.slot_key import SlotsKey
from services.search_service.metrics import BYTES, ENTRIES, INVALIDATIONS, LOOKUPS
from shared.errors import Problem
from shared.events import DurationRule
from shared.runtime import RUNTIME, Runtime

CHANNEL = "search_slots_changed"
ALL = "*"
# A week of a busy semester is ≈3 MB of JSON plus ≈0.4 MB gzipped and ≈30 KB brotli:
# room for about 20 such answers (invites × windows × the current minute), within the
# pod's memory request (192 Mi, deploy/k8s/base/app/search-service.yaml) next to the
# process itself.
MAX_ENTRIES = 64
MAX_BYTES = 64 * 1024 * 1024
GZIP_LEVEL = 6  # once per answer: ≈30 ms for 3 MB, within 2% of level 9's size
# Brotli with a 4 MiB window: an availability's fields repeat every ≈500 slots (≈190 KB
# apart, beyond gzip's 32 KB window), so a week is ≈30 KB instead of ≈380 KB; quality 5
# takes ≈20 ms for 3 MB (higher qualities are slower and hardly smaller here).
BROTLI_QUALITY = 5
BROTLI_LGWIN = 22


@dataclass(frozen=True, slots=True)
class Answer:
    """A rendered ``{"items": [...]}`` body, plain, gzip- and brotli-compressed."""

    body: bytes
    gzipped: bytes
    brotli: bytes

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzipped) + len(self.brotli)

    def coded(self, coding: str) -> bytes:
        """The bytes in ``coding`` (``preferred_encoding``'s answer)."""
        if coding == "br":
            return self.brotli
        if coding == "gzip":
            return self.gzipped
        return self.body


def _brotli(body: bytes) -> bytes:
    compressed: bytes = brotli.compress(body, quality=BROTLI_QUALITY, lgwin=BROTLI_LGWIN)
    return compressed


async def encode(text: str) -> Answer:
    body = text.encode()
    # zlib and brotli let go of the GIL: both run at once in threads while the loop
    # keeps serving cached answers.
    gzipped, brotlied = await asyncio.gather(
        asyncio.to_thread(gzip.compress, body, GZIP_LEVEL, mtime=0),
        asyncio.to_thread(_brotli, body),
    )
    return Answer(body, gzipped, brotlied)


@dataclass(frozen=True, slots=True)
class Directory:
    """Every center and the duration rules: what a link resolves against."""

    centers: dict[str, Center]
    rules: list[DurationRule]

    def centers_of(self, ids: list[str] | tuple[str, ...] | None) -> dict[str, Center]:
        if not ids:
            return dict(self.centers)
        wanted = set(ids)
        return {cid: c for cid, c in self.centers.items() if cid in wanted}


class SlotCache:
    def __init__(
        self, service: str, *, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES
    ) -> None:
        self._service = service
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._entries: OrderedDict[SlotsKey, Answer] = OrderedDict()
        self._bytes = 0
        self._pending: dict[SlotsKey, asyncio.Task[Answer]] = {}
        self._directory: Directory | None = None
        self._listening = False
        # Generations: the epoch moves on every full clear, a center's on its changes.
        self._epoch = 0
        self._center_gen: dict[str, int] = {}
        self._lookups = {o: LOOKUPS.labels(service, o) for o in ("hit", "miss", "joined", "bypass")}

    # ------------------------------------------------------------------ reading
    @property
    def listening(self) -> bool:
        return self._listening

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        return self._bytes

    def _ticket(self, centers: frozenset[str]) -> tuple[int, tuple[int, ...]]:
        return self._epoch, tuple(self._center_gen.get(c, 0) for c in sorted(centers))

    async def get(self, key: SlotsKey, compute: Callable[[], Awaitable[Answer]]) -> Answer:
        """The cached answer for ``key``, else ``compute()``'s (one computation per key
        at a time: concurrent askers wait for it instead of computing it again)."""
        if not self._listening:
            self._lookups["bypass"].inc()
            return await compute()
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            self._lookups["hit"].inc()
            return found
        task = self._pending.get(key)
        if task is None:
            self._lookups["miss"].inc()
            # A task of its own: an asker that goes away does not cancel the others' answer.
            task = asyncio.create_task(self._fill(key, compute, self._ticket(key.center_set)))
            self._pending[key] = task
            task.add_done_callback(functools.partial(self._settled, key))
        else:
            self._lookups["joined"].inc()
        return await asyncio.shield(task)

    async def _fill(
        self,
        key: SlotsKey,
        compute: Callable[[], Awaitable[Answer]],
        ticket: tuple[int, tuple[int, ...]],
    ) -> Answer:
        answer = await compute()
        if self._listening and self._ticket(key.center_set) == ticket:
            self._store(key, answer)
        return answer

    def _settled(self, key: SlotsKey, task: asyncio.Task[Answer]) -> None:
        if self._pending.get(key) is task:
            del self._pending[key]
        if not task.cancelled():
            task.exception()  # retrieved: the askers got it (or went away)

    def _store(self, key: SlotsKey, answer: Answer) -> None:
        if answer.size > self._max_bytes:
            return
        # Answers as of an earlier minute are never asked for again.
        for old in [k for k in self._entries if k.as_of < key.as_of]:
            self._drop(old)
        self._entries[key] = answer
        self._bytes += answer.size
        while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
            self._drop(next(iter(self._entries)))
        self._gauges()

    def _drop(self, key: SlotsKey) -> None:
        answer = self._entries.pop(key)
        self._bytes -= answer.size

    def _gauges(self) -> None:
        ENTRIES.labels(self._service).set(len(self._entries))
        BYTES.labels(self._service).set(self._bytes)

    async def directory(self, conn: asyncpg.Connection) -> Directory:
        """Centers and duration rules, from memory while changes are heard."""
        if self._listening and self._directory is not None:
            return self._directory
        epoch = self._epoch
        found = Directory(await repo.centers(conn, None), await repo.duration_rules(conn))
        if self._listening and self._epoch == epoch:
            self._directory = found
        return found

    # ------------------------------------------------------------------ invalidation
    def clear(self, cause: str = "write") -> None:
        """Forget everything (a write here, ``*`` from any copy, the listener)."""
        INVALIDATIONS.labels(self._service, cause).inc()
        self._epoch += 1
        self._entries.clear()
        self._bytes = 0
        self._pending.clear()  # running computations finish for their askers only
        self._directory = None
        self._gauges()

    def center_changed(self, center_id: str) -> None:
        """Forget the answers that include this center."""
        INVALIDATIONS.labels(self._service, "notify").inc()
        self._center_gen[center_id] = self._center_gen.get(center_id, 0) + 1
        for key in [k for k in self._entries if center_id in k.center_set]:
            self._drop(key)
        for key in [k for k in self._pending if center_id in k.center_set]:
            del self._pending[key]
        self._gauges()

    def on_notify(self, payload: str) -> None:
        if payload == ALL or not payload:
            self.clear("notify")
        else:
            self.center_changed(payload)

    def on_listening(self, listening: bool) -> None:
        # Either way a notification may have been missed: start over.
        self._listening = listening
        self.clear("listener")


SLOT_CACHE = web.AppKey("slot_cache", SlotCache)


def slot_cache(request: web.Request) -> SlotCache:
    return request.app[SLOT_CACHE]


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@web.middleware
async def clear_after_writes(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Any write answered here clears this copy's cache before its answer leaves, so the
    writer's next search sees it (other copies hear it through NOTIFY).

    A refusal (4xx) changed nothing — every endpoint's rule — so it keeps the cache: in a
    booking storm most attempts are refused, and each would otherwise empty it.
    """
    if request.method in _SAFE_METHODS:
        return await handler(request)
    try:
        response = await handler(request)
    except (Problem, web.HTTPException) as exc:
        if not 400 <= exc.status < 500:
            request.app[SLOT_CACHE].clear("write")
        raise
    except BaseException:
        request.app[SLOT_CACHE].clear("write")
        raise
    if not 400 <= response.status < 500:
        request.app[SLOT_CACHE].clear("write")
    return response


def install(app: web.Application) -> None:
    """Give the app its cache: the write middleware and the NOTIFY listener."""
    runtime: Runtime = app[RUNTIME]
    cache = SlotCache(runtime.service)
    app[SLOT_CACHE] = cache
    app.middlewares.append(clear_after_writes)
    runtime.listen(CHANNEL, cache.on_notify, cache.on_listening)


def respond(answer: Answer, coding: str) -> web.Response:
    """The stored bytes as they are, in ``coding`` (``preferred_encoding``'s answer)."""
    headers = {"Vary": "Accept-Encoding"}
    if coding != "identity":
        headers["Content-Encoding"] = coding
    return web.Response(
        body=answer.coded(coding),
        headers=headers,
        content_type="application/json",
        charset="utf-8",
    )
