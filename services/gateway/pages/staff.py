"""Staff: duration rules, appointments with their Invite tab and attendance."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from services.gateway.auth import Principal
from services.gateway.domain.forms import Form, first, rule_rows, rules_body
from services.gateway.pages.common import (
    ApiFailure,
    api,
    errors_by_field,
    page,
    q,
    read_form,
    see_other,
)
from services.gateway.views import render
from shared.errors import Problem
from shared.runtime import RUNTIME

STAFF = ("admin", "staff")
BLANK_RULE_ROWS = 3


# ------------------------------------------------------------------ duration rules
def _rows_from_rules(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = [
        {
            "list": r.get("list") or "",
            "type": r.get("type") or "",
            "duration_minutes": "" if r.get("duration_minutes") is None else r["duration_minutes"],
            "new_duration_minutes": r.get("new_duration_minutes", ""),
        }
        for r in rules
    ]
    return rows + [
        dict.fromkeys(("list", "type", "duration_minutes", "new_duration_minutes"), "")
        for _ in range(BLANK_RULE_ROWS)
    ]


def _rows_from_form(form: Form) -> list[dict[str, Any]]:
    rows = [
        {
            "list": r.list,
            "type": r.type,
            "duration_minutes": r.duration_minutes,
            "new_duration_minutes": r.new_duration_minutes,
        }
        for r in rule_rows(form)
    ]
    return rows


@page(*STAFF)
async def duration_rules(request: web.Request, who: Principal) -> web.StreamResponse:
    rules = (await api(request, who, "GET", "/api/v1/duration-rules")).data
    if isinstance(rules, dict):  # tolerate {"items": [...]} as well as a bare array
        rules = rules.get("items") or rules.get("rules") or []
    return await render(
        request,
        "duration_rules.html",
        title="Duration Rules",
        rows=_rows_from_rules(list(rules or [])),
        editable=who.user.role == "admin",
        saved=request.query.get("saved") == "1",
        errors={},
        error_list=[],
    )


@page("admin")
async def duration_rules_save(request: web.Request, who: Principal) -> web.StreamResponse:
    form = await read_form(request)
    rules, errors = rules_body(form)
    detail = "Some rules need attention."
    if not errors:
        answer = await api(
            request, who, "PUT", "/api/v1/duration-rules", json_body=rules, expect_ok=False
        )
        if answer.ok:
            return see_other("/duration-rules?saved=1")
        if answer.status != 422:
            raise ApiFailure(answer)
        errors, detail = answer.errors, answer.detail
    return await render(
        request,
        "duration_rules.html",
        status=422,
        title="Duration Rules",
        rows=_rows_from_form(form),
        editable=True,
        saved=False,
        detail=detail,
        errors=errors_by_field(errors),
        error_list=errors,
    )


# ------------------------------------------------------------------ appointments
@page(*STAFF)
async def appointments(request: web.Request, who: Principal) -> web.StreamResponse:
    today = request.app[RUNTIME].clock.now().date()
    filters = {
        "from": request.query.get("from") or today.isoformat(),
        "to": request.query.get("to") or (today + timedelta(days=7)).isoformat(),
        "student_id": request.query.get("student_id", "").strip(),
        "status": request.query.get("status", "").strip(),
    }
    params = {k: v for k, v in filters.items() if v}
    answer = await api(
        request,
        who,
        "GET",
        "/api/v1/appointments",
        params={**params, "limit": 200, "cursor": request.query.get("cursor")},
        expect_ok=False,
    )
    if answer.status == 422:
        return await render(
            request,
            "appointments.html",
            status=422,
            title="Appointments",
            appointments=[],
            filters=filters,
            detail=answer.detail,
            next_url=None,
        )
    if not answer.ok:
        raise ApiFailure(answer)
    data = answer.data if isinstance(answer.data, dict) else {}
    next_url = None
    if data.get("next_cursor"):
        next_url = "/appointments?" + urlencode({**params, "cursor": data["next_cursor"]})
    return await render(
        request,
        "appointments.html",
        title="Appointments",
        appointments=data.get("items") or [],
        filters=filters,
        next_url=next_url,
    )


@page(*STAFF)
async def appointment_detail(request: web.Request, who: Principal) -> web.StreamResponse:
    appointment_id = request.match_info["appointment_id"]
    appointment = (await api(request, who, "GET", f"/api/v1/appointments/{q(appointment_id)}")).data
    student: dict[str, Any] | None = None
    if appointment.get("student_id"):
        try:
            found = await api(
                request,
                who,
                "GET",
                f"/api/v1/students/{q(appointment['student_id'])}",
                expect_ok=False,
            )
            student = found.data if found.ok and isinstance(found.data, dict) else None
        except Problem:
            student = None
    tab = "invite" if request.query.get("tab") == "invite" else "details"
    return await render(
        request,
        "appointment.html",
        title="Appointment",
        appointment=appointment,
        student=student,
        tab=tab,
        saved=request.query.get("saved"),
    )


@page(*STAFF)
async def appointment_attendance(request: web.Request, who: Principal) -> web.StreamResponse:
    appointment_id = request.match_info["appointment_id"]
    form = await read_form(request)
    attendance = first(form, "attendance")
    await api(
        request,
        who,
        "PATCH",
        f"/api/v1/appointments/{q(appointment_id)}",
        json_body={"attendance": attendance},
    )
    tab = "invite" if first(form, "tab") == "invite" else "details"
    return see_other(f"/appointments/{q(appointment_id)}?tab={tab}&saved=attendance")


@page(*STAFF)
async def appointment_cancel(request: web.Request, who: Principal) -> web.StreamResponse:
    appointment_id = request.match_info["appointment_id"]
    await api(
        request, who, "POST", f"/api/v1/appointments/{q(appointment_id)}/cancel", json_body={}
    )
    return see_other(f"/appointments/{q(appointment_id)}?saved=cancelled")
