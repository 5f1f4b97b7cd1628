"""Turning the pages' HTML forms into the services' JSON bodies (and back), without I/O.

A form arrives as ``{name: [values...]}``. Every function here returns the body it
built and the per-field errors it found, so a page can show them next to the inputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

Form = Mapping[str, list[str]]
Errors = list[dict[str, str]]

# Every field a widget may ask for (API.md "Widgets").
ASK_FIELDS: tuple[tuple[str, str], ...] = (
    ("type", "Type"),
    ("section", "Section"),
    ("reason", "Reason"),
    ("duration", "Duration"),
    ("exam_code", "Exam code"),
    ("exam_file", "Exam file"),
    ("exam_passcode", "Exam passcode"),
    ("notes", "Notes"),
    ("group", "Group appointments"),
    ("one_on_one", "One-on-one appointments"),
    ("online", "Online appointments"),
)
MODALITY_FIELDS = ("group", "one_on_one", "online")
# Without the widget asking, an invite finds in-person one-on-one and group times.
MODALITY_DEFAULTS = {"in_person": True, "online": False, "one_on_one": True, "group": True}

REPORT_PRESETS: tuple[tuple[str, str], ...] = (
    ("today", "Today"),
    ("yesterday", "Yesterday"),
    ("this_week", "This week"),
    ("last_week", "Last week"),
    ("this_month", "This month"),
    ("last_month", "Last month"),
    ("this_semester", "This semester"),
    ("last_semester", "Last semester"),
    ("this_year", "This year"),
)
REPORT_EXTRA_FIELDS: tuple[tuple[str, str], ...] = (
    ("student_email", "Student email"),
    ("student_first_name", "First name"),
    ("student_last_name", "Last name"),
    ("student_lists", "Student lists"),
    ("due_date", "Due date"),
    ("center", "Center"),
    ("widget", "Widget"),
    ("subject", "Subject"),
    ("course", "Course"),
    ("term", "Term"),
    ("modality", "Modality"),
    ("kind", "Kind"),
    ("asked_duration_minutes", "Asked minutes"),
    ("notes", "Staff notes"),
    ("created_by", "Invited by"),
    ("status", "Status"),
    ("invitee_status", "Invitee status"),
    ("instructions_sent_at", "Instructions sent at"),
    ("reminders_sent", "Reminders sent"),
    ("last_email_error", "Last email error"),
)
REPORT_GROUPS = ("type", "reason", "section", "consultant")


def form_from(items: Iterable[tuple[str, Any]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in items:
        if isinstance(value, str):
            out.setdefault(key, []).append(value)
    return out


def first(form: Form, name: str) -> str:
    values = form.get(name) or [""]
    return values[0].strip()


def checked(form: Form, name: str) -> bool:
    return first(form, name) in ("on", "true", "1", "yes")


def parse_ids(*chunks: str) -> list[str]:
    """Student ids from hidden fields: comma or whitespace separated, order kept, no repeats."""
    seen: dict[str, None] = {}
    for chunk in chunks:
        for part in chunk.replace(",", " ").split():
            seen.setdefault(part.strip(), None)
    return [s for s in seen if s]


def _int(
    form: Form, name: str, errors: Errors, *, field: str | None = None, low: int = 0
) -> int | None:
    raw = first(form, name)
    if raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        errors.append({"field": field or name, "message": "must be a whole number"})
        return None
    if value < low:
        errors.append({"field": field or name, "message": f"must be at least {low}"})
        return None
    return value


def _date(form: Form, name: str, errors: Errors, *, required: bool) -> str | None:
    raw = first(form, name)
    if raw == "":
        if required:
            errors.append({"field": name, "message": "is required"})
        return None
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        errors.append({"field": name, "message": "must be a date (YYYY-MM-DD)"})
        return None


# ------------------------------------------------------------------ invites
def invite_body(form: Form, ask_fields: Iterable[str]) -> tuple[dict[str, Any], Errors]:
    """The ``POST /api/v1/invites`` body (without students) for exactly the asked fields."""
    asked = set(ask_fields)
    errors: Errors = []
    body: dict[str, Any] = {"widget_id": first(form, "widget_id")}
    body["due_date"] = _date(form, "due_date", errors, required=True)
    email_text = (form.get("email_text") or [""])[0]
    if email_text.strip():
        body["email_text"] = email_text.replace("\r\n", "\n")
    if "type" in asked:
        body["type"] = first(form, "type") or None
    if "section" in asked:
        body["section_id"] = first(form, "section_id") or None
    if "reason" in asked:
        body["reason_id"] = first(form, "reason_id") or None
    if "duration" in asked:
        body["duration_minutes"] = _int(form, "duration_minutes", errors, low=1)
    for name in ("exam_code", "exam_file", "exam_passcode", "notes"):
        if name in asked:
            body[name] = first(form, name) or None
    asked_modalities = [m for m in MODALITY_FIELDS if m in asked]
    if asked_modalities:
        modalities = {m: checked(form, m) for m in asked_modalities}
        modalities["in_person"] = checked(form, "in_person") if "online" in asked else True
        if not any(modalities.values()):
            errors.append({"field": "modalities", "message": "choose at least one"})
        body["modalities"] = modalities
    return body, errors


def modality_defaults(values: Form | None) -> dict[str, bool]:
    """What the invite form's modality boxes show: the submitted values, else the defaults."""
    if values is None or "widget_submitted" not in values:
        return dict(MODALITY_DEFAULTS)
    return {m: checked(values, m) for m in MODALITY_DEFAULTS}


