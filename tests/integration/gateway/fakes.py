"""Canned answers of the invite and search services, for the pages' tests."""

from __future__ import annotations

from typing import Any

from tests.integration.gateway.support import FakeUpstream

TOKEN = "T" * 32
WIDGET: dict[str, Any] = {
    "id": "w1",
    "name": "Testing Center",
    "invitation_types": ["Exam", "Quiz"],
    "ask_fields": ["type", "section", "duration", "exam_code", "group", "online"],
    "invitation_instructions": "Hello {{ student.first_name }}",
    "center_ids": ["c1"],
    "is_invitation": True,
    "hide_on_dashboard": True,
    "send_instructions_days": 3,
    "reminder_every_days": 2,
    "reminder_text": "",
    "invitation_subject": "Invite",
}
STUDENTS = [
    {
        "student_id": f"S{i}",
        "first_name": f"Ann{i}",
        "last_name": "Lee",
        "email": f"s{i}@example.edu",
        "lists": ["Active"],
    }
    for i in range(3)
]
SECTION = {
    "section_id": "SEC1",
    "subject": "MATH",
    "course": "101",
    "section": "A",
    "term": None,
    "faculty_ids": ["F1"],
    "student_ids": ["S0", "S1"],
}
SLOT = {
    "availability_id": "a1",
    "starts_at": "2030-01-02T09:00:00-05:00",
    "ends_at": "2030-01-02T10:00:00-05:00",
    "duration_minutes": 60,
    "consultant": {"id": "k", "name": "Kim"},
    "center": {"id": "c1", "name": "Main"},
    "modality": "in_person",
    "kind": "one_on_one",
}
INVITATION = {
    "type": "Exam",
    "due_date": "2099-01-05",
    "instructions": "Bring your ID",
    "restrictions": {
        "section": None,
        "reason": None,
        "duration_minutes": 60,
        "modalities": {"in_person": True, "online": False, "one_on_one": True, "group": True},
    },
    "status": "invited",
    "appointment_id": None,
    "centers": [{"id": "c1", "name": "Main"}],
}


def invite_service(fake: FakeUpstream) -> None:
    fake.reply("GET", "/api/v1/students", {"items": STUDENTS, "next_cursor": None})
    for s in STUDENTS:
        fake.reply("GET", f"/api/v1/students/{s['student_id']}", s)
    fake.reply("GET", "/api/v1/sections", {"items": [SECTION], "next_cursor": None})
    fake.reply("GET", "/api/v1/sections/SEC1", SECTION)
    fake.reply("GET", "/api/v1/reasons", {"items": [], "next_cursor": None})
    fake.reply("GET", "/api/v1/widgets", {"items": [WIDGET], "next_cursor": None})
    fake.reply("GET", "/api/v1/widgets/w1", WIDGET)
    fake.reply(
        "POST",
        "/api/v1/invites",
        {
            "id": "i1",
            "invitees": [
                {"id": f"p{i}", "student_id": f"S{i}", "status": "invited"} for i in range(2)
            ],
        },
        status=201,
    )
    fake.reply(
        "POST",
        "/api/v1/invites/preview",
        {"subject": "Invite", "text": "Hello Ann0", "html": "<p>Hello Ann0</p>"},
    )


def search_service(fake: FakeUpstream, invitation: dict[str, Any] | None = None) -> None:
    fake.reply("GET", f"/api/v1/invitations/{TOKEN}", invitation or INVITATION)
    fake.reply("GET", f"/api/v1/invitations/{TOKEN}/slots", {"items": [SLOT]})
    fake.reply(
        "GET",
        f"/api/v1/invitations/{TOKEN}/appointment",
        {**SLOT, "id": "ap1", "status": "active", "booked_at": "2030-01-01T00:00:00Z"},
    )
