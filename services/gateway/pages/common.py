"""What every page handler shares: login and role checks, service calls, failure pages."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from services.gateway.auth import Principal, current_principal
from services.gateway.domain.forms import form_from
from services.gateway.domain.routing import owner_of
from services.gateway.upstream import Answer, call
from services.gateway.views import error_page
from shared.auth import Identity
from shared.errors import Problem
from shared.runtime import RUNTIME

PageHandler = Callable[[web.Request, Principal], Awaitable[web.StreamResponse]]


class ApiFailure(Exception):
    """A service refused or failed a page's call; the page shows why."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.detail)
        self.answer = answer


def see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def q(value: str) -> str:
    """A path segment made from data (ids may hold ':' or '@')."""
    return quote(value, safe="")


def page(
    *roles: str,
) -> Callable[[PageHandler], Callable[[web.Request], Awaitable[web.StreamResponse]]]:
    """Log in first (back here afterwards), have one of ``roles``, and fail as a page."""

    def wrap(handler: PageHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        @functools.wraps(handler)
        async def run(request: web.Request) -> web.StreamResponse:
            principal = await current_principal(request)
            if principal is None:
                return see_other("/login?" + urlencode({"next": request.path_qs}))
            if roles and principal.user.role not in roles:
                return await error_page(
                    request, 403, "Not allowed", "Your role may not open this page."
                )
            try:
                return await handler(request, principal)
            except ApiFailure as failure:
                return await failure_page(request, failure.answer)
            except Problem as problem:
                return await error_page(
                    request, problem.status, problem.title, problem.detail, errors=problem.errors
                )

        return run

    return wrap


async def failure_page(request: web.Request, answer: Answer) -> web.Response:
    if answer.status == 404:
        return await error_page(request, 404, "Not found", "There is nothing here (any more).")
    if answer.status == 403:
        return await error_page(request, 403, "Not allowed", answer.detail)
    if answer.status >= 500:
        return await error_page(
            request, 503, "Please try again shortly", "A service had a problem with this page."
        )
    return await error_page(
        request, answer.status, "That did not work", answer.detail, errors=answer.errors
    )


async def api(
    request: web.Request,
    who: Principal | Identity,
    method: str,
    path: str,
    *,
    params: Mapping[str, Any] | None = None,
    json_body: Any = None,
    expect_ok: bool = True,
) -> Answer:
    """Call the service that owns ``path`` as this user, like the proxy would."""
    service = owner_of(path)
    if service is None:
        raise RuntimeError(f"no service owns {path}")
    identity = who.identity() if isinstance(who, Principal) else who
    answer = await call(
        request.app[RUNTIME], service, identity, method, path, params=params, json_body=json_body
    )
    if expect_ok and not answer.ok:
        raise ApiFailure(answer)
    return answer


async def items(
    request: web.Request,
    who: Principal,
    path: str,
    *,
    params: Mapping[str, Any] | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """The first page of a listing (for choices in forms); an unavailable one is empty."""
    try:
        answer = await api(
            request, who, "GET", path, params={**(params or {}), "limit": limit}, expect_ok=False
        )
    except Problem:
        return []
    if answer.ok and isinstance(answer.data, dict) and isinstance(answer.data.get("items"), list):
        return list(answer.data["items"])
    if answer.ok and isinstance(answer.data, list):
        return list(answer.data)
    return []


async def all_items(
    request: web.Request, who: Principal, path: str, params: Mapping[str, Any], *, cap: int
) -> list[dict[str, Any]]:
    """Every page of a listing, up to ``cap`` items."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(found) < cap:
        answer = await api(
            request, who, "GET", path, params={**params, "limit": 500, "cursor": cursor}
        )
        data = answer.data if isinstance(answer.data, dict) else {}
        found.extend(data.get("items") or [])
        cursor = data.get("next_cursor")
        if not cursor:
            break
    return found[:cap]


async def read_form(request: web.Request) -> dict[str, list[str]]:
    return form_from((await request.post()).items())


def errors_by_field(errors: list[dict[str, Any]] | None) -> dict[str, str]:
    """Problem errors keyed by their field, the first message of each."""
    out: dict[str, str] = {}
    for e in errors or []:
        field = str(e.get("field", "")).removeprefix("body.")
        out.setdefault(field, str(e.get("message", "")))
    return out
