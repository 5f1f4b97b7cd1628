"""The replica follows invite_service's events, in any order, idempotently."""

from __future__ import annotations

from datetime import timedelta

from services.search_service.app import SPEC
from shared.events import (
    DurationRule,
    DurationRulesChanged,
    InviteCancelled,
    InviteeStatusChanged,
    StudentData,
    StudentsUpserted,
    make_event,
)
from tests.integration.search_service.helpers import (
    DAY,
    NOW,
    STAFF,
    STUDENT,
    book,
    clock,
    invite_event,
    link_status,
    make_availability,
    make_center,
    make_consultant,
    publish_invite,
    slots,
)
from tests.support.infra import EventTap, eventually, publish_events


def cancelled(event, invitee_ids=None, when=NOW):
    return make_event(
        "invite.cancelled",
        InviteCancelled(
            invite_id=event.payload.invite_id,
            invitee_ids=invitee_ids
            if invitee_ids is not None
            else [i.invitee_id for i in event.payload.invitees],
            cancelled_at=when,
            cancelled_by="staff-9",
        ),
        producer="test",
    )


def rules_event(*rules: DurationRule, occurred_at=None):
    return make_event(
        "duration_rules.changed",
        DurationRulesChanged(rules=list(rules)),
        producer="test",
        occurred_at=occurred_at,
    )


async def problem(client, token):
    resp = await client.get(f"/api/v1/invitations/{token}", headers=STUDENT)
    return resp.status, await resp.json()


async def test_invite_cancelled_closes_links_with_the_same_404_as_unknown(settings, start_service):
    client, _ = await start_service(SPEC, settings, clock())
    center = await make_center(client)
    avail = await make_availability(client, center, await make_consultant(client), "09:00", "11:00")
    event, tokens = invite_event(2, center_ids=[center["id"]], duration_minutes=60)
    await publish_invite(settings, client, event, tokens)
    booked = await book(client, tokens[1], avail["id"], f"{DAY}T09:00:00-05:00")
    assert booked.status == 201
    appointment_id = (await booked.json())["id"]

    async with EventTap(settings, ("appointment.cancelled",)) as tap:
        await publish_events(settings, cancelled(event))
        await eventually(lambda: link_status(client, tokens[0]), lambda s: s == 404)
        # The booked invitee's appointment is cancelled with the invite (frees the time).
        freed = (await tap.wait_for("appointment.cancelled"))[0].payload
        assert freed.appointment_id == appointment_id and freed.cancelled_by == "staff-9"

    status_a, body_a = await problem(client, tokens[0])
    status_b, body_b = await problem(client, tokens[1])
    status_c, body_c = await problem(client, "x" * 32)
    assert status_a == status_b == status_c == 404
    for body in (body_a, body_b, body_c):
        body.pop("instance", None)
    assert body_a == body_b == body_c
    for path in ("/slots", "/appointment"):
        resp = await client.get(f"/api/v1/invitations/{tokens[0]}{path}", headers=STUDENT)
        assert resp.status == 404
    late = await book(client, tokens[0], avail["id"], f"{DAY}T10:00:00-05:00")
    assert late.status == 404
    detail = await client.get(f"/api/v1/appointments/{appointment_id}", headers=STAFF)
    assert (await detail.json())["status"] == "cancelled"


async def test_cancellation_arriving_before_the_invite_is_not_lost(settings, start_service):
    client, _ = await start_service(SPEC, settings, clock())
    center = await make_center(client)
    early, early_tokens = invite_event(1, center_ids=[center["id"]])
    later, later_tokens = invite_event(1, center_ids=[center["id"]])
    # One queue, in order: the cancellation, then its invite, then another invite.
    await publish_events(settings, cancelled(early), early, cancelled(early))
    await publish_invite(settings, client, later, later_tokens)
    assert await link_status(client, early_tokens[0]) == 404


