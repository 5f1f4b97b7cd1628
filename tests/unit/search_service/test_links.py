"""What a personal link opens: cancelled and expired close it, our appointment says booked."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from services.search_service.domain.links import link_status

NY = ZoneInfo("America/New_York")
DUE = date(2026, 1, 20)


def status(now: datetime, **kw) -> str:
    values = {
        "cancelled": False,
        "replica_status": None,
        "has_appointment": False,
        "due_date": DUE,
        "timezones": [NY],
        "now": now,
    }
    values.update(kw)
    return link_status(**values)


BEFORE = datetime(2026, 1, 10, tzinfo=UTC)


def test_open_link_is_invited_or_booked():
    assert status(BEFORE) == "invited"
    assert status(BEFORE, has_appointment=True) == "booked"
    # invite_service's echo of our own booking does not decide anything.
    assert status(BEFORE, replica_status="booked") == "invited"


def test_cancellation_wins_over_everything():
    assert status(BEFORE, cancelled=True, has_appointment=True) == "cancelled"
    assert status(BEFORE, replica_status="cancelled") == "cancelled"


def test_expiry_from_invite_service_or_after_the_due_date_in_the_center_timezone():
    assert status(BEFORE, replica_status="expired") == "expired"
    assert status(BEFORE, replica_status="expired", has_appointment=True) == "booked"
    # 23:30 in New York on the due date is 04:30 UTC the next day: still open.
    assert status(datetime(2026, 1, 21, 4, 30, tzinfo=UTC)) == "invited"
    assert status(datetime(2026, 1, 21, 5, 0, tzinfo=UTC)) == "expired"
    # Without a center the due date ends at midnight UTC.
    assert status(datetime(2026, 1, 21, 0, 0, tzinfo=UTC), timezones=[]) == "expired"
