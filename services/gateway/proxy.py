"""``/api/v1/...`` forwarded to the owning service, and the student's ``/i/{token}`` link."""

from __future__ import annotations

import logging

from aiohttp import web

from services.gateway import repository as repo
from services.gateway.auth import STUDENT_IDENTITY, client_ip, limits, require_principal
from services.gateway.domain.routing import is_gateway_path, owner_of, student_token
from services.gateway.upstream import call, forward
from services.gateway.views import error_page
from shared.errors import Problem
from shared.runtime import RUNTIME
from shared.tokens import looks_like_token

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ token guessing
async def link_guard(request: web.Request) -> int:
    """0 when this address may try a link token, else the seconds until it may."""
    runtime = request.app[RUNTIME]
    policy = limits(runtime).link_guesses
    async with runtime.db.acquire() as conn:
        decision = await repo.check(conn, policy.bucket(client_ip(request)), policy)
    return 0 if decision.allowed else decision.retry_after_seconds


async def count_link_miss(request: web.Request) -> None:
    runtime = request.app[RUNTIME]
    policy = limits(runtime).link_guesses
    async with runtime.db.acquire() as conn:
        await repo.record(conn, policy.bucket(client_ip(request)))
    log.info("unknown link token", extra={"ip": client_ip(request)})


def _too_many(retry_after: int) -> Problem:
    return Problem(
        429,
        "Too many unknown links from your address; try again in a minute.",
        retry_after_seconds=retry_after,
    )


# ------------------------------------------------------------------ the proxy
async def proxy(request: web.Request) -> web.StreamResponse:
    path = request.path
    token = student_token(path)
    if token is not None:
        return await _proxy_student(request, token)
    principal = await require_principal(request)
    if is_gateway_path(path):
        raise Problem(405, f"{request.method} is not allowed on {path}.")
    service = owner_of(path)
    if service is None:
        raise Problem(404, f"There is no API route {path}.")
    return await forward(request, service, principal.identity())


async def _proxy_student(request: web.Request, token: str) -> web.StreamResponse:
    """A student's link opens these routes without an account (the token is the key)."""
    wait = await link_guard(request)
    if wait:
        raise _too_many(wait)
    if not looks_like_token(token):
        await count_link_miss(request)
        raise Problem(404, "This link is not valid.")
    response = await forward(request, "search_service", STUDENT_IDENTITY)
    if response.status == 404:
        await count_link_miss(request)
    return response


# ------------------------------------------------------------------ /i/{token}
async def open_link(request: web.Request) -> web.StreamResponse:
    token = request.match_info["token"]
    wait = await link_guard(request)
    if wait:
        response = await error_page(
            request,
            429,
            "Too many attempts",
            "Too many links that do not work were opened from your address. "
            "Please wait a minute and open the link from your email again.",
        )
        response.headers["Retry-After"] = str(wait)
        return response
    if not looks_like_token(token):
        await count_link_miss(request)
        return await link_not_found(request)
    try:
        answer = await call(
            request.app[RUNTIME],
            "search_service",
            STUDENT_IDENTITY,
            "GET",
            f"/api/v1/invitations/{token}",
        )
    except Problem as exc:
        return await error_page(
            request, exc.status, "Please try again shortly", "This page is not available now."
        )
    if answer.status == 404:
        await count_link_miss(request)
        return await link_not_found(request)
    if not answer.ok or not isinstance(answer.data, dict):
        return await error_page(
            request, 503, "Please try again shortly", "This page is not available right now."
        )
    status = answer.data.get("status")
    if status in ("cancelled", "expired"):
        return await link_not_found(request)
    if status == "booked" or answer.data.get("appointment_id"):
        target = f"/invitations/{token}/appointment"
    else:
        target = f"/invitations/{token}"
    return web.Response(
        status=303,
        headers={"Location": target, "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"},
    )


async def link_not_found(request: web.Request) -> web.Response:
    """The same page for an unknown, cancelled or expired link: it reveals nothing."""
    response = await error_page(
        request,
        404,
        "This link does not work",
        "The link you opened is not valid any more. If you still need an appointment, "
        "please contact the center that sent you the invitation.",
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
