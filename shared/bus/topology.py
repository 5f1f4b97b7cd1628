"""Exchange, queue and routing-key names, built in one place so no side can drift.

For namespace ``appointment_invites`` and service ``notify_service``:

- ``appointment_invites.events``            topic exchange of every domain event
- ``appointment_invites.notify_service``    the service's durable quorum queue
- ``appointment_invites.notify_service.retry.10s``  delayed-retry tiers (TTL queues
  that dead-letter back into the service queue)
- ``appointment_invites.notify_service.parked``     messages that failed every tier
- ``appointment_invites.control``           fanout for operational messages (test clock)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

# What each service consumes: the routing keys of its queue.
SUBSCRIPTIONS: dict[str, tuple[str, ...]] = {
    "invite_service": (
        "appointment.booked",
        "appointment.cancelled",
        "email.sent",
        "email.batch_sent",
        "email.failed",
        "center.upserted",
    ),
    "search_service": (
        "invite.*",
        "invitee.*",
        "duration_rules.changed",
        "directory.*",
    ),
    "notify_service": (
        "invite.*",
        "invitee.*",
        "appointment.*",
        "center.upserted",
        "report.delivery_requested",
    ),
    "report_service": (
        "directory.*",
        "widget.*",
        "invite.*",
        "invitee.*",
        "appointment.*",
        "center.upserted",
        "email.*",
    ),
}


def events_exchange(namespace: str) -> str:
    return f"{namespace}.events"


def control_exchange(namespace: str) -> str:
    return f"{namespace}.control"


def service_queue(namespace: str, service: str) -> str:
    return f"{namespace}.{service}"


def retry_queue(namespace: str, service: str, delay_ms: int) -> str:
    label = f"{delay_ms // 1000}s" if delay_ms % 1000 == 0 else f"{delay_ms}ms"
    return f"{service_queue(namespace, service)}.retry.{label}"


def parked_queue(namespace: str, service: str) -> str:
    return f"{service_queue(namespace, service)}.parked"


@dataclass
class ServiceTopology:
    """Strong references to what was declared (aio-pika restores through weak ones)."""

    exchange: AbstractExchange
    queue: AbstractQueue
    retry_queues: dict[int, AbstractQueue]
    parked: AbstractQueue


async def declare_events_exchange(channel: AbstractChannel, namespace: str) -> AbstractExchange:
    return await channel.declare_exchange(
        events_exchange(namespace), aio_pika.ExchangeType.TOPIC, durable=True
    )


async def declare_service_topology(
    channel: AbstractChannel,
    namespace: str,
    service: str,
    routing_keys: tuple[str, ...],
    retry_delays_ms: tuple[int, ...],
    queue_type: str = "quorum",
) -> ServiceTopology:
    exchange = await declare_events_exchange(channel, namespace)
    queue_name = service_queue(namespace, service)
    queue = await channel.declare_queue(
        queue_name, durable=True, arguments=queue_arguments(queue_type)
    )
    for key in routing_keys:
        await queue.bind(exchange, routing_key=key)
    retries = {}
    for delay in retry_delays_ms:
        retries[delay] = await channel.declare_queue(
            retry_queue(namespace, service, delay),
            durable=True,
            arguments=_retry_arguments(queue_name, delay, queue_type),
        )
    parked = await channel.declare_queue(
        parked_queue(namespace, service), durable=True, arguments=queue_arguments(queue_type)
    )
    return ServiceTopology(exchange, queue, retries, parked)


def queue_arguments(queue_type: str = "quorum") -> dict[str, Any]:
    return {"x-queue-type": queue_type}


def _retry_arguments(
    target_queue: str, delay_ms: int, queue_type: str = "quorum"
) -> dict[str, Any]:
    # Messages wait out the TTL, then dead-letter through the default exchange
    # straight into the service's own queue (not the topic exchange, so the
    # other services do not see the retry).
    arguments: dict[str, Any] = {
        "x-queue-type": queue_type,
        "x-message-ttl": delay_ms,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": target_queue,
    }
    if queue_type == "quorum":
        # Quorum queues can dead-letter at-least-once (classic ones at-most-once).
        arguments["x-dead-letter-strategy"] = "at-least-once"
        arguments["x-overflow"] = "reject-publish"
    return arguments


def definitions(
    namespace: str, retry_delays_ms: tuple[int, ...], vhost: str = "/"
) -> dict[str, Any]:
    """The RabbitMQ definitions file equivalent of what the services declare at start."""
    exchanges = [
        {
            "name": events_exchange(namespace),
            "vhost": vhost,
            "type": "topic",
            "durable": True,
            "auto_delete": False,
            "internal": False,
            "arguments": {},
        },
        {
            "name": control_exchange(namespace),
            "vhost": vhost,
            "type": "fanout",
            "durable": True,
            "auto_delete": False,
            "internal": False,
            "arguments": {},
        },
    ]
    queues: list[dict[str, Any]] = []
    bindings: list[dict[str, Any]] = []
    for service, keys in SUBSCRIPTIONS.items():
        name = service_queue(namespace, service)
        queues.append(_queue_def(name, vhost, {"x-queue-type": "quorum"}))
        for delay in retry_delays_ms:
            queues.append(
                _queue_def(
                    retry_queue(namespace, service, delay), vhost, _retry_arguments(name, delay)
                )
            )
        queues.append(
            _queue_def(parked_queue(namespace, service), vhost, {"x-queue-type": "quorum"})
        )
        for key in keys:
            bindings.append(
                {
                    "source": events_exchange(namespace),
                    "vhost": vhost,
                    "destination": name,
                    "destination_type": "queue",
                    "routing_key": key,
                    "arguments": {},
                }
            )
    return {"exchanges": exchanges, "queues": queues, "bindings": bindings}


def _queue_def(name: str, vhost: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "vhost": vhost,
        "durable": True,
        "auto_delete": False,
        "arguments": arguments,
    }
