"""Building blocks for the search service's integration tests."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from shared.clock import FixedClock
from shared.events import (
    InviteCreated,
    InviteeData,
    Modalities,
    ReasonRef,
    SectionRef,
    make_event,
)
from shared.tokens import hash_token, new_token
from tests.support.infra import eventually, headers_for, publish_events

STAFF = headers_for("staff", "staff-1")
STUDENT = headers_for("student", "link")
NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
DAY = "2026-01-06"  # a Tuesday after NOW, in the center's timezone


def clock() -> FixedClock:
    return FixedClock(NOW)


async def make_center(client: Any, **fields: Any) -> dict[str, Any]:
    body = {"name": "Tutoring", "timezone": "America/New_York", **fields}
    resp = await client.post("/api/v1/centers", json=body, headers=STAFF)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def make_consultant(client: Any, name: str = "Ada") -> dict[str, Any]:
    resp = await client.post(
        "/api/v1/consultants", json={"name": name, "email": "ada@example.edu"}, headers=STAFF
    )
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def make_availability(
    client: Any,
    center: dict[str, Any],
    consultant: dict[str, Any],
    start: str = "09:00",
    end: str = "10:00",
    day: str = DAY,
    **fields: Any,
) -> dict[str, Any]:
    body = {
        "consultant_id": consultant["id"],
        "center_id": center["id"],
        "starts_at": f"{day}T{start}:00-05:00",
        "ends_at": f"{day}T{end}:00-05:00",
        **fields,
    }
    resp = await client.post("/api/v1/availabilities", json=body, headers=STAFF)
    assert resp.status == 201, await resp.text()
    return await resp.json()


def invite_event(
    count: int = 1,
    *,
    center_ids: list[str] | None = None,
    lists: list[str] | None = None,
    invite_id: str | None = None,
    **fields: Any,
) -> tuple[Any, list[str]]:
    """An invite.created with ``count`` invitees; returns it and their link tokens."""
    tokens = [new_token() for _ in range(count)]
    invitees = [
        InviteeData(
            invitee_id=f"ie-{uuid.uuid4().hex[:10]}",
            student_id=f"s{n:03d}",
            first_name="Sam",
            last_name=f"Student{n}",
            email=f"s{n}@example.edu",
            lists=lists or [],
            token_hash=hash_token(token),
            link=f"http://invites.test/i/{token}",
        )
        for n, token in enumerate(tokens)
    ]
    payload: dict[str, Any] = {
        "invite_id": invite_id or f"inv-{uuid.uuid4().hex[:10]}",
        "widget_id": "w1",
        "center_ids": center_ids or [],
        "created_by": "staff-1",
        "created_at": NOW,
        "type": "Exam",
        "due_date": date(2026, 1, 20),
        "subject_template": "Book",
        "email_text": "Hello",
        "instructions_template": "Hi {{ student.first_name }}, book by {{ invite.due_date }}.",
        "invitees": invitees,
        **fields,
    }
    return make_event("invite.created", InviteCreated(**payload), producer="test"), tokens


def section(section_id: str = "S1") -> SectionRef:
    return SectionRef(section_id=section_id, subject="MATH", course="101", section="01")


def reason(reason_id: str = "R1") -> ReasonRef:
    return ReasonRef(reason_id=reason_id, name="Exam")


def modalities(**flags: bool) -> Modalities:
    return Modalities(**flags)


async def link_status(client: Any, token: str) -> int:
    resp = await client.get(f"/api/v1/invitations/{token}", headers=STUDENT)
    await resp.read()
    return int(resp.status)


async def publish_invite(settings: Any, client: Any, event: Any, tokens: list[str]) -> None:
    """Play invite_service, then wait until the replica opens the links."""
    await publish_events(settings, event)
    for token in {tokens[0], tokens[-1]}:
        await eventually(
            lambda t=token: link_status(client, t), lambda s: s == 200, message="link opens"
        )


async def book(client: Any, token: str, availability_id: str, starts_at: str) -> Any:
    return await client.post(
        f"/api/v1/invitations/{token}/appointments",
        json={"availability_id": availability_id, "starts_at": starts_at},
        headers=STUDENT,
    )


async def slots(client: Any, token: str, **query: str) -> list[dict[str, Any]]:
    resp = await client.get(f"/api/v1/invitations/{token}/slots", params=query, headers=STUDENT)
    assert resp.status == 200, await resp.text()
    return list((await resp.json())["items"])
