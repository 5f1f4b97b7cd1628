"""Staff and faculty: the students listing, the invite form, the invites and their invitees."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from services.gateway.auth import Principal
from services.gateway.domain.forms import (
    ASK_FIELDS,
    Form,
    checked,
    first,
    invite_body,
    modality_defaults,
    parse_ids,
)
from services.gateway.pages.common import (
    ApiFailure,
    all_items,
    api,
    errors_by_field,
    items,
    page,
    q,
    read_form,
    see_other,
)
from services.gateway.views import error_page, render
from shared.errors import Problem
from shared.http import json_response

INVITERS = ("admin", "staff", "faculty")
STAFF = ("admin", "staff")
MAX_STUDENTS = 10_000  # the invite service's limit per invite
PREVIEW_CHOICES = 200
NAMED_PREVIEW_CHOICES = 25


# ------------------------------------------------------------------ students listing
@page(*STAFF)
async def students(request: web.Request, who: Principal) -> web.StreamResponse:
    filters = {k: request.query.get(k, "").strip() for k in ("q", "list", "section_id")}
    params = {k: v for k, v in filters.items() if v}
    answer = await api(
        request,
        who,
        "GET",
        "/api/v1/students",
        params={**params, "limit": 100, "cursor": request.query.get("cursor")},
    )
    data = answer.data if isinstance(answer.data, dict) else {}
    rows = data.get("items") or []
    sections = await items(request, who, "/api/v1/sections")
    lists = sorted({name for s in rows for name in (s.get("lists") or [])})
    next_url = None
    if data.get("next_cursor"):
        next_url = "/students?" + urlencode({**params, "cursor": data["next_cursor"]})
    return await render(
        request,
        "students.html",
        title="Students",
        students=rows,
        filters=filters,
        sections=sections,
        lists=lists,
        next_url=next_url,
        back=request.path_qs,
    )


# ------------------------------------------------------------------ the invite form
async def _selected_ids(request: web.Request, who: Principal, form: Form) -> list[str]:
    ids = parse_ids(*(form.get("student_id") or []), first(form, "student_ids"))
    if checked(form, "all_matching"):
        params = {k: first(form, k) for k in ("q", "list", "section_id") if first(form, k)}
        found = await all_items(request, who, "/api/v1/students", params, cap=MAX_STUDENTS + 1)
        ids = parse_ids(*(str(s.get("student_id", "")) for s in found))
    return ids


@page(*INVITERS)
async def invite_new(request: web.Request, who: Principal) -> web.StreamResponse:
    """Step 1 (students chosen) → choose a widget; step 2 (widget chosen) → the form."""
    form = await read_form(request)
    back = first(form, "back") or "/"
    ids = await _selected_ids(request, who, form)
    if not ids:
        return await error_page(
            request,
            422,
            "Select students first",
            "Tick the students to invite, then choose Create Appointment Invite.",
            back=back,
        )
    if len(ids) > MAX_STUDENTS:
        return await error_page(
            request,
            422,
            "Too many students",
            f"One invite reaches at most {MAX_STUDENTS:,} students; narrow the search.",
            back=back,
        )
    widget_id = first(form, "widget_id")
    if not widget_id:
        widgets = [
            w for w in await items(request, who, "/api/v1/widgets") if w.get("is_invitation")
        ]
        return await render(
            request,
            "choose_widget.html",
            title="Choose the kind of invite",
            widgets=widgets,
            student_ids=",".join(ids),
            count=len(ids),
            back=back,
        )
    return await invite_form(request, who, widget_id, ids, back=back)


async def _student_label(request: web.Request, who: Principal, student_id: str) -> str:
    try:
        answer = await api(
            request, who, "GET", f"/api/v1/students/{q(student_id)}", expect_ok=False
        )
    except Problem:
        return student_id
    s = answer.data if answer.ok and isinstance(answer.data, dict) else None
    if not s:
        return student_id
    return f"{s.get('first_name', '')} {s.get('last_name', '')} ({student_id})".strip()


async def invite_form(
    request: web.Request,
    who: Principal,
    widget_id: str,
    ids: list[str],
    *,
    back: str,
    values: Form | None = None,
    errors: list[dict[str, Any]] | None = None,
    detail: str | None = None,
    status: int = 200,
) -> web.Response:
    widget = (await api(request, who, "GET", f"/api/v1/widgets/{q(widget_id)}")).data
    asked = list(widget.get("ask_fields") or [])
    sections = await items(request, who, "/api/v1/sections") if "section" in asked else []
    reasons = await items(request, who, "/api/v1/reasons") if "reason" in asked else []
    named = await asyncio.gather(
        *(_student_label(request, who, s) for s in ids[:NAMED_PREVIEW_CHOICES])
    )
    choices = list(zip(ids[:NAMED_PREVIEW_CHOICES], named, strict=True)) + [
        (s, s) for s in ids[NAMED_PREVIEW_CHOICES:PREVIEW_CHOICES]
    ]

    def value(name: str, default: str = "") -> str:
        if values is None:
            return default
        return (values.get(name) or [""])[0]

    return await render(
        request,
        "invite_form.html",
        status=status,
        title="Create Appointment Invite",
        widget=widget,
        asked=asked,
        ask_labels=dict(ASK_FIELDS),
        sections=sections,
        reasons=reasons,
        student_ids=",".join(ids),
        count=len(ids),
        choices=choices,
        value=value,
        email_text=value("email_text", widget.get("invitation_instructions") or ""),
        modalities=modality_defaults(values),
        errors=errors_by_field(errors),
        error_list=errors or [],
        detail=detail,
        back=back,
    )


@page(*INVITERS)
async def invite_create(request: web.Request, who: Principal) -> web.StreamResponse:
    form = await read_form(request)
    ids = parse_ids(first(form, "student_ids"))
    asked = [a for a in first(form, "asked").split(",") if a]
    back = first(form, "back") or "/"
    body, errors = invite_body(form, asked)
    if errors:
        return await invite_form(
            request,
            who,
            body["widget_id"],
            ids,
            back=back,
            values=form,
            errors=errors,
            detail="Some fields need attention.",
            status=422,
        )
    body["student_ids"] = ids
    answer = await api(request, who, "POST", "/api/v1/invites", json_body=body, expect_ok=False)
    if answer.status == 422:
        return await invite_form(
            request,
            who,
            body["widget_id"],
            ids,
            back=back,
            values=form,
            errors=answer.errors,
            detail=answer.detail,
            status=422,
        )
    if not answer.ok:
        raise ApiFailure(answer)
    created = answer.data
    count = len(created.get("invitees") or [])
    return see_other(f"/invites/{q(created['id'])}?created={count}")


@page(*INVITERS)
async def invite_preview(request: web.Request, who: Principal) -> web.StreamResponse:
    """The form's Preview button: the invite rendered for one selected student (JSON)."""
    form = await read_form(request)
    asked = [a for a in first(form, "asked").split(",") if a]
    body, errors = invite_body(form, asked)
    if errors:
        raise Problem(422, "Some fields need attention.", errors=errors)
    body["student_id"] = first(form, "preview_student_id")
    answer = await api(
        request, who, "POST", "/api/v1/invites/preview", json_body=body, expect_ok=False
    )
    return json_response(answer.data, status=answer.status)


