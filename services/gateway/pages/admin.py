"""Admin: Search Availability Options (the widgets' invite settings)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.gateway.auth import Principal
from services.gateway.domain.forms import ASK_FIELDS, Form, widget_body
from services.gateway.pages.common import (
    ApiFailure,
    api,
    errors_by_field,
    items,
    page,
    q,
    read_form,
    see_other,
)
from services.gateway.views import render

NEW_WIDGET: dict[str, Any] = {
    "name": "",
    "center_ids": [],
    "is_invitation": True,
    "hide_on_dashboard": True,
    "invitation_types": [],
    "send_instructions_days": 3,
    "invitation_subject": "",
    "invitation_instructions": "",
    "ask_fields": ["type", "section", "reason", "duration"],
    "reminder_every_days": 2,
    "reminder_text": "",
}


@page("admin")
async def widgets(request: web.Request, who: Principal) -> web.StreamResponse:
    return await render(
        request,
        "widgets.html",
        title="Search Availability Options",
        widgets=await items(request, who, "/api/v1/widgets"),
        centers={c["id"]: c["name"] for c in await items(request, who, "/api/v1/centers")},
        saved=request.query.get("saved") == "1",
    )


def _widget_from_form(form: Form, body: dict[str, Any]) -> dict[str, Any]:
    shown = dict(body)
    shown["invitation_types"] = (form.get("invitation_types") or [""])[0]
    shown["send_instructions_days"] = (form.get("send_instructions_days") or [""])[0]
    shown["reminder_every_days"] = (form.get("reminder_every_days") or [""])[0]
    shown["invitation_subject"] = (form.get("invitation_subject") or [""])[0]
    return shown


async def _form_page(
    request: web.Request,
    who: Principal,
    widget: dict[str, Any],
    *,
    widget_id: str | None,
    status: int = 200,
    errors: list[dict[str, Any]] | None = None,
    detail: str | None = None,
) -> web.Response:
    shown = dict(widget)
    if isinstance(shown.get("invitation_types"), list):
        shown["invitation_types"] = "; ".join(shown["invitation_types"])
    return await render(
        request,
        "widget_form.html",
        status=status,
        title="Edit invite settings" if widget_id else "New invite settings",
        widget=shown,
        widget_id=widget_id,
        ask_fields=ASK_FIELDS,
        centers=await items(request, who, "/api/v1/centers"),
        errors=errors_by_field(errors),
        error_list=errors or [],
        detail=detail,
    )


@page("admin")
async def widget_new(request: web.Request, who: Principal) -> web.StreamResponse:
    return await _form_page(request, who, NEW_WIDGET, widget_id=None)


@page("admin")
async def widget_edit(request: web.Request, who: Principal) -> web.StreamResponse:
    widget_id = request.match_info["widget_id"]
    widget = (await api(request, who, "GET", f"/api/v1/widgets/{q(widget_id)}")).data
    return await _form_page(request, who, widget, widget_id=widget_id)


async def _save(request: web.Request, who: Principal, widget_id: str | None) -> web.StreamResponse:
    form = await read_form(request)
    body, errors = widget_body(form)
    detail = "Some settings need attention."
    if not errors:
        if widget_id is None:
            answer = await api(
                request, who, "POST", "/api/v1/widgets", json_body=body, expect_ok=False
            )
        else:
            answer = await api(
                request,
                who,
                "PATCH",
                f"/api/v1/widgets/{q(widget_id)}",
                json_body=body,
                expect_ok=False,
            )
        if answer.ok:
            return see_other("/admin/widgets?saved=1")
        if answer.status != 422:
            raise ApiFailure(answer)
        errors, detail = answer.errors, answer.detail
    return await _form_page(
        request,
        who,
        _widget_from_form(form, body),
        widget_id=widget_id,
        status=422,
        errors=errors,
        detail=detail,
    )


@page("admin")
async def widget_create(request: web.Request, who: Principal) -> web.StreamResponse:
    return await _save(request, who, None)


@page("admin")
async def widget_update(request: web.Request, who: Principal) -> web.StreamResponse:
    return await _save(request, who, request.match_info["widget_id"])
