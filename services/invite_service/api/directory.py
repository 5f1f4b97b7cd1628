"""Directory routes: students (one, import, search), sections with rosters, reasons, terms."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from shared.errors import Problem, field_problem
from shared.events import (
    ReasonUpserted,
    SectionUpserted,
    StudentData,
    StudentsUpserted,
    TermUpserted,
)
from shared.http import json_response, parse_body, parse_query, read_json, require_role
from shared.openapi import add_api_route

from .. import repository as repo
from ..domain.directory import (
    MAX_REPORTED_ERRORS,
    import_problem_detail,
    parse_students_csv,
    validate_rows,
)
from ..models import (
    ImportResult,
    ListQuery,
    ReasonIn,
    ReasonOut,
    ReasonPage,
    SectionIn,
    SectionOut,
    SectionPage,
    StudentImportIn,
    StudentIn,
    StudentOut,
    StudentPage,
    StudentQuery,
    TermIn,
    TermOut,
    TermPage,
)
from .common import (
    INVITERS,
    STAFF,
    cursor_key,
    emit,
    faculty_id_of,
    invalid,
    lookup_identifier,
    paginate,
    path_identifier,
    runtime_of,
)

CSV_TYPES = frozenset({"text/csv", "application/csv", "text/plain"})


# ------------------------------------------------------------------ students
async def put_student(request: web.Request) -> web.Response:
    require_role(request, *STAFF)
    student_id = path_identifier(request, "student_id")
    body = await parse_body(request, StudentIn)
    if body.student_id is not None and body.student_id != student_id:
        raise field_problem("student_id", "differs from the id in the path")
    runtime = runtime_of(request)
    student = StudentData(student_id=student_id, **body.model_dump(exclude={"student_id"}))
    async with runtime.db.acquire() as conn, conn.transaction():
        await repo.upsert_student(conn, student, runtime.clock.now())
        await emit(conn, "directory.students_upserted", StudentsUpserted(students=[student]))
    runtime.wake_relay()
    return json_response(StudentOut(**student.model_dump()))


async def import_students(request: web.Request) -> web.Response:
    """All rows or none: every bad row is named, and then nothing is written."""
    require_role(request, *STAFF)
    rows, errors = await _import_rows(request)
    students, row_errors = validate_rows(rows)
    errors = errors + row_errors
    if not errors and not students:
        raise field_problem("items", "there is nothing to import")
    if errors:
        raise Problem(
            422,
            import_problem_detail(errors),
            errors=errors[:MAX_REPORTED_ERRORS],
            error_count=len(errors),
        )
    runtime = runtime_of(request)
    async with runtime.db.acquire() as conn, conn.transaction():
        created, updated = await repo.upsert_students(conn, students, runtime.clock.now())
        # One event for the whole import: consumers apply it in one transaction too.
        await emit(conn, "directory.students_upserted", StudentsUpserted(students=students))
    runtime.wake_relay()
    return json_response(ImportResult(imported=len(students), created=created, updated=updated))


async def _import_rows(request: web.Request) -> tuple[list[tuple[int, Any]], list[dict[str, Any]]]:
    content_type = request.content_type
    if content_type in CSV_TYPES:
        try:
            raw = await request.read()
            text = raw.decode(request.charset or "utf-8")
        except (UnicodeDecodeError, LookupError) as exc:
            raise field_problem("body", "the CSV must be UTF-8 text") from exc
        return parse_students_csv(text)
    if content_type not in ("application/json", "application/octet-stream", ""):
        raise Problem(415, 'Send JSON {"items": [...]} or text/csv.')
    data = await read_json(request)
    body = StudentImportIn.model_validate(data)
    # JSON rows are numbered from 1 like CSV rows: items[0] is row 1.
    return [(i + 1, item) for i, item in enumerate(body.items)], []


async def get_student(request: web.Request) -> web.Response:
    ident = require_role(request, *INVITERS)
    runtime = runtime_of(request)
    student_id = lookup_identifier(request, "student_id", "student")
    async with runtime.db.acquire() as conn:
        row = await repo.get_student(conn, student_id)
        if row is not None and ident.role == "faculty":
            mine = await repo.on_rosters_of(conn, faculty_id_of(ident), [student_id])
            row = row if mine else None
    if row is None:
        raise Problem(404, "No such student.")
    return json_response(StudentOut(**repo.student_from_row(row).model_dump()))


async def list_students(request: web.Request) -> web.Response:
    """Staff see everyone; faculty only the students on their sections' rosters."""
    ident = require_role(request, *INVITERS)
    query = parse_query(request, StudentQuery)
    key = cursor_key(query.cursor, 1)
    faculty = faculty_id_of(ident) if ident.role == "faculty" else None
    runtime = runtime_of(request)
    async with runtime.db.acquire() as conn:
        rows = await repo.list_students(
            conn,
            q=query.q,
            list_name=query.list,
            section_id=query.section_id,
            faculty_id=faculty,
            after=key[0] if key else None,
            limit=query.limit + 1,
        )
    page, next_cursor = paginate(rows, query.limit, lambda r: [r["student_id"]])
    items = [StudentOut(**repo.student_from_row(r).model_dump()) for r in page]
    return json_response(StudentPage(items=items, next_cursor=next_cursor))


