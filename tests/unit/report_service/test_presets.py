from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from services.report_service.domain.criteria import CriteriaError, resolve_range
from services.report_service.domain.presets import (
    PRESETS,
    DateRange,
    NoMatchingTerm,
    Term,
    local_today,
    resolve_preset,
)

FALL = Term("F25", "Fall 2025", date(2025, 8, 25), date(2025, 12, 15))
WINTER = Term("W26", "Winter session", date(2026, 1, 2), date(2026, 1, 10))
SPRING = Term("S26", "Spring 2026", date(2026, 1, 12), date(2026, 5, 8))
SUMMER = Term("U26", "Summer 2026", date(2026, 6, 1), date(2026, 8, 7))
TERMS = [SPRING, FALL, SUMMER, WINTER]


def r(a: str, b: str) -> DateRange:
    return DateRange(date.fromisoformat(a), date.fromisoformat(b))


@pytest.mark.parametrize(
    ("preset", "today", "expected"),
    [
        ("today", "2026-03-04", r("2026-03-04", "2026-03-04")),
        ("yesterday", "2026-03-01", r("2026-02-28", "2026-02-28")),
        ("yesterday", "2026-01-01", r("2025-12-31", "2025-12-31")),
        # Weeks start on Monday; on a Monday and on a Sunday.
        ("this_week", "2026-03-02", r("2026-03-02", "2026-03-08")),
        ("this_week", "2026-03-08", r("2026-03-02", "2026-03-08")),
        ("last_week", "2026-03-02", r("2026-02-23", "2026-03-01")),
        ("last_week", "2026-01-04", r("2025-12-22", "2025-12-28")),
        ("this_week", "2025-12-31", r("2025-12-29", "2026-01-04")),
        # Month ends: 28/29/30/31 days and the year boundary.
        ("this_month", "2026-02-14", r("2026-02-01", "2026-02-28")),
        ("this_month", "2024-02-29", r("2024-02-01", "2024-02-29")),
        ("this_month", "2026-04-30", r("2026-04-01", "2026-04-30")),
        ("this_month", "2026-12-31", r("2026-12-01", "2026-12-31")),
        ("last_month", "2026-03-31", r("2026-02-01", "2026-02-28")),
        ("last_month", "2024-03-01", r("2024-02-01", "2024-02-29")),
        ("last_month", "2026-01-15", r("2025-12-01", "2025-12-31")),
        ("this_year", "2026-07-04", r("2026-01-01", "2026-12-31")),
        # Semesters from the terms (in any order).
        ("this_semester", "2026-03-04", r("2026-01-12", "2026-05-08")),
        ("this_semester", "2026-01-12", r("2026-01-12", "2026-05-08")),
        ("this_semester", "2026-05-08", r("2026-01-12", "2026-05-08")),
        ("last_semester", "2026-03-04", r("2026-01-02", "2026-01-10")),
        ("last_semester", "2026-01-05", r("2025-08-25", "2025-12-15")),
        # Between terms: last semester is the one that just ended.
        ("last_semester", "2026-05-20", r("2026-01-12", "2026-05-08")),
    ],
)
def test_presets(preset: str, today: str, expected: DateRange) -> None:
    assert resolve_preset(preset, date.fromisoformat(today), TERMS) == expected


def test_overlapping_terms_pick_the_one_that_started_last() -> None:
    long_term = Term("Y", "Year", date(2026, 1, 1), date(2026, 12, 31))
    inner = Term("Q", "Quarter", date(2026, 3, 1), date(2026, 4, 30))
    assert resolve_preset("this_semester", date(2026, 3, 15), [long_term, inner]) == r(
        "2026-03-01", "2026-04-30"
    )


@pytest.mark.parametrize(("preset", "today"), [("this_semester", "2026-05-20")])
def test_no_current_term(preset: str, today: str) -> None:
    with pytest.raises(NoMatchingTerm, match="no term contains 2026-05-20"):
        resolve_preset(preset, date.fromisoformat(today), TERMS)


def test_no_earlier_term() -> None:
    with pytest.raises(NoMatchingTerm):
        resolve_preset("last_semester", date(2025, 9, 1), TERMS)
    with pytest.raises(NoMatchingTerm):
        resolve_preset("this_semester", date(2025, 9, 1), [])


def test_every_preset_resolves_with_terms() -> None:
    for preset in PRESETS:
        got = resolve_preset(preset, date(2026, 3, 4), TERMS)
        assert got.start <= got.end


def test_unknown_preset() -> None:
    with pytest.raises(ValueError):
        resolve_preset("next_week", date(2026, 3, 4))


@pytest.mark.parametrize(
    ("now", "zone", "expected"),
    [
        # 03:00 UTC is still the previous evening in New York...
        (datetime(2026, 3, 4, 3, 0, tzinfo=UTC), "America/New_York", date(2026, 3, 3)),
        # ...and already the next morning in Auckland.
        (datetime(2026, 3, 3, 12, 0, tzinfo=UTC), "Pacific/Auckland", date(2026, 3, 4)),
        (datetime(2026, 3, 4, 3, 0, tzinfo=UTC), "UTC", date(2026, 3, 4)),
        # Around the DST switch (2026-03-08 02:00 local in New York).
        (datetime(2026, 3, 9, 3, 30, tzinfo=UTC), "America/New_York", date(2026, 3, 8)),
        (datetime(2026, 3, 9, 4, 30, tzinfo=UTC), "America/New_York", date(2026, 3, 9)),
    ],
)
def test_today_is_the_center_date(now: datetime, zone: str, expected: date) -> None:
    assert local_today(now, ZoneInfo(zone)) == expected


def test_today_preset_in_center_timezone() -> None:
    today = local_today(datetime(2026, 3, 1, 2, 0, tzinfo=UTC), ZoneInfo("America/Chicago"))
    # 20:00 on Feb 28 in Chicago: "this month" is still February.
    assert resolve_preset("this_month", today) == r("2026-02-01", "2026-02-28")


class TestResolveRange:
    TODAY = date(2026, 3, 4)

    def test_dates(self) -> None:
        got = resolve_range(
            preset=None, start=date(2026, 3, 1), end=date(2026, 3, 31), today=self.TODAY
        )
        assert got == r("2026-03-01", "2026-03-31")

    def test_default_is_this_week(self) -> None:
        got = resolve_range(preset=None, start=None, end=None, today=self.TODAY)
        assert got == r("2026-03-02", "2026-03-08")

    @pytest.mark.parametrize(
        ("preset", "start", "end", "field"),
        [
            ("today", date(2026, 3, 1), None, "preset"),
            (None, date(2026, 3, 1), None, "to"),
            (None, None, date(2026, 3, 1), "from"),
            (None, date(2026, 3, 2), date(2026, 3, 1), "to"),
            ("this_semester", None, None, "preset"),
        ],
    )
    def test_errors_name_the_field(
        self, preset: str | None, start: date | None, end: date | None, field: str
    ) -> None:
        with pytest.raises(CriteriaError) as info:
            resolve_range(preset=preset, start=start, end=end, today=self.TODAY, terms=[])
        assert info.value.field == field
