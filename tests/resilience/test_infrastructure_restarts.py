"""RabbitMQ and PostgreSQL restarted under a running service: nothing lost, consumers return.

These restart the machine's real servers, so they run alone (marker ``serial``),
after the parallel part of the suite.
"""

from __future__ import annotations

import subprocess
import uuid

import pytest

from shared.events import ReasonUpserted, make_event
from tests.integration.probe_service import PROBE, make_spec
from tests.support.infra import eventually, headers_for, publish_events, service_db

pytestmark = [pytest.mark.serial, pytest.mark.slow]


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=120)


def pg_restart() -> None:
    version = subprocess.run(
        ["ls", "/etc/postgresql"], capture_output=True, text=True
    ).stdout.split()[0]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        capture_output=True,
        timeout=120,
    )


async def seen(settings, name: str) -> int:
    try:
        conn = await service_db(settings, PROBE)
    except OSError:
        return -1
    try:
        return await conn.fetchval("SELECT count(*) FROM seen WHERE name = $1", name)
    finally:
        await conn.close()


def event(name: str):
    return make_event(
        "directory.reason_upserted",
        ReasonUpserted(reason_id=uuid.uuid4().hex, name=name),
        producer="test",
    )


async def test_consumer_and_relay_come_back_after_a_broker_restart(settings, start_service):
    client, runtime = await start_service(make_spec(), settings)
    await publish_events(settings, event("before"))
    await eventually(lambda: seen(settings, "before"), lambda n: n == 1)

    rabbitmqctl("stop_app")
    try:
        # Written while the broker is down: stays in the outbox.
        resp = await client.post(
            "/things", json={"id": "during", "count": 1}, headers=headers_for("staff")
        )
        assert resp.status == 201
    finally:
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup")

    # The outbox row is published once the broker is back, and the restored
    # consumer handles it (the probe consumes its own event type).
    async def outbox_pending() -> int:
        async with runtime.db.acquire() as conn:
            return await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")

    await eventually(outbox_pending, lambda n: n == 0, timeout=60, message="outbox drained")
    await eventually(
        lambda: seen(settings, "thing"),
        lambda n: n == 1,
        timeout=60,
        message="the consumer handled the event written during the outage",
    )
    await publish_events(settings, event("after"))
    await eventually(
        lambda: seen(settings, "after"),
        lambda n: n == 1,
        timeout=60,
        message="the consumer is back after the restart",
    )
    ready = await client.get("/readyz")
    assert ready.status == 200


async def test_service_recovers_after_a_database_restart(settings, start_service):
    client, _ = await start_service(make_spec(), settings)
    await publish_events(settings, event("pg-before"))
    await eventually(lambda: seen(settings, "pg-before"), lambda n: n == 1)
    pg_restart()
    # Events arriving right after the restart are retried until the pool reconnects.
    await publish_events(settings, event("pg-after"))
    await eventually(
        lambda: seen(settings, "pg-after"),
        lambda n: n == 1,
        timeout=60,
        message="the event handled after the database came back",
    )

    async def ready_status() -> int:
        return (await client.get("/readyz")).status

    await eventually(ready_status, lambda s: s == 200, timeout=30)
    resp = await client.post("/things", json={"id": "pg", "count": 1}, headers=headers_for("staff"))
    assert resp.status == 201


async def test_whole_system_through_broker_and_database_restarts_mid_fan_out() -> None:
    """RabbitMQ stopped and started, then PostgreSQL restarted, while a 500-invitee
    fan-out runs: every invitee is emailed, the report store and search's replica
    are complete, and duplicates stay within the sends in flight."""
    from collections import Counter
    from datetime import UTC, datetime, timedelta

    from tests.resilience.conftest import SmtpSink
    from tests.resilience.test_faults import FAST_NOTIFY, db_value, seed
    from tests.support.system import Api, System

    total = 500
    sink = SmtpSink()
    sink.start()
    system = System(extra_env={**sink.env(), **FAST_NOTIFY})
    await system.start()
    api = Api(system.url)
    try:
        await api.login("admin", "admin-password-1")
        seeded = await seed(api, total)
        due = (datetime.now(UTC) + timedelta(days=5)).date().isoformat()
        _, invite = await api.call(
            "POST",
            "/api/v1/invites",
            expect=201,
            json={
                "widget_id": seeded["widget"]["id"],
                "student_ids": seeded["student_ids"],
                "due_date": due,
                "type": "Exam",
                "duration_minutes": 60,
            },
        )

        async def sent() -> int:
            return len({m.recipients[0] for m in sink.messages})

        await eventually(sent, lambda n: n >= 20, timeout=60, message="fan-out started")
        rabbitmqctl("stop_app")
        try:
            during = await sent()
        finally:
            rabbitmqctl("start_app")
            rabbitmqctl("await_startup")
        pg_restart()
        await eventually(
            sent,
            lambda n: n == total,
            timeout=240,
            interval=0.5,
            message=f"all {total} invitees emailed",
        )
        duplicates = sum(n - 1 for n in Counter(m.recipients[0] for m in sink.messages).values())
        assert duplicates <= 8, duplicates

        async def report_rows() -> int:
            try:
                return await db_value(
                    system,
                    "report_service",
                    "SELECT count(*) FROM invitee_rows WHERE invite_id=$1 "
                    "AND student_id IS NOT NULL",
                    invite["id"],
                )
            except OSError:
                return -1

        await eventually(report_rows, lambda n: n == total, timeout=120, message="report store")
        await eventually(
            lambda: db_value(
                system,
                "search_service",
                "SELECT count(*) FROM invitees WHERE invite_id=$1",
                invite["id"],
            ),
            lambda n: n == total,
            timeout=120,
            message="search replica",
        )
        print(
            f"\nrestarts: broker stopped after {during} emails, then the database; "
            f"{len(sink.messages)} emails for {total} invitees, {duplicates} duplicates"
        )
    finally:
        await api.close()
        system.stop()
        sink.stop()
