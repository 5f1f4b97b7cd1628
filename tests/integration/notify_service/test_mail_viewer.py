"""The built-in SMTP sink and its viewer: what a new user sees without an SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.notify_service.app import SPEC
from shared.events import ReportDeliveryRequested, make_event
from tests.integration.notify_service.support import (
    free_port,
    invite_event,
    make_invitees,
    notify_settings_for,
)
from tests.support.infra import eventually, headers_for, make_settings, publish_events


async def test_sink_captures_emails_and_the_json_api_shows_them(settings, start_service):
    cfg = notify_settings_for(settings, smtp_host=None, mail_sink_port=free_port())
    client, _ = await start_service(SPEC, cfg)
    a, b = make_invitees(2)
    due = datetime.now(UTC).date() + timedelta(days=5)
    await publish_events(cfg, invite_event([a, b], due_date=due))
    staff = headers_for("staff")

    async def listed():
        resp = await client.get("/api/v1/mail/messages", params={"to": a.email}, headers=staff)
        assert resp.status == 200
        return (await resp.json())["items"]

    [item] = await eventually(listed, lambda items: len(items) == 1, message="captured email")
    assert item["to"] == [a.email]
    assert item["mail_from"] == "invites@center.example.edu"
    assert item["subject"] == "Your Exam invitation"
    assert item["message_id"] == f"<{a.invitee_id}-instructions-0@center.example.edu>"
    assert a.link in item["text"] and a.first_name in item["text"]
    assert a.link in item["html"]
    assert item["attachments"] == []
    assert item["date"]

    everything = await (await client.get("/api/v1/mail/messages", headers=staff)).json()
    assert len(everything["items"]) == 2
    page = await (
        await client.get("/api/v1/mail/messages", params={"limit": "1"}, headers=staff)
    ).json()
    assert len(page["items"]) == 1 and page["next_cursor"] is not None
    rest = await (
        await client.get(
            "/api/v1/mail/messages",
            params={"limit": "1", "cursor": str(page["next_cursor"])},
            headers=staff,
        )
    ).json()
    assert rest["items"][0]["id"] < page["items"][0]["id"]

    one = await client.get(f"/api/v1/mail/messages/{item['id']}", headers=staff)
    assert one.status == 200
    detail = await one.json()
    assert "Message-ID:" in detail["raw"]
    raw = await client.get(f"/api/v1/mail/messages/{item['id']}/raw", headers=staff)
    assert raw.headers["Content-Type"].startswith("message/rfc822")

    # Captured mail holds personal links: staff only, even in dev/test.
    for role in ("anonymous", "faculty", "student"):
        refused = await client.get("/mail", headers=headers_for(role))
        assert refused.status == 403, role
    page_html = await client.get("/mail", headers=staff)
    assert page_html.status == 200
    body = await page_html.text()
    assert "Your Exam invitation" in body and a.email in body
    view = await client.get("/mail", params={"id": str(item["id"])}, headers=staff)
    assert view.status == 200 and a.link in await view.text()

    missing = await client.get("/api/v1/mail/messages/999999", headers=staff)
    assert missing.status == 404
    bad = await client.get("/api/v1/mail/messages", params={"limit": "0"}, headers=staff)
    assert bad.status == 422
    assert (await client.get("/api/v1/mail/messages")).status == 401


async def test_attachments_are_listed_and_downloadable(settings, start_service):
    cfg = notify_settings_for(settings, smtp_host=None, mail_sink_port=free_port())
    client, _ = await start_service(SPEC, cfg)
    event = make_event(
        "report.delivery_requested",
        ReportDeliveryRequested(
            delivery_id="d-9",
            recipients=["boss@example.edu"],
            subject="Schedule",
            body_text="Attached.",
            filename="schedule.csv",
            content_type="text/csv",
            content_base64="YSxiCg==",
        ),
        producer="report_service",
    )
    await publish_events(cfg, event)
    staff = headers_for("staff")

    async def listed():
        resp = await client.get("/api/v1/mail/messages", headers=staff)
        return (await resp.json())["items"]

    [item] = await eventually(listed, lambda items: len(items) == 1)
    assert item["attachments"] == [
        {"filename": "schedule.csv", "content_type": "text/csv", "size": 4}
    ]
    att = await client.get(f"/api/v1/mail/messages/{item['id']}/attachments/0", headers=staff)
    assert att.status == 200 and await att.read() == b"a,b\n"


async def test_a_second_copy_serves_the_viewer_and_takes_the_sink_over(
    settings, start_service, monkeypatch
):
    monkeypatch.setattr("services.notify_service.sink.TAKEOVER_SECONDS", 0.1)
    port = free_port()
    cfg = notify_settings_for(settings, smtp_host=None, mail_sink_port=port)
    first, _ = await start_service(SPEC, cfg)
    second, _ = await start_service(SPEC, cfg)  # port taken: viewer only
    staff = headers_for("staff")
    assert (await second.get("/api/v1/mail/messages", headers=staff)).status == 200
    await first.close()  # the copy with the sink stops; the other takes the port over
    [student] = make_invitees(1)
    due = datetime.now(UTC).date() + timedelta(days=5)
    await publish_events(cfg, invite_event([student], due_date=due))

    async def listed():
        resp = await second.get("/api/v1/mail/messages", headers=staff)
        return (await resp.json())["items"]

    await eventually(listed, lambda items: len(items) == 1, message="captured by the new sink")


async def test_viewer_and_sink_are_off_in_prod(start_service):
    prod = notify_settings_for(make_settings(app_env="prod"), smtp_host="127.0.0.1", smtp_port=1)
    client, _ = await start_service(SPEC, prod)
    resp = await client.get("/api/v1/mail/messages", headers=headers_for("admin"))
    assert resp.status == 404
    assert (await client.get("/mail", headers=headers_for("admin"))).status == 404
