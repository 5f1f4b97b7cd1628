"""Fixtures of the invite service's integration tests: the service and a small directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from services.invite_service.app import SPEC
from shared.runtime import Runtime
from shared.settings import Settings
from tests.support.infra import headers_for

STAFF = headers_for("staff", "staff-1", name="Sam Staff")
ADMIN = headers_for("admin", "admin-1", name="Ada Admin")
FACULTY = headers_for("faculty", "fac-user-1", name="Fay Faculty", faculty_id="F1")


@dataclass
class Invites:
    """A running invite service with a widget, a section of 3 students and a reason."""

    client: TestClient[Any, Any]
    runtime: Runtime
    settings: Settings
    widget_id: str

    async def invite(self, headers: dict[str, str] = STAFF, **overrides: Any) -> Any:
        body = invite_body(overrides.pop("widget_id", self.widget_id), **overrides)
        return await self.client.post("/api/v1/invites", json=body, headers=headers)


def invite_body(widget_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "widget_id": widget_id,
        "student_ids": ["s1", "s2", "s3"],
        "due_date": (date.today() + timedelta(days=10)).isoformat(),
        "type": "Exam",
        "section_id": "MATH101-01",
        "reason_id": "exam",
        "duration_minutes": 60,
        "exam_code": "MID-1",
        "exam_passcode": "swordfish",
        "notes": "Calculator allowed",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


WIDGET = {
    "name": "Testing Center Invites",
    "center_ids": ["c1"],
    "invitation_types": "Exam; Pop Quiz ;Exam",
    "send_instructions_days": 3,
    "invitation_subject": "{{ invite.type }} for {{ student.first_name }}",
    "invitation_instructions": (
        "Hi {{ student.first_name }},\nbook your {{ invite.type }} by {{ invite.due_date }} "
        "at {{ center.name }}: {{ link }}"
    ),
    "ask_fields": [
        "type",
        "section",
        "reason",
        "duration",
        "exam_code",
        "exam_file",
        "exam_passcode",
        "notes",
    ],
    "reminder_every_days": 2,
    "reminder_text": "Reminder: {{ instructions }}",
}


async def ok(resp: Any, status: int = 200) -> Any:
    body = await resp.json()
    assert resp.status == status, body
    return body


async def seed_directory(client: TestClient[Any, Any]) -> str:
    students = [
        {"student_id": f"s{i}", "first_name": f"First{i}", "last_name": f"Last{i}",
         "email": f"s{i}@example.edu", "lists": ["Active"] if i % 2 else []}
        for i in range(1, 6)
    ]  # fmt: skip
    await ok(await client.post("/api/v1/students:import", json={"items": students}, headers=STAFF))
    await ok(
        await client.put(
            "/api/v1/terms/2025FA",
            json={"name": "Fall 2025", "starts_on": "2025-08-25", "ends_on": "2025-12-19"},
            headers=STAFF,
        )
    )
    await ok(
        await client.put(
            "/api/v1/sections/MATH101-01",
            json={"subject": "MATH", "course": "101", "section": "01", "term": "2025FA",
                  "faculty_ids": ["F1"], "student_ids": ["s1", "s2", "s3"]},
            headers=STAFF,
        )
    )  # fmt: skip
    await ok(await client.put("/api/v1/reasons/exam", json={"name": "Exam"}, headers=STAFF))
    widget = await ok(await client.post("/api/v1/widgets", json=WIDGET, headers=ADMIN), 201)
    return str(widget["id"])


@pytest.fixture
async def invites(settings: Settings, start_service: Any) -> AsyncIterator[Invites]:
    client, runtime = await start_service(SPEC, settings)
    widget_id = await seed_directory(client)
    yield Invites(client, runtime, settings, widget_id)


async def flush_events(inv: Invites, tap: Any) -> list[Any]:
    """Every event published before now, excluding the marker used to know it.

    The relay publishes outbox rows in order, so once a marker written after an
    action has arrived, every event of that action has arrived too: no waiting
    for "nothing more", no sleeps.
    """
    import uuid

    marker = f"marker-{uuid.uuid4().hex[:8]}"
    await ok(await inv.client.put(f"/api/v1/reasons/{marker}", json={"name": "m"}, headers=STAFF))

    async def probe() -> bool:
        return any(
            e.type == "directory.reason_upserted" and e.payload.reason_id == marker
            for e in tap.events
        )

    from tests.support.infra import eventually

    await eventually(probe, message=f"marker {marker}")
    events = list(tap.events)
    index = next(
        i
        for i, e in enumerate(events)
        if e.type == "directory.reason_upserted" and e.payload.reason_id == marker
    )
    tap.events.clear()
    return events[:index]
