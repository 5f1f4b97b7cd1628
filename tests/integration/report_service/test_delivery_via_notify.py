"""A report delivery to two addresses reaches both, through the real notify service and a
real SMTP server (aiosmtpd) in the test.

Skipped while notify_service does not handle ``report.delivery_requested`` yet
(it is written in parallel); it runs as soon as it does.
"""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from services.report_service.app import SPEC as REPORT
from shared.clock import FixedClock
from shared.runtime import Runtime
from tests.integration.report_service.conftest import NOW, STAFF, parse_csv, wait_logged
from tests.integration.report_service.scenario import EXPECTED_ROWS, HEADER, scenario_events
from tests.support.infra import eventually, make_settings, publish_events

DELIVERIES = "/api/v1/reports/appointment-invite-schedule/deliveries"
TO = {"ann@example.edu", "bob@example.edu"}


def notify_spec() -> Any:
    try:
        from services.notify_service.app import SPEC
    except ImportError as exc:
        pytest.skip(f"notify_service is not importable yet ({exc})")
    try:
        handled = SPEC.handlers(Runtime(SPEC.name, make_settings(), FixedClock(NOW)))
    except Exception as exc:
        pytest.skip(f"notify_service handlers cannot be listed yet ({exc})")
    if "report.delivery_requested" not in handled:
        pytest.skip("notify_service does not handle report.delivery_requested yet")
    return SPEC


class Inbox:
    """What the SMTP server received: (envelope recipients, parsed message)."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(([r.lower() for r in envelope.rcpt_tos], message))
        return "250 OK"

    def recipients(self) -> set[str]:
        return {r for rcpts, _ in self.received for r in rcpts}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


async def test_delivery_to_two_addresses_reaches_both(smtp, start_service):
    notify = notify_spec()
    inbox, port = smtp
    settings = make_settings(smtp_host="127.0.0.1", smtp_port=port)
    clock = FixedClock(NOW)
    client, _ = await start_service(REPORT, settings, clock)
    await start_service(notify, settings, clock)
    events = scenario_events()
    await publish_events(settings, *events)
    await wait_logged(settings, len(events))

    resp = await client.post(
        DELIVERIES,
        json={
            "from": "2026-03-02",
            "to": "2026-03-08",
            "type": "Exam",
            "recipients": "ann@example.edu;bob@example.edu",
        },
        headers=STAFF,
    )
    assert resp.status == 202
    delivery_id = (await resp.json())["id"]

    async def received() -> set[str]:
        return inbox.recipients()

    await eventually(received, lambda r: {"ann@example.edu", "bob@example.edu"} <= r, timeout=30)
    # The scenario's bookings make notify send confirmations too: keep the report's.
    reports = [m for rcpts, m in inbox.received if set(rcpts) & TO]
    assert reports
    for message in reports:
        attachments = [p for p in message.iter_attachments()]
        assert [a.get_filename() for a in attachments] == [
            "appointment-invite-schedule_2026-03-02_2026-03-08.csv"
        ]
        content = attachments[0].get_payload(decode=True)
        assert parse_csv(content) == [HEADER, EXPECTED_ROWS["ap1"], EXPECTED_ROWS["ap2"]]
        assert "Appointment Invite Schedule" in str(message["Subject"])

    async def status() -> dict[str, Any]:
        r = await client.get(f"/api/v1/reports/deliveries/{delivery_id}", headers=STAFF)
        return dict(await r.json())

    final = await eventually(status, lambda s: s["status"] != "requested", timeout=30)
    assert final["status"] == "sent", final
