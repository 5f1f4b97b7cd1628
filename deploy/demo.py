"""Demo data through the public API: ``bin/run --demo`` (or ``python deploy/demo.py URL``).

A center with consultants and two weeks of availabilities, students on an
"Active" list, a section and reasons, an invitation widget, a duration rule,
and one invite whose emails appear in the mail viewer.
"""

from __future__ import annotations

import http.cookiejar
import json
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any


class Client:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        self.headers: dict[str, str] = {"Content-Type": "application/json"}

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base_url + path, data=data, method=method, headers=self.headers
        )
        try:
            with self.opener.open(request, timeout=60) as resp:
                text = resp.read().decode()
        except urllib.error.HTTPError as exc:
            raise SystemExit(f"demo: {method} {path} → {exc.code}: {exc.read().decode()}") from exc
        return json.loads(text) if text else None


def load_demo(base_url: str, username: str, password: str) -> None:
    api = Client(base_url)
    login = api.call("POST", "/api/v1/auth/login", {"username": username, "password": password})
    if isinstance(login, dict) and login.get("csrf_token"):
        api.headers["X-CSRF-Token"] = login["csrf_token"]

    center = api.call(
        "POST",
        "/api/v1/centers",
        {
            "name": "Testing Center",
            "timezone": "America/New_York",
            "slot_interval_minutes": 30,
            "default_appointment_minutes": 60,
        },
    )
    consultants = [
        api.call("POST", "/api/v1/consultants", {"name": n, "email": e})
        for n, e in (("Dana Proctor", "dana@example.edu"), ("Lee Tutor", "lee@example.edu"))
    ]
    api.call(
        "PUT",
        "/api/v1/terms/fall",
        {"name": "Fall", "starts_on": "2026-08-24", "ends_on": "2026-12-18"},
    )
    api.call("PUT", "/api/v1/reasons/exam", {"name": "Exam"})
    api.call("PUT", "/api/v1/reasons/tutoring", {"name": "Tutoring"})
    students = [
        {
            "student_id": f"S{100 + i}",
            "first_name": first,
            "last_name": last,
            "email": f"{first.lower()}.{last.lower()}@example.edu",
            "lists": ["Active"] if i % 2 == 0 else [],
        }
        for i, (first, last) in enumerate(
            [
                ("Ada", "Lovelace"),
                ("Alan", "Turing"),
                ("Grace", "Hopper"),
                ("Edsger", "Dijkstra"),
                ("Barbara", "Liskov"),
                ("Donald", "Knuth"),
            ]
        )
    ]
    api.call("POST", "/api/v1/students:import", {"items": students})
    api.call(
        "PUT",
        "/api/v1/sections/math101-01",
        {
            "subject": "MATH",
            "course": "101",
            "section": "01",
            "term": "fall",
            "faculty_ids": ["F1"],
            "student_ids": [s["student_id"] for s in students],
        },
    )
    today = datetime.now(UTC).date()
    items = []
    for day in range(1, 15):
        d = today + timedelta(days=day)
        if d.weekday() >= 5:
            continue
        for consultant in consultants:
            items.append(
                {
                    "consultant_id": consultant["id"],
                    "center_id": center["id"],
                    "starts_at": f"{d.isoformat()}T09:00:00-05:00",
                    "ends_at": f"{d.isoformat()}T17:00:00-05:00",
                    "modality": "in_person",
                    "kind": "one_on_one",
                    "capacity": 1,
                    "section_ids": [],
                    "reason_ids": [],
                }
            )
    api.call("POST", "/api/v1/availabilities", {"items": items})
    widget = api.call(
        "POST",
        "/api/v1/widgets",
        {
            "name": "Exam invitations",
            "center_ids": [center["id"]],
            "is_invitation": True,
            "hide_on_dashboard": True,
            "invitation_types": "Exam;Pop Quiz",
            "send_instructions_days": 7,
            "invitation_instructions": (
                "Hello {{ student.first_name }},\n\nPlease book your {{ invite.type|lower }} for "
                "{{ invite.section.subject }} {{ invite.section.course }} before "
                "{{ invite.due_date|date('l, F jS') }}:\n{{ link }}\n\n{{ center.name }}"
            ),
            "ask_fields": ["type", "section", "reason", "duration", "exam_code", "notes"],
            "reminder_every_days": 2,
            "reminder_text": "A friendly reminder: you have not booked yet.",
        },
    )
    api.call(
        "PUT",
        "/api/v1/duration-rules",
        [
            {"list": "Active", "type": "Exam", "duration_minutes": 60, "new_duration_minutes": 90},
        ],
    )
    invite = api.call(
        "POST",
        "/api/v1/invites",
        {
            "widget_id": widget["id"],
            "student_ids": [s["student_id"] for s in students[:3]],
            "due_date": (today + timedelta(days=10)).isoformat(),
            "type": "Exam",
            "section_id": "math101-01",
            "reason_id": "exam",
            "duration_minutes": 60,
            "exam_code": "MATH101-MID",
        },
    )
    print(f"  demo data loaded: invite {invite['id']} for 3 students; see the mail viewer")


if __name__ == "__main__":
    load_demo(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080", "admin", "admin")
