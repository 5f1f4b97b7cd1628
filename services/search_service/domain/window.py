"""The search window: ``from``/``to`` as dates in the center's timezone or ISO times.

Dates are inclusive local days; times must carry an offset. A window longer than
31 days is refused. Missing bounds default to today … today + 7 days, and not past
the invite's due date when it comes sooner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_WINDOW_DAYS = 31
DEFAULT_WINDOW_DAYS = 7
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

Bound = date | datetime


class WindowError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def parse_bound(raw: str | None, field: str) -> Bound | None:
    """A ``YYYY-MM-DD`` date or an ISO 8601 time with an offset; None when absent."""
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    if _DATE_RE.match(text):
        try:
            return date.fromisoformat(text)
        except ValueError as exc:
            raise WindowError(field, "not a valid date (YYYY-MM-DD)") from exc
    try:
        # A literal "+" in a query string arrives as a space; read it back as "+".
        when = datetime.fromisoformat(text.replace(" ", "+") if "T" in text else text)
    except ValueError as exc:
        raise WindowError(
            field, "expected a date (YYYY-MM-DD) or an ISO 8601 time with an offset"
        ) from exc
    if when.tzinfo is None:
        raise WindowError(field, "an ISO time needs an offset (e.g. +00:00 or Z)")
    return when


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of a local day, in UTC.

    Always UTC: Python adds and subtracts aware times that share a tzinfo in wall-clock
    time, which is wrong across a DST change; UTC arithmetic is real elapsed time.
    """
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def end_of_day(day: date, tz: ZoneInfo) -> datetime:
    """The first instant after a local day: the next day's midnight, in UTC."""
    return local_midnight(day + timedelta(days=1), tz)


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime  # UTC
    end: datetime  # UTC, exclusive


def _wall(bound: Bound, tz: ZoneInfo, *, is_end: bool) -> datetime:
    """A bound as a naive local wall-clock time, to measure the window's length."""
    if isinstance(bound, datetime):
        return bound.astimezone(tz).replace(tzinfo=None)
    day = bound + timedelta(days=1) if is_end else bound
    return datetime.combine(day, time(0))


def _aware(bound: Bound, tz: ZoneInfo, *, is_end: bool) -> datetime:
    if isinstance(bound, datetime):
        return bound.astimezone(UTC)
    return end_of_day(bound, tz) if is_end else local_midnight(bound, tz)


def resolve_window(
    start: Bound | None,
    end: Bound | None,
    *,
    tz: ZoneInfo,
    now: datetime,
    due_date: date | None,
    max_days: int = MAX_WINDOW_DAYS,
    default_days: int = DEFAULT_WINDOW_DAYS,
) -> Window:
    """The window as aware instants [start, end) for a center's timezone."""
    if start is None:
        start = now.astimezone(tz).date()
    if end is None:
        if isinstance(start, datetime):
            end = start + timedelta(days=default_days)
        else:
            end = start + timedelta(days=default_days)
            if due_date is not None and start <= due_date < end:
                end = due_date
    wall_start = _wall(start, tz, is_end=False)
    wall_end = _wall(end, tz, is_end=True)
    if wall_end <= wall_start:
        raise WindowError("to", "must not be before from")
    # Measured in wall-clock time so a DST change inside the window does not matter.
    if wall_end - wall_start > timedelta(days=max_days):
        raise WindowError("to", f"the window may span at most {max_days} days")
    return Window(_aware(start, tz, is_end=False), _aware(end, tz, is_end=True))
