"""The transactional outbox and its relay.

``add_to_outbox`` is called inside the caller's transaction, so the event
exists exactly when the change it announces does. The relay claims pending
rows with ``FOR UPDATE SKIP LOCKED`` (any number of copies may run), publishes
them as persistent messages with publisher confirms and a timeout, and marks
them published in the same transaction. A crash between the broker's confirm
and the commit publishes the row again later: at-least-once, which the
consumers' inbox absorbs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import aio_pika
import asyncpg
from aio_pika.abc import AbstractExchange

from shared import metrics
from shared.events import dump_event

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "outbox_pending"

# Another NOTIFY channel heard on the relay's LISTEN connection: called with each
# payload, and with True once listening (anything sent before may have been missed)
# and False when the connection is lost.
Listener = tuple[Callable[[str], None], Callable[[bool], None]]


async def add_to_outbox(conn: asyncpg.Connection, events: Iterable[Any]) -> int:
    """Write events in the caller's transaction; returns how many."""
    rows = [(e.id, e.type, dump_event(e)) for e in events]
    if not rows:
        return 0
    await conn.executemany(
        "INSERT INTO outbox(event_id, event_type, body) VALUES ($1, $2, $3)", rows
    )
    return len(rows)


class OutboxRelay:
    """Publishes outbox rows; woken by LISTEN/NOTIFY with a polling fallback."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        dsn: str,
        exchange_getter: Any,
        *,
        service: str,
        batch_size: int = 200,
        poll_seconds: float = 1.0,
        publish_timeout: float = 10.0,
        listeners: Mapping[str, Listener] | None = None,
    ) -> None:
        self._pool = pool
        self._listeners = dict(listeners or {})
        self._dsn = dsn
        self._exchange_getter = exchange_getter
        self._service = service
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._publish_timeout = publish_timeout
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listen_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"{self._service}-outbox-relay")
        self._listen_task = asyncio.create_task(
            self._listen(), name=f"{self._service}-outbox-listen"
        )

    async def stop(self) -> None:
        for task in (self._listen_task, self._task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def wake(self) -> None:
        self._wake.set()

    async def _listen(self) -> None:
        # LISTEN needs a dedicated connection: a pooled one loses it on release.
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._dsn, timeout=10)
                await conn.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())
                for channel, (on_payload, _) in self._listeners.items():
                    await conn.add_listener(channel, lambda *a, f=on_payload: f(a[3]))
                closed = asyncio.Event()
                conn.add_termination_listener(lambda *_, done=closed: done.set())
                self._wake.set()  # catch up on anything written while not listening
                self._tell_listening(True)
                await closed.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox listener lost; polling meanwhile", extra={"error": str(exc)})
            finally:
                self._tell_listening(False)
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close()
            await asyncio.sleep(self._poll_seconds)

    def _tell_listening(self, listening: bool) -> None:
        for _, on_listening in self._listeners.values():
            on_listening(listening)

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            try:
                published = await self.publish_pending()
                backoff = 0.2
                if published >= self._batch_size:
                    continue  # more may be waiting
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                metrics.OUTBOX_PUBLISH_FAILURES.labels(self._service).inc()
                log.warning("outbox relay could not publish; will retry", extra={"error": str(exc)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)
            self._wake.clear()

    async def publish_pending(self) -> int:
        """Claim one batch, publish it with confirms, mark it published. Returns its size."""
        exchange: AbstractExchange | None = self._exchange_getter()
        if exchange is None:
            raise ConnectionError("the broker channel is not open")
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """SELECT position, event_id, event_type, body FROM outbox
                   WHERE published_at IS NULL ORDER BY position
                   LIMIT $1 FOR UPDATE SKIP LOCKED""",
                self._batch_size,
            )
            if not rows:
                return 0
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(
                            body=bytes(r["body"]),
                            content_type="application/json",
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                            message_id=str(r["event_id"]),
                            type=r["event_type"],
                        ),
                        routing_key=r["event_type"],
                        timeout=self._publish_timeout,
                    )
                    for r in rows
                )
            )
            await conn.execute(
                "UPDATE outbox SET published_at = now() WHERE position = ANY($1::bigint[])",
                [r["position"] for r in rows],
            )
        metrics.EVENTS_PUBLISHED.labels(self._service).inc(len(rows))
        return len(rows)


async def outbox_lag(conn: asyncpg.Connection) -> tuple[int, float]:
    """Pending rows and the age in seconds of the oldest one (for metrics and alerts)."""
    row = await conn.fetchrow(
        """SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age
           FROM outbox WHERE published_at IS NULL"""
    )
    assert row is not None
    return int(row["n"]), float(row["age"])
