"""``/api/v1/...`` forwarded to the owning service, and the student's ``/i/{token}`` link."""

from __future__ import annotations

import logging
import math
import time

from aiohttp import web

from services.gateway import repository as repo
from services.gateway.auth import STUDENT_IDENTITY, client_ip, limits, require_principal
from services.gateway.domain.routing import is_gateway_path, owner_of, student_token
from services.gateway.upstream import call, forward
from services.gateway.views import error_page
from shared.errors import Problem
from shared.runtime import RUNTIME, Runtime
from shared.tokens import looks_like_token

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ token guessing
class MissWatch:
    """The addresses this gateway copy saw open unknown links within the limit's window.

    The database holds every copy's misses (the shared truth), but asking it on every
    student request cost a round trip each. Only an address that missed here lately is
    checked against it; any other goes through unasked, so a guesser who moves to
    another copy gets one unchecked guess there before that copy watches it too. A
    refusal is remembered until the time the database gave, so a blocked guesser costs
    no query either. Bounded: past ``max_watched`` addresses every address is checked.
    """

    def __init__(self, max_watched: int = 100_000) -> None:
        self._max = max_watched
        # bucket → (watched until, refused until), monotonic seconds
        self._watched: dict[str, tuple[float, float]] = {}
        self._full = False

    def wait(self, bucket: str, now: float) -> int | None:
        """Seconds to refuse for, 0 to let through, None to ask the database."""
        found = self._watched.get(bucket)
        if found is None:
            return None if self._full else 0
        watched_until, refused_until = found
        if now >= watched_until:
            del self._watched[bucket]
            return None if self._full else 0
        if now < refused_until:
            return max(1, math.ceil(refused_until - now))
        return None

    def missed(self, bucket: str, now: float, window: float, refuse_for: int = 0) -> None:
        """A miss from ``bucket`` was counted; ``refuse_for`` what the database decided."""
        if bucket not in self._watched and len(self._watched) >= self._max:
            self._forget_expired(now)
            if len(self._watched) >= self._max:
                self._full = True
                return
        self._watched[bucket] = (now + window, now + refuse_for if refuse_for else 0.0)

    def refused(self, bucket: str, now: float, seconds: int, window: float) -> None:
        """The database refused ``bucket`` for ``seconds``; its newest miss (maybe
        counted by another copy) is at most ``now``, so it stays watched a window on."""
        found = self._watched.get(bucket)
        if found is not None:
            self._watched[bucket] = (max(found[0], now + window), now + seconds)

    def _forget_expired(self, now: float) -> None:
        self._watched = {b: w for b, w in self._watched.items() if w[0] > now}
        self._full = len(self._watched) >= self._max


def miss_watch(runtime: Runtime) -> MissWatch:
    return runtime.one(MissWatch)


async def link_guard(request: web.Request) -> int:
    """0 when this address may try a link token, else the seconds until it may."""
    runtime = request.app[RUNTIME]
    policy = limits(runtime).link_guesses
    bucket = policy.bucket(client_ip(request))
    watch = miss_watch(runtime)
    now = time.monotonic()
    wait = watch.wait(bucket, now)
    if wait is not None:
        return wait
    async with runtime.db.acquire() as conn:
        decision = await repo.check(conn, bucket, policy)
    if decision.allowed:
        return 0
    watch.refused(bucket, now, decision.retry_after_seconds, policy.window.total_seconds())
    return decision.retry_after_seconds


async def count_link_miss(request: web.Request) -> None:
    runtime = request.app[RUNTIME]
    policy = limits(runtime).link_guesses
    bucket = policy.bucket(client_ip(request))
    async with runtime.db.acquire() as conn:
        decision = await repo.record_and_check(conn, bucket, policy)
    miss_watch(runtime).missed(
        bucket, time.monotonic(), policy.window.total_seconds(), decision.retry_after_seconds
    )
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
