"""Contract: a sample of every event the invite service emits validates as the consumers read it.

The samples are built by the service's own code (models, domain builders), dumped
to bytes as the outbox stores them and parsed back with ``shared.events.parse_event``,
the function every consumer uses. The integration tests additionally check that
each of these types really goes out on the bus.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from services.invite_service.api.common import SERVICE
from services.invite_service.domain.invites import NewInvitee, build_invite_created
from services.invite_service.domain.rules import DurationRulesIn
from services.invite_service.models import InviteIn, ModalitiesIn
from shared.events import (
    DurationRulesChanged,
    InviteCancelled,
    InviteeStatusChanged,
    Modalities,
    ReasonRef,
    ReasonUpserted,
    SectionRef,
    SectionUpserted,
    StudentData,
    StudentsUpserted,
    TermUpserted,
    WidgetData,
    dump_event,
    make_event,
    parse_event,
)
from shared.tokens import hash_token, link_for, new_token

EMITTED = {
    "directory.students_upserted",
    "directory.section_upserted",
    "directory.reason_upserted",
    "directory.term_upserted",
    "widget.created",
    "widget.updated",
    "invite.created",
    "invite.cancelled",
    "invitee.status_changed",
    "duration_rules.changed",
}

NOW = datetime(2025, 4, 1, 12, tzinfo=UTC)
WIDGET = WidgetData(
    widget_id="6f1f8a3e-5d55-4d59-9a55-0c1c7a5d9f10",
    name="Testing Center",
    center_ids=["c1"],
    invitation_types=["Exam"],
    invitation_instructions="Hi {{ student.first_name }} {{ link }}",
    ask_fields=["type", "online"],
    reminder_every_days=2,
)


def samples():
    student = StudentData(
        student_id="S1", first_name="Ana", last_name="Lima", email="a@example.edu", lists=["Active"]
    )
    token = new_token()
    body = InviteIn.model_validate(
        {"widget_id": WIDGET.widget_id, "student_ids": ["S1"], "due_date": "2025-04-20",
         "type": "Exam", "modalities": ModalitiesIn(online=True).model_dump()}
    )  # fmt: skip
    invite = build_invite_created(
        invite_id="8b1c5a55-7d55-4f59-8a55-1c1c7a5d9f10",
        widget=WIDGET,
        fields=body,
        modalities=Modalities(online=True),
        section=SectionRef(section_id="M-01", subject="MATH", course="101", section="01"),
        reason=ReasonRef(reason_id="exam", name="Exam"),
        created_by="u1",
        created_at=NOW,
        invitees=[NewInvitee("v1", student, hash_token(token), link_for("http://x", token))],
    )
    return [
        ("directory.students_upserted", StudentsUpserted(students=[student])),
        (
            "directory.section_upserted",
            SectionUpserted(
                section_id="M-01",
                subject="MATH",
                course="101",
                section="01",
                term_id="T",
                faculty_ids=["F1"],
                student_ids=["S1"],
            ),
        ),
        ("directory.reason_upserted", ReasonUpserted(reason_id="exam", name="Exam")),
        (
            "directory.term_upserted",
            TermUpserted(
                term_id="T", name="Fall", starts_on=date(2025, 8, 25), ends_on=date(2025, 12, 19)
            ),
        ),
        ("widget.created", WIDGET),
        ("widget.updated", WIDGET.model_copy(update={"name": "Renamed"})),
        ("invite.created", invite),
        (
            "invite.cancelled",
            InviteCancelled(
                invite_id=invite.invite_id, invitee_ids=["v1"], cancelled_at=NOW, cancelled_by="u1"
            ),
        ),
        (
            "invitee.status_changed",
            InviteeStatusChanged(invitee_id="v1", invite_id=invite.invite_id, status="expired"),
        ),
        (
            "duration_rules.changed",
            DurationRulesChanged(
                rules=DurationRulesIn.model_validate(
                    [
                        {
                            "list": "Active",
                            "type": "Exam",
                            "duration_minutes": 60,
                            "new_duration_minutes": 90,
                        },
                        {"new_duration_minutes": 45},
                    ]
                ).to_rules()
            ),
        ),
    ]


def test_every_emitted_type_has_a_sample():
    assert {t for t, _ in samples()} == EMITTED


def test_each_sample_validates_as_consumers_parse_it():
    for type_, payload in samples():
        event = make_event(type_, payload, producer=SERVICE)
        parsed = parse_event(dump_event(event))
        assert parsed.type == type_ and parsed.version == 1
        assert parsed.payload == payload, type_
        assert parsed.producer == SERVICE


def test_invite_created_carries_what_consumers_need():
    invite = dict(samples())["invite.created"]
    parsed = parse_event(dump_event(make_event("invite.created", invite, producer=SERVICE)))
    p = parsed.payload
    assert p.modalities.online is True
    assert p.subject_template and p.email_text and p.instructions_template
    invitee = p.invitees[0]
    assert invitee.link.startswith("http://x/i/")
    assert invitee.token_hash == hash_token(invitee.link.rsplit("/", 1)[1])
    assert invitee.lists == ["Active"]
