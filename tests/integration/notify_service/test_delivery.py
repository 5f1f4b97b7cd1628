"""The notify service against real PostgreSQL, RabbitMQ and an SMTP server (aiosmtpd)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import icalendar
import pytest

from services.notify_service.app import SPEC
from shared.events import (
    AppointmentCancelled,
    InviteCancelled,
    InviteeStatusChanged,
    ReportDeliveryRequested,
    make_event,
)
from tests.integration.notify_service.support import (
    SmtpServer,
    booked_event,
    center_event,
    invite_event,
    make_invitees,
    notify_settings_for,
    sent_emails,
)
from tests.support.infra import EventTap, eventually, publish_events, service_db

SERVICE = "notify_service"


@pytest.fixture
async def smtp():
    server = SmtpServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def cfg(settings, smtp):
    return notify_settings_for(settings, smtp_host="127.0.0.1", smtp_port=smtp.port)


async def rows(settings, sql: str, *args):
    conn = await service_db(settings, SERVICE)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


def today() -> date:
    return datetime.now(UTC).date()


async def test_instructions_then_reminders_on_the_moved_clock_and_stop_after_booking(
    cfg, smtp, start_service
):
    _, runtime = await start_service(SPEC, cfg)
    a, b = make_invitees(2)
    invite = invite_event([a, b], due_date=today() + timedelta(days=10), send_days=30, every=2)
    async with EventTap(cfg, ("email.*",)) as tap:
        await publish_events(cfg, center_event(), invite)
        await eventually(lambda: _count(smtp), lambda n: n == 2, message="instruction emails")
        for student in (a, b):
            [got] = smtp.to(student.email)
            assert f"Dear {student.first_name} Tester," in got.text
            assert student.link in got.text
            assert "Please book your exam at Tutoring Center." in got.text
            assert "REMINDER" not in got.text
            assert (
                got.message["Message-ID"]
                == f"<{student.invitee_id}-instructions-0@center.example.edu>"
            )
        sent = await sent_emails(tap, 2)
        assert {e.invitee_id for e in sent} == {a.invitee_id, b.invitee_id}
        assert all(e.kind == "instructions" and e.sequence == 0 for e in sent)

        # Two days later: the first reminder, with the reminder text appended.
        runtime.clock.set(datetime.now(UTC) + timedelta(days=2, minutes=1))
        await eventually(lambda: _count(smtp), lambda n: n == 4, message="first reminders")
        for student in (a, b):
            reminder = smtp.to(student.email)[-1]
            assert "REMINDER: you have not booked yet." in reminder.text
            assert student.link in reminder.text
            assert reminder.message["Subject"].startswith("Reminder: ")

        # a books: a confirmation with an .ics, and no more reminders for a.
        await publish_events(cfg, booked_event(a, invite.payload.invite_id, _slot()))
        await eventually(lambda: _count(smtp), lambda n: n == 5, message="confirmation")
        confirmation = smtp.to(a.email)[-1].message
        [ics] = [
            p for p in confirmation.iter_attachments() if p.get_filename() == "appointment.ics"
        ]
        cal = icalendar.Calendar.from_ical(ics.get_payload(decode=True))
        assert cal.walk("VEVENT")[0]["dtstart"].params["TZID"] == "America/New_York"
        pending = await rows(
            cfg,
            """SELECT * FROM messages WHERE invitee_id = $1 AND status IN ('pending','sending')
               AND kind IN ('instructions', 'reminder')""",
            a.invitee_id,
        )
        assert pending == []

        runtime.clock.set(datetime.now(UTC) + timedelta(days=4, minutes=2))
        await eventually(lambda: _count(smtp), lambda n: n == 6, message="second reminder")
        assert len(smtp.to(b.email)) == 3
        assert len(smtp.to(a.email)) == 3  # instructions, reminder 1, confirmation
        # Past the due date: nothing more for b either.
        runtime.clock.set(datetime.now(UTC) + timedelta(days=12))
        await _settle(cfg, runtime.clock.now())
        assert len(smtp.to(b.email)) <= 5
        assert smtp.duplicates() == 0


async def test_smtp_server_down_for_a_while_delays_but_loses_nothing(cfg, smtp, start_service):
    await smtp.stop()  # connections refused
    await start_service(SPEC, cfg)
    students = make_invitees(5)
    async with EventTap(cfg, ("email.*",)) as tap:
        await publish_events(cfg, invite_event(students, due_date=today() + timedelta(days=5)))
        failed = await tap.wait_for("email.failed", 5)
        assert all(not e.payload.permanent for e in failed)
        assert all("unreachable" in e.payload.error or "refused" in e.payload.error for e in failed)
        retried = await rows(cfg, "SELECT status, attempts, last_error FROM messages")
        assert all(r["status"] in ("pending", "sending") for r in retried)
        await smtp.start()
        await eventually(lambda: _count(smtp), lambda n: n == 5, timeout=20, message="after outage")
        await sent_emails(tap, 5)
    assert sorted(r.rcpt_tos[0] for r in smtp.received) == sorted(s.email for s in students)
    assert smtp.duplicates() == 0


async def test_5xx_is_recorded_as_failed_with_its_reason(cfg, smtp, start_service):
    await start_service(SPEC, cfg)
    good, bad = make_invitees(2)
    smtp.refuse.add(bad.email)
    async with EventTap(cfg, ("email.*",)) as tap:
        await publish_events(cfg, invite_event([good, bad], due_date=today() + timedelta(days=5)))
        [failed] = await tap.wait_for("email.failed", 1)
        await sent_emails(tap, 1)
    assert failed.payload.permanent
    assert failed.payload.invitee_id == bad.invitee_id
    assert "550" in failed.payload.error
    [row] = await rows(cfg, "SELECT * FROM messages WHERE invitee_id = $1", bad.invitee_id)
    assert row["status"] == "failed" and "550" in row["last_error"] and row["attempts"] == 1
    assert len(smtp.to(good.email)) == 1 and smtp.to(bad.email) == []


async def test_template_failing_at_render_time_sends_nothing_and_reports(cfg, smtp, start_service):
    await start_service(SPEC, cfg)
    [student] = make_invitees(1)
    broken = invite_event(
        [student],
        due_date=today() + timedelta(days=5),
        email_text="Hi {{ student.first_name }} {{ invite.due_date|date('Y', 'Nowhere/City') }}",
    )
    async with EventTap(cfg, ("email.*",)) as tap:
        await publish_events(cfg, broken)
        [failed] = await tap.wait_for("email.failed", 1)
    assert failed.payload.permanent and "template error" in failed.payload.error
    assert "Nowhere/City" in failed.payload.error
    assert smtp.received == []


async def test_center_heard_of_later_moves_the_schedule_to_its_timezone(cfg, start_service):
    await start_service(SPEC, cfg)
    [student] = make_invitees(1)
    due = today() + timedelta(days=40)
    async with EventTap(cfg, ("email.*",)):
        await publish_events(cfg, invite_event([student], due_date=due, send_days=3))

        async def due_at():
            found = await rows(cfg, "SELECT due_at FROM messages")
            return found[0]["due_at"] if found else None

        first = await eventually(due_at, message="scheduled")
        expected_utc = datetime.combine(due - timedelta(days=3), datetime.min.time(), UTC)
        assert first == expected_utc + timedelta(hours=9)  # unknown center: 09:00 UTC
        await publish_events(cfg, center_event(tz="Europe/Berlin"))
        moved = await eventually(due_at, lambda v: v != first, message="moved to Berlin")
        # 09:00 in Berlin is 07:00 or 08:00 UTC depending on DST.
        assert moved in (expected_utc + timedelta(hours=7), expected_utc + timedelta(hours=8))


async def test_cancelled_invite_leaves_no_pending_email(cfg, smtp, start_service):
    await start_service(SPEC, cfg)
    students = make_invitees(3)
    invite = invite_event(students, due_date=today() + timedelta(days=40), send_days=3)
    await publish_events(cfg, invite)
    await eventually(lambda: rows(cfg, "SELECT 1 FROM messages"), lambda r: len(r) == 3)
    cancel = make_event(
        "invite.cancelled",
        InviteCancelled(
            invite_id=invite.payload.invite_id,
            invitee_ids=[s.invitee_id for s in students],
            cancelled_at=datetime.now(UTC),
            cancelled_by="staff-1",
        ),
        producer="invite_service",
    )
    await publish_events(cfg, cancel)
    await eventually(
        lambda: rows(cfg, "SELECT 1 FROM messages WHERE status = 'cancelled'"),
        lambda r: len(r) == 3,
    )


async def test_report_delivery_goes_to_every_recipient_with_the_attachment(
    cfg, smtp, start_service
):
    client, _ = await start_service(SPEC, cfg)
    event = make_event(
        "report.delivery_requested",
        ReportDeliveryRequested(
            delivery_id="d-1",
            recipients=["a@example.edu;b@example.edu", "c@example.edu"],
            subject="Appointment Invite Schedule",
            body_text="The report is attached.",
            filename="schedule.csv",
            content_type="text/csv",
            content_base64="c3R1ZGVudF9pZAoxMjMK",
        ),
        producer="report_service",
    )
    async with EventTap(cfg, ("email.*",)) as tap:
        await publish_events(cfg, event)
        sent = await sent_emails(tap, 3)
    assert {e.delivery_id for e in sent} == {"d-1"}
    for address in ("a@example.edu", "b@example.edu", "c@example.edu"):
        [got] = smtp.to(address)
        [att] = list(got.message.iter_attachments())
        assert att.get_filename() == "schedule.csv"
        assert att.get_payload(decode=True) == b"student_id\n123\n"
    exposition = await (await client.get("/metrics")).text()
    assert 'notify_emails_sent_total{kind="report"}' in exposition
    assert "scheduler_oldest_due_seconds" in exposition


async def test_interrupted_send_is_resent_with_the_same_message_id(cfg, smtp, start_service):
    await start_service(SPEC, cfg)
    [student] = make_invitees(1)
    await publish_events(cfg, invite_event([student], due_date=today() + timedelta(days=5)))
    await eventually(lambda: _count(smtp), lambda n: n == 1)
    # As if the process had died after SMTP accepted it, before 'sent' was committed.
    conn = await service_db(cfg, SERVICE)
    try:
        await conn.execute(
            """UPDATE messages SET status = 'sending', lease_until = now() - interval '1 second',
               claimed_by = 'dead-process' WHERE invitee_id = $1 AND kind = 'instructions'""",
            student.invitee_id,
        )
    finally:
        await conn.close()
    await eventually(lambda: _count(smtp), lambda n: n == 2, message="re-send")
    assert smtp.received[0].message_id == smtp.received[1].message_id
    await eventually(
        lambda: rows(cfg, "SELECT status FROM messages WHERE kind = 'instructions'"),
        lambda r: r[0]["status"] == "sent",
    )


async def test_two_copies_never_send_the_same_email(cfg, smtp, start_service):
    await start_service(SPEC, cfg)
    await start_service(SPEC, cfg)
    students = make_invitees(60)
    await publish_events(
        cfg,
        invite_event(students[:30], due_date=today() + timedelta(days=5)),
        invite_event(students[30:], due_date=today() + timedelta(days=5)),
    )
    await eventually(lambda: _count(smtp), lambda n: n >= 60, timeout=30)
    await _settle(cfg)
    assert len(smtp.received) == 60
    assert smtp.duplicates() == 0


def _slot() -> datetime:
    return (datetime.now(UTC) + timedelta(days=3)).replace(
        hour=15, minute=0, second=0, microsecond=0
    )


async def _count(smtp: SmtpServer) -> int:
    return len(smtp.received)


async def _settle(settings, now: datetime | None = None) -> None:
    """Wait until nothing is due at ``now`` or being sent (the scheduler polls every 0.1 s)."""

    async def busy():
        return await rows(
            settings,
            """SELECT 1 FROM messages WHERE status = 'sending'
               OR (status = 'pending' AND due_at <= $1 AND next_attempt_at <= now())""",
            now or datetime.now(UTC),
        )

    await eventually(busy, lambda r: not r, timeout=10, message="scheduler idle")


async def test_cancelled_appointment_resumes_reminders_and_expiry_stops_them(
    cfg, smtp, start_service
):
    _, runtime = await start_service(SPEC, cfg)
    a, b = make_invitees(2)
    invite = invite_event([a, b], due_date=today() + timedelta(days=10), every=3)
    await publish_events(cfg, center_event(), invite)
    await eventually(lambda: _count(smtp), lambda n: n == 2, message="instructions")

    booking = booked_event(a, invite.payload.invite_id, _slot())
    await publish_events(cfg, booking)
    await eventually(lambda: _count(smtp), lambda n: n == 3, message="confirmation")
    cancel = make_event(
        "appointment.cancelled",
        AppointmentCancelled(
            appointment_id=booking.payload.appointment_id,
            invitee_id=a.invitee_id,
            invite_id=invite.payload.invite_id,
            cancelled_at=datetime.now(UTC),
            cancelled_by="staff-1",
        ),
        producer="search_service",
    )
    expired = make_event(
        "invitee.status_changed",
        InviteeStatusChanged(
            invitee_id=b.invitee_id, invite_id=invite.payload.invite_id, status="expired"
        ),
        producer="invite_service",
    )
    await publish_events(cfg, cancel, expired)

    async def pending_for(invitee_id: str):
        return await rows(
            cfg,
            "SELECT kind, sequence FROM messages WHERE invitee_id = $1 AND status = 'pending'",
            invitee_id,
        )

    # a is an ordinary invitee again: the next reminder on the cadence is scheduled.
    [nxt] = await eventually(lambda: pending_for(a.invitee_id), message="reminder rescheduled")
    assert (nxt["kind"], nxt["sequence"]) == ("reminder", 1)
    # b expired: nothing pending any more.
    await eventually(lambda: pending_for(b.invitee_id), lambda r: r == [], message="b stopped")

    runtime.clock.set(datetime.now(UTC) + timedelta(days=3, minutes=1))
    await eventually(lambda: _count(smtp), lambda n: n == 4, message="a's reminder")
    assert "REMINDER" in smtp.to(a.email)[-1].text
    await _settle(cfg, runtime.clock.now())
    assert len(smtp.to(b.email)) == 1


async def test_outcomes_are_recorded_and_announced_in_batches(cfg, smtp, start_service):
    await start_service(SPEC, cfg)
    students = make_invitees(60)
    async with EventTap(cfg, ("email.*",)) as tap:
        await publish_events(cfg, invite_event(students, due_date=today() + timedelta(days=5)))
        sent = await sent_emails(tap, 60, timeout=30)
        batches = tap.of_type("email.batch_sent")
    # Each email announced once, many per event (one event per recording transaction).
    assert sorted(e.invitee_id for e in sent) == sorted(s.invitee_id for s in students)
    assert len(batches) < len(sent)
    assert tap.of_type("email.sent") == []
    recorded = await rows(
        cfg, "SELECT status, sent_at, subject FROM messages WHERE kind = 'instructions'"
    )
    assert len(recorded) == 60
    assert all(r["status"] == "sent" and r["sent_at"] and r["subject"] for r in recorded)
    # The same transactions scheduled every invitee's first reminder (every 2 days).
    reminders = await rows(
        cfg, "SELECT sequence FROM messages WHERE kind = 'reminder' AND status = 'pending'"
    )
    assert [r["sequence"] for r in reminders] == [1] * 60
    assert smtp.duplicates() == 0 and len(smtp.received) == 60


async def test_a_new_invite_is_sent_at_once_not_at_the_next_poll(settings, smtp, start_service):
    # The scheduler is woken after invite.created's transaction commits; with a
    # 30 s poll, an email within seconds can only come from that wake.
    cfg = notify_settings_for(
        settings, smtp_host="127.0.0.1", smtp_port=smtp.port, notify_poll_seconds=30.0
    )
    await start_service(SPEC, cfg)
    [student] = make_invitees(1)
    await publish_events(cfg, invite_event([student], due_date=today() + timedelta(days=5)))
    await eventually(lambda: _count(smtp), lambda n: n == 1, timeout=5, message="sent at once")


async def test_an_invitee_cancelled_before_the_invite_is_heard_of_gets_nothing(
    cfg, smtp, start_service
):
    await start_service(SPEC, cfg)
    a, b = make_invitees(2)
    invite = invite_event([a, b], due_date=today() + timedelta(days=5))
    cancelled = make_event(
        "invitee.status_changed",
        InviteeStatusChanged(
            invitee_id=b.invitee_id, invite_id=invite.payload.invite_id, status="cancelled"
        ),
        producer="invite_service",
    )
    await publish_events(cfg, cancelled)
    await eventually(
        lambda: rows(cfg, "SELECT status FROM invitees WHERE invitee_id = $1", b.invitee_id),
        lambda r: [x["status"] for x in r] == ["cancelled"],
        message="stub left by the early event",
    )
    await publish_events(cfg, invite)
    await eventually(lambda: _count(smtp), lambda n: n == 1, message="a's instructions")
    await _settle(cfg)
    assert [r.rcpt_tos for r in smtp.received] == [[a.email]]
    [stub] = await rows(
        cfg,
        "SELECT status, data->>'email' AS email FROM invitees WHERE invitee_id = $1",
        b.invitee_id,
    )
    assert (stub["status"], stub["email"]) == ("cancelled", b.email)
    assert await rows(cfg, "SELECT 1 FROM messages WHERE invitee_id = $1", b.invitee_id) == []
