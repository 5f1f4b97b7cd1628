"""The shared bus against real PostgreSQL and RabbitMQ: outbox, inbox, retry, parking."""

from __future__ import annotations

import asyncio
import uuid

import aio_pika

from shared.bus.consumer import ERROR_HEADER, replay_parked
from shared.bus.outbox import OutboxRelay, add_to_outbox
from shared.bus.topology import parked_queue, service_queue
from shared.db import dsn_for_database
from shared.events import ReasonUpserted, make_event
from tests.integration.probe_service import PROBE, Behaviour, make_spec
from tests.support.infra import (
    EventTap,
    eventually,
    make_settings,
    publish_events,
    publish_raw,
    service_db,
)


def reason_event(name: str = "n", reason_id: str | None = None):
    return make_event(
        "directory.reason_upserted",
        ReasonUpserted(reason_id=reason_id or uuid.uuid4().hex, name=name),
        producer="test",
    )


async def count_seen(settings, where: str = "true") -> int:
    conn = await service_db(settings, PROBE)
    try:
        return await conn.fetchval(f"SELECT count(*) FROM seen WHERE {where}")
    finally:
        await conn.close()


async def test_same_event_delivered_twice_has_one_effect(settings, start_service):
    await start_service(make_spec(), settings)
    event = reason_event("dup")
    await publish_events(settings, event, event)
    other = reason_event("after")
    await publish_events(settings, other)
    # Once the later event is in, both copies of the first have been consumed (one queue, FIFO).
    await eventually(lambda: count_seen(settings, "name = 'after'"), lambda n: n == 1)
    assert await count_seen(settings, "name = 'dup'") == 1


async def test_failing_handler_parks_after_attempts_and_queue_keeps_flowing(start_service):
    # Production's queue type: quorum queues with TTL retry tiers and dead-lettering.
    settings = make_settings(bus_queue_type="quorum")
    behaviour = Behaviour()
    behaviour.fail_names.add("poison")
    await start_service(make_spec(behaviour), settings)
    await publish_events(settings, reason_event("poison"))
    await publish_events(settings, reason_event("fine"))
    await eventually(lambda: count_seen(settings, "name = 'fine'"), lambda n: n == 1)

    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        parked = await channel.declare_queue(
            parked_queue(settings.bus_namespace, PROBE),
            durable=True,
            arguments={"x-queue-type": settings.bus_queue_type},
        )

        async def parked_message():
            return await parked.get(no_ack=False, fail=False)

        message = await eventually(parked_message, timeout=10, message="a parked message")
        assert "refusing poison" in message.headers[ERROR_HEADER]
        await message.nack(requeue=True)
    # 1 first try + 2 retry tiers
    assert behaviour.calls == 1 + 2 + 1  # + the "fine" event
    assert await count_seen(settings, "name = 'poison'") == 0

    # The documented replay command moves it back; once the cause is gone it is handled.
    behaviour.fail_names.clear()
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        moved = await replay_parked(
            channel, settings.bus_namespace, PROBE, queue_type=settings.bus_queue_type
        )
    assert moved == 1
    await eventually(lambda: count_seen(settings, "name = 'poison'"), lambda n: n == 1)


async def test_invalid_message_is_parked_at_once(settings, start_service):
    behaviour = Behaviour()
    await start_service(make_spec(behaviour), settings)
    await publish_raw(settings, "directory.reason_upserted", b"{not json")
    await publish_events(settings, reason_event("next"))
    await eventually(lambda: count_seen(settings, "name = 'next'"), lambda n: n == 1)
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        parked = await channel.declare_queue(
            parked_queue(settings.bus_namespace, PROBE),
            durable=True,
            arguments={"x-queue-type": settings.bus_queue_type},
        )
        message = await eventually(lambda: parked.get(no_ack=True, fail=False), timeout=5)
        assert message.body == b"{not json"
        assert "not a valid event" in message.headers[ERROR_HEADER]
    assert behaviour.calls == 1


async def test_outbox_written_while_broker_unreachable_is_published_when_back(
    settings, start_service
):
    _, runtime = await start_service(make_spec(), settings)
    await runtime.relay.stop()  # this test drives its own relay

    dsn = dsn_for_database(settings.postgres_dsn, settings.database_name(PROBE))
    events = [reason_event(f"e{i}") for i in range(20)]
    async with runtime.db.acquire() as conn, conn.transaction():
        await add_to_outbox(conn, events)

    exchange_holder: dict[str, object] = {"exchange": None}  # the broker is "down"
    relay = OutboxRelay(
        runtime.db, dsn, lambda: exchange_holder["exchange"], service=PROBE, poll_seconds=0.1
    )
    relay.start()
    try:
        async with EventTap(settings, ("directory.#",)) as tap:
            await asyncio.sleep(0.3)  # let the relay fail a few times against a dead broker
            async with runtime.db.acquire() as conn:
                assert (
                    await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                    == 20
                )
            # A relay pointed at a dead port fails the same way and loses nothing.
            try:
                await aio_pika.connect("amqp://guest:guest@127.0.0.1:1/", timeout=1)
            except Exception:
                pass
            exchange_holder["exchange"] = runtime.exchange  # the broker is back
            found = await tap.wait_for("directory.reason_upserted", 20)
            assert sorted(e.id for e in found) == sorted(e.id for e in events)
    finally:
        await relay.stop()


async def test_two_relays_publish_each_row_exactly_once(settings, start_service):
    _, runtime = await start_service(make_spec(), settings)
    await runtime.relay.stop()
    dsn = dsn_for_database(settings.postgres_dsn, settings.database_name(PROBE))
    total = 3000
    events = [reason_event(f"r{i}") for i in range(total)]
    async with EventTap(settings, ("directory.#",)) as tap:
        relays = [
            OutboxRelay(
                runtime.db,
                dsn,
                lambda: runtime.exchange,
                service=PROBE,
                batch_size=50,
                poll_seconds=0.1,
            )
            for _ in range(2)
        ]
        for relay in relays:
            relay.start()
        try:
            for start in range(0, total, 500):
                async with runtime.db.acquire() as conn, conn.transaction():
                    await add_to_outbox(conn, events[start : start + 500])
            found = await tap.wait_for("directory.reason_upserted", total, timeout=60)
            await asyncio.sleep(0.5)  # a duplicate would arrive within the relays' next poll
            ids = [e.id for e in tap.of_type("directory.reason_upserted")]
            assert len(ids) == total == len(set(ids)) == len(found)
        finally:
            for relay in relays:
                await relay.stop()


async def test_http_outbox_round_trip_and_queue_names(settings, start_service):
    client, _ = await start_service(make_spec(), settings)
    from tests.support.infra import headers_for

    resp = await client.post("/things", json={"id": "a1", "count": 1}, headers=headers_for("staff"))
    assert resp.status == 201
    await eventually(lambda: count_seen(settings, "reason_id = 'a1'"), lambda n: n == 1)
    assert service_queue(settings.bus_namespace, PROBE) == f"{settings.bus_namespace}.{PROBE}"
