"""The search window: dates in the center's timezone, ISO times, defaults, the 31-day limit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.search_service.domain.window import WindowError, parse_bound, resolve_window

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)  # 10:00 in New York


def test_parse_dates_and_times():
    assert parse_bound("2026-01-05", "from") == date(2026, 1, 5)
    assert parse_bound("2026-01-05T09:00:00-05:00", "from") == datetime(2026, 1, 5, 14, tzinfo=UTC)
    assert parse_bound("2026-01-05T09:00:00Z", "from") == datetime(2026, 1, 5, 9, tzinfo=UTC)
    # "+" decoded as a space in a query string.
    assert parse_bound("2026-01-05T09:00:00 01:00", "from") == datetime(2026, 1, 5, 8, tzinfo=UTC)
    assert parse_bound(None, "from") is None
    assert parse_bound("", "from") is None


@pytest.mark.parametrize("raw", ["2026-13-01", "tomorrow", "2026-01-05T09:00:00"])
def test_parse_rejects_bad_bounds_naming_the_field(raw):
    with pytest.raises(WindowError) as err:
        parse_bound(raw, "to")
    assert err.value.field == "to"


def test_dates_are_inclusive_local_days():
    w = resolve_window(date(2026, 1, 5), date(2026, 1, 6), tz=NY, now=NOW, due_date=None)
    assert w.start == datetime(2026, 1, 5, 5, tzinfo=UTC)
    assert w.end == datetime(2026, 1, 7, 5, tzinfo=UTC)


def test_defaults_are_today_plus_seven_days_or_the_due_date():
    w = resolve_window(None, None, tz=NY, now=NOW, due_date=None)
    assert w.start == datetime(2026, 1, 5, tzinfo=NY)
    assert w.end == datetime(2026, 1, 13, tzinfo=NY)
    soon = resolve_window(None, None, tz=NY, now=NOW, due_date=date(2026, 1, 7))
    assert soon.end == datetime(2026, 1, 8, tzinfo=NY)


def test_window_longer_than_31_days_is_refused():
    ok = resolve_window(date(2026, 1, 1), date(2026, 1, 31), tz=NY, now=NOW, due_date=None)
    assert ok.end - ok.start == timedelta(days=31)
    with pytest.raises(WindowError) as err:
        resolve_window(date(2026, 1, 1), date(2026, 2, 1), tz=NY, now=NOW, due_date=None)
    assert err.value.field == "to"
    # 31 days across the spring DST change is still 31 local days.
    resolve_window(date(2026, 3, 1), date(2026, 3, 31), tz=NY, now=NOW, due_date=None)
    with pytest.raises(WindowError):
        resolve_window(
            datetime(2026, 1, 1, tzinfo=UTC),
            datetime(2026, 2, 2, tzinfo=UTC),
            tz=NY,
            now=NOW,
            due_date=None,
        )


def test_to_before_from_is_refused():
    with pytest.raises(WindowError):
        resolve_window(date(2026, 1, 5), date(2026, 1, 4), tz=NY, now=NOW, due_date=None)
