"""The report's columns: the fixed ones in API.md's order, the allowed extras, and how a
read-store row becomes text cells.

A row is any mapping with the keys the repository's report query selects
(see ``ROW_KEYS``); times are aware datetimes shown in the appointment's
center timezone as ISO 8601 with offset, to the minute.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Row = Mapping[str, Any]

# What the report query selects for every row.
ROW_KEYS: tuple[str, ...] = (
    "appointment_id",
    "invitee_id",
    "invite_id",
    "student_id",
    "first_name",
    "last_name",
    "email",
    "lists",
    "invite_type",
    "starts_at",
    "ends_at",
    "duration_minutes",
    "asked_duration_minutes",
    "consultant_id",
    "consultant_name",
    "booked_by",
    "booked_at",
    "exam_code",
    "exam_passcode",
    "exam_file",
    "attendance",
    "section_id",
    "subject",
    "course",
    "section_name",
    "reason_id",
    "reason_name",
    "due_date",
    "center_id",
    "center_name",
    "timezone",
    "widget_name",
    "term_name",
    "modality",
    "kind",
    "cancelled_at",
    "invitee_status",
    "instructions_sent_at",
    "reminders_sent",
    "last_email_error",
    "notes",
    "created_by",
)


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    render: Callable[[Row, ZoneInfo], str]
    # The row keys ``render`` reads: the query selects only what the columns need.
    needs: tuple[str, ...] = ()


class ZoneCache:
    """ZoneInfo by name; an unknown name falls back to UTC rather than failing a report."""

    def __init__(self) -> None:
        self._zones: dict[str | None, ZoneInfo] = {}

    def get(self, name: str | None) -> ZoneInfo:
        zone = self._zones.get(name)
        if zone is None:
            try:
                zone = ZoneInfo(name) if name else ZoneInfo("UTC")
            except (ZoneInfoNotFoundError, ValueError):
                zone = ZoneInfo("UTC")
            self._zones[name] = zone
        return zone


def text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def local_time(value: datetime | None, zone: ZoneInfo) -> str:
    if value is None:
        return ""
    return value.astimezone(zone).isoformat(timespec="minutes")


def student_name(row: Row) -> str:
    return " ".join(p for p in (row.get("first_name"), row.get("last_name")) if p)


def section_label(row: Row) -> str:
    subject, course, section = row.get("subject"), row.get("course"), row.get("section_name")
    if subject or course:
        label = " ".join(p for p in (subject, course) if p)
        return f"{label}-{section}" if section else label
    return text(row.get("section_id"))


def _field(key: str) -> Callable[[Row, ZoneInfo], str]:
    def render(row: Row, _zone: ZoneInfo) -> str:
        value = row.get(key)
        # Most cells are text already: skip the conversions (hot path of big reports).
        return value if value.__class__ is str else text(value)

    return render


def _time(key: str) -> Callable[[Row, ZoneInfo], str]:
    def render(row: Row, zone: ZoneInfo) -> str:
        value = row.get(key)
        return "" if value is None else value.astimezone(zone).isoformat(timespec="minutes")

    return render


def _lists(row: Row, _zone: ZoneInfo) -> str:
    return "; ".join(row.get("lists") or ())


def _attendance(row: Row, _zone: ZoneInfo) -> str:
    return text(row.get("attendance") or "pending")


def _status(row: Row, _zone: ZoneInfo) -> str:
    return "cancelled" if row.get("cancelled_at") is not None else "booked"


def _plain(key: str, label: str, source: str | None = None) -> Column:
    return Column(key, label, _field(source or key), (source or key,))


def _when(key: str, label: str, source: str) -> Column:
    return Column(key, label, _time(source), (source,))


# API.md: "CSV header (and HTML columns), in this order".
BASE_COLUMNS: tuple[Column, ...] = (
    _plain("student_id", "Student ID"),
    Column("student_name", "Student", lambda r, _z: student_name(r), ("first_name", "last_name")),
    _plain("invite_type", "Type"),
    _when("appointment_start", "Start", "starts_at"),
    _when("appointment_end", "End", "ends_at"),
    _plain("duration_minutes", "Minutes"),
    _plain("consultant", "Consultant", "consultant_name"),
    _plain("booked_by", "Booked by"),
    _when("booked_at", "Booked at", "booked_at"),
    _plain("exam_code", "Exam code"),
    _plain("exam_passcode", "Exam passcode"),
    _plain("exam_file", "Exam file"),
    Column("attendance", "Attendance", _attendance, ("attendance",)),
    Column(
        "section",
        "Section",
        lambda r, _z: section_label(r),
        ("subject", "course", "section_name", "section_id"),
    ),
    _plain("reason", "Reason", "reason_name"),
)

# The allow-list of ``fields``: extra columns appended in the order asked.
EXTRA_COLUMNS: dict[str, Column] = {
    c.key: c
    for c in (
        _plain("student_email", "Student email", "email"),
        _plain("student_first_name", "First name", "first_name"),
        _plain("student_last_name", "Last name", "last_name"),
        Column("student_lists", "Student lists", _lists, ("lists",)),
        _plain("due_date", "Due date"),
        _plain("center", "Center", "center_name"),
        _plain("widget", "Widget", "widget_name"),
        _plain("subject", "Subject"),
        _plain("course", "Course"),
        _plain("term", "Term", "term_name"),
        _plain("section_id", "Section ID"),
        _plain("reason_id", "Reason ID"),
        _plain("modality", "Modality"),
        _plain("kind", "Kind"),
        _plain("asked_duration_minutes", "Asked minutes"),
        _plain("notes", "Staff notes"),
        _plain("created_by", "Invited by"),
        Column("status", "Status", _status, ("cancelled_at",)),
        _when("cancelled_at", "Cancelled at", "cancelled_at"),
        _plain("invitee_status", "Invitee status"),
        _when("instructions_sent_at", "Instructions sent at", "instructions_sent_at"),
        _plain("reminders_sent", "Reminders sent"),
        _plain("last_email_error", "Last email error"),
        _plain("consultant_id", "Consultant ID"),
        _plain("center_id", "Center ID"),
        _plain("invite_id", "Invite ID"),
        _plain("invitee_id", "Invitee ID"),
        _plain("appointment_id", "Appointment ID"),
    )
}
_BASE_KEYS = frozenset(c.key for c in BASE_COLUMNS)


class UnknownFields(ValueError):
    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        super().__init__(
            f"unknown field(s): {', '.join(self.names)}; allowed: {', '.join(EXTRA_COLUMNS)}"
        )


def parse_fields(raw: str | Iterable[str] | None) -> tuple[str, ...]:
    """The extra columns asked for (comma list or list), in order, without repeats.

    Base columns named again are ignored (they are always there); anything not
    on the allow-list is refused as a whole, naming every unknown name.
    """
    if raw is None:
        return ()
    parts = raw.split(",") if isinstance(raw, str) else [p for item in raw for p in item.split(",")]
    names = [p.strip() for p in parts if p.strip()]
    unknown = [n for n in names if n not in EXTRA_COLUMNS and n not in _BASE_KEYS]
    if unknown:
        raise UnknownFields(list(dict.fromkeys(unknown)))
    return tuple(dict.fromkeys(n for n in names if n not in _BASE_KEYS))


def columns_for(extra: Iterable[str]) -> tuple[Column, ...]:
    return BASE_COLUMNS + tuple(EXTRA_COLUMNS[name] for name in extra)


# Always read: the timezone of the times, what totals count, the stable order.
_ALWAYS = ("appointment_id", "timezone", "duration_minutes", "attendance")
_GROUP_NEEDS = {
    "type": ("invite_type",),
    "reason": ("reason_name", "reason_id"),
    "section": ("subject", "course", "section_name", "section_id"),
    "consultant": ("consultant_name", "consultant_id"),
}


def needed_keys(columns: Iterable[Column], group_by: str | None = None) -> tuple[str, ...]:
    """The row keys a report must select, in ROW_KEYS order."""
    wanted = set(_ALWAYS)
    for column in columns:
        wanted.update(column.needs)
    if group_by is not None:
        wanted.update(_GROUP_NEEDS[group_by])
    return tuple(k for k in ROW_KEYS if k in wanted)


class RowFormatter:
    """Turns rows into text cells for a fixed set of columns (zones cached per name)."""

    def __init__(self, columns: Sequence[Column]) -> None:
        self.columns = tuple(columns)
        self._renders = tuple(c.render for c in self.columns)
        self._zones = ZoneCache()

    def cells(self, row: Row) -> list[str]:
        zone = self._zones.get(row.get("timezone"))
        return [render(row, zone) for render in self._renders]