# ------------------------------------------------------------------ invites listing / detail
@page(*INVITERS)
async def invites(request: web.Request, who: Principal) -> web.StreamResponse:
    filters = {k: request.query.get(k, "").strip() for k in ("widget_id", "type", "status")}
    params = {k: v for k, v in filters.items() if v}
    answer = await api(
        request,
        who,
        "GET",
        "/api/v1/invites",
        params={**params, "limit": 50, "cursor": request.query.get("cursor")},
    )
    data = answer.data if isinstance(answer.data, dict) else {}
    widgets = await items(request, who, "/api/v1/widgets")
    next_url = None
    if data.get("next_cursor"):
        next_url = "/invites?" + urlencode({**params, "cursor": data["next_cursor"]})
    return await render(
        request,
        "invites.html",
        title="Appointment Invites",
        invites=data.get("items") or [],
        widgets=widgets,
        filters=filters,
        next_url=next_url,
    )


@page(*INVITERS)
async def invite_detail(request: web.Request, who: Principal) -> web.StreamResponse:
    invite_id = request.match_info["invite_id"]
    invite = (await api(request, who, "GET", f"/api/v1/invites/{q(invite_id)}")).data
    created = request.query.get("created")
    return await render(
        request,
        "invite.html",
        title=f"Invite: {invite.get('type') or invite.get('widget_name')}",
        invite=invite,
        created=int(created) if created and created.isdigit() else None,
        cancelled=request.query.get("cancelled") == "1",
    )


@page(*INVITERS)
async def invite_cancel(request: web.Request, who: Principal) -> web.StreamResponse:
    invite_id = request.match_info["invite_id"]
    await api(request, who, "POST", f"/api/v1/invites/{q(invite_id)}/cancel", json_body={})
    return see_other(f"/invites/{q(invite_id)}?cancelled=1")
