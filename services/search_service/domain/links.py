"""What a personal link opens, from the replica and our own appointments."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from services.search_service.domain.window import end_of_day

LinkStatus = Literal["invited", "booked", "cancelled", "expired"]


def link_status(
    *,
    cancelled: bool,
    replica_status: str | None,
    has_appointment: bool,
    due_date: date,
    timezones: Iterable[ZoneInfo],
    now: datetime,
) -> LinkStatus:
    """The invitee's status as this service must act on it.

    A cancelled invite closes the link whatever else happened. Our own active
    appointment is the truth for "booked" (invite_service's status events about
    bookings echo ours and may arrive late). Otherwise the link expires when
    invite_service says so, or once the due date has ended in every timezone of
    the invite's centers (UTC when it names none).
    """
    if cancelled or replica_status == "cancelled":
        return "cancelled"
    if has_appointment:
        return "booked"
    if replica_status == "expired":
        return "expired"
    zones = list(timezones) or [ZoneInfo("UTC")]
    if all(now >= end_of_day(due_date, tz) for tz in zones):
        return "expired"
    return "invited"
