"""Students as the directory accepts them, one by one or imported (JSON or CSV)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError

from shared.events import StudentData

from .fields import clean_email, clean_identifier, clean_lists, clean_name, split_semicolons

MAX_IMPORT_ROWS = 50_000
MAX_REPORTED_ERRORS = 1_000
CSV_COLUMNS = ("student_id", "first_name", "last_name", "email", "lists")
REQUIRED_CSV_COLUMNS = CSV_COLUMNS[:4]

Identifier = Annotated[str, AfterValidator(clean_identifier)]
Name = Annotated[str, AfterValidator(clean_name)]
Email = Annotated[str, AfterValidator(clean_email)]


def _lists_input(value: object) -> object:
    # A CSV cell or a form may give "Active; Honors"; JSON gives a list.
    if isinstance(value, str):
        return split_semicolons(value)
    if value is None:
        return []
    return value


Lists = Annotated[list[str], BeforeValidator(_lists_input), AfterValidator(clean_lists)]


class StudentFields(BaseModel):
    """A student's changeable data (the id comes from the path or the import row)."""

    model_config = ConfigDict(extra="forbid", strict=False)

    first_name: Name
    last_name: Name
    email: Email
    lists: Lists = []


class StudentRecord(StudentFields):
    student_id: Identifier


RowError = dict[str, Any]


def validate_rows(
    rows: Iterable[tuple[int, Mapping[str, Any]]],
) -> tuple[list[StudentData], list[RowError]]:
    """Every row checked; the students only mean something when the errors are empty."""
    students: list[StudentData] = []
    errors: list[RowError] = []
    first_row_of: dict[str, int] = {}
    count = 0
    for row, data in rows:
        count += 1
        if count > MAX_IMPORT_ROWS:
            errors.append(
                {"row": row, "field": "row", "message": f"at most {MAX_IMPORT_ROWS} rows at once"}
            )
            break
        if not isinstance(data, Mapping):
            errors.append({"row": row, "field": "row", "message": "must be an object"})
            continue
        try:
            record = StudentRecord.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors(include_url=False, include_input=False):
                field = ".".join(str(p) for p in err["loc"]) or "row"
                errors.append({"row": row, "field": field, "message": _message(err["msg"])})
            continue
        earlier = first_row_of.setdefault(record.student_id, row)
        if earlier != row:
            errors.append(
                {
                    "row": row,
                    "field": "student_id",
                    "message": f"'{record.student_id}' is already on row {earlier}",
                }
            )
            continue
        students.append(StudentData(**record.model_dump()))
    return students, errors


def _message(msg: str) -> str:
    return msg.removeprefix("Value error, ")


def parse_students_csv(text: str) -> tuple[list[tuple[int, dict[str, Any]]], list[RowError]]:
    """The CSV body as numbered rows.

    Row 1 is the first line after the header; blank lines are skipped but keep
    their number, so "row N" is line N + 1 of the file.
    """
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        return [], [{"row": 0, "field": "header", "message": f"unreadable CSV: {exc}"}]
    if header is None:
        return [], [{"row": 0, "field": "header", "message": "the file is empty"}]
    columns = [c.strip().lower() for c in header]
    unknown = [c for c in columns if c not in CSV_COLUMNS]
    missing = [c for c in REQUIRED_CSV_COLUMNS if c not in columns]
    if unknown or missing or len(set(columns)) != len(columns):
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column(s) {', '.join(unknown)}")
        if len(set(columns)) != len(columns):
            parts.append("a column appears twice")
        message = "; ".join(parts) + f" (expected header: {','.join(CSV_COLUMNS)})"
        return [], [{"row": 0, "field": "header", "message": message}]

    rows: list[tuple[int, dict[str, Any]]] = []
    errors: list[RowError] = []
    row = 0
    while True:
        row += 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append({"row": row, "field": "row", "message": f"unreadable CSV: {exc}"})
            break
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(columns):
            errors.append(
                {
                    "row": row,
                    "field": "row",
                    "message": f"has {len(cells)} values, the header has {len(columns)}",
                }
            )
            continue
        rows.append((row, dict(zip(columns, cells, strict=True))))
    return rows, errors


def import_problem_detail(errors: list[RowError]) -> str:
    named = sorted({e["row"] for e in errors})
    shown = ", ".join(str(r) for r in named[:20]) + (" …" if len(named) > 20 else "")
    return (
        f"Nothing was imported: {len(named)} row(s) have errors (rows {shown}; "
        "row 1 is the first row after the header)."
    )
