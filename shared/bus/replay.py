"""Move a service's parked messages back into its queue: ``python -m shared.bus.replay <service>``.

A message is parked after it failed on every retry tier (the reason is in its
``x-error`` header, visible in the RabbitMQ management UI). Once the cause is
fixed (a deploy, a missing row), replaying puts the messages back in the
service's queue with their attempt count reset; the inbox makes a message that
was in fact handled before a no-op.

    python -m shared.bus.replay notify_service --count     # how many are parked
    python -m shared.bus.replay notify_service --limit 10  # replay the first 10
    python -m shared.bus.replay notify_service             # replay what is parked now

Without ``--limit`` it replays the number of messages parked when it starts, so
a message that fails again and is parked anew is not replayed twice in one run.
Connects with ``AMQP_URL`` and ``BUS_NAMESPACE``, like the services.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import aio_pika
import aio_pika.exceptions

from shared.bus.consumer import replay_parked
from shared.bus.topology import SUBSCRIPTIONS, parked_queue
from shared.settings import Settings, load_settings


async def parked_count(settings: Settings, service: str) -> int:
    connection = await aio_pika.connect(settings.amqp_url, timeout=10)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(
            parked_queue(settings.bus_namespace, service), passive=True
        )
        return queue.declaration_result.message_count or 0


async def replay(settings: Settings, service: str, limit: int | None) -> int:
    if limit is None:
        limit = await parked_count(settings, service)
    if limit == 0:
        return 0
    connection = await aio_pika.connect(settings.amqp_url, timeout=10)
    async with connection:
        # Confirms: each copy is confirmed by the broker before its parked original is acked.
        channel = await connection.channel(publisher_confirms=True)
        return await replay_parked(
            channel,
            settings.bus_namespace,
            service,
            limit=limit,
            queue_type=settings.bus_queue_type,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared.bus.replay",
        description="Move parked messages back into a service's queue.",
    )
    parser.add_argument("service", choices=sorted(SUBSCRIPTIONS), help="whose parked messages")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--limit", type=int, help="replay at most this many (default: all parked)")
    group.add_argument("--count", action="store_true", help="only print how many are parked")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit takes a number of at least 1")
    settings = load_settings()
    queue = parked_queue(settings.bus_namespace, args.service)
    try:
        if args.count:
            print(f"{queue}: {asyncio.run(parked_count(settings, args.service))} parked")
            return 0
        moved = asyncio.run(replay(settings, args.service, args.limit))
    except aio_pika.exceptions.ChannelNotFoundEntity:
        sys.stderr.write(f"{queue} does not exist: has {args.service} started once?\n")
        return 2
    except (OSError, aio_pika.exceptions.AMQPConnectionError) as exc:
        sys.stderr.write(f"RabbitMQ is not reachable with AMQP_URL ({exc})\n")
        return 2
    print(f"{queue}: {moved} message(s) moved back to {args.service}'s queue")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
