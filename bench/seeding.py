"""Data for the scenarios, made through the public API (what a center's staff would do),
plus the one read the API cannot give a bench: the raw link tokens.

Raw tokens leave invite_service only inside the ``invite.created`` event (notify
renders them into the emails); the bench reads that event from invite_service's
outbox table instead of waiting for emails it does not want to measure.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bench.harness import Bench
from tests.support.system import Api

TIMEZONE = "America/New_York"
TZ = ZoneInfo(TIMEZONE)
INSTRUCTIONS = (
    "Hello {{ student.first_name }},\n\n"
    "please book your {{ invite.type|lower }} at {{ center.name }} before "
    "{{ invite.due_date }} here: {{ link }}\n\nThank you."
)


def local_today() -> date:
    return datetime.now(UTC).astimezone(TZ).date()


def next_monday(after: date) -> date:
    return after + timedelta(days=7 - after.weekday())


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ)


async def create_center(api: Api, name: str) -> str:
    _, body = await api.call(
        "POST",
        "/api/v1/centers",
        expect=201,
        json={
            "name": name,
            "timezone": TIMEZONE,
            "slot_interval_minutes": 30,
            "default_appointment_minutes": 60,
        },
    )
    return str(body["id"])


async def create_consultants(api: Api, count: int, label: str) -> list[str]:
    ids: list[str] = []
    for n in range(count):
        _, body = await api.call(
            "POST",
            "/api/v1/consultants",
            expect=201,
            json={"name": f"{label} Consultant {n:03d}", "email": f"{label}-k{n}@example.edu"},
        )
        ids.append(str(body["id"]))
    return ids


async def add_availabilities(api: Api, items: list[dict[str, Any]], chunk: int = 1000) -> list[str]:
    """``POST /api/v1/availabilities {"items": [...]}`` in chunks; the new ids in order."""
    ids: list[str] = []
    for start in range(0, len(items), chunk):
        _, body = await api.call(
            "POST",
            "/api/v1/availabilities",
            expect=201,
            json={"items": items[start : start + chunk]},
        )
        ids.extend(str(a["id"]) for a in body["items"])
    return ids


def block(consultant: str, center: str, starts: datetime, ends: datetime) -> dict[str, Any]:
    return {
        "consultant_id": consultant,
        "center_id": center,
        "starts_at": starts.isoformat(),
        "ends_at": ends.isoformat(),
        "modality": "in_person",
        "kind": "one_on_one",
        "capacity": 1,
        "section_ids": [],
        "reason_ids": [],
    }


async def create_widget(api: Api, center_id: str, name: str, send_instructions_days: int) -> str:
    _, body = await api.call(
        "POST",
        "/api/v1/widgets",
        expect=201,
        json={
            "name": name,
            "center_ids": [center_id],
            "is_invitation": True,
            "hide_on_dashboard": True,
            "invitation_types": "Exam",
            "send_instructions_days": send_instructions_days,
            "invitation_instructions": INSTRUCTIONS,
            "ask_fields": ["type"],
            "reminder_every_days": 30,
            "reminder_text": "Reminder: please book.",
        },
    )
    return str(body["id"])


async def import_students(api: Api, label: str, count: int) -> list[str]:
    ids = [f"{label}{n:05d}" for n in range(count)]
    items = [
        {
            "student_id": sid,
            "first_name": f"First{n}",
            "last_name": f"Last{n}",
            "email": f"{sid.lower()}@students.example.edu",
            "lists": ["Active"] if n % 3 == 0 else [],
        }
        for n, sid in enumerate(ids)
    ]
    for start in range(0, len(items), 10_000):
        await api.call(
            "POST",
            "/api/v1/students:import",
            expect=(200, 201),
            json={"items": items[start : start + 10_000]},
        )
    return ids


async def create_invite(
    api: Api, widget_id: str, student_ids: list[str], due: date
) -> tuple[str, float]:
    """``POST /api/v1/invites``; the invite id and the request's latency in seconds."""
    started = time.perf_counter()
    _, body = await api.call(
        "POST",
        "/api/v1/invites",
        expect=201,
        json={
            "widget_id": widget_id,
            "student_ids": student_ids,
            "due_date": due.isoformat(),
            "type": "Exam",
        },
    )
    latency = time.perf_counter() - started
    assert len(body["invitees"]) == len(student_ids)
    return str(body["id"]), latency


async def invite_tokens(bench: Bench, invite_id: str) -> dict[str, str]:
    """student_id → raw link token, from the invite.created event in invite's outbox."""
    pool = await bench.db("invite_service")
    rows = await pool.fetch(
        "SELECT body FROM outbox WHERE event_type = 'invite.created' ORDER BY position DESC"
    )
    for row in rows:
        event = json.loads(bytes(row["body"]))
        payload = event["payload"]
        if payload["invite_id"] == invite_id:
            return {
                i["student_id"]: i["link"].rstrip("/").rsplit("/", 1)[1]
                for i in payload["invitees"]
            }
    raise AssertionError(f"invite.created of {invite_id} not in invite_service's outbox")


async def wait_for_search_replica(
    bench: Bench, invite_id: str, count: int, timeout: float = 120.0
) -> float:
    """Until search_service's replica holds the invite's ``count`` invitees (it is fed by
    invite.created). Read from its database: polling a link through the gateway would
    count as guessing (404s from one address are rate-limited)."""
    pool = await bench.db("search_service")
    started = time.monotonic()
    while True:
        found = await pool.fetchval("SELECT count(*) FROM invitees WHERE invite_id = $1", invite_id)
        if found >= count:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"search has {found}/{count} invitees after {timeout}s")
        await asyncio.sleep(0.1)