# ------------------------------------------------------------------ sections
def _section_out(row: Any) -> SectionOut:
    return SectionOut(
        section_id=row["section_id"],
        subject=row["subject"],
        course=row["course"],
        section=row["section"],
        term=row["term_id"],
        faculty_ids=list(row["faculty_ids"]),
        student_ids=list(row["student_ids"]),
    )


async def put_section(request: web.Request) -> web.Response:
    require_role(request, *STAFF)
    section_id = path_identifier(request, "section_id")
    body = await parse_body(request, SectionIn)
    faculty_ids = list(dict.fromkeys(body.faculty_ids))
    student_ids = list(dict.fromkeys(body.student_ids))
    runtime = runtime_of(request)
    async with runtime.db.acquire() as conn, conn.transaction():
        errors: list[dict[str, Any]] = []
        if body.term is not None and not await repo.term_exists(conn, body.term):
            errors.append({"field": "term", "message": f"no term '{body.term}'"})
        known = await repo.existing_student_ids(conn, student_ids)
        unknown = [s for s in student_ids if s not in known]
        if unknown:
            errors.append(
                {
                    "field": "student_ids",
                    "message": f"unknown student(s): {', '.join(unknown[:20])}",
                    "ids": unknown,
                }
            )
        if errors:
            raise invalid(errors, "section")
        await repo.upsert_section(
            conn,
            section_id,
            subject=body.subject,
            course=body.course,
            section=body.section,
            term_id=body.term,
            faculty_ids=faculty_ids,
            student_ids=student_ids,
            now=runtime.clock.now(),
        )
        await emit(
            conn,
            "directory.section_upserted",
            SectionUpserted(
                section_id=section_id,
                subject=body.subject,
                course=body.course,
                section=body.section,
                term_id=body.term,
                faculty_ids=faculty_ids,
                student_ids=student_ids,
            ),
        )
        row = await repo.get_section(conn, section_id)
    runtime.wake_relay()
    return json_response(_section_out(row))


async def list_sections(request: web.Request) -> web.Response:
    """Staff: every section; faculty: the sections they teach, with their rosters."""
    ident = require_role(request, *INVITERS)
    query = parse_query(request, ListQuery)
    key = cursor_key(query.cursor, 1)
    faculty = faculty_id_of(ident) if ident.role == "faculty" else None
    runtime = runtime_of(request)
    async with runtime.db.acquire() as conn:
        rows = await repo.list_sections(
            conn, faculty_id=faculty, after=key[0] if key else None, limit=query.limit + 1
        )
    page, next_cursor = paginate(rows, query.limit, lambda r: [r["section_id"]])
    return json_response(
        SectionPage(items=[_section_out(r) for r in page], next_cursor=next_cursor)
    )


async def get_section(request: web.Request) -> web.Response:
    ident = require_role(request, *INVITERS)
    runtime = runtime_of(request)
    async with runtime.db.acquire() as conn:
        row = await repo.get_section(conn, lookup_identifier(request, "section_id", "section"))
    if row is None or (ident.role == "faculty" and faculty_id_of(ident) not in row["faculty_ids"]):
        raise Problem(404, "No such section.")
    return json_response(_section_out(row))


