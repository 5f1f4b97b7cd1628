"""Scenario 4: the Appointment Invite Schedule as CSV over N read-store rows.

Seeded straight into report_service's read store with COPY (N invitee rows, N
booked appointments over the last 120 days, N/10 students, a few sections and
reasons). The figure: ``GET /api/v1/reports/appointment-invite-schedule?format=csv``
through the gateway, read to the end by the bench (rows/s), and the report service
process's peak resident memory (VmHWM in /proc/<pid>/status).

The raw baseline: the service's own report query through an asyncpg cursor in one
process, each row written with ``csv.writer`` (the same 15 columns, minimal
formatting), output discarded.
"""

from __future__ import annotations

import csv
import io
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from bench import seeding
from bench.harness import Bench, Profiler, cpu_text, cpu_usage, log, proc_status
from services.report_service.domain.criteria import ReportCriteria
from services.report_service.domain.presets import DateRange
from services.report_service.repository import report_query

DAYS = 120


def _range() -> tuple[date, date]:
    today = seeding.local_today()
    return today - timedelta(days=DAYS), today - timedelta(days=1)


async def seed(bench: Bench, rows: int) -> float:
    started = time.monotonic()
    pool = await bench.db("report_service")
    now = datetime.now(UTC)
    v = uuid.uuid4()
    first, _ = _range()
    students = max(1, rows // 10)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO centers(center_id, name, timezone, first_seen_at, version_at, version_id)
               VALUES ('rc-1', 'Report Center', $1, $2, $2, $3)""",
            seeding.TIMEZONE,
            now - timedelta(days=3650),
            v,
        )
        await conn.execute(
            """INSERT INTO terms(term_id, name, starts_on, ends_on, version_at, version_id)
               VALUES ('rt-1', 'This term', $1, $2, $3, $4)""",
            first,
            first + timedelta(days=DAYS + 30),
            now,
            v,
        )
        await conn.execute(
            """INSERT INTO widgets(widget_id, name, version_at, version_id)
               VALUES ('rw-1', 'Exams', $1, $2)""",
            now,
            v,
        )
        await conn.copy_records_to_table(
            "sections",
            records=[
                (f"rs-{n}", "MATH", str(100 + n), f"{n % 3 + 1:02d}", "rt-1", now, v)
                for n in range(20)
            ],
            columns=[
                "section_id",
                "subject",
                "course",
                "section",
                "term_id",
                "version_at",
                "version_id",
            ],
        )
        await conn.copy_records_to_table(
            "reasons",
            records=[(f"rr-{n}", f"Reason {n}", now, v) for n in range(4)],
            columns=["reason_id", "name", "version_at", "version_id"],
        )
        await conn.copy_records_to_table(
            "students",
            records=[
                (
                    f"RS{n:06d}",
                    f"First{n}",
                    f"Last{n}",
                    f"rs{n}@students.example.edu",
                    ["Active"] if n % 3 == 0 else [],
                    now,
                    v,
                )
                for n in range(students)
            ],
            columns=[
                "student_id",
                "first_name",
                "last_name",
                "email",
                "lists",
                "version_at",
                "version_id",
            ],
        )
        invitees: list[tuple[Any, ...]] = []
        appointments: list[tuple[Any, ...]] = []
        for n in range(rows):
            sid = f"RS{n % students:06d}"
            section = n % 20
            day = first + timedelta(days=n % DAYS)
            starts = seeding.local(day, 8 + n % 9).astimezone(UTC)
            invite = f"rinv-{n // 500}"
            invitees.append(
                (
                    f"ri-{n}",
                    invite,
                    now - timedelta(days=DAYS + 1),
                    "staff-1",
                    "rw-1",
                    "Exams",
                    "Exam" if n % 2 else "Quiz",
                    day + timedelta(days=2),
                    f"rs-{section}",
                    "MATH",
                    str(100 + section),
                    f"{section % 3 + 1:02d}",
                    f"rr-{n % 4}",
                    f"Reason {n % 4}",
                    60,
                    f"EX-{n % 97}",
                    None,
                    f"pass{n % 13}",
                    None,
                    sid,
                    f"First{n % students}",
                    f"Last{n % students}",
                    f"rs{n % students}@students.example.edu",
                    [],
                    "booked",
                )
            )
            appointments.append(
                (
                    f"ra-{n}",
                    f"ri-{n}",
                    invite,
                    sid,
                    starts,
                    starts + timedelta(minutes=60),
                    day,
                    60,
                    60,
                    f"rk-{n % 100}",
                    f"Consultant {n % 100}",
                    "rc-1",
                    "Report Center",
                    seeding.TIMEZONE,
                    "in_person",
                    "one_on_one",
                    "student",
                    starts - timedelta(days=5),
                    ("attended", "no_show", None)[n % 3],
                )
            )
        await conn.copy_records_to_table(
            "invitee_rows",
            records=invitees,
            columns=[
                "invitee_id",
                "invite_id",
                "invite_created_at",
                "created_by",
                "widget_id",
                "widget_name",
                "invite_type",
                "due_date",
                "section_id",
                "section_subject",
                "section_course",
                "section_name",
                "reason_id",
                "reason_name",
                "duration_minutes",
                "exam_code",
                "exam_file",
                "exam_passcode",
                "notes",
                "student_id",
                "first_name",
                "last_name",
                "email",
                "lists",
                "status",
            ],
        )
        await conn.copy_records_to_table(
            "appointment_rows",
            records=appointments,
            columns=[
                "appointment_id",
                "invitee_id",
                "invite_id",
                "student_id",
                "starts_at",
                "ends_at",
                "local_start_date",
                "duration_minutes",
                "asked_duration_minutes",
                "consultant_id",
                "consultant_name",
                "center_id",
                "center_name",
                "center_timezone",
                "modality",
                "kind",
                "booked_by",
                "booked_at",
                "attendance",
            ],
        )
    await pool.execute("ANALYZE")
    elapsed = time.monotonic() - started
    log(f"report: {rows} read-store rows seeded with COPY in {elapsed:.1f}s")
    return elapsed


async def measure(bench: Bench, rows: int) -> dict[str, Any]:
    admin = bench.admin
    assert admin is not None
    pid = bench.pids("report_service")[0]
    rss_before = proc_status(pid, "VmRSS")
    frm, to = _range()
    size = lines = 0
    started = time.perf_counter()
    async with admin.session.get(
        "/api/v1/reports/appointment-invite-schedule",
        params={"from": frm.isoformat(), "to": to.isoformat(), "format": "csv"},
    ) as resp:
        assert resp.status == 200, await resp.text()
        async for chunk in resp.content.iter_any():
            size += len(chunk)
            lines += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    got = lines - 1  # the header
    return {
        "rows": got,
        "expected_rows": rows,
        "elapsed": elapsed,
        "rows_per_s": got / elapsed,
        "bytes": size,
        "rss_before_mb": rss_before / 1024,
        "peak_rss_mb": proc_status(pid, "VmHWM") / 1024,
    }


async def baseline(bench: Bench) -> dict[str, Any]:
    frm, to = _range()
    criteria = ReportCriteria(range=DateRange(frm, to), timezone=seeding.TIMEZONE, format="csv")
    sql, args = report_query(criteria)
    tz = seeding.TZ
    out = io.StringIO()
    writer = csv.writer(out)
    size = rows = 0
    started = time.perf_counter()
    conn = await asyncpg.connect(bench.dsn("report_service"))
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            async for r in conn.cursor(sql, *args, prefetch=2000):
                writer.writerow(
                    (
                        r["student_id"],
                        f"{r['first_name']} {r['last_name']}",
                        r["invite_type"],
                        r["starts_at"].astimezone(tz).isoformat(timespec="minutes"),
                        r["ends_at"].astimezone(tz).isoformat(timespec="minutes"),
                        r["duration_minutes"],
                        r["consultant_name"],
                        r["booked_by"],
                        r["booked_at"].astimezone(tz).isoformat(timespec="minutes"),
                        r["exam_code"],
                        r["exam_passcode"],
                        r["exam_file"],
                        r["attendance"],
                        f"{r['subject']} {r['course']}-{r['section_name']}",
                        r["reason_name"],
                    )
                )
                rows += 1
                if out.tell() >= 65536:
                    size += len(out.getvalue())
                    out.seek(0)
                    out.truncate()
    finally:
        await conn.close()
    size += len(out.getvalue())
    elapsed = time.perf_counter() - started
    return {"rows": rows, "elapsed": elapsed, "rows_per_s": rows / elapsed, "bytes": size}


async def scenario(
    bench: Bench, rows: int, repeat: int, profiler: Profiler | None = None
) -> list[dict[str, Any]]:
    reps = []
    for n in range(repeat):
        with cpu_usage(bench) as cores:
            if profiler is not None and n == 0:
                async with profiler.record(bench, "report"):
                    system = await measure(bench, rows)
            else:
                system = await measure(bench, rows)
        system["cpu_cores"] = cores
        await bench.settle()
        with cpu_usage(bench) as raw_cores:
            raw = await baseline(bench)
        raw["cpu_cores"] = raw_cores
        rep = {"system": system, "raw": raw, "rows_ratio": system["rows_per_s"] / raw["rows_per_s"]}
        log(
            f"report #{n + 1}: {system['rows']} rows in {system['elapsed']:.2f}s "
            f"({system['rows_per_s']:.0f} rows/s, {system['bytes'] / 1e6:.1f} MB), report service "
            f"peak RSS {system['peak_rss_mb']:.0f} MB; raw {raw['rows_per_s']:.0f} rows/s "
            f"→ {rep['rows_ratio']:.1%}\n"
            f"    system {cpu_text(system['cpu_cores'])}\n    raw {cpu_text(raw['cpu_cores'])}"
        )
        reps.append(rep)
        await bench.settle()
    return reps
