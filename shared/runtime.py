"""What every service process runs: its database, broker, outbox relay, consumer and clock.

A service describes itself with a ``ServiceSpec``; ``build_service_app`` turns
it into an aiohttp app whose cleanup context opens everything in order and
closes it in reverse (stop consuming, finish in flight, stop the relay, close
channel, connection, pool).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import aio_pika
import aiohttp
import asyncpg
from aio_pika.abc import AbstractExchange, AbstractRobustConnection
from aiohttp import web

from shared import metrics
from shared.auth import IDENTITY_HEADER, Identity, sign_identity
from shared.bus.consumer import Consumer, Handler
from shared.bus.outbox import Listener, OutboxRelay, outbox_lag
from shared.bus.topology import (
    SUBSCRIPTIONS,
    ServiceTopology,
    control_exchange,
    declare_events_exchange,
    declare_service_topology,
)
from shared.clock import Clock
from shared.db import describe_dsn, dsn_for_database, prepare_database
from shared.http import READINESS_CHECKS, create_base_app, json_response, require_role
from shared.settings import Settings

log = logging.getLogger(__name__)


class BrokerUnavailable(RuntimeError):
    """RabbitMQ could not be reached; the message says where we looked."""


def describe_amqp(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5672}"


_T = TypeVar("_T")


@dataclass
class Runtime:
    """The resources of one service process, handed to routes and handlers."""

    service: str
    settings: Settings
    clock: Clock
    pool: asyncpg.Pool | None = None
    connection: AbstractRobustConnection | None = None
    topology: ServiceTopology | None = None
    exchange: AbstractExchange | None = None
    relay: OutboxRelay | None = None
    consumer: Consumer | None = None
    http: aiohttp.ClientSession | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    listeners: dict[str, Listener] = field(default_factory=dict)

    def one(self, kind: type[_T]) -> _T:
        """This process's one ``kind()``, made on first use (state a service keeps in
        memory: rate-limit policies, round-robin counters, caches)."""
        key = f"{kind.__module__}.{kind.__qualname__}"
        found = self.extras.get(key)
        if found is None:
            found = self.extras[key] = kind()
        assert isinstance(found, kind)
        return found

    @property
    def db(self) -> asyncpg.Pool:
        assert self.pool is not None, "the database pool is not open"
        return self.pool

    def listen(
        self, channel: str, on_payload: Callable[[str], None], on_listening: Callable[[bool], None]
    ) -> None:
        """Hear a NOTIFY channel of the service's database on the relay's LISTEN connection.

        ``on_listening(True)`` once listening (notifications sent before may have been
        missed), ``False`` when the connection is lost. Register while building the app.
        """
        assert self.relay is None, "listeners are registered before the service starts"
        self.listeners[channel] = (on_payload, on_listening)

    def wake_relay(self) -> None:
        if self.relay is not None:
            self.relay.wake()

    def internal_headers(self) -> dict[str, str]:
        """Headers for a call to another service, signed as this service."""
        ident = Identity(sub=self.service, role="service", name=self.service)
        return {
            IDENTITY_HEADER: sign_identity(
                self.settings.internal_auth_secret, ident, self.settings.identity_ttl_seconds
            )
        }


RUNTIME = web.AppKey("runtime", Runtime)

HandlersFactory = Callable[[Runtime], Mapping[str, Handler]]
RoutesSetup = Callable[[web.Application], None]
BackgroundFactory = Callable[[Runtime], contextlib.AbstractAsyncContextManager[None]]


@dataclass
class ServiceSpec:
    name: str
    migrations_dir: Path
    setup_routes: RoutesSetup
    handlers: HandlersFactory | None = None
    # Extra long-running work (schedulers, the mail sink), opened after the bus.
    background: list[BackgroundFactory] = field(default_factory=list)
    verify_identity: bool = True
    # The routing keys of the service's queue; by default its entry in SUBSCRIPTIONS.
    routing_keys: tuple[str, ...] | None = None

    @property
    def subscriptions(self) -> tuple[str, ...]:
        if self.routing_keys is not None:
            return self.routing_keys
        return SUBSCRIPTIONS.get(self.name, ())


def build_service_app(
    spec: ServiceSpec, settings: Settings, clock: Clock | None = None
) -> web.Application:
    app = create_base_app(
        spec.name, settings.internal_auth_secret, verify_identity_header=spec.verify_identity
    )
    runtime = Runtime(service=spec.name, settings=settings, clock=clock or Clock())
    app[RUNTIME] = runtime
    app.router.add_get("/internal/clock", _get_clock)
    app.router.add_post("/internal/clock", _set_clock)
    spec.setup_routes(app)

    async def check_database() -> None:
        async with runtime.db.acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")

    async def check_broker() -> None:
        if runtime.connection is None or runtime.connection.is_closed:
            raise BrokerUnavailable("the broker connection is down")

    app[READINESS_CHECKS].extend([check_database, check_broker])
    app.cleanup_ctx.append(_resources_ctx(spec, runtime))
    return app


def _resources_ctx(
    spec: ServiceSpec, runtime: Runtime
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = runtime.settings
        database = settings.database_name(spec.name)
        runtime.pool = await prepare_database(
            settings.postgres_dsn,
            database,
            spec.migrations_dir,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
        )
        runtime.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        async with contextlib.AsyncExitStack() as stack:
            pool = runtime.pool
            # A connection still checked out must not hold shutdown forever.
            stack.push_async_callback(_bounded, pool.close, 10.0, pool.terminate)
            stack.push_async_callback(runtime.http.close)
            await _open_broker(spec, runtime, stack)
            await _sync_test_clock(runtime)
            for factory in spec.background:
                await stack.enter_async_context(factory(runtime))
            gauge_task = asyncio.create_task(_outbox_gauges(runtime))
            stack.push_async_callback(_cancel, gauge_task)
            log.info("service started", extra={"database": database})
            yield
            log.info("service stopping")

    return ctx


async def _bounded(
    step: Callable[[], Awaitable[Any]], seconds: float, fallback: Callable[[], Any] | None
) -> None:
    """One shutdown step, given at most ``seconds``; then the fallback (if any)."""
    try:
        await asyncio.wait_for(step(), timeout=seconds)
    except TimeoutError:
        log.warning("shutdown step timed out", extra={"step": getattr(step, "__qualname__", "")})
        if fallback is not None:
            fallback()
    except Exception as exc:  # shutting down anyway: log and go on
        log.info("shutdown step failed", extra={"error": f"{type(exc).__name__}: {exc}"})


async def _cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def connect_broker(settings: Settings, *, attempts: int = 30) -> AbstractRobustConnection:
    last: Exception | None = None
    for attempt in range(attempts):
        try:
            connection = await aio_pika.connect_robust(settings.amqp_url, timeout=10)
            connection.reconnect_callbacks.add(lambda *_: log.warning("broker connection restored"))
            connection.close_callbacks.add(lambda *_: log.info("broker connection closed"))
            return connection
        except (OSError, aio_pika.exceptions.AMQPConnectionError) as exc:
            last = exc
            if attempt == 0:
                log.warning(
                    "RabbitMQ not reachable yet; retrying",
                    extra={"where": describe_amqp(settings.amqp_url), "error": str(exc)},
                )
            await asyncio.sleep(1)
    raise BrokerUnavailable(
        f"RabbitMQ is not reachable at {describe_amqp(settings.amqp_url)} ({last})"
    )


async def _open_broker(
    spec: ServiceSpec, runtime: Runtime, stack: contextlib.AsyncExitStack
) -> None:
    settings = runtime.settings
    runtime.connection = await connect_broker(settings)
    stack.push_async_callback(_bounded, runtime.connection.close, 10.0, None)

    publish_channel = await runtime.connection.channel(publisher_confirms=True)
    runtime.exchange = await declare_events_exchange(publish_channel, settings.bus_namespace)
    runtime.relay = OutboxRelay(
        runtime.db,
        dsn_for_database(settings.postgres_dsn, settings.database_name(spec.name)),
        lambda: runtime.exchange,
        service=spec.name,
        batch_size=settings.outbox_batch_size,
        poll_seconds=settings.outbox_poll_seconds,
        publish_timeout=settings.bus_publish_timeout_seconds,
        listeners=runtime.listeners,
    )
    runtime.relay.start()
    stack.push_async_callback(runtime.relay.stop)

    await _listen_control(runtime, stack)

    if spec.handlers is not None:
        consume_channel = await runtime.connection.channel(publisher_confirms=True)
        await consume_channel.set_qos(prefetch_count=settings.bus_prefetch)
        runtime.topology = await declare_service_topology(
            consume_channel,
            settings.bus_namespace,
            spec.name,
            spec.subscriptions,
            settings.retry_delays,
            settings.bus_queue_type,
        )
        runtime.consumer = Consumer(
            service=spec.name,
            namespace=settings.bus_namespace,
            pool=runtime.db,
            channel=consume_channel,
            queue=runtime.topology.queue,
            handlers=spec.handlers(runtime),
            retry_delays_ms=settings.retry_delays,
            publish_timeout=settings.bus_publish_timeout_seconds,
        )
        await runtime.consumer.start()
        stack.push_async_callback(_bounded, runtime.consumer.stop, 10.0, None)


async def _listen_control(runtime: Runtime, stack: contextlib.AsyncExitStack) -> None:
    """Every process hears operational broadcasts (the test clock) on its own queue."""
    assert runtime.connection is not None
    channel = await runtime.connection.channel()
    exchange = await channel.declare_exchange(
        control_exchange(runtime.settings.bus_namespace), aio_pika.ExchangeType.FANOUT, durable=True
    )
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange)
    runtime.extras["control"] = (channel, exchange, queue)  # strong references

    async def on_control(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            try:
                data = json.loads(message.body)
            except ValueError:
                return
            if data.get("kind") == "clock" and runtime.settings.is_test:
                runtime.clock.set_offset(timedelta(seconds=float(data["offset_seconds"])))
                log.info("test clock moved", extra={"now": runtime.clock.now().isoformat()})

    tag = await queue.consume(on_control)
    stack.push_async_callback(_bounded, lambda: queue.cancel(tag), 5.0, None)


async def _sync_test_clock(runtime: Runtime) -> None:
    """A process that starts after the clock was moved takes the gateway's setting."""
    if not runtime.settings.is_test or runtime.http is None:
        return
    url = f"http://127.0.0.1:{runtime.settings.gateway_port}/internal/clock"
    try:
        async with runtime.http.get(
            url, headers=runtime.internal_headers(), timeout=aiohttp.ClientTimeout(total=2)
        ) as resp:
            if resp.status == 200:
                data = await resp.json()
                runtime.clock.set_offset(timedelta(seconds=float(data["offset_seconds"])))
    except (aiohttp.ClientError, TimeoutError, ValueError, KeyError):
        pass  # no gateway yet: real time


