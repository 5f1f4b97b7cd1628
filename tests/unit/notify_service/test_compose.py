"""Emails are well formed, carry what they must, and cannot be abused through names."""

from __future__ import annotations

from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

import icalendar
import pytest

from services.notify_service.domain.compose import (
    Attachment,
    BadAddress,
    Composed,
    MimeWriter,
    build_message,
    check_address,
    compose_confirmation,
    compose_invite_email,
    compose_report,
    email_html,
    make_address,
    message_id,
    parse_from,
    split_recipients,
)
from services.notify_service.domain.schedule import zone
from shared.events import (
    AppointmentBooked,
    CenterRef,
    ConsultantRef,
    InviteCreated,
    InviteeData,
    ReasonRef,
    SectionRef,
)
from shared.templates import TemplateProblem

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def invitee(**over) -> InviteeData:
    values = {
        "invitee_id": "iv-1",
        "student_id": "S1",
        "first_name": "Ana",
        "last_name": "Lopez",
        "email": "ana@example.edu",
        "token_hash": "h",
        "link": "http://invites.test/i/tok-1",
    }
    values.update(over)
    return InviteeData(**values)


def invite(**over) -> InviteCreated:
    values = {
        "invite_id": "inv-1",
        "widget_id": "w",
        "created_by": "staff",
        "created_at": NOW,
        "type": "Exam",
        "due_date": date(2026, 3, 5),
        "section": SectionRef(section_id="s", subject="MATH", course="101", section="A"),
        "reason": ReasonRef(reason_id="r", name="Midterm"),
        "duration_minutes": 90,
        "notes": "Bring ID",
        "subject_template": "{{ invite.type }} by {{ invite.due_date|date('M j') }}",
        "email_text": "Dear {{ student.first_name }},\n{{ instructions }}\n{{ link }}",
        "instructions_template": "Book at {{ center.name }} & bring <ID>.",
        "reminder_text": "Reminder: still not booked, {{ student.first_name }}!",
        "send_instructions_days": 3,
        "reminder_every_days": 2,
        "invitees": [],
    }
    values.update(over)
    return InviteCreated(**values)


