"""Creating an invite: exactly the documented events, links hashed at rest, 5,000 at once."""

from __future__ import annotations

import time
from datetime import date, timedelta

from shared.tokens import hash_token
from tests.integration.invite_service.conftest import STAFF, flush_events, ok
from tests.support.infra import EventTap, service_db


async def test_three_student_invite_emits_exactly_one_invite_created(invites):
    async with EventTap(invites.settings) as tap:
        await flush_events(invites, tap)  # the seeding's events are not this test's
        due = (date.today() + timedelta(days=10)).isoformat()
        created = await ok(await invites.invite(due_date=due), 201)
        events = await flush_events(invites, tap)

    assert [e.type for e in events] == ["invite.created"]
    event = events[0]
    assert event.producer == "invite_service"
    p = event.payload
    assert p.invite_id == created["id"]
    assert p.widget_id == invites.widget_id and p.widget_name == "Testing Center Invites"
    assert p.center_ids == ["c1"]
    assert p.created_by == "staff-1"
    assert (p.type, p.due_date.isoformat(), p.duration_minutes) == ("Exam", due, 60)
    assert p.section.model_dump() == {
        "section_id": "MATH101-01", "subject": "MATH", "course": "101", "section": "01",
    }  # fmt: skip
    assert p.reason.model_dump() == {"reason_id": "exam", "name": "Exam"}
    assert (p.exam_code, p.exam_passcode, p.notes) == ("MID-1", "swordfish", "Calculator allowed")
    assert p.modalities.model_dump() == {
        "in_person": True, "online": False, "one_on_one": True, "group": True,
    }  # fmt: skip
    # Templates and schedule from the widget (no email_text given: the instructions).
    assert p.subject_template == "{{ invite.type }} for {{ student.first_name }}"
    assert p.email_text == p.instructions_template and "{{ link }}" in p.email_text
    assert p.reminder_text == "Reminder: {{ instructions }}"
    assert (p.send_instructions_days, p.reminder_every_days) == (3, 2)

    assert [i.invitee_id for i in p.invitees] == [i["id"] for i in created["invitees"]]
    assert [i.student_id for i in p.invitees] == ["s1", "s2", "s3"]
    first = p.invitees[0]
    assert (first.first_name, first.last_name, first.email, first.lists) == (
        "First1", "Last1", "s1@example.edu", ["Active"],
    )  # fmt: skip
    for invitee in p.invitees:
        assert invitee.link.startswith("http://invites.test/i/")
        token = invitee.link.rsplit("/", 1)[1]
        assert len(token) >= 22  # ≥ 128 bits in URL-safe base64
        assert invitee.token_hash == hash_token(token)
    assert len({i.token_hash for i in p.invitees}) == 3
    assert all(i["status"] == "invited" for i in created["invitees"])


async def test_tokens_are_stored_only_hashed(invites):
    async with EventTap(invites.settings, ("invite.created",)) as tap:
        created = await ok(await invites.invite(), 201)
        [event] = await tap.wait_for("invite.created")
    tokens = [i.link.rsplit("/", 1)[1] for i in event.payload.invitees]

    conn = await service_db(invites.settings, "invite_service")
    try:
        stored = await conn.fetch(
            "SELECT student_id, token_hash FROM invitees WHERE invite_id = $1::uuid", created["id"]
        )
        assert sorted(r["token_hash"] for r in stored) == sorted(hash_token(t) for t in tokens)
        # The raw token goes out by design in invite.created's link (notify renders it),
        # so the outbox body holds it; every OTHER table of this database must not.
        tables = await conn.fetch(
            """SELECT quote_ident(table_name) AS t FROM information_schema.tables
               WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
                 AND table_name <> 'outbox'"""
        )
        assert {"invitees", "invites", "students"} <= {r["t"] for r in tables}
        for row in tables:
            dump = await conn.fetchval(
                f"SELECT coalesce(string_agg(x::text, ' '), '') FROM {row['t']} x"
            )
            for token in tokens:
                assert token not in dump, f"raw token found in table {row['t']}"
        outbox = await conn.fetchval(
            "SELECT convert_from(body, 'UTF8') FROM outbox WHERE event_type = 'invite.created'"
        )
        assert tokens[0] in outbox  # the one place it is meant to be
    finally:
        await conn.close()


async def test_five_thousand_students_in_one_request(invites):
    client = invites.client
    students = [
        {"student_id": f"B{i:05d}", "first_name": "Bulk", "last_name": f"N{i}",
         "email": f"b{i}@example.edu", "lists": ["Active"] if i % 3 == 0 else []}
        for i in range(5000)
    ]  # fmt: skip
    imported = await ok(
        await client.post("/api/v1/students:import", json={"items": students}, headers=STAFF)
    )
    assert imported == {"imported": 5000, "created": 5000, "updated": 0}

    async with EventTap(invites.settings, ("invite.created",)) as tap:
        started = time.perf_counter()
        created = await ok(
            await invites.invite(student_ids=[s["student_id"] for s in students]), 201
        )
        elapsed = time.perf_counter() - started
        [event] = await tap.wait_for("invite.created", timeout=30)
    assert elapsed < 10, f"5,000-student invite took {elapsed:.1f}s"
    assert len(created["invitees"]) == 5000
    assert len(event.payload.invitees) == 5000
    assert len({i.token_hash for i in event.payload.invitees}) == 5000

    conn = await service_db(invites.settings, "invite_service")
    try:
        count = await conn.fetchval(
            "SELECT count(*) FROM invitees WHERE invite_id = $1::uuid", created["id"]
        )
        events = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE event_type = 'invite.created'"
        )
    finally:
        await conn.close()
    assert count == 5000
    assert events == 1  # one event for the whole invite
