"""The report's SQL filters (the database part is covered by the integration tests)."""

from __future__ import annotations

from datetime import date

import pytest

from services.report_service.domain.criteria import ReportCriteria
from services.report_service.domain.presets import DateRange
from services.report_service.repository import report_query

MARCH = DateRange(date(2026, 3, 1), date(2026, 3, 31))


def criteria(**kw: object) -> ReportCriteria:
    return ReportCriteria(range=MARCH, timezone="America/New_York", **kw)  # type: ignore[arg-type]


def test_time_frame_only_and_cancelled_left_out() -> None:
    sql, args = report_query(criteria())
    assert args == [date(2026, 3, 1), date(2026, 3, 31)]
    assert "a.local_start_date BETWEEN $1 AND $2" in sql
    assert "a.cancelled_at IS NULL" in sql
    assert sql.rstrip().endswith("ORDER BY a.local_start_date, a.starts_at, a.appointment_id")


def test_every_filter_is_a_parameter_never_inlined() -> None:
    evil = "x'); DROP TABLE appointment_rows; --"
    sql, args = report_query(
        criteria(
            center_id="C1",
            type=evil,
            subject="MATH",
            course="101",
            section_id="S1",
            reason_id="R1",
        )
    )
    assert evil not in sql
    assert args[2:] == ["C1", evil, "MATH", "101", "S1", "R1"]
    for i, condition in enumerate(
        [
            "a.center_id = $3",
            "lower(i.invite_type) = lower($4)",
            "lower(COALESCE(sec.subject, i.section_subject)) = lower($5)",
            "lower(COALESCE(sec.course, i.section_course)) = lower($6)",
            "i.section_id = $7",
            "i.reason_id = $8",
        ]
    ):
        assert condition in sql, (i, condition)


def test_include_cancelled() -> None:
    sql, _ = report_query(criteria(include_cancelled=True))
    assert "cancelled_at IS NULL" not in sql


@pytest.mark.parametrize(
    ("group_by", "prefix"),
    [
        ("type", "ORDER BY i.invite_type NULLS LAST, a.local_start_date, a.starts_at"),
        ("consultant", "ORDER BY a.consultant_name NULLS LAST, a.consultant_id NULLS LAST,"),
        ("reason", "ORDER BY COALESCE(rs.name, i.reason_name) NULLS LAST"),
        ("section", "ORDER BY COALESCE(sec.subject, i.section_subject) NULLS LAST"),
    ],
)
def test_grouping_orders_groups_together(group_by: str, prefix: str) -> None:
    sql, _ = report_query(criteria(group_by=group_by))
    assert prefix in sql


def test_description_and_filename() -> None:
    c = criteria(type="Exam", section_id="S1", group_by="type", format="csv")
    assert c.describe() == (
        "2026-03-01 to 2026-03-31 (America/New_York); filters: type = Exam, section = S1; "
        "grouped by type"
    )
    assert c.filename() == "appointment-invite-schedule_2026-03-01_2026-03-31.csv"
    single = ReportCriteria(range=DateRange(date(2026, 3, 4), date(2026, 3, 4)), timezone="UTC")
    assert single.period_text() == "2026-03-04 (UTC)"


def test_selects_only_what_the_columns_need() -> None:
    sql, _ = report_query(criteria())
    selected = sql.split(" FROM ")[0]
    assert "AS first_name" in selected and "AS exam_passcode" in selected
    # Not asked for: not read (and the unused joins can be dropped by PostgreSQL).
    for key in ("email", "lists", "widget_name", "term_name", "notes", "due_date"):
        assert f"AS {key}," not in selected and not selected.endswith(f"AS {key}")
    sql, _ = report_query(criteria(fields=("student_email", "term"), group_by="consultant"))
    selected = sql.split(" FROM ")[0]
    for key in ("email", "term_name", "consultant_id", "timezone", "attendance"):
        assert f"AS {key}" in selected
