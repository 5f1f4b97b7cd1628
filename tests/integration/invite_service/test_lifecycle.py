"""An invite's life: bookings and emails heard from other services, cancel, expiry, listing."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta

from services.invite_service.expiry import expire_due_invitees
from shared.events import (
    AppointmentBooked,
    AppointmentCancelled,
    CenterRef,
    CenterUpserted,
    ConsultantRef,
    EmailBatchSent,
    EmailFailed,
    EmailSent,
    make_event,
)
from tests.integration.invite_service.conftest import ADMIN, STAFF, invite_body, ok
from tests.support.infra import EventTap, eventually, publish_events, service_db

from .conftest import flush_events

NOW = datetime.now(UTC)


def booked(invitee_id: str, invite_id: str, appointment_id: str, at: datetime = NOW):
    return make_event(
        "appointment.booked",
        AppointmentBooked(
            appointment_id=appointment_id, invitee_id=invitee_id, invite_id=invite_id,
            student_id="s1", availability_id="a1", starts_at=at, ends_at=at + timedelta(hours=1),
            duration_minutes=60, consultant=ConsultantRef(id="k1", name="Kim"),
            center=CenterRef(id="c1", name="North"), modality="in_person", kind="one_on_one",
            booked_by="link", booked_at=at,
        ),
        producer="search_service",
    )  # fmt: skip


def cancelled(invitee_id: str, invite_id: str, appointment_id: str):
    return make_event(
        "appointment.cancelled",
        AppointmentCancelled(
            appointment_id=appointment_id, invitee_id=invitee_id, invite_id=invite_id,
            cancelled_at=NOW, cancelled_by="staff-1",
        ),
        producer="search_service",
    )  # fmt: skip


async def inbox_size(inv) -> int:
    conn = await service_db(inv.settings, "invite_service")
    try:
        return await conn.fetchval("SELECT count(*) FROM inbox")
    finally:
        await conn.close()


async def detail(inv, invite_id: str) -> dict:
    return await ok(await inv.client.get(f"/api/v1/invites/{invite_id}", headers=STAFF))


async def invitee_state(inv, invite_id: str, invitee_id: str) -> dict:
    body = await detail(inv, invite_id)
    return next(i for i in body["invitees"] if i["id"] == invitee_id)


async def test_bookings_and_cancellations_in_any_order(invites):
    created = await ok(await invites.invite(), 201)
    invite_id = created["id"]
    v1, v2, v3 = (i["id"] for i in created["invitees"])

    await publish_events(invites.settings, booked(v1, invite_id, "A1"))
    state = await eventually(
        lambda: invitee_state(invites, invite_id, v1), lambda s: s["status"] == "booked"
    )
    assert state["appointment_id"] == "A1"

    # Cancelled twice (two event ids): back to invited once, no harm the second time.
    await publish_events(
        invites.settings, cancelled(v1, invite_id, "A1"), cancelled(v1, invite_id, "A1")
    )
    # v2: the cancel overtakes the booking; the late booking must not resurrect it.
    await publish_events(
        invites.settings,
        cancelled(v2, invite_id, "B1"),
        booked(v2, invite_id, "B1"),
        # v3: rebooked; the older booking arrives last and changes nothing.
        booked(v3, invite_id, "C2", NOW + timedelta(minutes=5)),
        booked(v3, invite_id, "C1", NOW),
    )
    await publish_events(invites.settings, booked(v1, invite_id, "A2"))
    # The consumer handles messages concurrently: the end state must not depend on order.
    expected = {v1: ("booked", "A2"), v2: ("invited", None), v3: ("booked", "C2")}

    async def states() -> dict:
        body = await detail(invites, invite_id)
        return {i["id"]: (i["status"], i["appointment_id"]) for i in body["invitees"]}

    await eventually(states, lambda found: found == expected)
    await eventually(lambda: inbox_size(invites), lambda n: n == 8)
    assert await states() == expected
    body = await detail(invites, invite_id)
    assert body["counts"] == {"invited": 1, "booked": 2, "cancelled": 0, "expired": 0}


async def test_email_delivery_facts(invites):
    created = await ok(await invites.invite(), 201)
    invite_id = created["id"]
    v1 = created["invitees"][0]["id"]
    first, later = NOW, NOW + timedelta(hours=1)

    def sent(kind: str, message_id: str, at: datetime, sequence: int = 0):
        return make_event(
            "email.sent",
            EmailSent(message_id=message_id, kind=kind, sequence=sequence, invitee_id=v1,
                      invite_id=invite_id, sent_at=at),
            producer="notify_service",
        )  # fmt: skip

    failed = make_event(
        "email.failed",
        EmailFailed(message_id="m9", kind="reminder", sequence=3, invitee_id=v1,
                    invite_id=invite_id, error="550 mailbox unavailable", permanent=True,
                    failed_at=later),
        producer="notify_service",
    )  # fmt: skip
    await publish_events(
        invites.settings,
        sent("instructions", "m1", later),
        sent("instructions", "m1", later),  # the same message announced twice
        sent("instructions", "m0", first),  # an earlier send arriving late
        sent("reminder", "m2", later, 1),
        sent("reminder", "m3", later, 2),
        sent("reminder", "m3", later, 2),
        sent("confirmation", "m4", later),
        failed,
    )
    await eventually(lambda: inbox_size(invites), lambda n: n == 8)
    state = await invitee_state(invites, invite_id, v1)
    assert state["reminders_sent"] == 2
    assert datetime.fromisoformat(state["instructions_sent_at"]) == first
    assert "550 mailbox unavailable" in state["last_delivery_error"]
    assert "reminder" in state["last_delivery_error"]


async def test_email_batches_count_each_message_once(invites):
    created = await ok(await invites.invite(), 201)
    invite_id = created["id"]
    v1, v2 = created["invitees"][0]["id"], created["invitees"][1]["id"]
    first, later = NOW, NOW + timedelta(hours=1)

    def email(invitee: str, kind: str, message_id: str, at: datetime, sequence: int = 0):
        return EmailSent(message_id=message_id, kind=kind, sequence=sequence, invitee_id=invitee,
                         invite_id=invite_id, sent_at=at)  # fmt: skip

    def batch(*emails: EmailSent):
        payload = EmailBatchSent(emails=list(emails))
        return make_event("email.batch_sent", payload, producer="notify_service")

    await publish_events(
        invites.settings,
        batch(
            email(v1, "instructions", "b1", later),
            email(v1, "instructions", "b1", later),  # twice in one batch
            email(v2, "instructions", "b2", later),
            email(v1, "reminder", "b3", later, 1),
            email(v2, "confirmation", "b4", later),
        ),
        # A later batch repeating a message, and an earlier send arriving late.
        batch(email(v1, "reminder", "b3", later, 1), email(v1, "instructions", "b0", first)),
        # The per-email event of an older notify is still counted.
        make_event("email.sent", email(v1, "reminder", "b5", later, 2), producer="notify_service"),
    )
    await eventually(lambda: inbox_size(invites), lambda n: n == 3)
    one = await invitee_state(invites, invite_id, v1)
    two = await invitee_state(invites, invite_id, v2)
    assert one["reminders_sent"] == 2
    assert datetime.fromisoformat(one["instructions_sent_at"]) == first
    assert two["reminders_sent"] == 0
    assert datetime.fromisoformat(two["instructions_sent_at"]) == later


async def test_cancel_stops_the_invite_and_emits(invites):
    created = await ok(await invites.invite(), 201)
    invite_id = created["id"]
    v1 = created["invitees"][0]["id"]
    await publish_events(invites.settings, booked(v1, invite_id, "A1"))
    await eventually(
        lambda: invitee_state(invites, invite_id, v1), lambda s: s["status"] == "booked"
    )
    async with EventTap(invites.settings) as tap:
        await flush_events(invites, tap)
        body = await ok(
            await invites.client.post(f"/api/v1/invites/{invite_id}/cancel", headers=STAFF)
        )
        events = await flush_events(invites, tap)
    assert body["status"] == "cancelled" and body["cancelled_by"] == "staff-1"
    assert {i["status"] for i in body["invitees"]} == {"cancelled"}
    assert [e.type for e in events] == ["invite.cancelled"]
    assert sorted(events[0].payload.invitee_ids) == sorted(i["id"] for i in created["invitees"])
    again = await invites.client.post(f"/api/v1/invites/{invite_id}/cancel", headers=STAFF)
    assert again.status == 409
    # A booking heard after the cancel keeps the invitee cancelled (but records it).
    v2 = created["invitees"][1]["id"]
    await publish_events(invites.settings, booked(v2, invite_id, "B1"))
    state = await eventually(
        lambda: invitee_state(invites, invite_id, v2), lambda s: s["appointment_id"] == "B1"
    )
    assert state["status"] == "cancelled"


async def test_invitees_expire_after_the_due_date_in_the_centers_timezone(invites):
    # The widget's center is in Honolulu (UTC-10): its day ends 10 hours after UTC's.
    await publish_events(
        invites.settings,
        make_event(
            "center.upserted",
            CenterUpserted(center_id="c1", name="Island Center", timezone="Pacific/Honolulu"),
            producer="search_service",
        ),
    )
    body = invite_body(invites.widget_id)
    body.pop("student_ids")

    async def center_name() -> str:
        resp = await invites.client.post(
            "/api/v1/invites/preview",
            json={**body, "student_id": "s1", "email_text": "{{ center.name }} {{ link }}"},
            headers=STAFF,
        )
        return (await resp.json()).get("text", "")

    await eventually(center_name, lambda text: text.startswith("Island Center http"))

    honolulu_today = (
        datetime.now(UTC).astimezone(__import__("zoneinfo").ZoneInfo("Pacific/Honolulu")).date()
    )
    due = honolulu_today.isoformat()
    created = await ok(await invites.invite(due_date=due), 201)
    other = await ok(
        await invites.invite(due_date=(honolulu_today + timedelta(days=5)).isoformat()), 201
    )
    invite_id = created["id"]
    v1, v2, v3 = (i["id"] for i in created["invitees"])
    await publish_events(invites.settings, booked(v1, invite_id, "A1"))
    await eventually(
        lambda: invitee_state(invites, invite_id, v1), lambda s: s["status"] == "booked"
    )

    # The end of the due date in UTC is not yet its end in Honolulu.
    end_of_due_utc = datetime.combine(
        date.fromisoformat(due) + timedelta(days=1), datetime.min.time(), UTC
    )
    assert await expire_due_invitees(invites.runtime.db, end_of_due_utc + timedelta(hours=1)) == 0

    later = end_of_due_utc + timedelta(hours=11)
    async with EventTap(invites.settings) as tap:
        await flush_events(invites, tap)
        # Two copies sweeping at once expire each invitee exactly once.
        counts = await asyncio.gather(
            expire_due_invitees(invites.runtime.db, later, batch=1),
            expire_due_invitees(invites.runtime.db, later, batch=1),
        )
        invites.runtime.wake_relay()
        events = await flush_events(invites, tap)
    assert sum(counts) == 2
    assert sorted(e.payload.invitee_id for e in events) == sorted([v2, v3])
    assert {(e.type, e.payload.status, e.payload.invite_id) for e in events} == {
        ("invitee.status_changed", "expired", invite_id)
    }
    states = {i["id"]: i["status"] for i in (await detail(invites, invite_id))["invitees"]}
    assert states == {v1: "booked", v2: "expired", v3: "expired"}
    assert {i["status"] for i in (await detail(invites, other["id"]))["invitees"]} == {"invited"}
    assert await expire_due_invitees(invites.runtime.db, later) == 0


async def test_center_events_out_of_order_keep_the_newest(invites):
    newer = make_event(
        "center.upserted",
        CenterUpserted(center_id="c1", name="New Name", timezone="America/Chicago"),
        producer="search_service",
    )
    older = make_event(
        "center.upserted",
        CenterUpserted(center_id="c1", name="Old Name", timezone="Not/AZone"),
        producer="search_service",
        occurred_at=newer.occurred_at - timedelta(minutes=1),
    )
    await publish_events(invites.settings, newer, older)

    async def center():
        conn = await service_db(invites.settings, "invite_service")
        try:
            return await conn.fetchrow("SELECT name, timezone FROM centers WHERE center_id = 'c1'")
        finally:
            await conn.close()

    await eventually(lambda: inbox_size(invites), lambda n: n == 2)
    row = await center()
    assert (row["name"], row["timezone"]) == ("New Name", "America/Chicago")


async def test_listing_filters_and_pages(invites):
    client = invites.client
    quiz = await ok(await invites.invite(type="Pop Quiz"), 201)
    exam = await ok(await invites.invite(type="Exam", student_ids=["s4"]), 201)
    other_widget = await ok(
        await client.post("/api/v1/widgets", json={"name": "Other"}, headers=ADMIN), 201
    )
    await ok(
        await invites.invite(widget_id=other_widget["id"], type=..., section_id="MATH101-01"), 201
    )

    async def ids(query: str) -> list[str]:
        body = await ok(await client.get(f"/api/v1/invites?{query}", headers=STAFF))
        return [i["id"] for i in body["items"]]

    assert await ids(f"widget_id={invites.widget_id}") == [exam["id"], quiz["id"]]
    assert await ids("type=Pop%20Quiz") == [quiz["id"]]
    assert await ids("created_by=staff-1&type=Exam") == [exam["id"]]
    assert await ids("created_by=nobody") == []
    page = await ok(await client.get("/api/v1/invites?limit=2", headers=STAFF))
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = await ok(
        await client.get(f"/api/v1/invites?limit=2&cursor={page['next_cursor']}", headers=STAFF)
    )
    assert [i["id"] for i in rest["items"]] == [quiz["id"]] and rest["next_cursor"] is None
    first = page["items"][1]
    assert first["id"] == exam["id"]
    assert first["counts"]["invited"] == 1 and first["invitee_count"] == 1
    assert first["widget_name"] == "Testing Center Invites"
    assert first["section"]["subject"] == "MATH" and first["reason"]["name"] == "Exam"
    full = await detail(invites, exam["id"])
    assert full["exam_passcode"] == "swordfish" and full["invitees"][0]["name"] == "First4 Last4"
    assert full["invitees"][0]["email"] == "s4@example.edu"


async def test_widget_settings_and_events(invites):
    client = invites.client
    async with EventTap(invites.settings) as tap:
        await flush_events(invites, tap)
        widget = await ok(
            await client.post(
                "/api/v1/widgets",
                json={"name": "Quiz Center", "invitation_types": ["Quiz", " Quiz ", "Final"],
                      "ask_fields": ["type", "online", "group"]},
                headers=ADMIN,
            ),
            201,
        )  # fmt: skip
        patched = await ok(
            await client.patch(
                f"/api/v1/widgets/{widget['id']}",
                json={"reminder_every_days": 3, "invitation_types": "Quiz;Midterm"},
                headers=ADMIN,
            )
        )
        unchanged = await ok(
            await client.patch(f"/api/v1/widgets/{widget['id']}", json={}, headers=ADMIN)
        )
        events = await flush_events(invites, tap)
    assert widget["invitation_types"] == ["Quiz", "Final"]
    assert widget["invitation_subject"] and widget["invitation_instructions"]
    assert (
        patched["invitation_types"] == ["Quiz", "Midterm"] and patched["reminder_every_days"] == 3
    )
    assert unchanged["updated_at"] == patched["updated_at"]
    assert [e.type for e in events] == ["widget.created", "widget.updated"]
    assert events[1].payload.widget_id == widget["id"]
    assert events[1].payload.reminder_every_days == 3

    resp = await client.patch(
        f"/api/v1/widgets/{widget['id']}",
        json={"reminder_text": "ok", "invitation_instructions": "a\nb\n{{ link "},
        headers=ADMIN,
    )
    problem = await resp.json()
    assert resp.status == 422
    assert problem["errors"] == [
        {"field": "invitation_instructions", "message": problem["errors"][0]["message"], "line": 3}
    ]
    resp = await client.patch(f"/api/v1/widgets/{widget['id']}", json={"name": None}, headers=ADMIN)
    assert resp.status == 422
    resp = await client.patch(f"/api/v1/widgets/{uuid.uuid4()}", json={}, headers=ADMIN)
    assert resp.status == 404
    listing = await ok(await client.get("/api/v1/widgets?limit=1", headers=STAFF))
    assert listing["items"][0]["name"] == "Quiz Center" and listing["next_cursor"]

    # online asked: an online-only invite is fine.
    resp = await invites.invite(
        widget_id=widget["id"], type="Quiz", section_id=..., reason_id=..., duration_minutes=...,
        exam_code=..., exam_passcode=..., notes=...,
        modalities={"online": True, "in_person": False, "group": False},
    )  # fmt: skip
    created = await ok(resp, 201)
    full = await detail(invites, created["id"])
    assert full["modalities"] == {
        "in_person": False, "online": True, "one_on_one": True, "group": False,
    }  # fmt: skip


async def test_duration_rules_replaced_whole(invites):
    client = invites.client
    rules = [
        {"list": "Active", "type": "Exam", "duration_minutes": 60, "new_duration_minutes": 90},
        {"list": None, "type": "Exam", "duration_minutes": None, "new_duration_minutes": 75},
    ]
    async with EventTap(invites.settings) as tap:
        await flush_events(invites, tap)
        saved = await ok(await client.put("/api/v1/duration-rules", json=rules, headers=ADMIN))
        resp = await client.put(
            "/api/v1/duration-rules", json=[{"new_duration_minutes": 9000}], headers=ADMIN
        )
        assert resp.status == 422
        assert (await resp.json())["errors"][0]["field"] == "0.new_duration_minutes"
        events = await flush_events(invites, tap)
    assert saved == rules
    assert await ok(await client.get("/api/v1/duration-rules", headers=STAFF)) == rules
    assert [e.type for e in events] == ["duration_rules.changed"]
    assert [r.model_dump() for r in events[0].payload.rules] == rules
    await ok(await client.put("/api/v1/duration-rules", json=[], headers=ADMIN))
    assert await ok(await client.get("/api/v1/duration-rules", headers=STAFF)) == []
