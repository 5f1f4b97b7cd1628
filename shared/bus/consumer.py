"""The consumer: one transaction per message holding the inbox row and the handler's writes.

Ack decisions are explicit:
- a message that is not a valid event is poison: parked at once, never requeued;
- an event already in the inbox is acked and skipped;
- a handler error sends the message to the next delayed-retry tier, and after
  the last tier to the parking queue with the error in its headers;
- the ack comes only after the commit (or after the copy was safely routed to
  retry/parking), so a crash redelivers rather than loses.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aio_pika
import asyncpg
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from pydantic import ValidationError

from shared import metrics
from shared.bus.topology import parked_queue, retry_queue
from shared.events import parse_event
from shared.http import is_unavailable
from shared.logs import correlation_id_var

log = logging.getLogger(__name__)

Handler = Callable[[asyncpg.Connection, Any], Awaitable[None]]

ATTEMPT_HEADER = "x-attempt"
ERROR_HEADER = "x-error"
ORIGINAL_ROUTING_KEY_HEADER = "x-original-routing-key"


class Consumer:
    def __init__(
        self,
        *,
        service: str,
        namespace: str,
        pool: asyncpg.Pool,
        channel: AbstractChannel,
        queue: AbstractQueue,
        handlers: Mapping[str, Handler],
        retry_delays_ms: tuple[int, ...],
        publish_timeout: float = 10.0,
    ) -> None:
        self._service = service
        self._namespace = namespace
        self._pool = pool
        self._channel = channel
        self._queue = queue
        self._handlers = dict(handlers)
        self._retry_delays = retry_delays_ms
        self._publish_timeout = publish_timeout
        self._consumer_tag: str | None = None
        self._in_flight: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        # RobustQueue.consume is re-registered by aio-pika after a reconnect;
        # tests/integration/test_bus.py proves it against a real broker restart.
        self._consumer_tag = await self._queue.consume(self._on_message)

    async def stop(self) -> None:
        if self._consumer_tag is not None:
            try:
                await self._queue.cancel(self._consumer_tag)
            except Exception as exc:  # the channel may already be gone at shutdown
                log.info("consumer cancel skipped", extra={"error": str(exc)})
            self._consumer_tag = None

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        started = time.perf_counter()
        try:
            event = parse_event(message.body)
        except (ValidationError, ValueError) as exc:
            await self._park(message, f"not a valid event: {exc}")
            metrics.EVENTS_CONSUMED.labels(self._service, "invalid", "parked").inc()
            return

        token = correlation_id_var.set(event.correlation_id)
        try:
            handler = self._handlers.get(event.type)
            if handler is None:
                # Bound but not handled by this service (e.g. a wildcard binding).
                await message.ack()
                metrics.EVENTS_CONSUMED.labels(self._service, event.type, "ignored").inc()
                return
            try:
                handled = await self._handle(event, handler)
            except Exception as exc:
                await self._retry_or_park(message, event.type, exc)
                return
            await message.ack()
            outcome = "handled" if handled else "duplicate"
            metrics.EVENTS_CONSUMED.labels(self._service, event.type, outcome).inc()
            metrics.EVENT_HANDLING.labels(self._service, event.type).observe(
                time.perf_counter() - started
            )
            log.debug("event handled", extra={"event_type": event.type, "outcome": outcome})
        finally:
            correlation_id_var.reset(token)

    async def _handle(self, event: Any, handler: Handler) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            inserted = await conn.fetchval(
                """INSERT INTO inbox(event_id, event_type) VALUES ($1, $2)
                   ON CONFLICT (event_id) DO NOTHING RETURNING true""",
                event.id,
                event.type,
            )
            if not inserted:
                return False
            await handler(conn, event)
        return True

    async def _retry_or_park(
        self, message: AbstractIncomingMessage, event_type: str, exc: Exception
    ) -> None:
        headers = dict(message.headers or {})
        attempt = int(str(headers.get(ATTEMPT_HEADER, 0) or 0))
        error = f"{type(exc).__name__}: {exc}"
        if is_unavailable(exc):
            # The database is down, not the message bad: wait and try again
            # without spending an attempt, so an outage never parks good events.
            delay = self._retry_delays[-1] if self._retry_delays else 0
            log.warning(
                "database unavailable while handling an event; retrying later",
                extra={"event_type": event_type, "delay_ms": delay, "error": error},
            )
            headers[ERROR_HEADER] = error[:1000]
            await self._republish(
                message, retry_queue(self._namespace, self._service, delay), headers
            )
            metrics.EVENTS_CONSUMED.labels(self._service, event_type, "deferred").inc()
            return
        if attempt < len(self._retry_delays):
            delay = self._retry_delays[attempt]
            log.warning(
                "event handler failed; retrying later",
                extra={
                    "event_type": event_type,
                    "attempt": attempt + 1,
                    "delay_ms": delay,
                    "error": error,
                },
            )
            headers[ATTEMPT_HEADER] = attempt + 1
            headers[ERROR_HEADER] = error[:1000]
            await self._republish(
                message, retry_queue(self._namespace, self._service, delay), headers
            )
            metrics.EVENTS_CONSUMED.labels(self._service, event_type, "retried").inc()
        else:
            log.error(
                "event handler failed on every attempt; parked",
                extra={
                    "event_type": event_type,
                    "attempts": attempt + 1,
                    "error": error,
                    "traceback": traceback.format_exception(exc)[-3:],
                },
            )
            await self._park(message, error)
            metrics.EVENTS_CONSUMED.labels(self._service, event_type, "parked").inc()

    async def _park(self, message: AbstractIncomingMessage, error: str) -> None:
        headers = dict(message.headers or {})
        headers[ERROR_HEADER] = error[:1000]
        headers.setdefault(ORIGINAL_ROUTING_KEY_HEADER, message.routing_key or "")
        await self._republish(message, parked_queue(self._namespace, self._service), headers)

    async def _republish(
        self, message: AbstractIncomingMessage, queue_name: str, headers: dict[str, Any]
    ) -> None:
        headers.setdefault(ORIGINAL_ROUTING_KEY_HEADER, message.routing_key or "")
        copy = aio_pika.Message(
            body=message.body,
            headers=headers,
            content_type=message.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.message_id,
            type=message.type,
        )
        # The copy is confirmed before the original is acked: a crash in between
        # means a redelivery, which the inbox absorbs.
        await self._channel.default_exchange.publish(
            copy, routing_key=queue_name, timeout=self._publish_timeout
        )
        await message.ack()


async def replay_parked(
    channel: AbstractChannel,
    namespace: str,
    service: str,
    *,
    limit: int | None = None,
    queue_type: str = "quorum",
) -> int:
    """Move parked messages back into the service's queue (attempts reset)."""
    from shared.bus.topology import queue_arguments, service_queue

    queue = await channel.declare_queue(
        parked_queue(namespace, service), durable=True, arguments=queue_arguments(queue_type)
    )
    moved = 0
    while limit is None or moved < limit:
        message = await queue.get(no_ack=False, fail=False, timeout=5)
        if message is None:
            break
        headers = {
            k: v
            for k, v in (message.headers or {}).items()
            if k not in (ATTEMPT_HEADER, ERROR_HEADER)
        }
        await channel.default_exchange.publish(
            aio_pika.Message(
                body=message.body,
                headers=headers,
                content_type=message.content_type,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=message.message_id,
                type=message.type,
            ),
            routing_key=service_queue(namespace, service),
            timeout=10,
        )
        await message.ack()
        moved += 1
    return moved
