"""Slot generation and booking checks: pure functions over availabilities and appointments.

Choices (documented here because staff will ask):
- Start times step by the center's ``slot_interval_minutes`` from the availability's own
  start, in absolute time. A block starting at 9:10 offers 9:10, 9:40, …; on a DST change
  day the steps stay 30 real minutes apart (the skipped or repeated local hour is simply
  lived through, never offered twice or invented).
- The whole appointment fits inside the availability.
- A start is offered only if at every instant of [start, start + duration) fewer than
  ``capacity`` active appointments of that availability overlap.
- No start before ``now``; no appointment ending after the invite's due date (the end of
  that day in the center's timezone); only starts inside the search window.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo

from services.search_service.domain.model import Availability, Busy, Restrictions, Slot
from services.search_service.domain.window import Window, end_of_day


# ------------------------------------------------------------------ restrictions
def restriction_violations(r: Restrictions, a: Availability) -> list[tuple[str, str]]:
    """Why an invite may not use an availability, as (field, message); empty = allowed."""
    problems: list[tuple[str, str]] = []
    if r.center_ids and a.center_id not in r.center_ids:
        problems.append(("center", "the invite is not for this availability's center"))
    if a.section_ids and (r.section_id is None or r.section_id not in a.section_ids):
        problems.append(("section", "this availability is not open to the invite's section"))
    if a.reason_ids and (r.reason_id is None or r.reason_id not in a.reason_ids):
        problems.append(("reason", "this availability is not open to the invite's reason"))
    if a.modality not in r.modalities:
        problems.append(("modality", f"the invite does not allow {a.modality} appointments"))
    if a.kind not in r.kinds:
        problems.append(("kind", f"the invite does not allow {a.kind} appointments"))
    return problems


def allowed(r: Restrictions, a: Availability) -> bool:
    return not restriction_violations(r, a)


# ------------------------------------------------------------------ capacity
def _max_overlap(intervals: Sequence[tuple[Any, Any]], start: Any, end: Any) -> int:
    """How many intervals overlap at the most crowded instant of [start, end).

    The most crowded instant is ``start`` or the start of one of the overlapping
    intervals, so only those points need counting.
    """
    inside = [(s, e) for s, e in intervals if s < end and e > start]
    if len(inside) <= 1:
        return len(inside)
    points = {start} | {s for s, _ in inside if s > start}
    return max(sum(1 for s, e in inside if s <= p < e) for p in points)


def _has_room(capacity: int, intervals: Sequence[tuple[Any, Any]], start: Any, end: Any) -> bool:
    # Fast paths: fewer overlapping intervals than seats cannot fill any instant, and
    # with one seat any overlap fills it.
    overlapping = sum(1 for s, e in intervals if s < end and e > start)
    if overlapping < capacity:
        return True
    return capacity > 1 and _max_overlap(intervals, start, end) < capacity


def max_overlap(busy: Iterable[Busy], start: datetime, end: datetime) -> int:
    return _max_overlap([(b.starts_at, b.ends_at) for b in busy], start, end)


def has_room(capacity: int, busy: Iterable[Busy], start: datetime, end: datetime) -> bool:
    return _has_room(capacity, [(b.starts_at, b.ends_at) for b in busy], start, end)


# ------------------------------------------------------------------ starts
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MINUTE_US = 60_000_000


def _us(when: datetime) -> int:
    """An instant as integer microseconds since the epoch: exact, real elapsed time."""
    return (when - _EPOCH) // _MICROSECOND


def due_end(due_date: date, tz: ZoneInfo) -> datetime:
    return end_of_day(due_date, tz)


def generate_slots(
    availabilities: Iterable[Availability],
    busy: Mapping[str, Sequence[Busy]],
    *,
    interval_minutes: int,
    duration_minutes: int,
    window: Window,
    now: datetime,
    not_after: datetime | None,
) -> list[Slot]:
    """The bookable starts of already-allowed availabilities, in time order (then by id).

    Works in integer microseconds (a week of a busy center is thousands of slots: see
    bench/search_semester.py) and hands out one datetime object per distinct instant.
    """
    step = interval_minutes * _MINUTE_US
    length = duration_minutes * _MINUTE_US
    earliest = max(_us(window.start), _us(now))
    # The last start that still starts inside the window and ends by the due date.
    latest = _us(window.end) - 1
    if not_after is not None:
        latest = min(latest, _us(not_after) - length)
    instants: dict[int, datetime] = {}

    def instant(us: int) -> datetime:
        found = instants[us] = _EPOCH + timedelta(microseconds=us)
        return found

    # Bucketed by start: a few dozen distinct starts, so ordering them is cheap, and
    # blocks go in id order, so each bucket is in id order too.
    by_start: dict[int, list[Slot]] = {}
    for a in sorted(availabilities, key=attrgetter("id")):
        block_start, block_end = _us(a.starts_at), _us(a.ends_at)
        first = block_start
        if earliest > first:
            # Jump straight to the first aligned step at or after the earliest start.
            first += -((first - earliest) // step) * step
        last = min(block_end - length, latest)
        if last < first:
            continue  # too short for what this student books, or outside the window
        taken = [(_us(b.starts_at), _us(b.ends_at)) for b in busy.get(a.id, ())]
        for start in range(first, last + 1, step):
            end = start + length
            if taken and not _has_room(a.capacity, taken, start, end):
                continue
            slot = Slot(
                a.id,
                instants.get(start) or instant(start),
                instants.get(end) or instant(end),
                duration_minutes,
            )
            bucket = by_start.get(start)
            if bucket is None:
                by_start[start] = [slot]
            else:
                bucket.append(slot)
    return [slot for start in sorted(by_start) for slot in by_start[start]]


@dataclass(frozen=True, slots=True)
class SearchInput:
    """One center's share of a search: what ``search_slots`` needs beyond the blocks."""

    restrictions: Restrictions
    interval_minutes: int
    duration_minutes: int
    timezone: ZoneInfo
    window: Window
    now: datetime


