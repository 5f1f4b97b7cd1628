"""When emails go out: pure functions of the invite's dates, the center's timezone and now.

- The instruction moment is ``due_date - send_instructions_days`` at the send hour,
  local time in the center's timezone; when that moment has passed at scheduling
  time, it is "now".
- Reminder ``k`` (1, 2, …) is due ``k * reminder_every_days`` after the instruction
  moment, and only while that is before the end of the due date (midnight after it,
  local time). No reminders when ``reminder_every_days`` is null or 0.
- Reminders are created one at a time, after the previous email went out; a
  reminder whose moment was missed (service down, clock moved) goes out once,
  and the next one is the first cadence point after now, so a long outage never
  produces a burst of reminders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone(name: str | None) -> ZoneInfo:
    """The IANA zone, or UTC when unknown (a center we have not heard of yet)."""
    if not name:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_moment(day: date, hour: int, tz: ZoneInfo) -> datetime:
    """``day`` at ``hour``:00 local time, as UTC.

    A local time that does not exist (DST gap) is read with fold=0, which zoneinfo
    maps past the gap; an ambiguous one (DST overlap) takes the first occurrence.
    """
    local = datetime.combine(day, time(hour), tzinfo=tz)
    # Normalise through UTC so a non-existent wall time resolves consistently.
    return local.astimezone(UTC)


def natural_instruction_moment(
    due_date: date, send_instructions_days: int, send_hour: int, tz: ZoneInfo
) -> datetime:
    return local_moment(due_date - timedelta(days=max(send_instructions_days, 0)), send_hour, tz)


def instruction_moment(
    due_date: date,
    send_instructions_days: int,
    send_hour: int,
    tz: ZoneInfo,
    scheduled_at: datetime,
) -> datetime:
    """When the instruction email goes out; ``scheduled_at`` is when the invite was heard of."""
    return max(
        natural_instruction_moment(due_date, send_instructions_days, send_hour, tz), scheduled_at
    )


def due_date_end(due_date: date, tz: ZoneInfo) -> datetime:
    """The first instant after the due date, local midnight, as UTC."""
    return datetime.combine(due_date + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class NextReminder:
    sequence: int
    due_at: datetime


def next_reminder(
    *,
    anchor: datetime,
    reminder_every_days: int | None,
    due_date: date,
    tz: ZoneInfo,
    reminders_sent: int,
    now: datetime,
) -> NextReminder | None:
    """The reminder to schedule after an email went out, or None when there is none.

    ``anchor`` is the instruction moment; ``reminders_sent`` how many reminders have
    gone out (the new one gets sequence ``reminders_sent + 1``). The cadence is
    kept in whole steps from the anchor, expressed in the center's local time so
    "every 2 days at 9:00" stays at 9:00 across a DST change.
    """
    if not reminder_every_days or reminder_every_days <= 0:
        return None
    step = timedelta(days=reminder_every_days)
    local_anchor = anchor.astimezone(tz)
    k = reminders_sent + 1
    candidate = _cadence_point(local_anchor, step, k)
    # Skip cadence points already in the past: one late reminder, never a burst.
    while candidate <= now:
        k += 1
        candidate = _cadence_point(local_anchor, step, k)
    if candidate >= due_date_end(due_date, tz):
        return None
    return NextReminder(sequence=reminders_sent + 1, due_at=candidate)


def _cadence_point(local_anchor: datetime, step: timedelta, k: int) -> datetime:
    # Wall-clock arithmetic in the local zone, then back to UTC.
    naive = local_anchor.replace(tzinfo=None) + step * k
    return naive.replace(tzinfo=local_anchor.tzinfo).astimezone(UTC)


def retry_delay(attempt: int, base_seconds: float, max_seconds: float) -> timedelta:
    """Back-off after the ``attempt``-th temporary failure (1-based): base·2^(n-1), capped."""
    exponent = min(max(attempt - 1, 0), 30)
    return timedelta(seconds=min(base_seconds * (2**exponent), max_seconds))


def still_remindable(due_date: date, tz: ZoneInfo, now: datetime) -> bool:
    """Whether the invitee can still get emails (before the end of the due date)."""
    return now < due_date_end(due_date, tz)


def reminder_possible(
    *,
    anchor: datetime,
    reminder_every_days: int | None,
    due_date: date,
    tz: ZoneInfo,
    now: datetime,
) -> bool:
    """Whether any reminder could still fit before the end of the due date.

    Conservative: the anchor is taken a day earlier than given (a center heard
    of later moves it by at most a timezone's offset), so False means none can.
    A reminder is at least one step after the anchor and after now.
    """
    if not reminder_every_days or reminder_every_days <= 0:
        return False
    earliest = max(now, anchor - timedelta(days=1) + timedelta(days=reminder_every_days))
    return earliest < due_date_end(due_date, tz)
