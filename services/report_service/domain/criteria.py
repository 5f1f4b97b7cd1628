"""What one report asks for, resolved: the date range, the filters, the columns and the shape.

``resolve_range`` is the one place that decides the time frame from the
request's ``from``/``to``/``preset``; without any of them the report covers
this week (the page's natural first view).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal

from services.report_service.domain.columns import Column, columns_for
from services.report_service.domain.presets import (
    DateRange,
    NoMatchingTerm,
    Term,
    resolve_preset,
)

DEFAULT_PRESET = "this_week"
ReportFormat = Literal["html", "csv"]


class CriteriaError(ValueError):
    """An input that cannot make a report; ``field`` names it for the 422."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def resolve_range(
    *,
    preset: str | None,
    start: date | None,
    end: date | None,
    today: date,
    terms: Iterable[Term] = (),
) -> DateRange:
    if preset is not None and (start is not None or end is not None):
        raise CriteriaError("preset", "give either a preset or from/to dates, not both")
    if start is not None or end is not None:
        if start is None:
            raise CriteriaError("from", "required together with 'to'")
        if end is None:
            raise CriteriaError("to", "required together with 'from'")
        if end < start:
            raise CriteriaError("to", f"must not be before 'from' ({start.isoformat()})")
        return DateRange(start, end)
    try:
        return resolve_preset(preset or DEFAULT_PRESET, today, terms)
    except NoMatchingTerm as exc:
        raise CriteriaError("preset", str(exc)) from exc


@dataclass(frozen=True)
class ReportCriteria:
    range: DateRange
    timezone: str
    preset: str | None = None
    center_id: str | None = None
    type: str | None = None
    subject: str | None = None
    course: str | None = None
    section_id: str | None = None
    reason_id: str | None = None
    fields: tuple[str, ...] = ()
    format: ReportFormat = "html"
    totals: bool = False
    group_by: str | None = None
    include_cancelled: bool = False

    @property
    def columns(self) -> tuple[Column, ...]:
        return columns_for(self.fields)

    def filters(self) -> list[tuple[str, str]]:
        found = [
            ("center", self.center_id),
            ("type", self.type),
            ("subject", self.subject),
            ("course", self.course),
            ("section", self.section_id),
            ("reason", self.reason_id),
        ]
        return [(name, value) for name, value in found if value is not None]

    def period_text(self) -> str:
        start, end = self.range.start.isoformat(), self.range.end.isoformat()
        span = start if start == end else f"{start} to {end}"
        return f"{span} ({self.timezone})"

    def describe(self) -> str:
        """One line for captions and email bodies."""
        parts = [self.period_text()]
        if self.filters():
            parts.append("filters: " + ", ".join(f"{k} = {v}" for k, v in self.filters()))
        if self.group_by:
            parts.append(f"grouped by {self.group_by}")
        if self.include_cancelled:
            parts.append("cancelled appointments included")
        return "; ".join(parts)

    def filename(self) -> str:
        start, end = self.range.start.isoformat(), self.range.end.isoformat()
        return f"appointment-invite-schedule_{start}_{end}.{self.format}"
