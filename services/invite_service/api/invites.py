"""Invite routes: create (thousands of invitees in one transaction), preview, listing, cancel."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from aiohttp import web

from shared.auth import Identity
from shared.errors import Problem, field_problem
from shared.events import (
    InviteCancelled,
    Modalities,
    ReasonRef,
    SectionRef,
    StudentData,
    WidgetData,
)
from shared.http import json_response, parse_body, parse_query, require_role
from shared.openapi import add_api_route
from shared.tokens import hash_token, link_for, new_token

from .. import repository as repo
from ..domain.invites import (
    FieldError,
    NewInvitee,
    RenderFailed,
    build_invite_created,
    check_invite,
    check_student_ids,
    local_today,
    render_invite_email,
)
from ..models import (
    CreatedInvitee,
    InviteCreatedOut,
    InviteDetail,
    InviteeOut,
    InviteFields,
    InviteIn,
    InvitePage,
    InviteQuery,
    InviteSummary,
    PreviewIn,
    PreviewOut,
    ReasonOut,
    SectionBrief,
)
from .common import INVITERS, cursor_key, emit, faculty_id_of, invalid, paginate, runtime_of

PREVIEW_TOKEN = "preview-link"


@dataclass(frozen=True)
class Checked:
    """An invite body that passed every check, with what the checks looked up."""

    widget: WidgetData
    modalities: Modalities
    section: SectionRef | None
    reason: ReasonRef | None
    students: dict[str, StudentData]
    center_id: str | None
    center_name: str


async def _check(
    conn: asyncpg.Connection,
    ident: Identity,
    body: InviteFields,
    student_ids: list[str],
    now: datetime,
) -> Checked:
    """403 for a faculty member beyond their rosters, else every 422 at once, else the facts."""
    errors: list[FieldError] = list(check_student_ids(student_ids))
    if ident.role == "faculty" and student_ids:
        mine = await repo.on_rosters_of(conn, faculty_id_of(ident), student_ids)
        outside = len(set(student_ids) - mine)
        if outside:
            raise Problem(
                403,
                f"{outside} of these students are not on the rosters of your sections; "
                "nothing was sent.",
            )
    widget_row = await repo.get_widget(conn, body.widget_id)
    if widget_row is None:
        raise invalid([*errors, {"field": "widget_id", "message": "no such widget"}], "invite")
    widget = repo.widget_from_row(widget_row)
    center_id = widget.center_ids[0] if widget.center_ids else None
    center = await repo.get_center(conn, center_id) if center_id else None
    today = local_today(now, center["timezone"] if center else None)
    modalities, field_errors = check_invite(body, widget, today=today)
    errors.extend(field_errors)

    section = reason = None
    if body.section_id is not None:
        row = await repo.get_section(conn, body.section_id)
        if row is None:
            errors.append({"field": "section_id", "message": f"no section '{body.section_id}'"})
        else:
            section = SectionRef(
                section_id=row["section_id"],
                subject=row["subject"],
                course=row["course"],
                section=row["section"],
            )
    if body.reason_id is not None:
        row = await repo.get_reason(conn, body.reason_id)
        if row is None:
            errors.append({"field": "reason_id", "message": f"no reason '{body.reason_id}'"})
        else:
            reason = ReasonRef(reason_id=row["reason_id"], name=row["name"])

    students = await repo.students_by_ids(conn, student_ids) if student_ids else {}
    unknown = [s for s in dict.fromkeys(student_ids) if s not in students]
    if unknown:
        errors.append(
            {
                "field": "student_ids" if isinstance(body, InviteIn) else "student_id",
                "message": f"unknown student(s): {', '.join(unknown[:20])}",
                "ids": unknown,
            }
        )
    if errors:
        raise invalid(errors, "invite")
    return Checked(
        widget, modalities, section, reason, students, center_id, center["name"] if center else ""
    )


async def create_invite(request: web.Request) -> web.Response:
    """One request, one transaction: the invite, its invitees (COPY) and one invite.created."""
    ident = require_role(request, *INVITERS)
    body = await parse_body(request, InviteIn)
    runtime = runtime_of(request)
    now = runtime.clock.now()
    invite_id = uuid.uuid4()
    async with runtime.db.acquire() as conn, conn.transaction():
        checked = await _check(conn, ident, body, body.student_ids, now)
        invitees: list[NewInvitee] = []
        for student_id in body.student_ids:
            token = new_token()
            invitees.append(
                NewInvitee(
                    invitee_id=str(uuid.uuid4()),
                    student=checked.students[student_id],
                    token_hash=hash_token(token),
                    # The raw token leaves only inside the event's link (notify renders it).
                    link=link_for(runtime.settings.public_base_url, token),
                )
            )
        await repo.insert_invite(
            conn,
            {
                "invite_id": invite_id,
                "widget_id": uuid.UUID(checked.widget.widget_id),
                "center_id": checked.center_id,
                "created_by": ident.sub,
                "created_by_name": ident.name,
                "created_by_role": ident.role,
                "created_at": now,
                "type": body.type,
                "due_date": body.due_date,
                "section_id": body.section_id,
                "reason_id": body.reason_id,
                "duration_minutes": body.duration_minutes,
                "exam_code": body.exam_code,
                "exam_file": body.exam_file,
                "exam_passcode": body.exam_passcode,
                "notes": body.notes,
                "modalities": checked.modalities.model_dump(),
                "email_text": body.email_text or checked.widget.invitation_instructions,
            },
        )
        await repo.copy_invitees(
            conn,
            [
                (uuid.UUID(i.invitee_id), invite_id, i.student.student_id, i.token_hash)
                for i in invitees
            ],
        )
        event = build_invite_created(
            invite_id=str(invite_id),
            widget=checked.widget,
            fields=body,
            modalities=checked.modalities,
            section=checked.section,
            reason=checked.reason,
            created_by=ident.sub,
            created_at=now,
            invitees=invitees,
        )
        await emit(conn, "invite.created", event)
    runtime.wake_relay()
    return json_response(
        InviteCreatedOut(
            id=str(invite_id),
            invitees=[
                CreatedInvitee(id=i.invitee_id, student_id=i.student.student_id, status="invited")
                for i in invitees
            ],
        ),
        status=201,
    )


async def preview_invite(request: web.Request) -> web.Response:
    """The instruction email for one real student, exactly as the invite would render it."""
    ident = require_role(request, *INVITERS)
    body = await parse_body(request, PreviewIn)
    runtime = runtime_of(request)
    now = runtime.clock.now()
    async with runtime.db.acquire() as conn:
        checked = await _check(conn, ident, body, [body.student_id], now)
    student = checked.students[body.student_id]
    invitee = NewInvitee(
        invitee_id=str(uuid.UUID(int=0)),
        student=student,
        token_hash="0" * 64,
        link=link_for(runtime.settings.public_base_url, PREVIEW_TOKEN),
    )
    event = build_invite_created(
        invite_id=str(uuid.UUID(int=0)),
        widget=checked.widget,
        fields=body,
        modalities=checked.modalities,
        section=checked.section,
        reason=checked.reason,
        created_by=ident.sub,
        created_at=now,
        invitees=[invitee],
    )
    try:
        rendered = render_invite_email(event, event.invitees[0], center_name=checked.center_name)
    except RenderFailed as exc:
        raise invalid([exc.entry], "template") from exc
    return json_response(
        PreviewOut(subject=rendered.subject, text=rendered.text, html=rendered.html)
    )


# ------------------------------------------------------------------ reading
def _summary_fields(row: Any, counts: dict[str, int]) -> dict[str, Any]:
    section = (
        SectionBrief(
            section_id=row["section_id"],
            subject=row["section_subject"],
            course=row["section_course"],
            section=row["section_section"],
        )
        if row["section_id"] is not None
        else None
    )
    reason = (
        ReasonOut(reason_id=row["reason_id"], name=row["reason_name"])
        if row["reason_id"] is not None
        else None
    )
    return {
        "id": str(row["invite_id"]),
        "widget_id": str(row["widget_id"]),
        "widget_name": row["widget_name"],
        "type": row["type"],
        "due_date": row["due_date"],
        "section_id": row["section_id"],
        "section": section,
        "reason_id": row["reason_id"],
        "reason": reason,
        "duration_minutes": row["duration_minutes"],
        "created_by": row["created_by"],
        "created_by_name": row["created_by_name"],
        "created_at": row["created_at"],
        "status": row["status"],
        "invitee_count": sum(counts.values()),
        "counts": {s: counts.get(s, 0) for s in ("invited", "booked", "cancelled", "expired")},
    }


async def list_invites(request: web.Request) -> web.Response:
    """Newest first; faculty see only the invites they made."""
    ident = require_role(request, *INVITERS)
    query = parse_query(request, InviteQuery)
    key = cursor_key(query.cursor, 2)
    after = None
    if key is not None:
        try:
            after = (datetime.fromisoformat(key[0]), uuid.UUID(key[1]))
        except ValueError as exc:
            raise field_problem("cursor", "is not a cursor from this listing") from exc
    widget_id = None
    if query.widget_id is not None:
        widget_id = repo.as_uuid(query.widget_id)
        if widget_id is None:
            raise field_problem("widget_id", "is not a widget id")
    created_by = ident.sub if ident.role == "faculty" else query.created_by
    runtime = runtime_of(request)
    async with runtime.db.acquire() as conn:
        rows = await repo.list_invites(
            conn,
            widget_id=widget_id,
            type_=query.type,
            created_by=created_by,
            status=query.status,
            after=after,
            limit=query.limit + 1,
        )
        page, next_cursor = paginate(
            rows, query.limit, lambda r: [r["created_at"].isoformat(), str(r["invite_id"])]
        )
        counts = await repo.invitee_counts(conn, [r["invite_id"] for r in page])
    items = [InviteSummary(**_summary_fields(r, counts.get(r["invite_id"], {}))) for r in page]
    return json_response(InvitePage(items=items, next_cursor=next_cursor))


def _may_see(ident: Identity, row: Any) -> bool:
    return ident.is_staff or row["created_by"] == ident.sub


async def _visible_invite(
    conn: asyncpg.Connection, ident: Identity, raw_id: str, *, for_update: bool = False
) -> Any:
    invite_id = repo.as_uuid(raw_id)
    row = await repo.get_invite(conn, invite_id, for_update=for_update) if invite_id else None
    # Another faculty member's invite is answered like a missing one.
    if row is None or not _may_see(ident, row):
        raise Problem(404, "No such invite.")
    return row


async def _detail(conn: asyncpg.Connection, row: Any) -> InviteDetail:
    invitees = await repo.invitees_of(conn, row["invite_id"])
    counts: dict[str, int] = {}
    for i in invitees:
        counts[i["status"]] = counts.get(i["status"], 0) + 1
    return InviteDetail(
        **_summary_fields(row, counts),
        center_ids=list(row["center_ids"]),
        exam_code=row["exam_code"],
        exam_file=row["exam_file"],
        exam_passcode=row["exam_passcode"],
        notes=row["notes"],
        modalities=Modalities(**row["modalities"]),
        email_text=row["email_text"],
        cancelled_at=row["cancelled_at"],
        cancelled_by=row["cancelled_by"],
        invitees=[
            InviteeOut(
                id=str(i["invitee_id"]),
                student_id=i["student_id"],
                name=f"{i['first_name']} {i['last_name']}",
                email=i["email"],
                status=i["status"],
                instructions_sent_at=i["instructions_sent_at"],
                reminders_sent=i["reminders_sent"],
                last_delivery_error=i["last_delivery_error"],
                appointment_id=i["appointment_id"],
            )
            for i in invitees
        ],
    )


async def get_invite(request: web.Request) -> web.Response:
    ident = require_role(request, *INVITERS)
    runtime = runtime_of(request)
    async with runtime.db.acquire() as conn:
        row = await _visible_invite(conn, ident, request.match_info["invite_id"])
        detail = await _detail(conn, row)
    return json_response(detail)


async def cancel_invite(request: web.Request) -> web.Response:
    """Stops the emails and the links: invited and booked invitees become cancelled."""
    ident = require_role(request, *INVITERS)
    runtime = runtime_of(request)
    now = runtime.clock.now()
    async with runtime.db.acquire() as conn, conn.transaction():
        row = await _visible_invite(conn, ident, request.match_info["invite_id"], for_update=True)
        if row["status"] == "cancelled":
            raise Problem(409, "This invite is already cancelled.")
        cancelled = await repo.cancel_invite(conn, row["invite_id"], at=now, by=ident.sub)
        await emit(
            conn,
            "invite.cancelled",
            InviteCancelled(
                invite_id=str(row["invite_id"]),
                invitee_ids=[str(i) for i in cancelled],
                cancelled_at=now,
                cancelled_by=ident.sub,
            ),
        )
        row = await repo.get_invite(conn, row["invite_id"])
        detail = await _detail(conn, row)
    runtime.wake_relay()
    return json_response(detail)


def setup(app: web.Application) -> None:
    route = add_api_route
    route(app, "POST", "/api/v1/invites", create_invite, roles=INVITERS,
          summary="Invite students (faculty: students on their rosters only)",
          body=InviteIn, response=InviteCreatedOut, status=201)  # fmt: skip
    route(app, "POST", "/api/v1/invites/preview", preview_invite, roles=INVITERS,
          summary="Render the invite email for one student", body=PreviewIn,
          response=PreviewOut)  # fmt: skip
    route(app, "GET", "/api/v1/invites", list_invites, roles=INVITERS,
          summary="Invites, newest first (faculty: their own)", query=InviteQuery,
          response=InvitePage)  # fmt: skip
    route(app, "GET", "/api/v1/invites/{invite_id}", get_invite, roles=INVITERS,
          summary="An invite with its invitees", response=InviteDetail)  # fmt: skip
    route(app, "POST", "/api/v1/invites/{invite_id}/cancel", cancel_invite, roles=INVITERS,
          summary="Cancel an invite: emails stop, links stop working",
          response=InviteDetail)  # fmt: skip
