"""The mission journey through the public API only, every service running as a process."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from tests.support.infra import eventually
from tests.support.system import Api, System


async def mail_to(api: Api, address: str) -> list[dict[str, Any]]:
    _, body = await api.call("GET", f"/api/v1/mail/messages?to={address}&limit=100", expect=200)
    return body["items"]


def link_in(text: str) -> str:
    match = re.search(r"https?://\S+/i/[A-Za-z0-9_\-]+", text)
    assert match, text
    return match.group(0)


async def set_clock(api: Api, now: datetime) -> None:
    await api.call("POST", "/api/v1/test/clock", json={"now": now.isoformat()}, expect=200)


async def test_invite_email_reminder_booking_report(system: System, admin: Api) -> None:
    # The clock starts at a fixed Monday morning so every date below is deterministic.
    monday = datetime(2031, 3, 3, 13, 0, tzinfo=UTC)  # 08:00 in New York
    await set_clock(admin, monday)

    _, center = await admin.call(
        "POST",
        "/api/v1/centers",
        expect=201,
        json={
            "name": "Testing Center",
            "timezone": "America/New_York",
            "slot_interval_minutes": 30,
            "default_appointment_minutes": 60,
        },
    )
    _, consultant = await admin.call(
        "POST",
        "/api/v1/consultants",
        expect=201,
        json={"name": "Dana Proctor", "email": "dana@example.edu"},
    )
    await admin.call(
        "PUT",
        "/api/v1/terms/spring",
        expect=(200, 201),
        json={"name": "Spring", "starts_on": "2031-01-13", "ends_on": "2031-05-09"},
    )
    await admin.call("PUT", "/api/v1/reasons/exam", expect=(200, 201), json={"name": "Exam"})
    students = [
        {
            "student_id": "S1",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@example.edu",
            "lists": ["Active"],
        },
        {
            "student_id": "S2",
            "first_name": "Alan",
            "last_name": "Turing",
            "email": "alan@example.edu",
            "lists": [],
        },
    ]
    csv_text = "student_id,first_name,last_name,email,lists\n" + "".join(
        f"{s['student_id']},{s['first_name']},{s['last_name']},{s['email']},{';'.join(s['lists'])}\n"
        for s in students
    )
    await admin.call(
        "POST",
        "/api/v1/students:import",
        expect=(200, 201),
        data=csv_text,
        headers={"Content-Type": "text/csv"},
    )
    await admin.call(
        "PUT",
        "/api/v1/sections/m101",
        expect=(200, 201),
        json={
            "subject": "MATH",
            "course": "101",
            "section": "01",
            "term": "spring",
            "faculty_ids": [],
            "student_ids": ["S1", "S2"],
        },
    )
    # Thursday 09:00–12:00 New York: room for a 90-minute exam.
    await admin.call(
        "POST",
        "/api/v1/availabilities",
        expect=201,
        json={
            "consultant_id": consultant["id"],
            "center_id": center["id"],
            "starts_at": "2031-03-13T09:00:00-04:00",
            "ends_at": "2031-03-13T12:00:00-04:00",
            "modality": "in_person",
            "kind": "one_on_one",
            "capacity": 1,
            "section_ids": [],
            "reason_ids": [],
        },
    )
    _, widget = await admin.call(
        "POST",
        "/api/v1/widgets",
        expect=201,
        json={
            "name": "Exams",
            "center_ids": [center["id"]],
            "is_invitation": True,
            "hide_on_dashboard": True,
            "invitation_types": "Exam; Pop Quiz",
            "send_instructions_days": 7,
            "invitation_instructions": "Hello {{ student.first_name }}, book your "
            "{{ invite.type|lower }} by {{ invite.due_date }}: {{ link }}",
            "ask_fields": ["type", "section", "reason", "duration", "exam_code", "exam_passcode"],
            "reminder_every_days": 2,
            "reminder_text": "REMINDER: please book.",
        },
    )
    await admin.call(
        "PUT",
        "/api/v1/duration-rules",
        expect=200,
        json=[
            {"list": "Active", "type": "Exam", "duration_minutes": 60, "new_duration_minutes": 90}
        ],
    )

    due = date(2031, 3, 14)  # instructions at 2031-03-07 (due − 7 days)
    _, invite = await admin.call(
        "POST",
        "/api/v1/invites",
        expect=201,
        json={
            "widget_id": widget["id"],
            "student_ids": ["S1", "S2"],
            "due_date": due.isoformat(),
            "type": "Exam",
            "section_id": "m101",
            "reason_id": "exam",
            "duration_minutes": 60,
            "exam_code": "MID-1",
            "exam_passcode": "s3cret",
        },
    )
    assert len(invite["invitees"]) == 2

    # Nothing yet: the instruction moment is on Friday.
    assert await mail_to(admin, "ada@example.edu") == []
    await set_clock(admin, datetime(2031, 3, 7, 16, 0, tzinfo=UTC))
    ada_mail = await eventually(
        lambda: mail_to(admin, "ada@example.edu"),
        lambda m: len(m) >= 1,
        timeout=30,
        message="Ada's instruction email",
    )
    assert "Hello Ada" in ada_mail[0]["text"]
    link = link_in(ada_mail[0]["text"])

    # Two days later a reminder with the reminder text.
    await set_clock(admin, datetime(2031, 3, 9, 16, 0, tzinfo=UTC))
    ada_mail = await eventually(
        lambda: mail_to(admin, "ada@example.edu"),
        lambda m: len(m) >= 2,
        timeout=30,
        message="Ada's reminder",
    )
    assert any("REMINDER: please book." in m["text"] for m in ada_mail)

    # The student follows the link: search page, slots capped and lengthened by the rule.
    student = aiohttp.ClientSession()
    try:
        path = urlsplit(link).path
        async with student.get(system.url + path, allow_redirects=False) as resp:
            assert resp.status == 303
            assert resp.headers["Location"].endswith(f"/invitations/{path.rsplit('/', 1)[1]}")
        token = path.rsplit("/", 1)[1]
        async with student.get(f"{system.url}/api/v1/invitations/{token}") as resp:
            assert resp.status == 200
            info = await resp.json()
            assert "exam_passcode" not in str(info) and "s3cret" not in str(info)
        async with student.get(
            f"{system.url}/api/v1/invitations/{token}/slots?from=2031-03-10&to=2031-03-14"
        ) as resp:
            slots = (await resp.json())["items"]
        assert slots and all(s["duration_minutes"] == 90 for s in slots)
        first = slots[0]
        async with student.post(
            f"{system.url}/api/v1/invitations/{token}/appointments",
            json={"availability_id": first["availability_id"], "starts_at": first["starts_at"]},
        ) as resp:
            assert resp.status == 201, await resp.text()
            appointment = await resp.json()
        assert appointment["duration_minutes"] == 90
        async with student.get(system.url + path, allow_redirects=False) as resp:
            assert resp.status == 303
            assert resp.headers["Location"].endswith("/appointment")
    finally:
        await student.close()

    # Staff: the invite shows the booking; the appointment has its Invite tab.
    async def ada_booked() -> dict[str, Any]:
        _, detail = await admin.call("GET", f"/api/v1/invites/{invite['id']}", expect=200)
        return next(i for i in detail["invitees"] if i["student_id"] == "S1")

    ada = await eventually(ada_booked, lambda i: i["status"] == "booked", timeout=20)
    assert ada["appointment_id"] == appointment["id"]
    assert ada["instructions_sent_at"] and ada["reminders_sent"] >= 1
    _, staff_view = await admin.call("GET", f"/api/v1/appointments/{appointment['id']}", expect=200)
    assert staff_view["invite"]["exam_passcode"] == "s3cret"
    assert staff_view["invite"]["asked_duration_minutes"] == 60
    await admin.call(
        "PATCH",
        f"/api/v1/appointments/{appointment['id']}",
        expect=200,
        json={"attendance": "attended"},
    )

    # No more reminders for Ada after booking, even days later.
    count_after_booking = len(await mail_to(admin, "ada@example.edu"))
    await set_clock(admin, datetime(2031, 3, 11, 16, 0, tzinfo=UTC))
    await eventually(
        lambda: mail_to(admin, "alan@example.edu"),
        lambda m: len(m) >= 3,
        timeout=30,
        message="Alan's second reminder",
    )
    reminders = [m for m in await mail_to(admin, "ada@example.edu") if "REMINDER" in m["text"]]
    assert len(await mail_to(admin, "ada@example.edu")) - count_after_booking <= 1  # confirmation
    assert len(reminders) == 1

    # The report: CSV with Ada's appointment, attendance marked.
    async def report_rows() -> list[dict[str, str]]:
        _, text = await admin.call(
            "GET",
            "/api/v1/reports/appointment-invite-schedule?from=2031-03-01&to=2031-03-31"
            "&format=csv&fields=student_email",
            expect=200,
        )
        return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))

    rows = await eventually(
        report_rows,
        lambda r: len(r) == 1 and r[0]["attendance"] == "attended",
        timeout=20,
        message="the report row",
    )
    assert rows[0]["student_id"] == "S1" and rows[0]["duration_minutes"] == "90"
    assert rows[0]["exam_code"] == "MID-1" and rows[0]["student_email"] == "ada@example.edu"

    # Emailed report reaches both recipients.
    await admin.call(
        "POST",
        "/api/v1/reports/appointment-invite-schedule/deliveries",
        expect=202,
        json={
            "from": "2031-03-01",
            "to": "2031-03-31",
            "format": "csv",
            "recipients": "dean@example.edu;registrar@example.edu",
        },
    )
    for address in ("dean@example.edu", "registrar@example.edu"):
        mails = await eventually(
            lambda a=address: mail_to(admin, a),
            lambda m: len(m) == 1,
            timeout=30,
            message=f"report to {address}",
        )
        assert mails[0]["attachments"] and mails[0]["attachments"][0]["filename"].endswith(".csv")