def search_slots(
    availabilities: Iterable[Availability], busy: Mapping[str, Sequence[Busy]], q: SearchInput
) -> list[Slot]:
    """Filter by what the invite allows, then generate the slots (one center at a time)."""
    usable = [a for a in availabilities if allowed(q.restrictions, a)]
    return generate_slots(
        usable,
        busy,
        interval_minutes=q.interval_minutes,
        duration_minutes=q.duration_minutes,
        window=q.window,
        now=q.now,
        not_after=due_end(q.restrictions.due_date, q.timezone),
    )


# ------------------------------------------------------------------ booking
@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a booking is refused: ``taken`` answers 409, anything else 422 naming ``field``."""

    field: str
    message: str
    taken: bool = False


def check_booking(
    a: Availability,
    busy: Sequence[Busy],
    start: datetime,
    q: SearchInput,
) -> list[Refusal]:
    """Re-check on the server that ``start`` in ``a`` is a slot the invite offers now."""
    refusals = [Refusal(f, m) for f, m in restriction_violations(q.restrictions, a)]
    duration = timedelta(minutes=q.duration_minutes)
    # UTC throughout: arithmetic on aware times sharing a tzinfo is wall-clock time.
    a_start, a_end = a.starts_at.astimezone(UTC), a.ends_at.astimezone(UTC)
    start = start.astimezone(UTC)
    if a_end - a_start < duration:
        refusals.append(
            Refusal(
                "duration",
                f"the availability is shorter than the {q.duration_minutes} minutes to book",
            )
        )
    if refusals:
        return refusals
    end = start + duration
    offset = start - a_start
    interval = timedelta(minutes=q.interval_minutes)
    if start < a_start or end > a_end:
        return [Refusal("starts_at", "the appointment does not fit inside the availability")]
    if offset % interval:
        return [Refusal("starts_at", f"starts step by {q.interval_minutes} minutes")]
    if start < q.now:
        return [Refusal("starts_at", "that time has passed")]
    if end > due_end(q.restrictions.due_date, q.timezone):
        return [Refusal("starts_at", "the appointment would end after the invite's due date")]
    if not has_room(a.capacity, busy, start, end):
        return [Refusal("starts_at", "that time was taken meanwhile", taken=True)]
    return []