# ------------------------------------------------------------------ reasons
async def put_reason(request: web.Request) -> web.Response:
    require_role(request, *STAFF)
    reason_id = path_identifier(request, "reason_id")
    body = await parse_body(request, ReasonIn)
    runtime = runtime_of(request)
    async with runtime.db.acquire() as conn, conn.transaction():
        await repo.upsert_reason(conn, reason_id, body.name)
        await emit(
            conn, "directory.reason_upserted", ReasonUpserted(reason_id=reason_id, name=body.name)
        )
    runtime.wake_relay()
    return json_response(ReasonOut(reason_id=reason_id, name=body.name))


async def list_reasons(request: web.Request) -> web.Response:
    require_role(request, *INVITERS)
    query = parse_query(request, ListQuery)
    key = cursor_key(query.cursor, 1)
    runtime = runtime_of(request)
    async with runtime.db.acquire() as conn:
        rows = await repo.list_reasons(conn, key[0] if key else None, query.limit + 1)
    page, next_cursor = paginate(rows, query.limit, lambda r: [r["reason_id"]])
    items = [ReasonOut(reason_id=r["reason_id"], name=r["name"]) for r in page]
    return json_response(ReasonPage(items=items, next_cursor=next_cursor))


# ------------------------------------------------------------------ terms
async def put_term(request: web.Request) -> web.Response:
    require_role(request, *STAFF)
    term_id = path_identifier(request, "term_id")
    body = await parse_body(request, TermIn)
    runtime = runtime_of(request)
    async with runtime.db.acquire() as conn, conn.transaction():
        await repo.upsert_term(conn, term_id, body.name, body.starts_on, body.ends_on)
        await emit(
            conn,
            "directory.term_upserted",
            TermUpserted(
                term_id=term_id, name=body.name, starts_on=body.starts_on, ends_on=body.ends_on
            ),
        )
    runtime.wake_relay()
    return json_response(TermOut(term_id=term_id, **body.model_dump()))


async def list_terms(request: web.Request) -> web.Response:
    require_role(request, *INVITERS)
    query = parse_query(request, ListQuery)
    key = cursor_key(query.cursor, 1)
    runtime = runtime_of(request)
    async with runtime.db.acquire() as conn:
        rows = await repo.list_terms(conn, key[0] if key else None, query.limit + 1)
    page, next_cursor = paginate(rows, query.limit, lambda r: [r["term_id"]])
    items = [TermOut(**dict(r)) for r in page]
    return json_response(TermPage(items=items, next_cursor=next_cursor))


def setup(app: web.Application) -> None:
    route = add_api_route
    route(app, "POST", "/api/v1/students:import", import_students, roles=STAFF,
          summary="Import students (JSON items or text/csv); all rows or none",
          body=StudentImportIn, response=ImportResult)  # fmt: skip
    route(app, "GET", "/api/v1/students", list_students, roles=INVITERS,
          summary="Search students (faculty: their rosters only)",
          query=StudentQuery, response=StudentPage)  # fmt: skip
    route(app, "PUT", "/api/v1/students/{student_id}", put_student, roles=STAFF,
          summary="Create or change a student", body=StudentIn, response=StudentOut)  # fmt: skip
    route(app, "GET", "/api/v1/students/{student_id}", get_student, roles=INVITERS,
          summary="One student", response=StudentOut)  # fmt: skip
    route(app, "GET", "/api/v1/sections", list_sections, roles=INVITERS,
          summary="Sections with rosters (faculty: their own)",
          query=ListQuery, response=SectionPage)  # fmt: skip
    route(app, "PUT", "/api/v1/sections/{section_id}", put_section, roles=STAFF,
          summary="Create or change a section and its roster",
          body=SectionIn, response=SectionOut)  # fmt: skip
    route(app, "GET", "/api/v1/sections/{section_id}", get_section, roles=INVITERS,
          summary="One section with its roster", response=SectionOut)  # fmt: skip
    route(app, "GET", "/api/v1/reasons", list_reasons, roles=INVITERS,
          summary="Reasons", query=ListQuery, response=ReasonPage)  # fmt: skip
    route(app, "PUT", "/api/v1/reasons/{reason_id}", put_reason, roles=STAFF,
          summary="Create or rename a reason", body=ReasonIn, response=ReasonOut)  # fmt: skip
    route(app, "GET", "/api/v1/terms", list_terms, roles=INVITERS,
          summary="Terms", query=ListQuery, response=TermPage)  # fmt: skip
    route(app, "PUT", "/api/v1/terms/{term_id}", put_term, roles=STAFF,
          summary="Create or change a term", body=TermIn, response=TermOut)  # fmt: skip