async def broadcast_clock(runtime: Runtime, offset: timedelta) -> None:
    _channel, exchange, _queue = runtime.extras["control"]
    await exchange.publish(
        aio_pika.Message(
            json.dumps({"kind": "clock", "offset_seconds": offset.total_seconds()}).encode()
        ),
        routing_key="",
        timeout=runtime.settings.bus_publish_timeout_seconds,
    )


async def _get_clock(request: web.Request) -> web.Response:
    clock = request.app[RUNTIME].clock
    return json_response(
        {"now": clock.now().isoformat(), "offset_seconds": clock.offset.total_seconds()}
    )


async def _set_clock(request: web.Request) -> web.Response:
    """Test mode only: move this process's clock (the gateway broadcasts to every one)."""
    from shared.errors import Problem
    from shared.http import read_json

    runtime = request.app[RUNTIME]
    if not runtime.settings.is_test:
        raise Problem(404, "Not found.")
    require_role(request, "admin", "service")
    data = await read_json(request)
    try:
        offset = float(data["offset_seconds"])
    except (KeyError, TypeError, ValueError) as exc:
        raise Problem(
            422,
            "offset_seconds: a number is required",
            errors=[{"field": "offset_seconds", "message": "a number is required"}],
        ) from exc
    runtime.clock.set_offset(timedelta(seconds=offset))
    return await _get_clock(request)


async def _outbox_gauges(runtime: Runtime) -> None:
    while True:
        try:
            async with runtime.db.acquire() as conn:
                pending, age = await outbox_lag(conn)
            metrics.OUTBOX_PENDING.labels(runtime.service).set(pending)
            metrics.OUTBOX_OLDEST_SECONDS.labels(runtime.service).set(age)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("outbox gauge skipped", extra={"error": str(exc)})
        await asyncio.sleep(15)


def describe_infrastructure(settings: Settings) -> str:
    return (
        f"PostgreSQL at {describe_dsn(settings.postgres_dsn)}, "
        f"RabbitMQ at {describe_amqp(settings.amqp_url)}"
    )
