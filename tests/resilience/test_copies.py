"""Two copies of every service at once, one of each killed mid-way: work is taken over,
no email twice beyond the in-flight window, no double booking."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date, timedelta

import pytest

from shared.settings import SERVICE_NAMES
from tests.resilience.conftest import SmtpSink
from tests.resilience.test_faults import FAST_NOTIFY, db_value, seed, tokens_from
from tests.support.infra import eventually
from tests.support.system import Api, System

pytestmark = pytest.mark.slow


async def test_two_copies_compete_safely_and_take_over(smtp_sink: SmtpSink) -> None:
    total = 400
    system = System(
        copies=dict.fromkeys(SERVICE_NAMES, 2), extra_env={**smtp_sink.env(), **FAST_NOTIFY}
    )
    await system.start()
    api = Api(system.url)
    try:
        await api.login("admin", "admin-password-1")
        seeded = await seed(api, total)
        day = date.today() + timedelta(days=3)
        # 20 one-hour one-on-one slots for 400 students: exactly 20 bookings can win.
        await api.call(
            "POST",
            "/api/v1/availabilities",
            expect=201,
            json={
                "items": [
                    {
                        "consultant_id": seeded["consultant"]["id"],
                        "center_id": seeded["center"]["id"],
                        "starts_at": f"{day.isoformat()}T08:00:00-05:00",
                        "ends_at": f"{day.isoformat()}T18:00:00-05:00",
                        "modality": "in_person",
                        "kind": "one_on_one",
                        "capacity": 1,
                        "section_ids": [],
                        "reason_ids": [],
                    },
                    {
                        "consultant_id": seeded["consultant"]["id"],
                        "center_id": seeded["center"]["id"],
                        "starts_at": f"{(day + timedelta(days=1)).isoformat()}T08:00:00-05:00",
                        "ends_at": f"{(day + timedelta(days=1)).isoformat()}T18:00:00-05:00",
                        "modality": "in_person",
                        "kind": "one_on_one",
                        "capacity": 1,
                        "section_ids": [],
                        "reason_ids": [],
                    },
                ]
            },
        )
        await api.call(
            "POST",
            "/api/v1/invites",
            expect=201,
            json={
                "widget_id": seeded["widget"]["id"],
                "student_ids": seeded["student_ids"],
                "due_date": (day + timedelta(days=2)).isoformat(),
                "type": "Exam",
                "duration_minutes": 60,
            },
        )

        # One copy of each service dies mid fan-out; the other copy takes over.
        await eventually(
            lambda: asyncio.sleep(0, len(smtp_sink.messages)),
            lambda n: n >= 50,
            timeout=60,
            message="fan-out started",
        )
        for name in SERVICE_NAMES:
            system.procs[name][0].kill()
        tokens = await eventually(
            lambda: asyncio.sleep(0, tokens_from(smtp_sink)),
            lambda t: len(t) == total,
            timeout=120,
            message="every invitee emailed",
        )
        per_recipient = Counter(m.recipients[0] for m in smtp_sink.messages)
        duplicates = sum(n - 1 for n in per_recipient.values())
        assert duplicates <= 8 * 2, f"{duplicates} duplicate emails"

        # Booking storm across the surviving copies: each token tries the first slot
        # it sees, then the next ones on 409, until it books or nothing is left.
        async def book(token: str) -> bool:
            _, body = await api.call(
                "GET",
                f"/api/v1/invitations/{token}/slots?from={day.isoformat()}"
                f"&to={(day + timedelta(days=1)).isoformat()}",
                expect=200,
            )
            for slot in body["items"][:3]:
                status, _ = await api.call(
                    "POST",
                    f"/api/v1/invitations/{token}/appointments",
                    json={
                        "availability_id": slot["availability_id"],
                        "starts_at": slot["starts_at"],
                    },
                )
                assert status in (201, 409, 422), status
                if status == 201:
                    return True
            return False

        results = await asyncio.gather(*(book(t) for t in list(tokens.values())[:120]))
        booked = sum(results)
        active = await db_value(
            system, "search_service", "SELECT count(*) FROM appointments WHERE status = 'active'"
        )
        assert active == booked <= 20
        overlaps = await db_value(
            system,
            "search_service",
            """
            SELECT count(*) FROM appointments a JOIN appointments b
              ON a.availability_id = b.availability_id AND a.id < b.id
             AND a.status = 'active' AND b.status = 'active'
             AND tstzrange(a.starts_at, a.ends_at) && tstzrange(b.starts_at, b.ends_at)""",
        )
        assert overlaps == 0
        outbox_dupes = await db_value(
            system, "search_service", "SELECT count(*) - count(DISTINCT event_id) FROM outbox"
        )
        assert outbox_dupes == 0
        print(
            f"\ncopies: 2 of each, one of each killed; emails {len(smtp_sink.messages)} for "
            f"{total}; duplicates {duplicates}; bookings {booked}; overlaps {overlaps}"
        )
    finally:
        await api.close()
        system.stop()
