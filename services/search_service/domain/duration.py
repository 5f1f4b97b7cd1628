"""The booked duration: the invite's duration as the cap, then the first matching rule."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shared.duration_rules import match_duration_rule
from shared.events import DurationRule


@dataclass(frozen=True, slots=True)
class BookedDuration:
    minutes: int
    # What would be booked without a rule (the invite's duration or the center default).
    asked_minutes: int
    rule: DurationRule | None = None


def booked_duration(
    *,
    invite_duration: int | None,
    center_default: int,
    invite_type: str | None,
    lists: Iterable[str],
    rules: Sequence[DurationRule],
) -> BookedDuration:
    """The invite's duration (the center's default when it has none), then the first rule.

    Rules are matched against the invite's own duration, as the shared matcher documents:
    an invite without a duration only meets rules that leave ``duration_minutes`` null, so
    invite_service's preview and this service agree without knowing center defaults.
    """
    asked = invite_duration if invite_duration is not None else center_default
    rule = match_duration_rule(rules, lists, invite_type, invite_duration)
    if rule is None:
        return BookedDuration(asked, asked, None)
    return BookedDuration(rule.new_duration_minutes, asked, rule)