# ------------------------------------------------------------------ duration rules
@dataclass(frozen=True)
class RuleRow:
    index: int
    list: str
    type: str
    duration_minutes: str
    new_duration_minutes: str


def rule_rows(form: Form) -> list[RuleRow]:
    indices = sorted(
        {int(k.split("-")[1]) for k in form if k.startswith("rule-") and k.split("-")[1].isdigit()}
    )
    return [
        RuleRow(
            i,
            first(form, f"rule-{i}-list"),
            first(form, f"rule-{i}-type"),
            first(form, f"rule-{i}-duration_minutes"),
            first(form, f"rule-{i}-new_duration_minutes"),
        )
        for i in indices
        if not checked(form, f"rule-{i}-delete")
    ]


def rules_body(form: Form) -> tuple[list[dict[str, Any]], Errors]:
    """The whole ordered list for ``PUT /api/v1/duration-rules``; blank rows are skipped."""
    errors: Errors = []
    ordered: list[tuple[float, int, dict[str, Any]]] = []
    for row in rule_rows(form):
        if not (row.list or row.type or row.duration_minutes or row.new_duration_minutes):
            continue
        i = row.index
        rule: dict[str, Any] = {
            "list": row.list or None,
            "type": row.type or None,
            "duration_minutes": _int(
                form,
                f"rule-{i}-duration_minutes",
                errors,
                field=f"rules[{i}].duration_minutes",
                low=1,
            ),
        }
        new = _int(
            form,
            f"rule-{i}-new_duration_minutes",
            errors,
            field=f"rules[{i}].new_duration_minutes",
            low=1,
        )
        if new is None and not any(
            e["field"] == f"rules[{i}].new_duration_minutes" for e in errors
        ):
            errors.append({"field": f"rules[{i}].new_duration_minutes", "message": "is required"})
        rule["new_duration_minutes"] = new
        raw_position = first(form, f"rule-{i}-position")
        try:
            position = float(raw_position) if raw_position else float(i + 1)
        except ValueError:
            errors.append({"field": f"rules[{i}].position", "message": "must be a number"})
            position = float(i + 1)
        ordered.append((position, i, rule))
    ordered.sort(key=lambda item: (item[0], item[1]))
    return [rule for _, _, rule in ordered], errors