async def test_invitee_status_changes_expire_links_newest_wins(settings, start_service):
    client, _ = await start_service(SPEC, settings, clock())
    center = await make_center(client)
    event, tokens = invite_event(1, center_ids=[center["id"]])
    await publish_invite(settings, client, event, tokens)
    invitee = event.payload.invitees[0]

    def status_event(status, at):
        return make_event(
            "invitee.status_changed",
            InviteeStatusChanged(
                invitee_id=invitee.invitee_id, invite_id=event.payload.invite_id, status=status
            ),
            producer="test",
            occurred_at=at,
        )

    # An older "invited" arriving after the newer "expired" does not reopen the link.
    await publish_events(
        settings,
        status_event("expired", NOW + timedelta(minutes=2)),
        status_event("invited", NOW + timedelta(minutes=1)),
    )
    await eventually(lambda: link_status(client, tokens[0]), lambda s: s == 404)
    marker, marker_tokens = invite_event(1, center_ids=[center["id"]])
    await publish_invite(settings, client, marker, marker_tokens)
    assert await link_status(client, tokens[0]) == 404


async def test_duration_rules_and_student_lists_change_what_is_offered(settings, start_service):
    client, _ = await start_service(SPEC, settings, clock())
    center = await make_center(client)
    avail = await make_availability(client, center, await make_consultant(client), "09:00", "10:30")
    event, tokens = invite_event(
        1, center_ids=[center["id"]], duration_minutes=60, type="Exam", lists=["Active"]
    )
    await publish_invite(settings, client, event, tokens)
    token = tokens[0]
    window = {"from": DAY, "to": DAY}

    before = await slots(client, token, **window)
    assert [(s["starts_at"][11:16], s["duration_minutes"]) for s in before] == [
        ("09:00", 60),
        ("09:30", 60),
    ]

    active_rule = DurationRule(
        list="Active", type="Exam", duration_minutes=60, new_duration_minutes=90
    )
    await publish_events(settings, rules_event(active_rule))

    async def offered():
        return [
            (s["starts_at"][11:16], s["duration_minutes"])
            for s in await slots(client, token, **window)
        ]

    await eventually(offered, lambda found: found == [("09:00", 90)])
    view = await (await client.get(f"/api/v1/invitations/{token}", headers=STUDENT)).json()
    assert view["restrictions"]["duration_minutes"] == 90

    # An older rules event arriving late does not overwrite the newer list.
    await publish_events(settings, rules_event(occurred_at=NOW - timedelta(days=1)))
    # The student leaves the Active list: the rule stops applying.
    student = event.payload.invitees[0]
    await publish_events(
        settings,
        make_event(
            "directory.students_upserted",
            StudentsUpserted(
                students=[
                    StudentData(
                        student_id=student.student_id,
                        first_name="Sam",
                        last_name="Student0",
                        email=student.email,
                        lists=[],
                    )
                ]
            ),
            producer="test",
        ),
    )
    await eventually(offered, lambda found: found == [("09:00", 60), ("09:30", 60)])

    # Back on the list: booking takes the rule's duration and records it.
    await publish_events(
        settings,
        make_event(
            "directory.students_upserted",
            StudentsUpserted(
                students=[
                    StudentData(
                        student_id=student.student_id,
                        first_name="Sam",
                        last_name="Student0",
                        email=student.email,
                        lists=["Active"],
                    )
                ]
            ),
            producer="test",
        ),
    )
    await eventually(offered, lambda found: found == [("09:00", 90)])
    async with EventTap(settings, ("appointment.booked",)) as tap:
        resp = await book(client, token, avail["id"], f"{DAY}T09:00:00-05:00")
        assert resp.status == 201
        assert (await resp.json())["duration_minutes"] == 90
        booked = (await tap.wait_for("appointment.booked"))[0].payload
    assert booked.duration_minutes == 90 and booked.asked_duration_minutes == 60
    assert booked.applied_rule == active_rule
