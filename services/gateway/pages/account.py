"""Home, login and logout pages."""

from __future__ import annotations

from aiohttp import web

from services.gateway.auth import (
    SESSION_COOKIE,
    authenticate,
    clear_session_cookie,
    current_principal,
    end_session,
    set_session_cookie,
    start_session,
)
from services.gateway.domain.routing import safe_next
from services.gateway.pages.common import see_other
from services.gateway.views import render
from shared.errors import Problem


def home_for(role: str | None) -> str:
    if role in ("admin", "staff"):
        return "/students"
    if role == "faculty":
        return "/faculty/sections"
    return "/login"


async def home(request: web.Request) -> web.Response:
    principal = await current_principal(request)
    return see_other(home_for(principal.user.role if principal else None))


async def login_form(request: web.Request) -> web.Response:
    principal = await current_principal(request)
    target = request.query.get("next")
    if principal is not None:
        return see_other(safe_next(target, home_for(principal.user.role)))
    return await render(request, "login.html", title="Log in", next=safe_next(target, ""))


async def login_submit(request: web.Request) -> web.Response:
    form = await request.post()
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    target = safe_next(str(form.get("next", "")), "")
    if not username or not password:
        return await render(
            request,
            "login.html",
            status=422,
            title="Log in",
            error="Enter your username and password.",
            username=username,
            next=target,
        )
    try:
        user = await authenticate(request, username, password)
    except Problem as exc:
        response = await render(
            request,
            "login.html",
            status=exc.status,
            title="Log in",
            error=exc.detail,
            username=username,
            next=target,
        )
        if exc.status == 429:
            response.headers["Retry-After"] = str(exc.extra.get("retry_after_seconds", 60))
        return response
    if SESSION_COOKIE in request.cookies:
        await end_session(request)
    value, _ = await start_session(request, user)
    response = see_other(safe_next(target, home_for(user.role)))
    set_session_cookie(request, response, value)
    return response


async def logout_submit(request: web.Request) -> web.Response:
    await end_session(request)
    response = see_other("/login")
    clear_session_cookie(response)
    return response
