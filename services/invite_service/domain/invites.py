"""Invites: checks against the widget, modalities, due dates, the event, the preview."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.events import (
    InviteCreated,
    InviteeData,
    Modalities,
    ReasonRef,
    SectionRef,
    StudentData,
    WidgetData,
)
from shared.templates import (
    DEFAULT_SUBJECT,
    InviteEmail,
    TemplateProblem,
    compose_invite_email,
)

from .widgets import MODALITY_ASK_FIELDS, problem_entry, template_error

MIN_DURATION = 5
MAX_DURATION = 600
# How far ahead a due date may be: further is almost certainly a typo in the year.
MAX_DUE_AHEAD = timedelta(days=3 * 366)
MAX_STUDENTS = 10_000

FieldError = dict[str, Any]


class ModalitiesLike(Protocol):
    @property
    def group(self) -> bool | None: ...
    @property
    def one_on_one(self) -> bool | None: ...
    @property
    def online(self) -> bool | None: ...
    @property
    def in_person(self) -> bool | None: ...


class InviteFieldsLike(Protocol):
    """What the checks read of an invite body (``models.InviteFields``)."""

    @property
    def widget_id(self) -> str: ...
    @property
    def due_date(self) -> date: ...
    @property
    def email_text(self) -> str | None: ...
    @property
    def type(self) -> str | None: ...
    @property
    def section_id(self) -> str | None: ...
    @property
    def reason_id(self) -> str | None: ...
    @property
    def duration_minutes(self) -> int | None: ...
    @property
    def exam_code(self) -> str | None: ...
    @property
    def exam_file(self) -> str | None: ...
    @property
    def exam_passcode(self) -> str | None: ...
    @property
    def notes(self) -> str | None: ...
    @property
    def modalities(self) -> ModalitiesLike | None: ...


# body field → the ask field of the widget that allows it
ASKED_BY: dict[str, str] = {
    "type": "type",
    "section_id": "section",
    "reason_id": "reason",
    "duration_minutes": "duration",
    "exam_code": "exam_code",
    "exam_file": "exam_file",
    "exam_passcode": "exam_passcode",
    "notes": "notes",
}


def timezone_or_utc(name: str | None) -> ZoneInfo:
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo("UTC")


def local_today(now: datetime, timezone: str | None) -> date:
    """Today's date where the center is (UTC when its timezone is not known)."""
    return now.astimezone(timezone_or_utc(timezone)).date()


def due_date_passed(due: date, now: datetime, timezone: str | None) -> bool:
    """The due date is the last day to book: it has passed once that local day is over."""
    return local_today(now, timezone) > due


def resolve_modalities(
    given: ModalitiesLike | None, ask_fields: Iterable[str]
) -> tuple[Modalities, list[FieldError]]:
    """The invite's modalities; a key the widget does not ask for keeps its default.

    Without ``online`` in the widget's ask fields the invite is in person only, so
    ``online`` and ``in_person`` are fixed; ``group`` and ``one_on_one`` likewise.
    Setting a key the widget does not ask for to anything but its default is a 422.
    """
    defaults = Modalities()
    asked = set(ask_fields) & set(MODALITY_ASK_FIELDS)
    errors: list[FieldError] = []
    values = defaults.model_dump()
    if given is not None:
        for key in ("group", "one_on_one", "online", "in_person"):
            value = getattr(given, key)
            if value is None:
                continue
            # in_person is the other side of online: asked together.
            ask_key = "online" if key == "in_person" else key
            if ask_key not in asked and value != values[key]:
                errors.append(
                    {
                        "field": f"modalities.{key}",
                        "message": f"this widget does not ask for '{ask_key}'",
                    }
                )
                continue
            values[key] = value
    result = Modalities(**values)
    if not errors:
        if not (result.in_person or result.online):
            errors.append({"field": "modalities", "message": "allow in person or online (or both)"})
        if not (result.one_on_one or result.group):
            errors.append({"field": "modalities", "message": "allow one-on-one or group (or both)"})
    return result, errors


