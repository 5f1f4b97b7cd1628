"""Duration rules: the first rule whose conditions all hold decides the booked length.

The invite service owns the ordered list; the search service keeps a replica and
applies it when it offers slots. Both use this one matcher so they cannot drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar


class RuleLike(Protocol):
    """What the matcher reads of a rule (``shared.events.DurationRule`` or a replica row)."""

    @property
    def list(self) -> str | None: ...

    @property
    def type(self) -> str | None: ...

    @property
    def duration_minutes(self) -> int | None: ...


R = TypeVar("R", bound=RuleLike)


def rule_matches(
    rule: RuleLike, lists: Iterable[str], type_: str | None, duration: int | None
) -> bool:
    """A null condition matches anything; a set one must equal the invite's value.

    ``list`` holds when the student is on that list; ``type`` and ``duration_minutes``
    compare with the invite's type and asked duration (an invite without a type or a
    duration only matches rules that leave that condition null).
    """
    if rule.list is not None and rule.list not in set(lists):
        return False
    if rule.type is not None and rule.type != type_:
        return False
    return rule.duration_minutes is None or rule.duration_minutes == duration


def match_duration_rule(
    rules: Sequence[R], lists: Iterable[str], type_: str | None, duration: int | None
) -> R | None:
    """The first matching rule in list order, or None (then the duration stays as asked)."""
    student_lists = frozenset(lists)
    for rule in rules:
        if rule_matches(rule, student_lists, type_, duration):
            return rule
    return None
