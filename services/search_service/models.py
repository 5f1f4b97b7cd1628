"""Request and response bodies of the search service (they also make its OpenAPI)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

Id = str
ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
MAX_AVAILABILITY = timedelta(hours=24)
MAX_BATCH = 5000


class Strict(BaseModel):
    # Unknown fields are refused so a typo is a clear 422, not silently ignored.
    model_config = ConfigDict(extra="forbid")


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("not a known IANA timezone (e.g. America/New_York)") from exc
    return value


# ------------------------------------------------------------------ centers
class CenterIn(Strict):
    id: str | None = Field(default=None, pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    timezone: str = Field(min_length=1, max_length=64)
    slot_interval_minutes: int = Field(default=30, ge=1, le=1440)
    default_appointment_minutes: int = Field(default=60, ge=1, le=1440)

    _tz = field_validator("timezone")(_check_timezone)


class CenterPatch(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = Field(default=None, min_length=1, max_length=64)
    slot_interval_minutes: int | None = Field(default=None, ge=1, le=1440)
    default_appointment_minutes: int | None = Field(default=None, ge=1, le=1440)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else _check_timezone(value)


class CenterOut(BaseModel):
    id: str
    name: str
    timezone: str
    slot_interval_minutes: int
    default_appointment_minutes: int
    created_at: datetime
    updated_at: datetime


class CenterList(BaseModel):
    items: list[CenterOut]
    next_cursor: str | None = None


# ------------------------------------------------------------------ consultants
class ConsultantIn(Strict):
    id: str | None = Field(default=None, pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")


class ConsultantOut(BaseModel):
    id: str
    name: str
    email: str
    created_at: datetime


class ConsultantList(BaseModel):
    items: list[ConsultantOut]
    next_cursor: str | None = None


class Ref(BaseModel):
    id: str
    name: str


# ------------------------------------------------------------------ availabilities
# Section and reason ids as invite_service names them (no control characters).
RefId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")]
Modality = Literal["in_person", "online"]
Kind = Literal["one_on_one", "group"]


class AvailabilityIn(Strict):
    consultant_id: str = Field(min_length=1, max_length=64)
    center_id: str = Field(min_length=1, max_length=64)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    modality: Modality = "in_person"
    kind: Kind = "one_on_one"
    capacity: int = Field(default=1, ge=1, le=1000)
    section_ids: list[RefId] = Field(default_factory=list, max_length=500)
    reason_ids: list[RefId] = Field(default_factory=list, max_length=500)

    @model_validator(mode="after")
    def _span(self) -> AvailabilityIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.ends_at - self.starts_at > MAX_AVAILABILITY:
            raise ValueError("an availability may last at most 24 hours")
        return self


class AvailabilityBatchIn(Strict):
    items: list[AvailabilityIn] = Field(min_length=1, max_length=MAX_BATCH)


class AvailabilityOut(BaseModel):
    id: str
    consultant: Ref
    center: Ref
    starts_at: datetime
    ends_at: datetime
    modality: str
    kind: str
    capacity: int
    section_ids: list[str]
    reason_ids: list[str]
    booked: int = 0
    created_at: datetime


class AvailabilityList(BaseModel):
    items: list[AvailabilityOut]
    next_cursor: str | None = None


class AvailabilityQuery(BaseModel):
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    consultant_id: str | None = None
    center_id: str | None = None
    limit: int = Field(default=100, ge=1, le=1000)
    cursor: str | None = None


# ------------------------------------------------------------------ the student's link
class SectionView(BaseModel):
    section_id: str
    subject: str
    course: str
    section: str


class ReasonView(BaseModel):
    reason_id: str
    name: str


class ModalitiesView(BaseModel):
    in_person: bool
    online: bool
    one_on_one: bool
    group: bool


class RestrictionsView(BaseModel):
    section: SectionView | None
    reason: ReasonView | None
    duration_minutes: int | None
    modalities: ModalitiesView


class InvitationOut(BaseModel):
    type: str | None
    due_date: date
    instructions: str
    restrictions: RestrictionsView
    status: Literal["invited", "booked"]
    appointment_id: str | None
    centers: list[Ref]


class SlotsQuery(BaseModel):
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None


class SlotOut(BaseModel):
    availability_id: str
    starts_at: datetime
    ends_at: datetime
    duration_minutes: int
    consultant: Ref
    center: Ref
    modality: str
    kind: str


class SlotList(BaseModel):
    items: list[SlotOut]


class BookIn(Strict):
    availability_id: str = Field(min_length=1, max_length=64)
    starts_at: AwareDatetime


class StudentAppointmentOut(BaseModel):
    id: str
    starts_at: datetime
    ends_at: datetime
    duration_minutes: int
    status: str
    availability_id: str
    consultant: Ref
    center: Ref
    modality: str
    kind: str
    booked_at: datetime


# ------------------------------------------------------------------ staff appointments
class AppliedRule(BaseModel):
    list: str | None = None
    type: str | None = None
    duration_minutes: int | None = None
    new_duration_minutes: int


class InviteBlock(BaseModel):
    """The staff-only part of an appointment: never shown through a student's token."""

    type: str | None
    asked_duration_minutes: int | None
    applied_rule: AppliedRule | None
    exam_code: str | None
    exam_file: str | None
    exam_passcode: str | None
    notes: str | None


class AppointmentOut(BaseModel):
    id: str
    starts_at: datetime
    ends_at: datetime
    duration_minutes: int
    status: str
    attendance: str
    availability_id: str
    consultant: Ref
    center: Ref
    modality: str
    kind: str
    student_id: str
    invitee_id: str
    invite_id: str
    booked_by: str
    booked_at: datetime
    cancelled_at: datetime | None = None
    cancelled_by: str | None = None


class AppointmentDetail(AppointmentOut):
    invite: InviteBlock


class AppointmentList(BaseModel):
    items: list[AppointmentOut]
    next_cursor: str | None = None


class AppointmentQuery(BaseModel):
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    consultant_id: str | None = None
    availability_id: str | None = None
    center_id: str | None = None
    student_id: str | None = None
    invite_id: str | None = None
    status: Literal["active", "cancelled"] | None = None
    limit: int = Field(default=100, ge=1, le=1000)
    cursor: str | None = None


class AttendanceIn(Strict):
    attendance: Literal["pending", "attended", "no_show"]
