"""Real PostgreSQL and RabbitMQ for tests: isolated names per test, cleaned up after the run."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aio_pika
import asyncpg

from shared.auth import IDENTITY_HEADER, Identity, sign_identity
from shared.bus.topology import (
    SUBSCRIPTIONS,
    control_exchange,
    events_exchange,
    parked_queue,
    retry_queue,
    service_queue,
)
from shared.events import dump_event, parse_event
from shared.settings import Settings

T = TypeVar("T")

SERVER_DSN = os.environ.get("POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
RUN_ID = uuid.uuid4().hex[:6]
SECRET = "test-secret"
USED_NAMESPACES: list[str] = []


def make_settings(**overrides: Any) -> Settings:
    """Settings whose databases, exchange and queues belong to this test alone."""
    unique = f"t{RUN_ID}_{uuid.uuid4().hex[:6]}"
    USED_NAMESPACES.append(unique)
    values: dict[str, Any] = {
        "app_env": "test",
        "postgres_dsn": SERVER_DSN,
        "amqp_url": AMQP_URL,
        "db_prefix": unique,
        "bus_namespace": unique,
        "bus_retry_delays_ms": [100, 200],
        # Classic queues: hundreds of quorum queues created and deleted per run
        # overload a single 2-core broker. Production's quorum queues are tested
        # explicitly where their behaviour matters (tests/integration/test_bus.py).
        "bus_queue_type": os.environ.get("TEST_BUS_QUEUE_TYPE", "classic"),
        "outbox_poll_seconds": 0.5,
        "db_pool_max": 4,
        "internal_auth_secret": SECRET,
        "public_base_url": "http://invites.test",
        # An unused port: no gateway answers the start-up clock sync in service tests.
        "gateway_port": 1,
    }
    values.update(overrides)
    return Settings(**values)


def headers_for(role: str, sub: str = "u-1", **fields: Any) -> dict[str, str]:
    ident = Identity(sub=sub, role=role, name=fields.pop("name", sub), **fields)
    # A day: some suites build their headers once at import, and a full run is long.
    return {IDENTITY_HEADER: sign_identity(SECRET, ident, 86_400)}


async def eventually(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], bool] = bool,
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str = "condition",
) -> T:
    """Poll ``probe`` until ``until(result)`` holds, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = await probe()
        if until(last):
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not reached within {timeout}s; last value: {last!r}")
        await asyncio.sleep(interval)


class EventTap:
    """Collects every event published on a namespace's exchange (an exclusive queue)."""

    def __init__(self, settings: Settings, routing_keys: tuple[str, ...] = ("#",)) -> None:
        self.settings = settings
        self.routing_keys = routing_keys
        self.events: list[Any] = []
        self._connection: aio_pika.abc.AbstractConnection | None = None

    async def __aenter__(self) -> EventTap:
        self._connection = await aio_pika.connect(self.settings.amqp_url)
        channel = await self._connection.channel()
        exchange = await channel.declare_exchange(
            events_exchange(self.settings.bus_namespace), aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for key in self.routing_keys:
            await queue.bind(exchange, key)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                self.events.append(parse_event(message.body))

        await queue.consume(on_message)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._connection is not None:
            await self._connection.close()

    def of_type(self, type_: str) -> list[Any]:
        return [e for e in self.events if e.type == type_]

    async def wait_for(self, type_: str, count: int = 1, timeout: float = 10.0) -> list[Any]:
        async def probe() -> list[Any]:
            return self.of_type(type_)

        return await eventually(
            probe,
            lambda found: len(found) >= count,
            timeout=timeout,
            message=f"{count} × {type_}",
        )


async def publish_events(settings: Settings, *events: Any) -> None:
    """Publish events straight to a namespace's exchange, as a producer's relay would."""
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(
            events_exchange(settings.bus_namespace), aio_pika.ExchangeType.TOPIC, durable=True
        )
        for event in events:
            await exchange.publish(
                aio_pika.Message(
                    dump_event(event),
                    message_id=str(event.id),
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=event.type,
                timeout=10,
            )


async def publish_raw(settings: Settings, routing_key: str, body: bytes) -> None:
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(
            events_exchange(settings.bus_namespace), aio_pika.ExchangeType.TOPIC, durable=True
        )
        await exchange.publish(aio_pika.Message(body), routing_key=routing_key, timeout=10)


async def service_db(settings: Settings, service: str) -> asyncpg.Connection:
    from shared.db import dsn_for_database

    return await asyncpg.connect(dsn_for_database(SERVER_DSN, settings.database_name(service)))


async def cleanup_run() -> None:
    """Drop this run's databases, queues and exchanges, never hanging the run."""
    try:
        await asyncio.wait_for(_cleanup_run(), timeout=60)
    except Exception as exc:  # cleanup must not fail or hang a green run
        print(f"test cleanup incomplete: {exc!r}")


async def _cleanup_run() -> None:
    conn = await asyncpg.connect(SERVER_DSN)
    try:
        names = await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1", f"t{RUN_ID}_%"
        )
        for row in names:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                row["datname"],
            )
            await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}"')
    finally:
        await conn.close()
    connection = await aio_pika.connect(AMQP_URL, timeout=10)
    async with connection:
        for ns in USED_NAMESPACES:
            for service in SUBSCRIPTIONS:
                for name in [
                    service_queue(ns, service),
                    parked_queue(ns, service),
                    *(retry_queue(ns, service, d) for d in (100, 200)),
                ]:
                    channel = await connection.channel()
                    try:
                        await channel.queue_delete(name)
                    except Exception:
                        pass
                    finally:
                        if not channel.is_closed:
                            await channel.close()
            for ex in (events_exchange(ns), control_exchange(ns)):
                channel = await connection.channel()
                try:
                    await channel.exchange_delete(ex)
                except Exception:
                    pass
                finally:
                    if not channel.is_closed:
                        await channel.close()


def problem_fields(body: dict[str, Any]) -> set[str]:
    return {e["field"] for e in body.get("errors", [])}


__all__ = [
    "EventTap",
    "cleanup_run",
    "eventually",
    "headers_for",
    "json",
    "make_settings",
    "problem_fields",
    "publish_events",
    "publish_raw",
    "service_db",
]
