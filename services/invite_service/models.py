"""Request and response bodies of the invite service (they also make its OpenAPI fragment)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    model_validator,
)

from shared.events import Modalities, StudentData

from .domain.directory import MAX_IMPORT_ROWS, Identifier, StudentFields
from .domain.fields import (
    blank_to_none,
    clean_line,
    clean_multiline,
    clean_optional_line,
)
from .domain.invites import MAX_STUDENTS
from .domain.widgets import normalize_ask_fields, normalize_types


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _line(max_length: int = 200) -> Any:
    return AfterValidator(lambda v: clean_line(v, max_length=max_length))


def _optional_line(max_length: int) -> Any:
    return AfterValidator(lambda v: clean_optional_line(v, max_length=max_length))


def _optional_text(max_length: int) -> Any:
    return AfterValidator(lambda v: clean_multiline(v, max_length=max_length))


Line = Annotated[str, _line()]
Blank = BeforeValidator(blank_to_none)
TEMPLATE_MAX = 100_000


# ------------------------------------------------------------------ directory
class StudentIn(StudentFields):
    """``PUT /api/v1/students/{student_id}`` (a ``student_id`` in the body must match the path)."""

    student_id: Identifier | None = None


class StudentImportIn(Body):
    """``POST /api/v1/students:import`` as JSON (``text/csv`` is accepted too)."""

    items: list[Any] = Field(max_length=MAX_IMPORT_ROWS)


class StudentOut(StudentData):
    pass


class StudentPage(BaseModel):
    items: list[StudentOut]
    next_cursor: str | None


class ImportResult(BaseModel):
    imported: int
    created: int
    updated: int


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    limit: int = Field(100, ge=1, le=500)
    cursor: str | None = None


class StudentQuery(ListQuery):
    q: Annotated[str | None, Blank, _optional_line(200)] = None
    list: Annotated[str | None, Blank, _optional_line(100)] = None
    section_id: Annotated[str | None, Blank, _optional_line(100)] = None


class SectionIn(Body):
    subject: Line
    course: Line
    section: Line
    term: Annotated[Identifier | None, Blank] = None
    faculty_ids: list[Identifier] = Field(default_factory=list, max_length=100)
    student_ids: list[Identifier] = Field(default_factory=list, max_length=MAX_STUDENTS)


class SectionOut(BaseModel):
    section_id: str
    subject: str
    course: str
    section: str
    term: str | None
    faculty_ids: list[str]
    student_ids: list[str]


class SectionPage(BaseModel):
    items: list[SectionOut]
    next_cursor: str | None


class ReasonIn(Body):
    name: Line


class ReasonOut(BaseModel):
    reason_id: str
    name: str


class ReasonPage(BaseModel):
    items: list[ReasonOut]
    next_cursor: str | None


class TermIn(Body):
    name: Line
    starts_on: date
    ends_on: date

    @model_validator(mode="after")
    def _ordered(self) -> TermIn:
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on must not be before starts_on")
        return self


class TermOut(BaseModel):
    term_id: str
    name: str
    starts_on: date
    ends_on: date


class TermPage(BaseModel):
    items: list[TermOut]
    next_cursor: str | None


# ------------------------------------------------------------------ widgets
Types = Annotated[list[str], BeforeValidator(normalize_types)]
AskFields = Annotated[list[str], AfterValidator(normalize_ask_fields)]
Template = Annotated[
    str,
    Field(max_length=TEMPLATE_MAX),
    AfterValidator(lambda v: clean_multiline(v, max_length=TEMPLATE_MAX)),
]


def _one_line_template(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError("a subject must be one line")
    return value


SubjectTemplate = Annotated[
    str,
    Field(max_length=1000),
    AfterValidator(_one_line_template),
    AfterValidator(lambda v: clean_multiline(v, max_length=1000)),
]


class WidgetPatch(Body):
    """``PATCH /api/v1/widgets/{id}``: only the fields given change."""

    name: Annotated[str, _line()] | None = None
    center_ids: list[Identifier] | None = Field(None, max_length=50)
    is_invitation: StrictBool | None = None
    hide_on_dashboard: StrictBool | None = None
    invitation_types: Types | None = None
    send_instructions_days: Annotated[StrictInt, Field(ge=0, le=365)] | None = None
    invitation_subject: SubjectTemplate | None = None
    invitation_instructions: Template | None = None
    ask_fields: AskFields | None = None
    reminder_every_days: Annotated[StrictInt, Field(ge=1, le=365)] | None = None
    reminder_text: Template | None = None


class WidgetIn(Body):
    """``POST /api/v1/widgets``."""

    name: Line
    center_ids: list[Identifier] = Field(default_factory=list, max_length=50)
    is_invitation: StrictBool = True
    hide_on_dashboard: StrictBool = True
    invitation_types: Types = Field(default_factory=list)
    send_instructions_days: Annotated[StrictInt, Field(ge=0, le=365)] = 0
    invitation_subject: SubjectTemplate | None = None
    invitation_instructions: Template | None = None
    ask_fields: AskFields | None = None
    reminder_every_days: Annotated[StrictInt, Field(ge=1, le=365)] | None = None
    reminder_text: Template = ""


class WidgetOut(BaseModel):
    id: str
    name: str
    center_ids: list[str]
    is_invitation: bool
    hide_on_dashboard: bool
    invitation_types: list[str]
    send_instructions_days: int
    invitation_subject: str
    invitation_instructions: str
    ask_fields: list[str]
    reminder_every_days: int | None
    reminder_text: str
    created_at: datetime
    updated_at: datetime


class WidgetPage(BaseModel):
    items: list[WidgetOut]
    next_cursor: str | None


# ------------------------------------------------------------------ invites
class ModalitiesIn(Body):
    group: StrictBool | None = None
    one_on_one: StrictBool | None = None
    online: StrictBool | None = None
    in_person: StrictBool | None = None


OptionalLine100 = Annotated[str | None, Blank, _optional_line(100)]


class InviteFields(Body):
    """What an invite says, without its students (shared by create and preview)."""

    widget_id: Annotated[str, Field(min_length=1, max_length=100)]
    due_date: date
    email_text: Annotated[Template | None, Blank] = None
    type: OptionalLine100 = None
    section_id: Annotated[Identifier | None, Blank] = None
    reason_id: Annotated[Identifier | None, Blank] = None
    duration_minutes: StrictInt | None = None
    exam_code: OptionalLine100 = None
    exam_file: Annotated[str | None, Blank, _optional_line(1000)] = None
    exam_passcode: Annotated[str | None, Blank, _optional_line(200)] = None
    notes: Annotated[str | None, Blank, _optional_text(5000)] = None
    modalities: ModalitiesIn | None = None


class InviteIn(InviteFields):
    """``POST /api/v1/invites``."""

    student_ids: list[Identifier] = Field(max_length=MAX_STUDENTS)


class PreviewIn(InviteFields):
    """``POST /api/v1/invites/preview``: the same body with one ``student_id``."""

    student_id: Identifier


class PreviewOut(BaseModel):
    subject: str
    text: str
    html: str


InviteeStatus = Literal["invited", "booked", "cancelled", "expired"]


class CreatedInvitee(BaseModel):
    id: str
    student_id: str
    status: InviteeStatus


class InviteCreatedOut(BaseModel):
    id: str
    invitees: list[CreatedInvitee]


class SectionBrief(BaseModel):
    section_id: str
    subject: str
    course: str
    section: str


class InviteSummary(BaseModel):
    id: str
    widget_id: str
    widget_name: str
    type: str | None
    due_date: date
    section_id: str | None
    section: SectionBrief | None
    reason_id: str | None
    reason: ReasonOut | None
    duration_minutes: int | None
    created_by: str
    created_by_name: str
    created_at: datetime
    status: Literal["active", "cancelled"]
    invitee_count: int
    counts: dict[str, int]


class InvitePage(BaseModel):
    items: list[InviteSummary]
    next_cursor: str | None


class InviteQuery(ListQuery):
    widget_id: Annotated[str | None, Blank, _optional_line(100)] = None
    type: Annotated[str | None, Blank, _optional_line(100)] = None
    created_by: Annotated[str | None, Blank, _optional_line(200)] = None
    status: Literal["active", "cancelled"] | None = None


class InviteeOut(BaseModel):
    id: str
    student_id: str
    name: str
    email: str
    status: InviteeStatus
    instructions_sent_at: datetime | None
    reminders_sent: int
    last_delivery_error: str | None
    appointment_id: str | None


class InviteDetail(InviteSummary):
    center_ids: list[str]
    exam_code: str | None
    exam_file: str | None
    exam_passcode: str | None
    notes: str | None
    modalities: Modalities
    email_text: str
    cancelled_at: datetime | None
    cancelled_by: str | None
    invitees: list[InviteeOut]
