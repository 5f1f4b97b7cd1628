from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest

from services.report_service.domain.columns import (
    BASE_COLUMNS,
    EXTRA_COLUMNS,
    RowFormatter,
    UnknownFields,
    columns_for,
    parse_fields,
    section_label,
)
from services.report_service.domain.csv_output import BOM, CsvBuffer, neutralise

API_ORDER = [
    "student_id",
    "student_name",
    "invite_type",
    "appointment_start",
    "appointment_end",
    "duration_minutes",
    "consultant",
    "booked_by",
    "booked_at",
    "exam_code",
    "exam_passcode",
    "exam_file",
    "attendance",
    "section",
    "reason",
]


def row(**override: object) -> dict[str, object]:
    base: dict[str, object] = {
        "student_id": "st1",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.edu",
        "lists": ["Active", "Accommodations"],
        "invite_type": "Exam",
        "starts_at": datetime(2026, 3, 2, 14, 0, tzinfo=UTC),
        "ends_at": datetime(2026, 3, 2, 15, 30, tzinfo=UTC),
        "duration_minutes": 90,
        "consultant_name": "Grace Hopper",
        "booked_by": "student",
        "booked_at": datetime(2026, 2, 1, 12, 20, tzinfo=UTC),
        "exam_code": "MATH-MID",
        "exam_passcode": "pw1",
        "exam_file": None,
        "attendance": None,
        "subject": "MATH",
        "course": "101",
        "section_name": "01",
        "section_id": "S1",
        "reason_name": "Exam proctoring",
        "due_date": date(2026, 3, 10),
        "center_name": "Learning Center",
        "timezone": "America/New_York",
        "cancelled_at": None,
    }
    base.update(override)
    return base


def test_base_columns_are_in_api_order() -> None:
    assert [c.key for c in BASE_COLUMNS] == API_ORDER


def test_cells_of_a_row() -> None:
    cells = RowFormatter(BASE_COLUMNS).cells(row())
    assert cells == [
        "st1",
        "Ada Lovelace",
        "Exam",
        "2026-03-02T09:00-05:00",
        "2026-03-02T10:30-05:00",
        "90",
        "Grace Hopper",
        "student",
        "2026-02-01T07:20-05:00",
        "MATH-MID",
        "pw1",
        "",
        "pending",
        "MATH 101-01",
        "Exam proctoring",
    ]


def test_times_follow_each_rows_timezone_and_unknown_zone_is_utc() -> None:
    fmt = RowFormatter(BASE_COLUMNS)
    assert fmt.cells(row(timezone="Europe/Paris"))[3] == "2026-03-02T15:00+01:00"
    assert fmt.cells(row(timezone="Mars/Olympus"))[3] == "2026-03-02T14:00+00:00"
    assert fmt.cells(row(timezone=None))[3] == "2026-03-02T14:00+00:00"


def test_extra_fields() -> None:
    columns = columns_for(parse_fields("student_email, student_lists,due_date,center,status"))
    assert [c.key for c in columns][len(API_ORDER) :] == [
        "student_email",
        "student_lists",
        "due_date",
        "center",
        "status",
    ]
    cells = RowFormatter(columns).cells(row())[len(API_ORDER) :]
    assert cells == [
        "ada@example.edu",
        "Active; Accommodations",
        "2026-03-10",
        "Learning Center",
        "booked",
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, ()),
        ("", ()),
        ("student_email", ("student_email",)),
        ("student_email,,student_email ,due_date", ("student_email", "due_date")),
        # Base columns named again are already there.
        ("reason,student_email,section", ("student_email",)),
        (["student_email", "due_date,center"], ("student_email", "due_date", "center")),
    ],
)
def test_parse_fields(raw: object, expected: tuple[str, ...]) -> None:
    assert parse_fields(raw) == expected  # type: ignore[arg-type]


def test_unknown_fields_are_all_named() -> None:
    with pytest.raises(UnknownFields) as info:
        parse_fields("student_email,password,__class__,password")
    assert info.value.names == ["password", "__class__"]
    assert "student_email" in str(info.value)  # the allowed list is shown


def test_every_extra_column_renders_on_a_sparse_row() -> None:
    fmt = RowFormatter(columns_for(EXTRA_COLUMNS))
    assert all(isinstance(c, str) for c in fmt.cells({"starts_at": None}))


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"subject": "MATH", "course": "101", "section_name": "01"}, "MATH 101-01"),
        ({"subject": "MATH", "course": "101", "section_name": None}, "MATH 101"),
        ({"subject": None, "course": None, "section_id": "S9"}, "S9"),
        ({}, ""),
    ],
)
def test_section_label(values: dict[str, object], expected: str) -> None:
    assert section_label(values) == expected


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("\ncmd", "'\ncmd"),
        ("a=b", "a=b"),
        ("2026-03-02T09:00-05:00", "2026-03-02T09:00-05:00"),
        ("", ""),
        ("'quoted", "'quoted"),
    ],
)
def test_neutralise(cell: str, expected: str) -> None:
    assert neutralise(cell) == expected


def test_csv_buffer_has_bom_header_crlf_and_quoting() -> None:
    buffer = CsvBuffer()
    buffer.start(["a", "b", "c"])
    buffer.write(["=1+1", 'say "hi", then\nleave', "ünïcödé"])
    data = buffer.take()
    assert data.startswith(BOM.encode("utf-8") + b"a,b,c\r\n")
    assert data.endswith(b"\r\n")
    parsed = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert parsed == [["a", "b", "c"], ["'=1+1", 'say "hi", then\nleave', "ünïcödé"]]
    assert buffer.take() == b""  # taken once
    buffer.write(["x"])
    assert buffer.take() == b"x\r\n"  # the BOM only at the very start
