"""The schedule: send days, send hour in the center's timezone, DST, reminders and their end."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.notify_service.domain.schedule import (
    due_date_end,
    instruction_moment,
    natural_instruction_moment,
    next_reminder,
    reminder_possible,
    retry_delay,
    still_remindable,
    zone,
)

NY = zone("America/New_York")
BERLIN = zone("Europe/Berlin")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_instruction_moment_is_due_date_minus_days_at_send_hour_local():
    # 2026-03-05 due, 3 days before → 2026-03-02 09:00 in New York (EST, UTC-5).
    got = natural_instruction_moment(date(2026, 3, 5), 3, 9, NY)
    assert got == utc(2026, 3, 2, 14, 0)


def test_send_hour_follows_the_center_timezone():
    assert natural_instruction_moment(date(2026, 1, 10), 0, 9, BERLIN) == utc(2026, 1, 10, 8)
    assert natural_instruction_moment(date(2026, 1, 10), 0, 9, zone("UTC")) == utc(2026, 1, 10, 9)


def test_dst_changes_keep_the_local_send_hour():
    # New York springs forward on 2026-03-08: 09:00 is UTC-5 before, UTC-4 after.
    before = natural_instruction_moment(date(2026, 3, 8), 1, 9, NY)
    after = natural_instruction_moment(date(2026, 3, 9), 1, 9, NY)
    assert before == utc(2026, 3, 7, 14)
    assert after == utc(2026, 3, 8, 13)
    # Autumn: Berlin falls back on 2026-10-25.
    assert natural_instruction_moment(date(2026, 10, 26), 1, 9, BERLIN) == utc(2026, 10, 25, 8)


def test_send_hour_inside_a_dst_gap_still_gives_a_moment():
    # 02:30 does not exist in New York on 2026-03-08; the moment is still well defined.
    got = natural_instruction_moment(date(2026, 3, 8), 0, 2, NY)
    assert got.tzinfo is not None
    assert utc(2026, 3, 8, 6) <= got <= utc(2026, 3, 8, 8)


def test_moment_already_passed_sends_now():
    now = utc(2026, 3, 4, 12)
    assert instruction_moment(date(2026, 3, 5), 3, 9, NY, now) == now


def test_moment_in_the_future_is_kept():
    now = utc(2026, 2, 1)
    assert instruction_moment(date(2026, 3, 5), 3, 9, NY, now) == utc(2026, 3, 2, 14)


def test_unknown_timezone_falls_back_to_utc():
    assert zone(None) == zone("UTC")
    assert zone("Not/AZone") == zone("UTC")


def test_due_date_end_is_local_midnight_after_it():
    assert due_date_end(date(2026, 3, 5), NY) == utc(2026, 3, 6, 5)
    assert still_remindable(date(2026, 3, 5), NY, utc(2026, 3, 6, 4, 59))
    assert not still_remindable(date(2026, 3, 5), NY, utc(2026, 3, 6, 5))


def reminder(anchor, every, sent, now, due=date(2026, 3, 20), tz=NY):
    return next_reminder(
        anchor=anchor,
        reminder_every_days=every,
        due_date=due,
        tz=tz,
        reminders_sent=sent,
        now=now,
    )


def test_reminders_every_n_days_after_the_instruction_moment():
    anchor = utc(2026, 3, 2, 14)
    first = reminder(anchor, 2, 0, anchor)
    assert first is not None and first.sequence == 1 and first.due_at == utc(2026, 3, 4, 14)
    second = reminder(anchor, 2, 1, first.due_at)
    assert second is not None and second.sequence == 2 and second.due_at == utc(2026, 3, 6, 14)


def test_no_reminders_when_not_configured():
    anchor = utc(2026, 3, 2, 14)
    assert reminder(anchor, None, 0, anchor) is None
    assert reminder(anchor, 0, 0, anchor) is None


def test_reminders_stop_at_the_due_date_end():
    anchor = utc(2026, 3, 2, 14)
    # every 2 days: Mar 4, 6 → due Mar 6 (local): Mar 6 09:00 is before its end, Mar 8 is not.
    last = reminder(anchor, 2, 1, utc(2026, 3, 4, 14), due=date(2026, 3, 6))
    assert last is not None and last.due_at == utc(2026, 3, 6, 14)
    assert reminder(anchor, 2, 2, utc(2026, 3, 6, 14), due=date(2026, 3, 6)) is None


def test_reminders_keep_local_hour_across_dst():
    anchor = utc(2026, 3, 6, 14)  # 09:00 EST
    nxt = reminder(anchor, 3, 0, anchor)  # Mar 9, after the switch: 09:00 EDT
    assert nxt is not None and nxt.due_at == utc(2026, 3, 9, 13)


def test_missed_reminders_do_not_burst():
    anchor = utc(2026, 3, 2, 14)
    # The service was down for a week: the next reminder is the next cadence point.
    now = utc(2026, 3, 9, 15)
    nxt = reminder(anchor, 2, 1, now)
    assert nxt is not None
    assert nxt.sequence == 2
    assert nxt.due_at == utc(2026, 3, 10, 13)  # Mar 10 09:00 EDT
    assert nxt.due_at > now


def test_reminder_after_a_cancelled_booking_uses_the_cadence():
    anchor = utc(2026, 3, 2, 14)
    nxt = reminder(anchor, 5, 1, utc(2026, 3, 8, 12))
    assert nxt is not None and nxt.due_at == utc(2026, 3, 12, 13)


@pytest.mark.parametrize(("attempt", "seconds"), [(1, 5), (2, 10), (3, 20), (8, 600), (50, 600)])
def test_retry_back_off_doubles_and_is_capped(attempt, seconds):
    assert retry_delay(attempt, 5, 600) == timedelta(seconds=seconds)


def possible(anchor, every, now, due=date(2026, 3, 20), tz=NY):
    return reminder_possible(anchor=anchor, reminder_every_days=every, due_date=due, tz=tz, now=now)


def test_reminder_possible_agrees_with_next_reminder_and_errs_on_the_safe_side():
    anchor = utc(2026, 3, 2, 14)
    # Due the next day, every 30 days: no reminder can ever fit (the fan-out's case).
    assert not possible(anchor, 30, anchor, due=date(2026, 3, 3))
    assert reminder(anchor, 30, 0, anchor, due=date(2026, 3, 3)) is None
    assert not possible(anchor, None, anchor) and not possible(anchor, 0, anchor)
    # Whenever next_reminder finds one, reminder_possible says so.
    for every in (1, 2, 3, 7):
        for days_later in range(0, 20):
            now = anchor + timedelta(days=days_later, hours=3)
            for due in (date(2026, 3, 4), date(2026, 3, 10), date(2026, 3, 20)):
                found = reminder(anchor, every, 0, now, due=due)
                if found is not None:
                    assert possible(anchor, every, now, due=due), (every, now, due)
    # A day of margin: an anchor a timezone's offset earlier could still fit one.
    assert possible(anchor, 2, anchor, due=date(2026, 3, 3))
