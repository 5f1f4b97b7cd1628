"""The contract between services: the event envelope and every versioned event.

Each event is one pydantic model whose ``type`` and ``version`` are literals;
``parse_event`` reads raw bytes through one TypeAdapter over the union of all
of them. Consumers ignore payload fields they do not know (``extra="ignore"``),
so a producer may add optional fields without a version bump; removing or
changing a field needs a new version (tests/unit/test_event_schemas.py guards
the committed JSON Schemas).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from shared.logs import correlation_id_var


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# ---------------------------------------------------------------- directory
class StudentData(Payload):
    student_id: str
    first_name: str
    last_name: str
    email: str
    lists: list[str] = []


class StudentsUpserted(Payload):
    """One or many students created or changed (an import is one event)."""

    students: list[StudentData]


class SectionUpserted(Payload):
    section_id: str
    subject: str
    course: str
    section: str
    term_id: str | None = None
    faculty_ids: list[str] = []
    student_ids: list[str] = []


class ReasonUpserted(Payload):
    reason_id: str
    name: str


class TermUpserted(Payload):
    term_id: str
    name: str
    starts_on: date
    ends_on: date


# ---------------------------------------------------------------- widgets
class WidgetData(Payload):
    widget_id: str
    name: str
    center_ids: list[str] = []
    is_invitation: bool = True
    hide_on_dashboard: bool = True
    invitation_types: list[str] = []
    send_instructions_days: int = 0
    invitation_subject: str = ""
    invitation_instructions: str = ""
    ask_fields: list[str] = []
    reminder_every_days: int | None = None
    reminder_text: str = ""


# ---------------------------------------------------------------- invites
class Modalities(Payload):
    in_person: bool = True
    online: bool = False
    one_on_one: bool = True
    group: bool = True


class SectionRef(Payload):
    section_id: str
    subject: str
    course: str
    section: str


class ReasonRef(Payload):
    reason_id: str
    name: str


class InviteeData(Payload):
    invitee_id: str
    student_id: str
    first_name: str
    last_name: str
    email: str
    lists: list[str] = []
    # sha256 hex of the personal link token; search resolves links by it.
    token_hash: str
    # The personal URL, so notify can render it; only notify keeps it.
    link: str


class InviteCreated(Payload):
    invite_id: str
    widget_id: str
    widget_name: str = ""
    center_ids: list[str] = []
    created_by: str
    created_at: datetime
    type: str | None = None
    due_date: date
    section: SectionRef | None = None
    reason: ReasonRef | None = None
    duration_minutes: int | None = None
    exam_code: str | None = None
    exam_file: str | None = None
    exam_passcode: str | None = None
    notes: str | None = None
    modalities: Modalities = Modalities()
    subject_template: str
    email_text: str
    instructions_template: str
    reminder_text: str = ""
    send_instructions_days: int = 0
    reminder_every_days: int | None = None
    invitees: list[InviteeData]


class InviteCancelled(Payload):
    invite_id: str
    invitee_ids: list[str]
    cancelled_at: datetime
    cancelled_by: str


InviteeStatus = Literal["invited", "booked", "cancelled", "expired"]


class InviteeStatusChanged(Payload):
    invitee_id: str
    invite_id: str
    status: InviteeStatus


class DurationRule(Payload):
    list: str | None = None
    type: str | None = None
    duration_minutes: int | None = None
    new_duration_minutes: int


class DurationRulesChanged(Payload):
    rules: list[DurationRule]


# ---------------------------------------------------------------- search
class CenterUpserted(Payload):
    center_id: str
    name: str
    timezone: str
    slot_interval_minutes: int = 30
    default_appointment_minutes: int = 60


class ConsultantRef(Payload):
    id: str
    name: str


class CenterRef(Payload):
    id: str
    name: str
    timezone: str = "UTC"


class AppointmentBooked(Payload):
    appointment_id: str
    invitee_id: str
    invite_id: str
    student_id: str
    availability_id: str
    starts_at: datetime
    ends_at: datetime
    duration_minutes: int
    asked_duration_minutes: int | None = None
    applied_rule: DurationRule | None = None
    consultant: ConsultantRef
    center: CenterRef
    modality: str
    kind: str
    booked_by: str
    booked_at: datetime


class AppointmentCancelled(Payload):
    appointment_id: str
    invitee_id: str
    invite_id: str
    cancelled_at: datetime
    cancelled_by: str


class AttendanceMarked(Payload):
    appointment_id: str
    invitee_id: str
    invite_id: str
    attendance: Literal["pending", "attended", "no_show"]


# ---------------------------------------------------------------- notify
EmailKind = Literal["instructions", "reminder", "confirmation", "report"]


class EmailSent(Payload):
    message_id: str
    kind: EmailKind
    sequence: int = 0
    invitee_id: str | None = None
    invite_id: str | None = None
    delivery_id: str | None = None
    sent_at: datetime


class EmailBatchSent(Payload):
    """Emails one notify transaction recorded as sent: one event per batch, not per email.

    Consumers apply the whole list in one transaction (``email.sent`` is still
    accepted, for messages already queued when a producer was upgraded).
    """

    emails: list[EmailSent] = Field(min_length=1)


class EmailFailed(Payload):
    message_id: str
    kind: EmailKind
    sequence: int = 0
    invitee_id: str | None = None
    invite_id: str | None = None
    delivery_id: str | None = None
    error: str
    permanent: bool
    failed_at: datetime


# ---------------------------------------------------------------- report
class ReportDeliveryRequested(Payload):
    delivery_id: str
    recipients: list[str]
    subject: str
    body_text: str
    filename: str
    content_type: str
    content_base64: str


# ------------------------------------------------------------ the envelope
class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    producer: str
    correlation_id: str | None = None


def _event(name: str, payload: type[Payload], version: int = 1) -> type[_Envelope]:
    model = type(
        f"{payload.__name__}Event",
        (_Envelope,),
        {
            "__annotations__": {
                "type": Literal[name],
                "version": Literal[version],
                "payload": payload,
            },
            "__module__": __name__,
        },
    )
    return model


EVENT_PAYLOADS: dict[str, type[Payload]] = {
    "directory.students_upserted": StudentsUpserted,
    "directory.section_upserted": SectionUpserted,
    "directory.reason_upserted": ReasonUpserted,
    "directory.term_upserted": TermUpserted,
    "widget.created": WidgetData,
    "widget.updated": WidgetData,
    "invite.created": InviteCreated,
    "invite.cancelled": InviteCancelled,
    "invitee.status_changed": InviteeStatusChanged,
    "duration_rules.changed": DurationRulesChanged,
    "center.upserted": CenterUpserted,
    "appointment.booked": AppointmentBooked,
    "appointment.cancelled": AppointmentCancelled,
    "appointment.attendance_marked": AttendanceMarked,
    "email.sent": EmailSent,
    "email.batch_sent": EmailBatchSent,
    "email.failed": EmailFailed,
    "report.delivery_requested": ReportDeliveryRequested,
}

EVENT_MODELS: dict[str, type[_Envelope]] = {
    name: _event(name, payload) for name, payload in EVENT_PAYLOADS.items()
}

_union: Any = EVENT_MODELS["directory.students_upserted"]
for _model in list(EVENT_MODELS.values())[1:]:
    _union = _union | _model
_EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(Annotated[_union, Field(discriminator="type")])


class EventEnvelope(_Envelope):
    """The generic view of an event (payload untyped), e.g. for logs and parking."""

    type: str
    version: int
    payload: dict[str, Any]


def make_event(
    type_: str,
    payload: Payload,
    *,
    producer: str,
    occurred_at: datetime | None = None,
    correlation_id: str | None = None,
) -> Any:
    """Build a typed event; the correlation id defaults to the current request's."""
    model = EVENT_MODELS[type_]
    expected = EVENT_PAYLOADS[type_]
    if not isinstance(payload, expected):
        raise TypeError(f"{type_} takes {expected.__name__}, not {type(payload).__name__}")
    fields: dict[str, Any] = {
        "type": type_,
        "version": 1,
        "producer": producer,
        "payload": payload,
        "correlation_id": correlation_id or correlation_id_var.get() or str(uuid.uuid4()),
    }
    if occurred_at is not None:
        fields["occurred_at"] = occurred_at
    return model(**fields)


def parse_event(raw: bytes | str) -> Any:
    """Validate raw JSON as one of the known events; raises pydantic.ValidationError."""
    return _EVENT_ADAPTER.validate_json(raw)


def dump_event(event: _Envelope) -> bytes:
    return event.model_dump_json().encode()


def event_json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of each event version, keyed 'type@vN'."""
    return {f"{name}@v1": model.model_json_schema() for name, model in sorted(EVENT_MODELS.items())}