# ------------------------------------------------------------------ widgets
def widget_body(form: Form) -> tuple[dict[str, Any], Errors]:
    """The widget's invite settings from the admin form (a full replacement of the fields)."""
    errors: Errors = []
    body: dict[str, Any] = {
        "name": first(form, "name"),
        "center_ids": [c for c in (form.get("center_ids") or []) if c.strip()],
        "is_invitation": checked(form, "is_invitation"),
        "hide_on_dashboard": checked(form, "hide_on_dashboard"),
        "invitation_types": [
            t.strip() for t in first(form, "invitation_types").split(";") if t.strip()
        ],
        "invitation_instructions": (form.get("invitation_instructions") or [""])[0].replace(
            "\r\n", "\n"
        ),
        "ask_fields": [f for f, _ in ASK_FIELDS if f in (form.get("ask_fields") or [])],
        "reminder_text": (form.get("reminder_text") or [""])[0].replace("\r\n", "\n"),
    }
    if not body["name"]:
        errors.append({"field": "name", "message": "is required"})
    days = _int(form, "send_instructions_days", errors)
    body["send_instructions_days"] = days if days is not None else 0
    every = _int(form, "reminder_every_days", errors, low=1)
    if every is not None:
        body["reminder_every_days"] = every
    subject = first(form, "invitation_subject")
    if subject:
        body["invitation_subject"] = subject
    return body, errors


# ------------------------------------------------------------------ report
def report_query(form: Form) -> tuple[dict[str, str], Errors]:
    """The report's query parameters (only those the report accepts, blanks left out)."""
    errors: Errors = []
    query: dict[str, str] = {}
    preset = first(form, "preset")
    if preset == "custom" or not preset:
        start = _date(form, "from", errors, required=preset == "custom")
        end = _date(form, "to", errors, required=preset == "custom")
        if start:
            query["from"] = start
        if end:
            query["to"] = end
        if start and end and end < start:
            errors.append({"field": "to", "message": "must not be before the first day"})
    elif preset in dict(REPORT_PRESETS):
        query["preset"] = preset
    else:
        errors.append({"field": "preset", "message": "is not a known time frame"})
    for name in ("type", "subject", "course", "section_id", "reason_id"):
        if first(form, name):
            query[name] = first(form, name)
    extra = [f for f, _ in REPORT_EXTRA_FIELDS if f in (form.get("fields") or [])]
    if extra:
        query["fields"] = ",".join(extra)
    query["format"] = "csv" if first(form, "format") == "csv" else "html"
    if checked(form, "totals"):
        query["totals"] = "true"
    group_by = first(form, "group_by")
    if group_by in REPORT_GROUPS:
        query["group_by"] = group_by
    if checked(form, "include_cancelled"):
        query["include_cancelled"] = "true"
    return query, errors


# ------------------------------------------------------------------ the student's search
@dataclass(frozen=True)
class Day:
    day: date
    slots: list[dict[str, Any]]


def parse_instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def slots_by_day(slots: Iterable[dict[str, Any]]) -> list[Day]:
    """Slots grouped by their local day. The search service writes each time with its
    center's UTC offset, so the date written is the day in the center's timezone."""
    days: dict[date, list[dict[str, Any]]] = {}
    for slot in slots:
        start = parse_instant(slot.get("starts_at"))
        if start is None:
            continue
        days.setdefault(start.date(), []).append(slot)
    return [
        Day(d, sorted(s, key=lambda x: str(x.get("starts_at")))) for d, s in sorted(days.items())
    ]


@dataclass(frozen=True)
class SearchWindow:
    start: date
    end: date
    next_start: date | None


SEARCH_WINDOW_DAYS = 7


def search_window(today_utc: date, due: date | None, start: date | None) -> SearchWindow | None:
    """The days a search page shows: a week at a time up to the due date (inclusive).

    The first page starts the day before today in UTC, which covers "today" in every
    center's timezone; times already past are never offered by the search anyway.
    """
    begin = start or today_utc - timedelta(days=1)
    if due is not None and begin > due:
        return None
    end = begin + timedelta(days=SEARCH_WINDOW_DAYS)
    if due is not None and end >= due:
        return SearchWindow(begin, due, None)
    return SearchWindow(begin, end, end + timedelta(days=1))
