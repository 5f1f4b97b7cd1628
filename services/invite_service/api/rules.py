"""Duration rules: the whole ordered list, read by staff, replaced by an admin."""

from __future__ import annotations

from aiohttp import web

from shared.events import DurationRulesChanged
from shared.http import json_response, parse_body, require_role
from shared.openapi import add_api_route

from .. import repository as repo
from ..domain.rules import DurationRulesIn, DurationRulesOut
from .common import ADMIN, STAFF, emit, runtime_of


async def get_rules(request: web.Request) -> web.Response:
    require_role(request, *STAFF)
    runtime = runtime_of(request)
    async with runtime.db.acquire() as conn:
        rules = await repo.get_rules(conn)
    return json_response(DurationRulesOut(rules))


async def put_rules(request: web.Request) -> web.Response:
    require_role(request, *ADMIN)
    body = await parse_body(request, DurationRulesIn)
    rules = body.to_rules()
    runtime = runtime_of(request)
    async with runtime.db.acquire() as conn, conn.transaction():
        await repo.replace_rules(conn, rules)
        await emit(conn, "duration_rules.changed", DurationRulesChanged(rules=rules))
    runtime.wake_relay()
    return json_response(DurationRulesOut(rules))


def setup(app: web.Application) -> None:
    add_api_route(app, "GET", "/api/v1/duration-rules", get_rules, roles=STAFF,
                  summary="The ordered duration rules", response=DurationRulesOut)  # fmt: skip
    add_api_route(app, "PUT", "/api/v1/duration-rules", put_rules, roles=ADMIN,
                  summary="Replace the whole ordered list of duration rules",
                  body=DurationRulesIn, response=DurationRulesOut)  # fmt: skip
