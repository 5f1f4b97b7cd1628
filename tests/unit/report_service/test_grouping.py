from __future__ import annotations

from typing import Any

import pytest

from services.report_service.domain.columns import BASE_COLUMNS
from services.report_service.domain.grouping import (
    DataLine,
    Grouper,
    GroupHeading,
    Line,
    SummaryLine,
    summary_cells,
)


def r(appointment: str, minutes: int, attendance: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "appointment_id": appointment,
        "duration_minutes": minutes,
        "attendance": attendance,
        **extra,
    }


ROWS = [
    r("a1", 60, "attended", invite_type="Exam", consultant_name="Alan", consultant_id="K2"),
    r("a2", 90, "no_show", invite_type="Exam", consultant_name="Alan", consultant_id="K2"),
    r("a3", 30, None, invite_type="Quiz", consultant_name="Grace", consultant_id="K1"),
    r("a4", 45, "pending", invite_type=None, consultant_name="Grace", consultant_id="K9"),
]


def run(grouper: Grouper, rows: list[dict[str, Any]]) -> list[Line]:
    lines: list[Line] = []
    for row in rows:
        lines.extend(grouper.feed(row))
    return lines + grouper.finish()


def shape(lines: list[Line]) -> list[str]:
    out = []
    for line in lines:
        if isinstance(line, DataLine):
            out.append(line.row["appointment_id"])
        elif isinstance(line, GroupHeading):
            out.append(f"[{line.label}]")
        else:
            out.append(f"{line.label}: {line.tally.appointments}/{line.tally.minutes}")
    return out


def test_plain_rows_pass_through() -> None:
    assert shape(run(Grouper(), ROWS)) == ["a1", "a2", "a3", "a4"]


def test_totals() -> None:
    lines = run(Grouper(totals=True), ROWS)
    assert shape(lines) == ["a1", "a2", "a3", "a4", "Total: 4/225"]
    total = lines[-1]
    assert isinstance(total, SummaryLine) and total.kind == "total"
    assert total.tally.attendance == {"attended": 1, "no_show": 1, "pending": 2}


def test_totals_of_nothing() -> None:
    assert shape(run(Grouper(group_by="type", totals=True), [])) == ["Total: 0/0"]
    assert shape(run(Grouper(group_by="type"), [])) == []


def test_group_by_type_with_subtotals_and_none_group() -> None:
    lines = run(Grouper(group_by="type", totals=True), ROWS)
    assert shape(lines) == [
        "[Type: Exam]",
        "a1",
        "a2",
        "Subtotal (Type: Exam): 2/150",
        "[Type: Quiz]",
        "a3",
        "Subtotal (Type: Quiz): 1/30",
        "[Type: (none)]",
        "a4",
        "Subtotal (Type: (none)): 1/45",
        "Total: 4/225",
    ]


def test_group_by_consultant_splits_same_name_different_id() -> None:
    assert shape(run(Grouper(group_by="consultant"), ROWS)) == [
        "[Consultant: Alan]",
        "a1",
        "a2",
        "Subtotal (Consultant: Alan): 2/150",
        "[Consultant: Grace]",
        "a3",
        "Subtotal (Consultant: Grace): 1/30",
        "[Consultant: Grace]",
        "a4",
        "Subtotal (Consultant: Grace): 1/45",
    ]


def test_group_by_section_and_reason_labels() -> None:
    rows = [
        r("a1", 60, None, subject="MATH", course="101", section_name="01", section_id="S1",
          reason_name="Tutoring", reason_id="R2"),
        r("a2", 60, None, subject=None, course=None, section_name=None, section_id=None,
          reason_name=None, reason_id=None),
    ]  # fmt: skip
    assert shape(run(Grouper(group_by="section"), rows)) == [
        "[Section: MATH 101-01]",
        "a1",
        "Subtotal (Section: MATH 101-01): 1/60",
        "[Section: (none)]",
        "a2",
        "Subtotal (Section: (none)): 1/60",
    ]
    assert shape(run(Grouper(group_by="reason"), rows))[0] == "[Reason: Tutoring]"


def test_unknown_group_by() -> None:
    with pytest.raises(ValueError):
        Grouper(group_by="student")


def test_summary_cells_line_up_under_the_columns() -> None:
    lines = run(Grouper(totals=True), ROWS)
    total = lines[-1]
    assert isinstance(total, SummaryLine)
    cells = summary_cells(total, BASE_COLUMNS)
    keys = [c.key for c in BASE_COLUMNS]
    assert len(cells) == len(keys)
    assert cells[0] == "Total"
    assert cells[keys.index("student_name")] == "4 appointments"
    assert cells[keys.index("duration_minutes")] == "225"
    assert cells[keys.index("attendance")] == "attended: 1; no_show: 1; pending: 2"
    assert sum(1 for c in cells if c) == 4


def test_one_appointment_is_singular() -> None:
    lines = run(Grouper(totals=True), ROWS[:1])
    assert isinstance(lines[-1], SummaryLine)
    assert lines[-1].tally.appointments_text() == "1 appointment"
