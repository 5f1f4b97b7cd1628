"""What a rendered slot list depends on, as a hashable key (pure, no I/O).

Every invitee of an invite shares restrictions, so one week's answer is computed once
and served to all of them: the key names everything the slot list depends on besides
the stored availabilities and appointments (which invalidate the cache instead).
``now`` enters rounded UP to the next whole minute: slots are computed as of that
minute, so a cached answer never offers a start before the real now, and one answer
serves a whole minute (the price: a start less than a minute away that is not on a
whole minute, e.g. of a block starting at 09:00:30, is left out a little early).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.search_service.domain.model import Restrictions
from services.search_service.domain.window import Window

_MINUTE = timedelta(minutes=1)


def next_minute(now: datetime) -> datetime:
    """``now`` rounded up to a whole minute (unchanged when already on one)."""
    floor = now.replace(second=0, microsecond=0)
    return floor if floor == now else floor + _MINUTE


@dataclass(frozen=True, slots=True)
class CenterPlan:
    """One center's share of a search, as far as the answer depends on it."""

    center_id: str
    name: str
    timezone: str
    interval_minutes: int
    duration_minutes: int
    window_start: datetime
    window_end: datetime


@dataclass(frozen=True, slots=True)
class SlotsKey:
    as_of: datetime  # next_minute(now)
    centers: tuple[CenterPlan, ...]  # in center id order
    section_id: str | None
    reason_id: str | None
    modalities: tuple[str, ...]
    kinds: tuple[str, ...]
    due_date: date
    center_ids: tuple[str, ...]  # the invite's centers (empty: any)

    @property
    def center_set(self) -> frozenset[str]:
        return frozenset(c.center_id for c in self.centers)


def center_plan(
    *,
    center_id: str,
    name: str,
    timezone: str,
    interval_minutes: int,
    duration_minutes: int,
    window: Window,
) -> CenterPlan:
    return CenterPlan(
        center_id,
        name,
        timezone,
        interval_minutes,
        duration_minutes,
        window.start,
        window.end,
    )


def slots_key(now: datetime, r: Restrictions, plans: Iterable[CenterPlan]) -> SlotsKey:
    """The key of the slot list for restrictions ``r`` over these centers at ``now``.

    Who the invitee is does not enter: only what the answer is computed from.
    """
    return SlotsKey(
        as_of=next_minute(now),
        centers=tuple(sorted(plans, key=lambda p: p.center_id)),
        section_id=r.section_id,
        reason_id=r.reason_id,
        modalities=tuple(sorted(r.modalities)),
        kinds=tuple(sorted(r.kinds)),
        due_date=r.due_date,
        center_ids=tuple(sorted(r.center_ids)),
    )


# The codings an answer is stored in, most preferred first (brotli's window spans a
# whole week of slots, so it is ≈10× smaller than gzip).
CODINGS = ("br", "gzip")
_ALIASES = {"x-gzip": "gzip"}


def preferred_encoding(accept_encoding: str | None) -> str:
    """``br``, ``gzip`` or ``identity``: the stored coding an ``Accept-Encoding`` header
    accepts with the highest q (RFC 9110: q=0 refuses, ``*`` stands for codings not
    named); on equal q, brotli. Without the header, or accepting neither, identity."""
    if not accept_encoding:
        return "identity"
    named: dict[str, float] = {}
    star: float | None = None
    for part in accept_encoding.split(","):
        name, _, params = part.strip().partition(";")
        name = name.strip().lower()
        name = _ALIASES.get(name, name)
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if name in CODINGS:
            named.setdefault(name, q)
        elif name == "*" and star is None:
            star = q
    best, best_q = "identity", 0.0
    for coding in CODINGS:
        q = named.get(coding, star if star is not None else 0.0)
        if q > best_q:  # strictly: an equal q keeps the earlier (preferred) coding
            best, best_q = coding, q
    return best