def to_bytes_and_back(msg: EmailMessage) -> EmailMessage:
    parsed = message_from_bytes(msg.as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def build(composed, to_name="Ana Lopez", to_addr="ana@example.edu"):
    return build_message(
        sender=parse_from("Appointment Invites <invites@center.example.edu>"),
        to=make_address(to_name, to_addr),
        composed=composed,
        when=NOW,
        msg_id=message_id("center.example.edu", "iv-1", "instructions", 0),
    )


def test_instruction_email_is_well_formed_with_text_and_html():
    composed = compose_invite_email(invite(), invitee(), kind="instructions", center_name="TC")
    built = build(composed)
    assert built.as_bytes().count(b"\r\n") > 5  # CRLF line ends on the wire
    msg = to_bytes_and_back(built)
    for header in ("Date", "Message-ID", "From", "To", "Subject", "MIME-Version"):
        assert msg[header], header
    assert msg["Message-ID"] == "<iv-1-instructions-0@center.example.edu>"
    assert msg["Subject"] == "Exam by Mar 5"
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "Dear Ana," in text and "Book at TC & bring <ID>." in text
    assert "http://invites.test/i/tok-1" in text
    # HTML: escaped once (not twice), link clickable, lines kept.
    assert "Book at TC &amp; bring &lt;ID&gt;." in html
    assert '<a href="http://invites.test/i/tok-1">' in html
    assert "<br />" in html


def test_reminder_appends_the_reminder_text():
    composed = compose_invite_email(invite(), invitee(), kind="reminder", center_name="TC")
    assert composed.subject.startswith("Reminder: ")
    assert composed.text.index("Book at TC") < composed.text.index("Reminder: still not booked")
    assert "http://invites.test/i/tok-1" in composed.text


def test_link_is_added_when_the_template_forgot_it():
    composed = compose_invite_email(
        invite(email_text="Hi {{ student.first_name }}"),
        invitee(),
        kind="instructions",
        center_name="",
    )
    assert "http://invites.test/i/tok-1" in composed.text


def test_a_template_that_fails_at_render_time_raises_and_builds_nothing():
    broken = invite(email_text="{{ invite.due_date|date('Y', 'Not/AZone') }}")
    with pytest.raises(TemplateProblem):
        compose_invite_email(broken, invitee(), kind="instructions", center_name="")


def test_header_injection_through_a_name_is_impossible():
    evil = invitee(first_name="Eve\r\nBcc: victim@evil.example", last_name="X\nSubject: hacked")
    composed = compose_invite_email(
        invite(subject_template="Hi {{ student.first_name }}"),
        evil,
        kind="instructions",
        center_name="",
    )
    msg = build(composed, to_name=f"{evil.first_name} {evil.last_name}")
    head = msg.as_bytes().split(b"\r\n\r\n", 1)[0]
    parsed = to_bytes_and_back(msg)
    assert parsed["Bcc"] is None
    assert len(parsed.get_all("Subject")) == 1
    assert b"\r\nBcc:" not in head and b"\r\nSubject: hacked" not in head
    assert parsed["To"].addresses[0].addr_spec == "ana@example.edu"
    assert "Eve Bcc: victim@evil.example" in str(parsed["To"])


@pytest.mark.parametrize(
    "bad",
    ["ana@example.edu\r\nBcc: x@y.z", "no-at-sign", "a@b.c>, evil@x.y", "", "a b@c.d", "a@b\n.c"],
)
def test_bad_addresses_are_refused(bad):
    with pytest.raises(BadAddress):
        check_address(bad)


def test_non_ascii_names_are_encoded():
    msg = build(
        compose_invite_email(
            invite(), invitee(first_name="Zoë"), kind="instructions", center_name=""
        ),
        to_name="Zoë Ñúñez",
    )
    raw = msg.as_bytes()
    assert b"=?utf-8?" in raw
    assert to_bytes_and_back(msg)["To"].addresses[0].display_name == "Zoë Ñúñez"


def test_recipients_split_on_semicolons_once_each():
    assert split_recipients(["a@x.edu;b@x.edu", " c@x.edu ; a@x.edu", ""]) == [
        "a@x.edu",
        "b@x.edu",
        "c@x.edu",
    ]


def booked() -> AppointmentBooked:
    return AppointmentBooked(
        appointment_id="ap-1",
        invitee_id="iv-1",
        invite_id="inv-1",
        student_id="S1",
        availability_id="av",
        starts_at=datetime(2026, 3, 4, 15, 0, tzinfo=UTC),
        ends_at=datetime(2026, 3, 4, 16, 30, tzinfo=UTC),
        duration_minutes=90,
        consultant=ConsultantRef(id="c", name="Dr. Who"),
        center=CenterRef(id="ce", name="Testing Center", timezone="America/New_York"),
        modality="in_person",
        kind="one_on_one",
        booked_by="link",
        booked_at=NOW,
    )


def test_confirmation_has_local_times_and_a_parsable_ics():
    composed = compose_confirmation(
        booked(), invitee(), tz=zone("America/New_York"), uid_domain="center.example.edu", now=NOW
    )
    assert "10:00–11:30 (EST)" in composed.text
    assert "Testing Center" in composed.text and "Dr. Who" in composed.text
    assert "http://invites.test/i/tok-1" in composed.text
    msg = to_bytes_and_back(build(composed))
    assert msg.get_content_type() == "multipart/mixed"
    atts = list(msg.iter_attachments())
    assert [a.get_filename() for a in atts] == ["appointment.ics"]
    assert atts[0].get_content_type() == "text/calendar"
    cal = icalendar.Calendar.from_ical(atts[0].get_payload(decode=True))
    events = [c for c in cal.walk("VEVENT")]
    assert len(events) == 1
    event = events[0]
    start = event.decoded("dtstart")
    assert start == datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
    assert str(start.tzinfo) == "America/New_York"
    assert event["dtstart"].params["TZID"] == "America/New_York"
    assert event.decoded("dtend") - start == (booked().ends_at - booked().starts_at)
    assert str(event["uid"]) == "appointment-ap-1@center.example.edu"
    assert [c for c in cal.walk("VTIMEZONE")], "the timezone is described"


def test_ics_timezone_is_the_full_description_and_before_the_event():
    ics = (
        compose_confirmation(
            booked(), invitee(), tz=zone("America/New_York"), uid_domain="d", now=NOW
        )
        .attachments[0]
        .content
    )
    reference = icalendar.Calendar()
    reference.add_component(icalendar.Event())
    reference.subcomponents[0].add(
        "dtstart", datetime(2026, 3, 4, 15, tzinfo=UTC).astimezone(zone("America/New_York"))
    )
    reference.add_missing_timezones()
    expected = reference.walk("VTIMEZONE")[0].to_ical()
    names = [c.name for c in icalendar.Calendar.from_ical(ics).subcomponents]
    assert names == ["VTIMEZONE", "VEVENT"]
    assert expected in ics
    utc = compose_confirmation(booked(), invitee(), tz=zone("UTC"), uid_domain="d", now=NOW)
    assert b"VTIMEZONE" not in utc.attachments[0].content


def test_ics_uid_is_stable_per_appointment():
    one = compose_confirmation(booked(), invitee(), tz=zone("UTC"), uid_domain="d", now=NOW)
    two = compose_confirmation(booked(), invitee(), tz=zone("UTC"), uid_domain="d", now=NOW)
    uid = [
        str(icalendar.Calendar.from_ical(c.attachments[0].content).walk("VEVENT")[0]["uid"])
        for c in (one, two)
    ]
    assert uid[0] == uid[1]


def test_message_ids_are_stable_and_safe():
    assert message_id("d.edu", "iv 1<x>", "reminder", 2) == "<iv_1_x_-reminder-2@d.edu>"
    assert message_id("d.edu", "a", "b", 1) == message_id("d.edu", "a", "b", 1)


# ------------------------------------------------------------------ the fast writer
SENDER = "Appointment Invites <invites@center.example.edu>"


def both_ways(composed, to_name="Ana Lopez", to_addr="ana@example.edu"):
    """The slow builder's and MimeWriter's message for the same input, each parsed back."""
    kwargs = {
        "to": make_address(to_name, to_addr),
        "composed": composed,
        "when": NOW,
        "msg_id": message_id("center.example.edu", "iv-1", "instructions", 0),
    }
    raw = MimeWriter(parse_from(SENDER)).write(**kwargs)
    slow = to_bytes_and_back(build_message(sender=parse_from(SENDER), **kwargs))
    fast = message_from_bytes(raw, policy=policy.default)
    assert isinstance(fast, EmailMessage)
    return raw, slow, fast


def assert_same_message(raw: bytes, slow: EmailMessage, fast: EmailMessage) -> None:
    # On the wire: 7-bit, CRLF only, no line over RFC 5322's limit, nothing malformed.
    assert raw.isascii()
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert not fast.defects and not any(p.defects for p in fast.walk())
    for header in (
        "Date",
        "Message-ID",
        "From",
        "To",
        "Subject",
        "MIME-Version",
        "Auto-Submitted",
    ):
        assert fast.get_all(header) == slow.get_all(header), header
    assert fast["To"].addresses == slow["To"].addresses
    assert fast.get_content_type() == slow.get_content_type()
    for kind in ("plain", "html"):
        slow_part, fast_part = slow.get_body((kind,)), fast.get_body((kind,))
        if slow_part is None:
            assert fast_part is None
            continue
        assert fast_part is not None
        assert fast_part.get_content_type() == slow_part.get_content_type()
        assert fast_part.get_content_charset() == "utf-8"
        assert fast_part.get_content() == slow_part.get_content(), kind


def test_fast_writer_gives_the_same_invite_email_as_the_builder():
    composed = compose_invite_email(invite(), invitee(), kind="instructions", center_name="TC")
    raw, slow, fast = both_ways(composed)
    assert_same_message(raw, slow, fast)
    assert fast["Message-ID"] == "<iv-1-instructions-0@center.example.edu>"
    assert b"\r\nTo: Ana Lopez <ana@example.edu>\r\n" in raw


@pytest.mark.parametrize(
    ("to_name", "subject", "text"),
    [
        ("J. O'Brien, Jr.", "Exam", "plain"),  # specials in the name: quoted
        ('Ann "Nan" Back\\slash', "Exam", "plain"),  # quotes and backslashes escaped
        ("Zoë Ñúñez", "Exam", "plain"),  # non-ASCII name: RFC 2047
        ("", "Exam", "plain"),  # bare address
        ("A" * 90, "Exam", "plain"),  # too long for one line: folded
        ("Ana", "Ihr Prüfungstermin – bitte buchen", "plain"),  # non-ASCII subject
        ("Ana", "Book " * 60, "plain"),  # long subject: folded
        ("Ana", "=?utf-8?q?not_an_encoded_word?=", "plain"),  # looks encoded: left to the stdlib
        ("Ana", "Exam", "Grüße, Zoë ✓\n"),  # non-ASCII body
        ("Ana", "Exam", "x" * 300 + "\nshort\n"),  # long line
        ("Ana", "Exam", "trailing spaces   \nand\ttabs\t\n"),
        ("Ana", "Exam", "--=_boundary-looking line\n.\n.leading dot\nFrom here\n"),
        ("Ana", "Exam", "a = b =3D c\r\nd\re\n\n\n"),  # '=' and mixed line ends
        ("Ana", "Exam", ""),
    ],
)
def test_fast_writer_matches_the_builder_on_awkward_input(to_name, subject, text):
    composed = Composed(subject=subject, text=text, html=email_html(text or "x"))
    raw, slow, fast = both_ways(composed, to_name=to_name)
    assert_same_message(raw, slow, fast)


def test_fast_writer_text_only_and_injection():
    composed = Composed(subject="Hi\r\nBcc: victim@evil.example", text="Body\n")
    raw, slow, fast = both_ways(composed, to_name="Eve\r\nBcc: victim@evil.example")
    assert_same_message(raw, slow, fast)
    assert fast["Bcc"] is None and fast.get_content_type() == "text/plain"


def test_fast_writer_shares_the_prepared_parts_but_not_the_boundary():
    writer = MimeWriter(parse_from(SENDER))
    composed = compose_invite_email(invite(), invitee(), kind="instructions", center_name="TC")
    one, two = (
        writer.write(
            to=make_address("Ana", "ana@example.edu"),
            composed=composed,
            when=NOW,
            msg_id=f"<m{n}@d>",
        )
        for n in (1, 2)
    )
    boundaries = {
        message_from_bytes(raw, policy=policy.default).get_boundary() for raw in (one, two)
    }
    assert len(boundaries) == 2


def test_fast_writer_refuses_attachments():
    composed = compose_report("R", "body", Attachment("r.csv", "text/csv", b"a\n"))
    with pytest.raises(ValueError, match="attachments"):
        MimeWriter(parse_from(SENDER)).write(
            to=make_address("", "a@b.edu"), composed=composed, when=NOW, msg_id="<m@d>"
        )
