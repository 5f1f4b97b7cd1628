"""Rows → response bodies. Times are shown with the center's offset; cursors are opaque."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.search_service.models import (
    AppliedRule,
    AppointmentDetail,
    AppointmentOut,
    AvailabilityOut,
    CenterOut,
    ConsultantOut,
    InviteBlock,
    Ref,
    StudentAppointmentOut,
)
from shared.errors import field_problem


def local(when: datetime, timezone: str) -> datetime:
    return when.astimezone(ZoneInfo(timezone))


def center_out(row: Any) -> CenterOut:
    return CenterOut(**dict(row))


def consultant_out(row: Any) -> ConsultantOut:
    return ConsultantOut(**dict(row))


def availability_out(row: Any, booked: int = 0) -> AvailabilityOut:
    tz = row["timezone"]
    return AvailabilityOut(
        id=row["id"],
        consultant=Ref(id=row["consultant_id"], name=row["consultant_name"]),
        center=Ref(id=row["center_id"], name=row["center_name"]),
        starts_at=local(row["starts_at"], tz),
        ends_at=local(row["ends_at"], tz),
        modality=row["modality"],
        kind=row["kind"],
        capacity=row["capacity"],
        section_ids=list(row["section_ids"]),
        reason_ids=list(row["reason_ids"]),
        booked=booked,
        created_at=row["created_at"],
    )


def appointment_out(row: Any) -> AppointmentOut:
    tz = row["timezone"]
    return AppointmentOut(
        id=row["id"],
        starts_at=local(row["starts_at"], tz),
        ends_at=local(row["ends_at"], tz),
        duration_minutes=row["duration_minutes"],
        status=row["status"],
        attendance=row["attendance"],
        availability_id=row["availability_id"],
        consultant=Ref(id=row["consultant_id"], name=row["consultant_name"]),
        center=Ref(id=row["center_id"], name=row["center_name"]),
        modality=row["modality"],
        kind=row["kind"],
        student_id=row["student_id"],
        invitee_id=row["invitee_id"],
        invite_id=row["invite_id"],
        booked_by=row["booked_by"],
        booked_at=local(row["booked_at"], tz),
        cancelled_at=local(row["cancelled_at"], tz) if row["cancelled_at"] else None,
        cancelled_by=row["cancelled_by"],
    )


def appointment_detail(row: Any, invite: Any) -> AppointmentDetail:
    rule = row["applied_rule"]
    block = InviteBlock(
        type=invite["type"] if invite else None,
        asked_duration_minutes=row["asked_duration_minutes"],
        applied_rule=AppliedRule.model_validate(rule) if rule else None,
        exam_code=invite["exam_code"] if invite else None,
        exam_file=invite["exam_file"] if invite else None,
        exam_passcode=invite["exam_passcode"] if invite else None,
        notes=invite["notes"] if invite else None,
    )
    return AppointmentDetail(**appointment_out(row).model_dump(), invite=block)


def student_appointment_out(row: Any) -> StudentAppointmentOut:
    """What the student sees: no invite block, no staff fields."""
    tz = row["timezone"]
    return StudentAppointmentOut(
        id=row["id"],
        starts_at=local(row["starts_at"], tz),
        ends_at=local(row["ends_at"], tz),
        duration_minutes=row["duration_minutes"],
        status=row["status"],
        availability_id=row["availability_id"],
        consultant=Ref(id=row["consultant_id"], name=row["consultant_name"]),
        center=Ref(id=row["center_id"], name=row["center_name"]),
        modality=row["modality"],
        kind=row["kind"],
        booked_at=local(row["booked_at"], tz),
    )


# ------------------------------------------------------------------ cursors
def encode_cursor(*parts: str) -> str:
    return base64.urlsafe_b64encode("\x1f".join(parts).encode()).decode().rstrip("=")


def decode_cursor(raw: str | None, arity: int) -> list[str] | None:
    if raw is None or raw == "":
        return None
    try:
        parts = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode().split("\x1f")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise field_problem("cursor", "not a cursor this list returned") from exc
    if len(parts) != arity:
        raise field_problem("cursor", "not a cursor this list returned")
    return parts


def decode_time_cursor(raw: str | None) -> tuple[datetime, str] | None:
    parts = decode_cursor(raw, 2)
    if parts is None:
        return None
    try:
        return datetime.fromisoformat(parts[0]), parts[1]
    except ValueError as exc:
        raise field_problem("cursor", "not a cursor this list returned") from exc
