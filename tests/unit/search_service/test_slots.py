"""Slot generation: cap, rule, too-short blocks, interval stepping, capacity, DST, past times."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from services.search_service.domain.duration import booked_duration
from services.search_service.domain.model import Availability, Busy, Restrictions
from services.search_service.domain.slots import (
    SearchInput,
    check_booking,
    generate_slots,
    max_overlap,
    search_slots,
)
from services.search_service.domain.window import Window
from shared.events import DurationRule

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0, *, month: int = 1, tz: ZoneInfo = NY) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=tz)


def block(
    start: datetime,
    end: datetime,
    *,
    id: str = "a1",
    capacity: int = 1,
    kind: str = "one_on_one",
    modality: str = "in_person",
    section_ids: tuple[str, ...] = (),
    reason_ids: tuple[str, ...] = (),
) -> Availability:
    return Availability(
        id=id,
        center_id="c1",
        consultant_id="k1",
        starts_at=start,
        ends_at=end,
        capacity=capacity,
        modality=modality,
        kind=kind,
        section_ids=section_ids,
        reason_ids=reason_ids,
    )


def wide_window() -> Window:
    return Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 12, 31, tzinfo=UTC))


def query(
    *,
    duration: int = 60,
    interval: int = 30,
    now: datetime = NOW,
    window: Window | None = None,
    due: date = date(2026, 12, 1),
    **restrictions,
) -> SearchInput:
    return SearchInput(
        restrictions=Restrictions(due_date=due, **restrictions),
        interval_minutes=interval,
        duration_minutes=duration,
        timezone=NY,
        window=window or wide_window(),
        now=now,
    )


def starts(slots) -> list[str]:
    return [s.starts_at.astimezone(NY).strftime("%H:%M") for s in slots]


# ------------------------------------------------------------------ duration
def test_invite_duration_is_the_cap_without_a_rule():
    d = booked_duration(
        invite_duration=45, center_default=60, invite_type="Exam", lists=["Active"], rules=[]
    )
    assert (d.minutes, d.asked_minutes, d.rule) == (45, 45, None)


def test_center_default_when_the_invite_has_no_duration():
    d = booked_duration(
        invite_duration=None, center_default=50, invite_type=None, lists=[], rules=[]
    )
    assert d.minutes == 50


def test_first_matching_rule_lengthens_the_appointment():
    rules = [
        DurationRule(list="Other", type="Exam", duration_minutes=60, new_duration_minutes=120),
        DurationRule(list="Active", type="Exam", duration_minutes=60, new_duration_minutes=90),
        DurationRule(list=None, type=None, duration_minutes=None, new_duration_minutes=75),
    ]
    d = booked_duration(
        invite_duration=60, center_default=30, invite_type="Exam", lists=["Active"], rules=rules
    )
    assert (d.minutes, d.asked_minutes, d.rule) == (90, 60, rules[1])
    # A student on no list falls through to the catch-all rule.
    d2 = booked_duration(
        invite_duration=60, center_default=30, invite_type="Exam", lists=[], rules=rules
    )
    assert d2.minutes == 75


def test_rule_duration_decides_which_blocks_fit():
    rules = [DurationRule(list="Active", type="Exam", duration_minutes=60, new_duration_minutes=90)]
    blocks = [
        block(at(6, 9), at(6, 10), id="one-hour"),
        block(at(6, 13), at(6, 14, 30), id="ninety"),
    ]
    plain = booked_duration(
        invite_duration=60, center_default=60, invite_type="Exam", lists=[], rules=rules
    )
    active = booked_duration(
        invite_duration=60, center_default=60, invite_type="Exam", lists=["Active"], rules=rules
    )
    plain_slots = search_slots(blocks, {}, query(duration=plain.minutes))
    active_slots = search_slots(blocks, {}, query(duration=active.minutes))
    assert {s.availability_id for s in plain_slots} == {"one-hour", "ninety"}
    assert [(s.availability_id, s.duration_minutes) for s in active_slots] == [("ninety", 90)]
    assert active_slots[0].ends_at - active_slots[0].starts_at == timedelta(minutes=90)


# ------------------------------------------------------------------ shape of the slots
def test_too_short_blocks_are_not_found():
    slots = search_slots([block(at(6, 9), at(6, 9, 45))], {}, query(duration=60))
    assert slots == []


def test_starts_step_by_the_interval_from_the_block_start_and_fit_inside():
    slots = search_slots([block(at(6, 9, 10), at(6, 11, 10))], {}, query(duration=60))
    assert starts(slots) == ["09:10", "09:40", "10:10"]
    assert all(s.ends_at <= at(6, 11, 10) for s in slots)
    fifteen = search_slots([block(at(6, 9), at(6, 10))], {}, query(duration=30, interval=15))
    assert starts(fifteen) == ["09:00", "09:15", "09:30"]


def test_one_on_one_block_hides_starts_overlapping_a_booking():
    a = block(at(6, 9), at(6, 12))
    busy = {"a1": [Busy(at(6, 10), at(6, 11))]}
    slots = search_slots([a], busy, query(duration=60))
    assert starts(slots) == ["09:00", "11:00"]


def test_group_capacity_counts_overlaps_at_every_instant():
    a = block(at(6, 9), at(6, 12), capacity=2, kind="group")
    # Two bookings that never overlap each other: one seat stays free everywhere.
    staggered = {"a1": [Busy(at(6, 9), at(6, 10)), Busy(at(6, 10), at(6, 11))]}
    assert len(search_slots([a], staggered, query(duration=60))) == 5
    # Two bookings overlapping 10:00-10:30: only starts whose hour avoids that instant.
    crowded = {"a1": [Busy(at(6, 9, 30), at(6, 10, 30)), Busy(at(6, 10), at(6, 11))]}
    assert starts(search_slots([a], crowded, query(duration=60))) == ["09:00", "10:30", "11:00"]


def test_max_overlap_finds_the_most_crowded_instant():
    busy = [Busy(at(6, 9), at(6, 10)), Busy(at(6, 9, 30), at(6, 11)), Busy(at(6, 10), at(6, 12))]
    assert max_overlap(busy, at(6, 9), at(6, 12)) == 2
    assert max_overlap(busy, at(6, 11), at(6, 12)) == 1
    assert max_overlap([], at(6, 9), at(6, 10)) == 0


def test_past_starts_are_not_offered():
    a = block(at(6, 9), at(6, 12))
    now = at(6, 10, 5)
    assert starts(search_slots([a], {}, query(duration=60, now=now))) == ["10:30", "11:00"]


def test_nothing_after_the_due_date_in_the_center_timezone():
    a = block(at(6, 22), at(7, 2))
    slots = search_slots([a], {}, query(duration=60, due=date(2026, 1, 6)))
    # The appointment must end by midnight New York time on the due date.
    assert starts(slots) == ["22:00", "22:30", "23:00"]


def test_window_limits_the_starts():
    a = block(at(6, 9), at(8, 9))
    window = Window(at(7, 0), at(7, 12))
    slots = search_slots([a], {}, query(duration=60, interval=60, window=window))
    assert starts(slots)[0] == "00:00" and starts(slots)[-1] == "11:00"
    assert len(slots) == 12


# ------------------------------------------------------------------ DST in New York
def test_spring_forward_day_steps_in_real_time():
    # 2026-03-08: 02:00 EST jumps to 03:00 EDT.
    a = block(datetime(2026, 3, 8, 0, 0, tzinfo=NY), datetime(2026, 3, 8, 5, 0, tzinfo=NY))
    slots = generate_slots(
        [a],
        {},
        interval_minutes=60,
        duration_minutes=60,
        window=wide_window(),
        now=NOW,
        not_after=None,
    )
    # 00:00 EST to 05:00 EDT is 4 real hours: starts 00:00, 01:00, 03:00, 04:00 local.
    local = [s.starts_at.astimezone(NY) for s in slots]
    assert [t.strftime("%H:%M") for t in local] == ["00:00", "01:00", "03:00", "04:00"]
    assert [t.utcoffset() for t in local] == [timedelta(hours=-5)] * 2 + [timedelta(hours=-4)] * 2
    assert all(s.ends_at - s.starts_at == timedelta(hours=1) for s in slots)


def test_fall_back_day_offers_the_repeated_hour_twice_with_distinct_offsets():
    # 2026-11-01: 02:00 EDT falls back to 01:00 EST.
    a = block(datetime(2026, 11, 1, 0, 0, tzinfo=NY), datetime(2026, 11, 1, 3, 0, tzinfo=NY))
    slots = generate_slots(
        [a],
        {},
        interval_minutes=60,
        duration_minutes=60,
        window=wide_window(),
        now=NOW,
        not_after=None,
    )
    local = [s.starts_at.astimezone(NY) for s in slots]
    # 00:00 EDT to 03:00 EST is 4 real hours.
    assert [t.isoformat() for t in local] == [
        "2026-11-01T00:00:00-04:00",
        "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:00:00-05:00",
        "2026-11-01T02:00:00-05:00",
    ]


def test_day_window_on_dst_days_covers_the_whole_local_day():
    from services.search_service.domain.window import resolve_window

    spring = resolve_window(date(2026, 3, 8), date(2026, 3, 8), tz=NY, now=NOW, due_date=None)
    assert spring.end - spring.start == timedelta(hours=23)
    fall = resolve_window(date(2026, 11, 1), date(2026, 11, 1), tz=NY, now=NOW, due_date=None)
    assert fall.end - fall.start == timedelta(hours=25)
    a = block(datetime(2026, 3, 7, 23, tzinfo=NY), datetime(2026, 3, 8, 23, 30, tzinfo=NY))
    slots = search_slots([a], {}, query(duration=60, interval=60, window=spring))
    assert len(slots) == 22  # 00:00 … 22:00 local, minus the hour that does not exist
    assert slots[0].starts_at == datetime(2026, 3, 8, 0, tzinfo=NY)


# ------------------------------------------------------------------ restrictions
def test_restrictions_filter_sections_reasons_modality_kind_and_center():
    blocks = [
        block(at(6, 9), at(6, 10), id="open"),
        block(at(6, 9), at(6, 10), id="sec-other", section_ids=("S2",)),
        block(at(6, 9), at(6, 10), id="sec-mine", section_ids=("S1", "S2")),
        block(at(6, 9), at(6, 10), id="reason-other", reason_ids=("R2",)),
        block(at(6, 9), at(6, 10), id="online", modality="online"),
        block(at(6, 9), at(6, 10), id="group", kind="group", capacity=5),
    ]
    slots = search_slots(blocks, {}, query(section_id="S1", reason_id="R1"))
    assert {s.availability_id for s in slots} == {"open", "sec-mine", "group"}
    online_only = search_slots(
        blocks, {}, query(section_id="S1", in_person=False, online=True, group=False)
    )
    assert {s.availability_id for s in online_only} == {"online"}
    elsewhere = search_slots(blocks, {}, query(center_ids=frozenset({"c2"})))
    assert elsewhere == []


def test_check_booking_names_the_field_and_flags_taken_slots():
    a = block(at(6, 9), at(6, 12), section_ids=("S2",))
    refusals = check_booking(a, [], at(6, 9), query(section_id="S1"))
    assert [r.field for r in refusals] == ["section"]
    ok = block(at(6, 9), at(6, 12))
    assert check_booking(ok, [], at(6, 9), query()) == []
    assert check_booking(ok, [], at(6, 9, 10), query())[0].field == "starts_at"
    assert check_booking(ok, [], at(6, 9), query(duration=240))[0].field == "duration"
    taken = check_booking(ok, [Busy(at(6, 9), at(6, 10))], at(6, 9), query())
    assert taken[0].taken
    past = check_booking(ok, [], at(6, 9), query(now=at(6, 9, 1)))
    assert past[0].field == "starts_at" and not past[0].taken
