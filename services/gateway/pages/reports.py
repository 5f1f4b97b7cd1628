"""Staff: the Appointment Invite Schedule report form (screen as HTML or CSV, or by email)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from services.gateway.auth import Principal
from services.gateway.domain.forms import (
    REPORT_EXTRA_FIELDS,
    REPORT_GROUPS,
    REPORT_PRESETS,
    Form,
    first,
    report_query,
)
from services.gateway.pages.common import ApiFailure, api, errors_by_field, items, page, read_form
from services.gateway.views import render

STAFF = ("admin", "staff")
REPORT_PATH = "/api/v1/reports/appointment-invite-schedule"


async def _form_page(
    request: web.Request,
    who: Principal,
    values: Form | None,
    *,
    status: int = 200,
    errors: list[dict[str, Any]] | None = None,
    detail: str | None = None,
    delivered_to: str | None = None,
) -> web.Response:
    widgets = await items(request, who, "/api/v1/widgets")
    types = sorted({t for w in widgets for t in (w.get("invitation_types") or [])})

    def value(name: str, default: str = "") -> str:
        return (values.get(name) or [default])[0] if values is not None else default

    def chosen(name: str) -> list[str]:
        return list(values.get(name) or []) if values is not None else []

    return await render(
        request,
        "report_form.html",
        status=status,
        title="Appointment Invite Schedule",
        presets=REPORT_PRESETS,
        extra_fields=REPORT_EXTRA_FIELDS,
        groups=REPORT_GROUPS,
        types=types,
        sections=await items(request, who, "/api/v1/sections"),
        reasons=await items(request, who, "/api/v1/reasons"),
        value=value,
        chosen=chosen,
        errors=errors_by_field(errors),
        error_list=errors or [],
        detail=detail,
        delivered_to=delivered_to,
    )


@page(*STAFF)
async def report_form(request: web.Request, who: Principal) -> web.StreamResponse:
    return await _form_page(request, who, None)


def _delivery_body(query: dict[str, str], recipients: str) -> dict[str, Any]:
    body: dict[str, Any] = dict(query)
    for flag in ("totals", "include_cancelled"):
        if flag in body:
            body[flag] = True
    body["recipients"] = recipients
    return body


@page(*STAFF)
async def report_run(request: web.Request, who: Principal) -> web.StreamResponse:
    """On screen: off to the report itself (HTML page or CSV download); by email: queued."""
    form = await read_form(request)
    query, errors = report_query(form)
    deliver = first(form, "deliver")
    recipients = first(form, "recipients")
    if deliver == "email" and not recipients:
        errors.append({"field": "recipients", "message": "is required to send by email"})
    if errors:
        return await _form_page(
            request, who, form, status=422, errors=errors, detail="Some fields need attention."
        )
    if deliver != "email":
        return web.Response(status=303, headers={"Location": f"{REPORT_PATH}?{urlencode(query)}"})
    answer = await api(
        request,
        who,
        "POST",
        f"{REPORT_PATH}/deliveries",
        json_body=_delivery_body(query, recipients),
        expect_ok=False,
    )
    if answer.status == 422:
        return await _form_page(
            request, who, form, status=422, errors=answer.errors, detail=answer.detail
        )
    if not answer.ok:
        raise ApiFailure(answer)
    return await _form_page(request, who, form, delivered_to=recipients)
