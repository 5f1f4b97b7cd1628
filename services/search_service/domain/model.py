"""Plain values the search domain works on (built by the repository, no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import NamedTuple

MODALITIES = ("in_person", "online")
KINDS = ("one_on_one", "group")


def _utc(obj: object, *names: str) -> None:
    # Python compares and subtracts aware times sharing a tzinfo in wall-clock time,
    # which is wrong across DST; the domain keeps every instant in UTC.
    for name in names:
        object.__setattr__(obj, name, getattr(obj, name).astimezone(UTC))


@dataclass(frozen=True, slots=True)
class Availability:
    id: str
    center_id: str
    consultant_id: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    modality: str = "in_person"
    kind: str = "one_on_one"
    section_ids: tuple[str, ...] = ()
    reason_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _utc(self, "starts_at", "ends_at")


@dataclass(frozen=True, slots=True)
class Busy:
    """An active appointment's interval inside one availability."""

    starts_at: datetime
    ends_at: datetime

    def __post_init__(self) -> None:
        _utc(self, "starts_at", "ends_at")


@dataclass(frozen=True, slots=True)
class Center:
    id: str
    name: str
    timezone: str
    slot_interval_minutes: int = 30
    default_appointment_minutes: int = 60


@dataclass(frozen=True, slots=True)
class Restrictions:
    """What an invite allows, from the invite.created replica."""

    due_date: date
    type: str | None = None
    section_id: str | None = None
    reason_id: str | None = None
    duration_minutes: int | None = None
    in_person: bool = True
    online: bool = False
    one_on_one: bool = True
    group: bool = True
    # The widget's centers; empty means any center.
    center_ids: frozenset[str] = field(default_factory=frozenset)

    @property
    def modalities(self) -> frozenset[str]:
        return frozenset(
            m for m, ok in (("in_person", self.in_person), ("online", self.online)) if ok
        )

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(
            k for k, ok in (("one_on_one", self.one_on_one), ("group", self.group)) if ok
        )


class Slot(NamedTuple):
    # A tuple, not a frozen dataclass: a week's search makes thousands of them.
    availability_id: str
    starts_at: datetime
    ends_at: datetime
    duration_minutes: int
