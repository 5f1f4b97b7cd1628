"""Grouping and totals over a stream of report rows, in constant memory.

The rows arrive sorted by the group key (the query orders them so), so a
group ends exactly when the key changes: ``Grouper.feed`` turns each row into
the lines to output now (a group heading, the previous group's subtotal, the
row itself) and ``finish`` adds the last subtotal and the grand total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from services.report_service.domain.columns import Column, Row, section_label

GroupBy = Literal["type", "reason", "section", "consultant"]
GROUP_BY: tuple[str, ...] = get_args(GroupBy)
ATTENDANCE = ("attended", "no_show", "pending")
NONE_LABEL = "(none)"

_GROUP_TITLES = {
    "type": "Type",
    "reason": "Reason",
    "section": "Section",
    "consultant": "Consultant",
}


def group_key(group_by: str, row: Row) -> tuple[Any, ...]:
    """What identifies a group (the label and, where there is one, the id)."""
    if group_by == "type":
        return (row.get("invite_type"),)
    if group_by == "reason":
        return (row.get("reason_name"), row.get("reason_id"))
    if group_by == "section":
        return (section_label(row) or None, row.get("section_id"))
    if group_by == "consultant":
        return (row.get("consultant_name"), row.get("consultant_id"))
    raise ValueError(f"unknown group_by {group_by!r}")


def group_label(group_by: str, key: tuple[Any, ...]) -> str:
    return f"{_GROUP_TITLES[group_by]}: {key[0] if key[0] not in (None, '') else NONE_LABEL}"


@dataclass
class Tally:
    appointments: int = 0
    minutes: int = 0
    attendance: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ATTENDANCE, 0))

    def add(self, row: Row) -> None:
        self.appointments += 1
        self.minutes += int(row.get("duration_minutes") or 0)
        state = row.get("attendance") or "pending"
        self.attendance[state] = self.attendance.get(state, 0) + 1

    def attendance_text(self) -> str:
        return "; ".join(f"{k}: {v}" for k, v in self.attendance.items())

    def appointments_text(self) -> str:
        return f"{self.appointments} appointment{'' if self.appointments == 1 else 's'}"


@dataclass(frozen=True)
class DataLine:
    row: Row
    kind: Literal["row"] = "row"


@dataclass(frozen=True)
class GroupHeading:
    label: str
    kind: Literal["group"] = "group"


@dataclass(frozen=True)
class SummaryLine:
    label: str
    tally: Tally
    kind: Literal["subtotal", "total"] = "total"


Line = DataLine | GroupHeading | SummaryLine


class Grouper:
    def __init__(self, group_by: str | None = None, totals: bool = False) -> None:
        if group_by is not None and group_by not in GROUP_BY:
            raise ValueError(f"unknown group_by {group_by!r}")
        self.group_by = group_by
        self.totals = totals
        self.total = Tally()
        self._key: tuple[Any, ...] | None = None
        self._group = Tally()
        self._started = False

    @property
    def rows(self) -> int:
        return self.total.appointments

    def feed(self, row: Row) -> list[Line]:
        lines: list[Line] = []
        if self.group_by is not None:
            key = group_key(self.group_by, row)
            if not self._started or key != self._key:
                if self._started:
                    lines.append(self._subtotal())
                self._key, self._group, self._started = key, Tally(), True
                lines.append(GroupHeading(group_label(self.group_by, key)))
            self._group.add(row)
        self.total.add(row)
        lines.append(DataLine(row))
        return lines

    def finish(self) -> list[Line]:
        lines: list[Line] = []
        if self.group_by is not None and self._started:
            lines.append(self._subtotal())
        if self.totals:
            lines.append(SummaryLine("Total", self.total, "total"))
        return lines

    def _subtotal(self) -> SummaryLine:
        assert self.group_by is not None and self._key is not None
        return SummaryLine(
            f"Subtotal ({group_label(self.group_by, self._key)})", self._group, "subtotal"
        )


def summary_cells(line: SummaryLine, columns: Sequence[Column]) -> list[str]:
    """A subtotal/total laid out under the report's own columns: the label first,
    the count under the student's name, the minutes and attendance under theirs."""
    keys = [c.key for c in columns]
    cells = [""] * len(keys)
    cells[0] = line.label
    cells[keys.index("student_name")] = line.tally.appointments_text()
    cells[keys.index("duration_minutes")] = str(line.tally.minutes)
    cells[keys.index("attendance")] = line.tally.attendance_text()
    return cells
