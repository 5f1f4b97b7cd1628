"""The preview rendering and the opaque listing cursors."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.invite_service.domain.invites import (
    NewInvitee,
    RenderFailed,
    build_invite_created,
    render_invite_email,
)
from services.invite_service.domain.pagination import BadCursor, decode_cursor, encode_cursor
from services.invite_service.domain.rules import DurationRulesIn
from services.invite_service.models import InviteIn
from shared.events import Modalities, ReasonRef, SectionRef, StudentData, WidgetData
from shared.templates import DEFAULT_SUBJECT


def event(email_text: str | None = None, subject: str = "", first_name: str = "Ana"):
    widget = WidgetData(
        widget_id="w1",
        name="W",
        invitation_types=["Exam"],
        invitation_subject=subject,
        invitation_instructions="Book by {{ invite.due_date }} at {{ center.name }}:\n{{ link }}",
        reminder_text="Reminder",
        send_instructions_days=3,
        reminder_every_days=2,
        center_ids=["c1"],
    )
    body = InviteIn.model_validate(
        {"widget_id": "w1", "student_ids": ["s1"], "due_date": "2025-05-02", "type": "Exam",
         "email_text": email_text}
    )  # fmt: skip
    student = StudentData(
        student_id="s1", first_name=first_name, last_name="Lima", email="a@example.edu"
    )
    return build_invite_created(
        invite_id="i1",
        widget=widget,
        fields=body,
        modalities=Modalities(),
        section=SectionRef(section_id="S", subject="MATH", course="101", section="01"),
        reason=ReasonRef(reason_id="r", name="Exam"),
        created_by="u1",
        created_at=datetime(2025, 4, 1, tzinfo=UTC),
        invitees=[NewInvitee("v1", student, "0" * 64, "http://x/i/TOKEN")],
    )


def test_event_takes_widget_settings_and_defaults():
    e = event()
    assert e.subject_template == DEFAULT_SUBJECT  # widget left it empty
    assert e.email_text == e.instructions_template  # no email_text: the widget's instructions
    assert (e.reminder_every_days, e.send_instructions_days) == (2, 3)
    assert e.invitees[0].link == "http://x/i/TOKEN"
    assert e.due_date == date(2025, 5, 2)


def test_preview_renders_instructions_into_email_text_text_and_html():
    e = event(email_text="Dear {{ student.first_name }},\n{{ instructions }}", first_name="<Ana>")
    out = render_invite_email(e, e.invitees[0], center_name="North & South")
    assert out.text == "Dear <Ana>,\nBook by 2025-05-02 at North & South:\nhttp://x/i/TOKEN"
    # The HTML part is what notify sends: escaped text, line breaks, a clickable link.
    assert out.html == (
        "Dear &lt;Ana&gt;,<br />\nBook by 2025-05-02 at North &amp; South:<br />\n"
        '<a href="http://x/i/TOKEN">http://x/i/TOKEN</a>'
    )
    assert out.subject == "Exam invitation: please book by 2025-05-02"


def test_a_template_without_the_link_gets_it_appended():
    e = event(email_text="Just {{ student.first_name }}")
    out = render_invite_email(e, e.invitees[0])
    assert out.text == "Just Ana\n\nBook your appointment here: http://x/i/TOKEN\n"
    assert out.html.endswith(
        'Book your appointment here: <a href="http://x/i/TOKEN">http://x/i/TOKEN</a><br />\n'
    )


def test_subject_is_folded_onto_one_line():
    e = event(subject="{{ student.first_name }}   {{ invite.type }}", first_name="Ana")
    assert render_invite_email(e, e.invitees[0]).subject == "Ana Exam"


def test_render_failure_names_the_field():
    e = event(email_text="{{ student.first_name|date('Y') }}{{ 1/0 }}")
    with pytest.raises(RenderFailed) as exc:
        render_invite_email(e, e.invitees[0])
    assert exc.value.entry["field"] == "email_text"


def test_cursors_round_trip_and_reject_forgeries():
    cursor = encode_cursor(["2025-01-01T00:00:00+00:00", "abc"])
    assert decode_cursor(cursor, 2) == ["2025-01-01T00:00:00+00:00", "abc"]
    for bad in ["!!!", encode_cursor(["a"]), "bm90IGpzb24", encode_cursor([1, 2])]:
        with pytest.raises(BadCursor):
            decode_cursor(bad, 2)


def test_duration_rules_input():
    rules = DurationRulesIn.model_validate(
        [
            {"list": "Active", "type": "Exam", "duration_minutes": 60, "new_duration_minutes": 90},
            {"list": "", "type": None, "new_duration_minutes": 45},
        ]
    ).to_rules()
    assert rules[1].list is None and rules[1].duration_minutes is None
    from pydantic import ValidationError

    for bad in [
        [{"new_duration_minutes": 0}],
        [{"new_duration_minutes": 90.5}],
        [{"list": "A;B", "new_duration_minutes": 90}],
        [{"new_duration_minutes": 90, "extra": 1}],
        [{}],
        {"rules": []},
    ]:
        with pytest.raises(ValidationError):
            DurationRulesIn.model_validate(bad)
