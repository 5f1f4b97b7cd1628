"""Emailed reports: the request, the event handed to notify, the status from email events."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

from services.report_service import routes
from services.report_service.app import SPEC
from shared.events import EmailFailed, EmailSent, make_event
from tests.integration.report_service.conftest import STAFF, parse_csv
from tests.integration.report_service.scenario import EXPECTED_ROWS, HEADER
from tests.support.infra import EventTap, eventually, problem_fields, publish_events, service_db

DELIVERIES = "/api/v1/reports/appointment-invite-schedule/deliveries"
WEEK = {"from": "2026-03-02", "to": "2026-03-08"}


async def delivery_status(client, delivery_id: str) -> dict:
    resp = await client.get(f"/api/v1/reports/deliveries/{delivery_id}", headers=STAFF)
    assert resp.status == 200
    return await resp.json()


def email_sent(delivery_id: str) -> object:
    return make_event(
        "email.sent",
        EmailSent(
            message_id=uuid.uuid4().hex,
            kind="report",
            delivery_id=delivery_id,
            sent_at=datetime.now(UTC),
        ),
        producer="notify_service",
    )


async def test_delivery_to_two_addresses_hands_notify_a_decodable_csv(scenario_service, settings):
    client, _, _ = scenario_service
    async with EventTap(settings, ("report.#",)) as tap:
        resp = await client.post(
            DELIVERIES,
            json={**WEEK, "type": "Exam", "recipients": "ann@example.edu; bob@example.edu"},
            headers=STAFF,
        )
        body = await resp.json()
        assert resp.status == 202, body
        delivery_id = body["id"]
        [event] = await tap.wait_for("report.delivery_requested")
    p = event.payload
    assert p.delivery_id == delivery_id
    assert p.recipients == ["ann@example.edu", "bob@example.edu"]
    assert p.filename == "appointment-invite-schedule_2026-03-02_2026-03-08.csv"
    assert p.content_type == "text/csv; charset=utf-8"
    assert p.subject == "Appointment Invite Schedule: 2026-03-02 to 2026-03-08 (America/New_York)"
    assert "type = Exam" in p.body_text and "Appointments: 2" in p.body_text
    table = parse_csv(base64.b64decode(p.content_base64))
    assert table == [HEADER, EXPECTED_ROWS["ap1"], EXPECTED_ROWS["ap2"]]

    status = await delivery_status(client, delivery_id)
    assert status["status"] == "requested"
    assert status["recipients"] == ["ann@example.edu", "bob@example.edu"]
    assert status["row_count"] == 2 and status["requested_by"] == "staff-7"

    # Notify reports one email per recipient (one email to all works the same).
    await publish_events(settings, email_sent(delivery_id), email_sent(delivery_id))
    done = await eventually(
        lambda: delivery_status(client, delivery_id), lambda s: s["messages_sent"] == 2
    )
    assert done["status"] == "sent" and done["error"] is None


async def test_permanent_failure_shows_failed_with_the_error(scenario_service, settings):
    client, _, _ = scenario_service
    resp = await client.post(
        DELIVERIES, json={"preset": "this_week", "recipients": "x@example.edu"}, headers=STAFF
    )
    delivery_id = (await resp.json())["id"]
    failed = make_event(
        "email.failed",
        EmailFailed(
            message_id="msg-1",
            kind="report",
            delivery_id=delivery_id,
            error="550 mailbox unavailable",
            permanent=True,
            failed_at=datetime.now(UTC),
        ),
        producer="notify_service",
    )
    await publish_events(settings, failed)
    status = await eventually(
        lambda: delivery_status(client, delivery_id), lambda s: s["status"] != "requested"
    )
    assert status["status"] == "failed"
    assert status["error"] == "550 mailbox unavailable"


async def test_html_delivery_and_totals(scenario_service, settings):
    client, _, _ = scenario_service
    async with EventTap(settings, ("report.#",)) as tap:
        resp = await client.post(
            DELIVERIES,
            json={**WEEK, "format": "html", "totals": True, "recipients": ["ann@example.edu"]},
            headers=STAFF,
        )
        assert resp.status == 202
        [event] = await tap.wait_for("report.delivery_requested")
    assert event.payload.content_type == "text/html; charset=utf-8"
    assert event.payload.filename.endswith(".html")
    html = base64.b64decode(event.payload.content_base64).decode()
    assert "<table>" in html and "4 appointments." in html and "Download as CSV" not in html


async def test_invalid_requests_change_nothing(scenario_service, settings):
    client, _, _ = scenario_service
    cases = [
        ({**WEEK, "recipients": "ann@example.edu\r\nBcc: eve@example.com"}, "recipients"),
        ({**WEEK, "recipients": "not an address"}, "recipients"),
        ({**WEEK, "recipients": ";".join(f"u{i}@example.edu" for i in range(51))}, "recipients"),
        ({**WEEK, "recipients": ""}, "recipients"),
        ({**WEEK}, "recipients"),
        ({**WEEK, "recipients": "a@example.edu", "fields": "ssn"}, "fields"),
        ({**WEEK, "recipients": "a@example.edu", "format": "pdf"}, "format"),
        ({"from": "2026-03-08", "to": "2026-03-02", "recipients": "a@example.edu"}, "to"),
        ({**WEEK, "recipients": "a@example.edu", "cc": "b@example.edu"}, "cc"),
    ]
    for body, field in cases:
        resp = await client.post(DELIVERIES, json=body, headers=STAFF)
        problem = await resp.json()
        assert resp.status == 422, (body, problem)
        assert field in problem_fields(problem), (body, problem)
    resp = await client.post(DELIVERIES, data=b"{nope", headers=STAFF)
    assert resp.status == 422
    conn = await service_db(settings, SPEC.name)
    try:
        assert await conn.fetchval("SELECT count(*) FROM deliveries") == 0
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
    finally:
        await conn.close()


async def test_too_large_to_email_is_refused(scenario_service, monkeypatch):
    client, _, _ = scenario_service
    monkeypatch.setattr(routes, "MAX_ATTACHMENT_BYTES", 300)
    resp = await client.post(DELIVERIES, json={**WEEK, "recipients": "a@x.edu"}, headers=STAFF)
    body = await resp.json()
    assert resp.status == 422 and "too large to email" in body["detail"]


async def test_unknown_delivery_is_404(settings, start_service):
    client, _ = await start_service(SPEC, settings)
    resp = await client.get("/api/v1/reports/deliveries/nope", headers=STAFF)
    assert resp.status == 404
