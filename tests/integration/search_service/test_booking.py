"""Booking against real PostgreSQL: concurrency, restrictions, the link's life cycle."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date, datetime

from services.search_service import repository as repo
from services.search_service.api_invitations import NOT_FOUND
from services.search_service.app import SPEC
from tests.integration.search_service.helpers import (
    DAY,
    STAFF,
    STUDENT,
    book,
    clock,
    invite_event,
    make_availability,
    make_center,
    make_consultant,
    modalities,
    publish_invite,
    reason,
    section,
    slots,
)
from tests.support.infra import EventTap, headers_for, service_db

NINE = f"{DAY}T09:00:00-05:00"


async def active_appointments(settings) -> int:
    conn = await service_db(settings, "search_service")
    try:
        return await conn.fetchval("SELECT count(*) FROM appointments WHERE status = 'active'")
    finally:
        await conn.close()


async def test_fifty_concurrent_bookings_of_one_slot_make_one_appointment(settings, start_service):
    client, _ = await start_service(SPEC, settings, clock())
    center = await make_center(client)
    avail = await make_availability(client, center, await make_consultant(client))
    event, tokens = invite_event(50, center_ids=[center["id"]], duration_minutes=60)
    await publish_invite(settings, client, event, tokens)

    responses = await asyncio.gather(*(book(client, t, avail["id"], NINE) for t in tokens))
    statuses = Counter(r.status for r in responses)
    assert statuses == {201: 1, 409: 49}
    assert await active_appointments(settings) == 1


async def test_twenty_concurrent_bookings_of_a_group_of_three_make_three(settings, start_service):
    client, _ = await start_service(SPEC, settings, clock())
    center = await make_center(client)
    avail = await make_availability(
        client, center, await make_consultant(client), kind="group", capacity=3
    )
    event, tokens = invite_event(20, center_ids=[center["id"]], duration_minutes=60)
    await publish_invite(settings, client, event, tokens)

    responses = await asyncio.gather(*(book(client, t, avail["id"], NINE) for t in tokens))
    assert Counter(r.status for r in responses) == {201: 3, 409: 17}
    assert await active_appointments(settings) == 3
    # Full at every instant: the group offers nothing more.
    assert await slots(client, tokens[-1], **{"from": DAY, "to": DAY}) == []


async def test_same_invitee_booking_twice_at_once_gets_one(settings, start_service):
    client, _ = await start_service(SPEC, settings, clock())
    center = await make_center(client)
    consultant = await make_consultant(client)
    first = await make_availability(client, center, consultant, "09:00", "10:00")
    second = await make_availability(client, center, consultant, "13:00", "14:00")
    event, tokens = invite_event(1, center_ids=[center["id"]], duration_minutes=60)
    await publish_invite(settings, client, event, tokens)

    a, b = await asyncio.gather(
        book(client, tokens[0], first["id"], NINE),
        book(client, tokens[0], second["id"], f"{DAY}T13:00:00-05:00"),
    )
    assert sorted([a.status, b.status]) == [201, 409]
    assert await active_appointments(settings) == 1


async def test_bookings_the_invite_does_not_allow_are_422_naming_the_field(settings, start_service):
    client, _ = await start_service(SPEC, settings, clock())
    center = await make_center(client)
    consultant = await make_consultant(client)
    other_section = await make_availability(
        client, center, consultant, "08:00", "09:00", section_ids=["S2"]
    )
    other_reason = await make_availability(
        client, center, consultant, "09:00", "10:00", reason_ids=["R2"]
    )
    online = await make_availability(
        client, center, consultant, "10:00", "11:00", modality="online"
    )
    short = await make_availability(client, center, consultant, "11:00", "11:45")
    fine = await make_availability(client, center, consultant, "13:00", "14:00")
    event, tokens = invite_event(
        1,
        center_ids=[center["id"]],
        duration_minutes=60,
        section=section("S1"),
        reason=reason("R1"),
        modalities=modalities(in_person=True, online=False),
    )
    await publish_invite(settings, client, event, tokens)
    token = tokens[0]

    cases = [
        (other_section, "08:00", "section"),
        (other_reason, "09:00", "reason"),
        (online, "10:00", "modality"),
        (short, "11:00", "duration"),
        (fine, "13:10", "starts_at"),  # not on the center's 30-minute steps
    ]
    for avail, start, field in cases:
        resp = await book(client, token, avail["id"], f"{DAY}T{start}:00-05:00")
        body = await resp.json()
        assert resp.status == 422, body
        assert field in {e["field"] for e in body["errors"]}, body
    unknown = await book(client, token, "nope", NINE)
    assert unknown.status == 422
    assert await active_appointments(settings) == 0
    # Only the allowed block is searched.
    found = await slots(client, token, **{"from": DAY, "to": DAY})
    assert {s["availability_id"] for s in found} == {fine["id"]}


async def test_booking_flow_events_student_and_staff_views(settings, start_service):
    client, _ = await start_service(SPEC, settings, clock())
    center = await make_center(client, name="Testing Center")
    consultant = await make_consultant(client, "Grace")
    avail = await make_availability(client, center, consultant, "09:00", "11:00")
    event, tokens = invite_event(
        1,
        center_ids=[center["id"]],
        duration_minutes=60,
        exam_code="EX-1",
        exam_file="exam.pdf",
        exam_passcode="secret-pass",
        notes="staff only note",
        section=section("S1"),
    )
    await publish_invite(settings, client, event, tokens)
    token = tokens[0]
    student_id = event.payload.invitees[0].student_id

    view = await (await client.get(f"/api/v1/invitations/{token}", headers=STUDENT)).json()
    assert view["status"] == "invited" and view["appointment_id"] is None
    assert view["restrictions"]["duration_minutes"] == 60
    assert view["instructions"] == "Hi Sam, book by 2026-01-20."
    assert "secret-pass" not in str(view) and "staff only" not in str(view)

    found = await slots(client, token, **{"from": DAY, "to": DAY})
    assert [s["starts_at"] for s in found] == [
        f"{DAY}T09:00:00-05:00",
        f"{DAY}T09:30:00-05:00",
        f"{DAY}T10:00:00-05:00",
    ]
    assert found[0]["consultant"] == {"id": consultant["id"], "name": "Grace"}

    async with EventTap(settings, ("appointment.#",)) as tap:
        resp = await book(client, token, avail["id"], f"{DAY}T09:30:00-05:00")
        assert resp.status == 201, await resp.text()
        appt = await resp.json()
        assert appt["starts_at"] == f"{DAY}T09:30:00-05:00"
        assert appt["ends_at"] == f"{DAY}T10:30:00-05:00"
        assert "invite" not in appt

        booked = (await tap.wait_for("appointment.booked"))[0].payload
        assert booked.appointment_id == appt["id"]
        assert booked.booked_by == "student"
        assert booked.asked_duration_minutes == 60 and booked.applied_rule is None
        assert booked.center.timezone == "America/New_York"
        assert booked.consultant.name == "Grace"

        view = await (await client.get(f"/api/v1/invitations/{token}", headers=STUDENT)).json()
        assert view["status"] == "booked" and view["appointment_id"] == appt["id"]
        mine = await client.get(f"/api/v1/invitations/{token}/appointment", headers=STUDENT)
        mine_body = await mine.json()
        assert mine.status == 200 and mine_body["id"] == appt["id"]
        assert "invite" not in mine_body and "secret-pass" not in str(mine_body)
        again = await book(client, token, avail["id"], f"{DAY}T10:00:00-05:00")
        assert again.status == 409
        # The booked hour is gone from the search (one-on-one).
        left = await slots(client, token, **{"from": DAY, "to": DAY})
        assert [s["starts_at"] for s in left] == []  # 9:00 and 10:00 overlap 9:30-10:30

        detail = await client.get(f"/api/v1/appointments/{appt['id']}", headers=STAFF)
        detail_body = await detail.json()
        assert detail_body["invite"] == {
            "type": "Exam",
            "asked_duration_minutes": 60,
            "applied_rule": None,
            "exam_code": "EX-1",
            "exam_file": "exam.pdf",
            "exam_passcode": "secret-pass",
            "notes": "staff only note",
        }
        assert detail_body["booked_by"] == "student"
        listing = await client.get(
            "/api/v1/appointments", params={"student_id": student_id}, headers=STAFF
        )
        assert [a["id"] for a in (await listing.json())["items"]] == [appt["id"]]
        student_try = await client.get(f"/api/v1/appointments/{appt['id']}", headers=STUDENT)
        assert student_try.status == 403

        marked = await client.patch(
            f"/api/v1/appointments/{appt['id']}", json={"attendance": "attended"}, headers=STAFF
        )
        assert marked.status == 200 and (await marked.json())["attendance"] == "attended"
        bad = await client.patch(
            f"/api/v1/appointments/{appt['id']}", json={"attendance": "maybe"}, headers=STAFF
        )
        assert bad.status == 422
        await tap.wait_for("appointment.attendance_marked")

        cancelled = await client.post(f"/api/v1/appointments/{appt['id']}/cancel", headers=STAFF)
        assert cancelled.status == 200 and (await cancelled.json())["status"] == "cancelled"
        twice = await client.post(f"/api/v1/appointments/{appt['id']}/cancel", headers=STAFF)
        assert twice.status == 409
        gone = (await tap.wait_for("appointment.cancelled"))[0].payload
        assert gone.appointment_id == appt["id"] and gone.cancelled_by == "staff-1"

    # The slot is free again and the invitee may book anew.
    view = await (await client.get(f"/api/v1/invitations/{token}", headers=STUDENT)).json()
    assert view["status"] == "invited"
    assert len(await slots(client, token, **{"from": DAY, "to": DAY})) == 3
    rebook = await book(client, token, avail["id"], NINE)
    assert rebook.status == 201


async def test_past_starts_and_window_limits(settings, start_service):
    client, runtime = await start_service(SPEC, settings, clock())
    center = await make_center(client)
    avail = await make_availability(client, center, await make_consultant(client), "09:00", "12:00")
    event, tokens = invite_event(1, center_ids=[center["id"]], duration_minutes=60)
    await publish_invite(settings, client, event, tokens)
    token = tokens[0]

    runtime.clock.set(datetime.fromisoformat(f"{DAY}T10:05:00-05:00"))
    found = await slots(client, token, **{"from": DAY, "to": DAY})
    assert [s["starts_at"][11:16] for s in found] == ["10:30", "11:00"]
    late = await book(client, token, avail["id"], NINE)
    assert late.status == 422

    too_long = await client.get(
        f"/api/v1/invitations/{token}/slots",
        params={"from": "2026-01-01", "to": "2026-02-15"},
        headers=STUDENT,
    )
    assert too_long.status == 422
    assert {e["field"] for e in (await too_long.json())["errors"]} == {"to"}
    naive = await client.get(
        f"/api/v1/invitations/{token}/slots",
        params={"from": "2026-01-06T09:00:00"},
        headers=STUDENT,
    )
    assert naive.status == 422
    iso = await slots(
        client,
        token,
        **{"from": f"{DAY}T15:00:00+00:00", "to": f"{DAY}T17:00:00Z"},
    )
    assert [s["starts_at"][11:16] for s in iso] == ["10:30", "11:00"]


async def test_dst_day_slots_show_each_local_offset_and_staff_can_book_for_a_student(
    settings, start_service
):
    client, _ = await start_service(SPEC, settings, clock())
    center = await make_center(client, slot_interval_minutes=60)
    consultant = await make_consultant(client)
    resp = await client.post(
        "/api/v1/availabilities",
        json={
            "consultant_id": consultant["id"],
            "center_id": center["id"],
            "starts_at": "2026-03-08T00:00:00-05:00",
            "ends_at": "2026-03-08T05:00:00-04:00",
        },
        headers=STAFF,
    )
    avail = await resp.json()
    assert avail["ends_at"] == "2026-03-08T05:00:00-04:00"
    event, tokens = invite_event(
        1, center_ids=[center["id"]], duration_minutes=60, due_date=date(2026, 3, 31)
    )
    await publish_invite(settings, client, event, tokens)

    found = await slots(client, tokens[0], **{"from": "2026-03-08", "to": "2026-03-08"})
    assert [(s["starts_at"], s["ends_at"]) for s in found] == [
        ("2026-03-08T00:00:00-05:00", "2026-03-08T01:00:00-05:00"),
        ("2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00"),
        ("2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"),
        ("2026-03-08T04:00:00-04:00", "2026-03-08T05:00:00-04:00"),
    ]
    booked = await client.post(
        f"/api/v1/invitations/{tokens[0]}/appointments",
        json={"availability_id": avail["id"], "starts_at": "2026-03-08T01:00:00-05:00"},
        headers=headers_for("staff", "staff-7"),
    )
    assert booked.status == 201
    body = await booked.json()
    assert (body["starts_at"], body["ends_at"]) == (
        "2026-03-08T01:00:00-05:00",
        "2026-03-08T03:00:00-04:00",
    )
    detail = await (await client.get(f"/api/v1/appointments/{body['id']}", headers=STAFF)).json()
    assert detail["booked_by"] == "staff-7"


async def test_invite_for_any_center_merges_centers_each_in_its_own_offset(settings, start_service):
    client, _ = await start_service(SPEC, settings, clock())
    ny = await make_center(client, name="New York")
    la = await make_center(client, name="Los Angeles", timezone="America/Los_Angeles")
    consultant = await make_consultant(client)
    # 09:00 in Los Angeles is 12:00 in New York: it sorts between the New York slots.
    for center, start, end in (
        (ny, "2026-01-06T11:00:00-05:00", "2026-01-06T12:00:00-05:00"),
        (la, "2026-01-06T09:00:00-08:00", "2026-01-06T10:00:00-08:00"),
        (ny, "2026-01-06T13:00:00-05:00", "2026-01-06T14:00:00-05:00"),
    ):
        resp = await client.post(
            "/api/v1/availabilities",
            json={
                "consultant_id": consultant["id"],
                "center_id": center["id"],
                "starts_at": start,
                "ends_at": end,
            },
            headers=STAFF,
        )
        assert resp.status == 201
    event, tokens = invite_event(1, duration_minutes=60)  # no center_ids: any center
    await publish_invite(settings, client, event, tokens)
    found = await slots(
        client, tokens[0], **{"from": "2026-01-06T00:00:00Z", "to": "2026-01-07T12:00:00Z"}
    )
    assert [(s["center"]["name"], s["starts_at"]) for s in found] == [
        ("New York", "2026-01-06T11:00:00-05:00"),
        ("Los Angeles", "2026-01-06T09:00:00-08:00"),
        ("New York", "2026-01-06T13:00:00-05:00"),
    ]


def _interleave(monkeypatch, meanwhile) -> None:
    """Run ``meanwhile`` right after the first booking's read, before it writes: the
    read is then stale, as under a rush, and PostgreSQL must refuse the write."""
    real = repo.booking_context
    pending = [meanwhile]

    async def stale_read(*args, **kwargs):
        row = await real(*args, **kwargs)
        if pending:
            await pending.pop()()
        return row

    monkeypatch.setattr(repo, "booking_context", stale_read)


async def test_a_slot_taken_after_the_check_is_refused_by_postgresql(
    settings, start_service, monkeypatch
):
    client, _ = await start_service(SPEC, settings, clock())
    center = await make_center(client)
    avail = await make_availability(client, center, await make_consultant(client))
    event, tokens = invite_event(2, center_ids=[center["id"]], duration_minutes=60)
    await publish_invite(settings, client, event, tokens)
    won = []

    async def other_student_books() -> None:
        won.append(await book(client, tokens[1], avail["id"], NINE))

    _interleave(monkeypatch, other_student_books)
    late = await book(client, tokens[0], avail["id"], NINE)
    assert won[0].status == 201
    assert late.status == 409
    assert (await late.json())["detail"] == "That time was just taken. Please choose another."
    assert await active_appointments(settings) == 1


async def test_an_invitee_booked_after_the_check_is_refused_by_postgresql(
    settings, start_service, monkeypatch
):
    client, _ = await start_service(SPEC, settings, clock())
    center = await make_center(client)
    consultant = await make_consultant(client)
    first = await make_availability(client, center, consultant, "09:00", "10:00")
    second = await make_availability(client, center, consultant, "13:00", "14:00")
    event, tokens = invite_event(1, center_ids=[center["id"]], duration_minutes=60)
    await publish_invite(settings, client, event, tokens)
    won = []

    async def same_student_books_elsewhere() -> None:
        won.append(await book(client, tokens[0], second["id"], f"{DAY}T13:00:00-05:00"))

    _interleave(monkeypatch, same_student_books_elsewhere)
    late = await book(client, tokens[0], first["id"], NINE)
    assert won[0].status == 201
    assert late.status == 409
    assert (await late.json())["detail"] == "You already have an appointment for this invite."
    assert await active_appointments(settings) == 1


async def test_refusals_keep_their_answers(settings, start_service):
    client, _ = await start_service(SPEC, settings, clock())
    center = await make_center(client)
    avail = await make_availability(client, center, await make_consultant(client))
    event, tokens = invite_event(2, center_ids=[center["id"]], duration_minutes=60)
    await publish_invite(settings, client, event, tokens)

    assert (await book(client, tokens[0], avail["id"], NINE)).status == 201
    taken = await book(client, tokens[1], avail["id"], NINE)
    assert taken.status == 409
    assert (await taken.json())["detail"] == "That time was just taken. Please choose another."
    again = await book(client, tokens[0], avail["id"], NINE)
    assert again.status == 409
    assert (await again.json())["detail"] == "You already have an appointment for this invite."
    for token in ("not-a-token", "A" * 32):
        unknown = await book(client, token, avail["id"], NINE)
        assert unknown.status == 404
        assert (await unknown.json())["detail"] == NOT_FOUND
    assert await active_appointments(settings) == 1
