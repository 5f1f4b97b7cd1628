"""Building one report: resolve the parameters against the store, then render the rows as
CSV or HTML chunks straight from the database cursor (memory stays flat).

Routes stream the chunks to the client; deliveries collect them (with a size
cap) into an email attachment.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import jinja2

from services.report_service import repository as repo
from services.report_service.domain.columns import (
    Column,
    RowFormatter,
    UnknownFields,
    ZoneCache,
    parse_fields,
)
from services.report_service.domain.criteria import CriteriaError, ReportCriteria, resolve_range
from services.report_service.domain.csv_output import CsvBuffer
from services.report_service.domain.grouping import (
    DataLine,
    Grouper,
    GroupHeading,
    Line,
    SummaryLine,
    summary_cells,
)
from services.report_service.domain.presets import local_today
from services.report_service.models import ReportParams

TITLE = "Appointment Invite Schedule"
CHUNK_BYTES = 64 * 1024
_SEMESTER_PRESETS = frozenset({"this_semester", "last_semester"})


async def build_criteria(
    conn: asyncpg.Connection, params: ReportParams, now: datetime
) -> ReportCriteria:
    """Validate and resolve the parameters; raises CriteriaError naming the bad field."""
    try:
        fields = parse_fields(params.fields)
    except UnknownFields as exc:
        raise CriteriaError("fields", str(exc)) from exc
    if params.center_id is not None:
        timezone = await repo.center_timezone(conn, params.center_id)
        if timezone is None:
            raise CriteriaError("center_id", f"no center {params.center_id!r} is known")
    else:
        timezone = await repo.first_center_timezone(conn) or "UTC"
    zone = ZoneCache().get(timezone)
    terms = await repo.list_terms(conn) if params.preset in _SEMESTER_PRESETS else []
    date_range = resolve_range(
        preset=params.preset,
        start=params.from_,
        end=params.to,
        today=local_today(now, zone),
        terms=terms,
    )
    return ReportCriteria(
        range=date_range,
        timezone=zone.key,
        preset=params.preset,
        center_id=params.center_id,
        type=params.type,
        subject=params.subject,
        course=params.course,
        section_id=params.section_id,
        reason_id=params.reason_id,
        fields=fields,
        format=params.format,
        totals=params.totals,
        group_by=params.group_by,
        include_cancelled=params.include_cancelled,
    )


@dataclass
class RenderStats:
    rows: int = 0
    bytes: int = 0


async def _lines(
    conn: asyncpg.Connection, criteria: ReportCriteria, stats: RenderStats
) -> AsyncGenerator[Line, None]:
    grouper = Grouper(criteria.group_by, criteria.totals)
    # Closed explicitly (here and below): a stream cut short must end its cursor's
    # transaction while the connection is still ours, not when the GC gets to it.
    async with contextlib.aclosing(repo.stream_report_rows(conn, criteria)) as records:
        async for record in records:
            for line in grouper.feed(record):
                yield line
            stats.rows = grouper.rows
    for line in grouper.finish():
        yield line


async def render_csv(
    conn: asyncpg.Connection, criteria: ReportCriteria, stats: RenderStats
) -> AsyncGenerator[bytes, None]:
    columns = criteria.columns
    formatter = RowFormatter(columns)
    buffer = CsvBuffer()
    buffer.start([c.key for c in columns])
    if criteria.group_by is None and not criteria.totals:
        # The plain report (the big one): rows straight through, no tallies.
        async with contextlib.aclosing(repo.stream_report_rows(conn, criteria)) as records:
            async for record in records:
                buffer.write(formatter.cells(record))
                stats.rows += 1
                if buffer.size() >= CHUNK_BYTES:
                    chunk = buffer.take()
                    stats.bytes += len(chunk)
                    yield chunk
        chunk = buffer.take()
        stats.bytes += len(chunk)
        yield chunk
        return
    async with contextlib.aclosing(_lines(conn, criteria, stats)) as lines:
        async for line in lines:
            if isinstance(line, DataLine):
                buffer.write(formatter.cells(line.row))
            elif isinstance(line, SummaryLine):
                buffer.write(summary_cells(line, columns))
            # Group headings are for the page; in CSV the subtotal row labels the group.
            if buffer.size() >= CHUNK_BYTES:
                chunk = buffer.take()
                stats.bytes += len(chunk)
                yield chunk
    chunk = buffer.take()
    stats.bytes += len(chunk)
    yield chunk


@dataclass(frozen=True)
class HtmlLine:
    kind: str
    cells: list[str]
    label: str = ""


@functools.cache
def _page() -> Any:
    """The page's macros (the service's own template, not staff-written: plain
    autoescaping Jinja2). Sync macros called per batch are ~2x faster than an
    async template pulling rows one by one."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    return environment.get_template("report.html").module


HTML_BATCH = 500


async def render_html(
    conn: asyncpg.Connection,
    criteria: ReportCriteria,
    stats: RenderStats,
    *,
    csv_href: str | None = None,
) -> AsyncGenerator[bytes, None]:
    columns: tuple[Column, ...] = criteria.columns
    formatter = RowFormatter(columns)
    page = _page()
    width = len(columns)

    def encode(text: str) -> bytes:
        data = text.encode("utf-8")
        stats.bytes += len(data)
        return data

    yield encode(
        str(page.start(TITLE, criteria.describe(), criteria.period_text(), columns, csv_href))
    )
    batch: list[HtmlLine] = []
    async with contextlib.aclosing(_lines(conn, criteria, stats)) as lines:
        async for line in lines:
            if isinstance(line, DataLine):
                batch.append(HtmlLine("row", formatter.cells(line.row)))
            elif isinstance(line, GroupHeading):
                batch.append(HtmlLine("group", [], line.label))
            else:
                batch.append(HtmlLine(line.kind, summary_cells(line, columns), line.label))
            if len(batch) >= HTML_BATCH:
                yield encode(str(page.lines(batch, width)))
                batch = []
    yield encode(str(page.lines(batch, width)) + str(page.end(stats.rows, width)))


def render(
    conn: asyncpg.Connection,
    criteria: ReportCriteria,
    stats: RenderStats,
    *,
    csv_href: str | None = None,
) -> AsyncGenerator[bytes, None]:
    if criteria.format == "csv":
        return render_csv(conn, criteria, stats)
    return render_html(conn, criteria, stats, csv_href=csv_href)


def content_type(criteria: ReportCriteria) -> str:
    return "text/csv; charset=utf-8" if criteria.format == "csv" else "text/html; charset=utf-8"


class ReportTooLarge(Exception):
    pass


async def render_to_bytes(
    conn: asyncpg.Connection, criteria: ReportCriteria, *, limit: int
) -> tuple[bytes, RenderStats]:
    """The whole report in memory (for an attachment); stops early past ``limit`` bytes."""
    stats = RenderStats()
    parts: list[bytes] = []
    generator = render(conn, criteria, stats)
    try:
        async for chunk in generator:
            parts.append(chunk)
            if stats.bytes > limit:
                raise ReportTooLarge(f"over {limit // (1024 * 1024)} MB after {stats.rows} rows")
    finally:
        await generator.aclose()
    return b"".join(parts), stats
