"""Duration rules as staff write them: the whole ordered list, checked before it is stored."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, RootModel, StrictInt

from shared.events import DurationRule

from .fields import blank_to_none, clean_list_name, clean_optional_line
from .invites import MAX_DURATION, MIN_DURATION

MAX_RULES = 500

Minutes = Annotated[StrictInt, Field(ge=MIN_DURATION, le=MAX_DURATION)]


def _optional_list(value: object) -> object:
    value = blank_to_none(value)
    return clean_list_name(value) if isinstance(value, str) else value


def _optional_type(value: object) -> object:
    value = blank_to_none(value)
    return clean_optional_line(value, max_length=100) if isinstance(value, str) else value


class DurationRuleIn(BaseModel):
    """One rule; a missing or empty condition matches anything."""

    model_config = ConfigDict(extra="forbid")

    list: Annotated[str | None, BeforeValidator(_optional_list)] = None
    type: Annotated[str | None, BeforeValidator(_optional_type)] = None
    duration_minutes: Minutes | None = None
    new_duration_minutes: Minutes

    def to_rule(self) -> DurationRule:
        return DurationRule(**self.model_dump())


class DurationRulesIn(RootModel[Annotated[list[DurationRuleIn], Field(max_length=MAX_RULES)]]):
    """The whole ordered list; the first rule that matches wins."""

    def to_rules(self) -> list[DurationRule]:
        return [r.to_rule() for r in self.root]


class DurationRulesOut(RootModel[list[DurationRule]]):
    pass
