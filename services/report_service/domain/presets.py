"""Report time frames: the named presets, as pure functions of "today" and the terms.

Conventions (what a center's staff expect from the report page):
- every range is a pair of *inclusive* local dates in the center's timezone;
- weeks start on Monday (ISO 8601): ``this_week`` is Monday..Sunday of the
  week holding today, ``last_week`` the seven days before it;
- months and the year are whole calendar months/years, including days still
  to come (the report is a schedule, so future appointments belong in it);
- ``this_semester`` is the term whose dates contain today (when terms overlap,
  the one that started last); ``last_semester`` is the term that ended last
  before the current one started (or before today when no term is current).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo

Preset = Literal[
    "today",
    "yesterday",
    "this_week",
    "last_week",
    "this_month",
    "last_month",
    "this_semester",
    "last_semester",
    "this_year",
]
PRESETS: tuple[str, ...] = get_args(Preset)


@dataclass(frozen=True)
class DateRange:
    """Inclusive local dates."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"a range cannot end ({self.end}) before it starts ({self.start})")


@dataclass(frozen=True)
class Term:
    term_id: str
    name: str
    starts_on: date
    ends_on: date


class NoMatchingTerm(ValueError):
    """A semester preset was asked for, but no term fits."""


def local_today(now: datetime, timezone: ZoneInfo) -> date:
    """The calendar date at ``now`` in the center's timezone."""
    return now.astimezone(timezone).date()


def resolve_preset(preset: str, today: date, terms: Iterable[Term] = ()) -> DateRange:
    if preset == "today":
        return DateRange(today, today)
    if preset == "yesterday":
        day = today - timedelta(days=1)
        return DateRange(day, day)
    if preset == "this_week":
        monday = today - timedelta(days=today.weekday())
        return DateRange(monday, monday + timedelta(days=6))
    if preset == "last_week":
        monday = today - timedelta(days=today.weekday() + 7)
        return DateRange(monday, monday + timedelta(days=6))
    if preset == "this_month":
        return _month(today.year, today.month)
    if preset == "last_month":
        first = today.replace(day=1) - timedelta(days=1)
        return _month(first.year, first.month)
    if preset == "this_year":
        return DateRange(date(today.year, 1, 1), date(today.year, 12, 31))
    if preset == "this_semester":
        term = current_term(today, terms)
        if term is None:
            raise NoMatchingTerm(
                f"no term contains {today.isoformat()}; add the term or choose dates"
            )
        return DateRange(term.starts_on, term.ends_on)
    if preset == "last_semester":
        term = previous_term(today, terms)
        if term is None:
            raise NoMatchingTerm(
                f"no term ended before the current one ({today.isoformat()}); "
                "add the term or choose dates"
            )
        return DateRange(term.starts_on, term.ends_on)
    raise ValueError(f"unknown preset {preset!r}")


def current_term(today: date, terms: Iterable[Term]) -> Term | None:
    holding = [t for t in terms if t.starts_on <= today <= t.ends_on]
    if not holding:
        return None
    # Overlapping terms (a summer session inside a long term): the most specific
    # one is the one that started last.
    return max(holding, key=lambda t: (t.starts_on, _neg_ordinal(t.ends_on), t.term_id))


def previous_term(today: date, terms: Iterable[Term]) -> Term | None:
    terms = list(terms)
    current = current_term(today, terms)
    before = current.starts_on if current is not None else today
    ended = [t for t in terms if t.ends_on < before]
    if not ended:
        return None
    return max(ended, key=lambda t: (t.ends_on, t.starts_on, t.term_id))


def _month(year: int, month: int) -> DateRange:
    first = date(year, month, 1)
    next_first = date(year + (month == 12), month % 12 + 1, 1)
    return DateRange(first, next_first - timedelta(days=1))


def _neg_ordinal(day: date) -> int:
    return -day.toordinal()
