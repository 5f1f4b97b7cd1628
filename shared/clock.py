"""The injectable clock. In test mode it can be moved for every service at once.

The clock keeps an offset from real time rather than a frozen instant, so the
scheduler loops keep running after the clock has been moved.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self) -> None:
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def set(self, now: datetime | None) -> None:
        if now is None:
            self._offset = timedelta(0)
            return
        if now.tzinfo is None:
            raise ValueError("the clock needs an aware datetime")
        self._offset = now - datetime.now(UTC)

    @property
    def offset(self) -> timedelta:
        return self._offset

    def set_offset(self, offset: timedelta) -> None:
        self._offset = offset


class FixedClock(Clock):
    """A clock that does not move unless told to: for unit tests."""

    def __init__(self, now: datetime) -> None:
        super().__init__()
        self._now = now

    def now(self) -> datetime:
        return self._now

    def set(self, now: datetime | None) -> None:
        if now is not None:
            self._now = now

    def advance(self, delta: timedelta) -> None:
        self._now += delta