def check_invite(
    fields: InviteFieldsLike, widget: WidgetData, *, today: date
) -> tuple[Modalities, list[FieldError]]:
    """Everything about an invite body that the widget and the date decide (no I/O)."""
    errors: list[FieldError] = []
    if not widget.is_invitation:
        errors.append({"field": "widget_id", "message": "this widget is not an invitation widget"})
    asked = set(widget.ask_fields)
    for body_field, ask_field in ASKED_BY.items():
        if getattr(fields, body_field) is not None and ask_field not in asked:
            errors.append(
                {"field": body_field, "message": f"this widget does not ask for '{ask_field}'"}
            )
    if fields.type is not None and "type" in asked and fields.type not in widget.invitation_types:
        allowed = ", ".join(widget.invitation_types) or "none"
        errors.append(
            {
                "field": "type",
                "message": f"'{fields.type}' is not one of this widget's types ({allowed})",
            }
        )
    if fields.duration_minutes is not None and not (
        MIN_DURATION <= fields.duration_minutes <= MAX_DURATION
    ):
        errors.append(
            {
                "field": "duration_minutes",
                "message": f"must be whole minutes from {MIN_DURATION} to {MAX_DURATION}",
            }
        )
    if fields.due_date < today:
        errors.append(
            {"field": "due_date", "message": f"is in the past (today is {today.isoformat()})"}
        )
    elif fields.due_date > today + MAX_DUE_AHEAD:
        errors.append({"field": "due_date", "message": "is more than three years ahead"})
    if fields.email_text is not None:
        problem = template_error("email_text", fields.email_text)
        if problem is not None:
            errors.append(problem)
    modalities, modality_errors = resolve_modalities(fields.modalities, widget.ask_fields)
    errors.extend(modality_errors)
    return modalities, errors


def check_student_ids(student_ids: Sequence[str]) -> list[FieldError]:
    if not student_ids:
        return [{"field": "student_ids", "message": "at least one student is required"}]
    if len(student_ids) > MAX_STUDENTS:
        return [{"field": "student_ids", "message": f"at most {MAX_STUDENTS} students per invite"}]
    repeated = sorted(s for s, n in Counter(student_ids).items() if n > 1)
    if repeated:
        return [
            {
                "field": "student_ids",
                "message": f"listed more than once: {', '.join(repeated[:20])}",
                "ids": repeated,
            }
        ]
    return []


@dataclass(frozen=True)
class NewInvitee:
    """An invitee about to be stored: the raw token lives only until the event is built."""

    invitee_id: str
    student: StudentData
    token_hash: str
    link: str


def build_invite_created(
    *,
    invite_id: str,
    widget: WidgetData,
    fields: InviteFieldsLike,
    modalities: Modalities,
    section: SectionRef | None,
    reason: ReasonRef | None,
    created_by: str,
    created_at: datetime,
    invitees: Sequence[NewInvitee],
) -> InviteCreated:
    """invite.created: everything notify, search and report need, link per invitee."""
    return InviteCreated(
        invite_id=invite_id,
        widget_id=widget.widget_id,
        widget_name=widget.name,
        center_ids=list(widget.center_ids),
        created_by=created_by,
        created_at=created_at,
        type=fields.type,
        due_date=fields.due_date,
        section=section,
        reason=reason,
        duration_minutes=fields.duration_minutes,
        exam_code=fields.exam_code,
        exam_file=fields.exam_file,
        exam_passcode=fields.exam_passcode,
        notes=fields.notes,
        modalities=modalities,
        subject_template=widget.invitation_subject or DEFAULT_SUBJECT,
        email_text=fields.email_text or widget.invitation_instructions,
        instructions_template=widget.invitation_instructions,
        reminder_text=widget.reminder_text,
        send_instructions_days=widget.send_instructions_days,
        reminder_every_days=widget.reminder_every_days,
        invitees=[
            InviteeData(
                invitee_id=i.invitee_id,
                student_id=i.student.student_id,
                first_name=i.student.first_name,
                last_name=i.student.last_name,
                email=i.student.email,
                lists=list(i.student.lists),
                token_hash=i.token_hash,
                link=i.link,
            )
            for i in invitees
        ],
    )


class RenderFailed(Exception):
    """A template failed while rendering; ``entry`` is the 422 error naming the field."""

    def __init__(self, entry: FieldError) -> None:
        super().__init__(entry["message"])
        self.entry = entry


def render_invite_email(
    invite: InviteCreated, invitee: InviteeData, *, center_name: str = ""
) -> InviteEmail:
    """The instruction email for one invitee, as the preview shows it: rendered by
    the same shared function notify_service sends with."""
    try:
        return compose_invite_email(invite, invitee, center_name=center_name)
    except TemplateProblem as exc:
        raise RenderFailed(problem_entry(exc.field or "email_text", exc)) from exc
