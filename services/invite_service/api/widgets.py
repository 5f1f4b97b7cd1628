"""Widget routes: the invite settings (admin writes; staff and faculty read to invite)."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from shared.errors import Problem, field_problem
from shared.events import WidgetData
from shared.http import json_response, parse_body, parse_query, require_role
from shared.openapi import add_api_route
from shared.templates import DEFAULT_SUBJECT

from .. import repository as repo
from ..domain.widgets import (
    DEFAULT_ASK_FIELDS,
    DEFAULT_INSTRUCTIONS,
    TEMPLATE_FIELDS,
    template_error,
)
from ..models import ListQuery, WidgetIn, WidgetOut, WidgetPage, WidgetPatch
from .common import ADMIN, INVITERS, cursor_key, emit, invalid, paginate, runtime_of

# PATCH may clear only these (no reminders); every other field needs a value.
NULLABLE = frozenset({"reminder_every_days"})


def _widget_out(row: Any) -> WidgetOut:
    data = repo.widget_from_row(row).model_dump()
    data["id"] = data.pop("widget_id")
    return WidgetOut(**data, created_at=row["created_at"], updated_at=row["updated_at"])


def _check_templates(widget: WidgetData) -> None:
    errors = [
        e
        for field in TEMPLATE_FIELDS
        if (e := template_error(field, getattr(widget, field))) is not None
    ]
    if errors:
        raise invalid(errors, "widget")


async def create_widget(request: web.Request) -> web.Response:
    require_role(request, *ADMIN)
    body = await parse_body(request, WidgetIn)
    widget = WidgetData(
        widget_id=str(uuid.uuid4()),
        name=body.name,
        center_ids=list(dict.fromkeys(body.center_ids)),
        is_invitation=body.is_invitation,
        hide_on_dashboard=body.hide_on_dashboard,
        invitation_types=body.invitation_types,
        send_instructions_days=body.send_instructions_days,
        # Stored explicitly, so the settings page shows what will be used.
        invitation_subject=body.invitation_subject or DEFAULT_SUBJECT,
        invitation_instructions=body.invitation_instructions or DEFAULT_INSTRUCTIONS,
        ask_fields=body.ask_fields if body.ask_fields is not None else list(DEFAULT_ASK_FIELDS),
        reminder_every_days=body.reminder_every_days,
        reminder_text=body.reminder_text,
    )
    _check_templates(widget)
    runtime = runtime_of(request)
    async with runtime.db.acquire() as conn, conn.transaction():
        row = await repo.insert_widget(conn, widget, runtime.clock.now())
        await emit(conn, "widget.created", widget)
    runtime.wake_relay()
    return json_response(_widget_out(row), status=201)


async def patch_widget(request: web.Request) -> web.Response:
    require_role(request, *ADMIN)
    body = await parse_body(request, WidgetPatch)
    nulls = [f for f in body.model_fields_set if getattr(body, f) is None and f not in NULLABLE]
    if nulls:
        raise invalid(
            [{"field": f, "message": "must not be null"} for f in sorted(nulls)], "widget"
        )
    runtime = runtime_of(request)
    async with runtime.db.acquire() as conn, conn.transaction():
        row = await repo.get_widget(conn, request.match_info["widget_id"], for_update=True)
        if row is None:
            raise Problem(404, "No such widget.")
        current = repo.widget_from_row(row)
        changes = {f: getattr(body, f) for f in body.model_fields_set}
        if "center_ids" in changes:
            changes["center_ids"] = list(dict.fromkeys(changes["center_ids"]))
        widget = current.model_copy(update=changes)
        _check_templates(widget)
        if widget != current:
            row = await repo.update_widget(conn, widget, runtime.clock.now())
            await emit(conn, "widget.updated", widget)
    runtime.wake_relay()
    return json_response(_widget_out(row))


async def get_widget(request: web.Request) -> web.Response:
    require_role(request, *INVITERS)
    runtime = runtime_of(request)
    async with runtime.db.acquire() as conn:
        row = await repo.get_widget(conn, request.match_info["widget_id"])
    if row is None:
        raise Problem(404, "No such widget.")
    return json_response(_widget_out(row))


async def list_widgets(request: web.Request) -> web.Response:
    require_role(request, *INVITERS)
    query = parse_query(request, ListQuery)
    key = cursor_key(query.cursor, 2)
    if key is not None and repo.as_uuid(key[1]) is None:
        raise field_problem("cursor", "is not a cursor from this listing")
    runtime = runtime_of(request)
    async with runtime.db.acquire() as conn:
        rows = await repo.list_widgets(conn, (key[0], key[1]) if key else None, query.limit + 1)
    page, next_cursor = paginate(rows, query.limit, lambda r: [r["name"], str(r["widget_id"])])
    return json_response(WidgetPage(items=[_widget_out(r) for r in page], next_cursor=next_cursor))


def setup(app: web.Application) -> None:
    route = add_api_route
    route(app, "POST", "/api/v1/widgets", create_widget, roles=ADMIN,
          summary="Create a widget (invite settings)", body=WidgetIn, response=WidgetOut,
          status=201)  # fmt: skip
    route(app, "GET", "/api/v1/widgets", list_widgets, roles=INVITERS,
          summary="Widgets", query=ListQuery, response=WidgetPage)  # fmt: skip
    route(app, "GET", "/api/v1/widgets/{widget_id}", get_widget, roles=INVITERS,
          summary="One widget", response=WidgetOut)  # fmt: skip
    route(app, "PATCH", "/api/v1/widgets/{widget_id}", patch_widget, roles=ADMIN,
          summary="Change a widget's settings", body=WidgetPatch, response=WidgetOut)  # fmt: skip
