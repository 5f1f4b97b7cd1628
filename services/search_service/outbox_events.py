"""The events this service emits (always through the outbox, in the writer's transaction)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AttendanceMarked,
    CenterRef,
    CenterUpserted,
    ConsultantRef,
    DurationRule,
    make_event,
)

PRODUCER = "search_service"


def center_event(row: Any) -> Any:
    return make_event(
        "center.upserted",
        CenterUpserted(
            center_id=row["id"],
            name=row["name"],
            timezone=row["timezone"],
            slot_interval_minutes=row["slot_interval_minutes"],
            default_appointment_minutes=row["default_appointment_minutes"],
        ),
        producer=PRODUCER,
    )


def booked_event(values: dict[str, Any], avail: Any, rule: DurationRule | None) -> Any:
    return make_event(
        "appointment.booked",
        AppointmentBooked(
            appointment_id=values["id"],
            invitee_id=values["invitee_id"],
            invite_id=values["invite_id"],
            student_id=values["student_id"],
            availability_id=values["availability_id"],
            starts_at=values["starts_at"],
            ends_at=values["ends_at"],
            duration_minutes=values["duration_minutes"],
            asked_duration_minutes=values["asked_duration_minutes"],
            applied_rule=rule,
            consultant=ConsultantRef(id=avail["consultant_id"], name=avail["consultant_name"]),
            center=CenterRef(
                id=avail["center_id"], name=avail["center_name"], timezone=avail["timezone"]
            ),
            modality=avail["modality"],
            kind=avail["kind"],
            booked_by=values["booked_by"],
            booked_at=values["booked_at"],
        ),
        producer=PRODUCER,
    )


def cancelled_event(
    appointment_id: str, invitee_id: str, invite_id: str, when: datetime, by: str
) -> Any:
    return make_event(
        "appointment.cancelled",
        AppointmentCancelled(
            appointment_id=appointment_id,
            invitee_id=invitee_id,
            invite_id=invite_id,
            cancelled_at=when,
            cancelled_by=by,
        ),
        producer=PRODUCER,
    )


def attendance_event(row: Any, attendance: str) -> Any:
    return make_event(
        "appointment.attendance_marked",
        AttendanceMarked(
            appointment_id=row["id"],
            invitee_id=row["invitee_id"],
            invite_id=row["invite_id"],
            attendance=attendance,
        ),
        producer=PRODUCER,
    )
