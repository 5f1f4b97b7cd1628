"""The student's pages, opened by the personal link: search, confirm, booked appointment.

No account: the token in the path is the only key. Every page answers an unknown,
cancelled or expired token with the same 404 page, counts it against the address's
guessing limit, and tells the browser not to send the URL on as a referrer.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

from services.gateway.auth import STUDENT_IDENTITY
from services.gateway.domain.forms import (
    first,
    parse_instant,
    search_window,
    slots_by_day,
)
from services.gateway.pages.common import api, read_form, see_other
from services.gateway.proxy import count_link_miss, link_guard, link_not_found
from services.gateway.upstream import Answer
from services.gateway.views import error_page, render
from shared.errors import Problem
from shared.runtime import RUNTIME
from shared.tokens import looks_like_token


def _private(response: web.StreamResponse) -> web.StreamResponse:
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


async def _call(request: web.Request, method: str, path: str, **kw: Any) -> Answer:
    return await api(request, STUDENT_IDENTITY, method, path, expect_ok=False, **kw)


async def _gate(request: web.Request) -> tuple[str, web.StreamResponse | None]:
    """The token, or the page to answer instead (429, or 404 for a malformed token)."""
    token = request.match_info["token"]
    wait = await link_guard(request)
    if wait:
        response = await error_page(
            request,
            429,
            "Too many attempts",
            "Too many links that do not work were opened from your address. "
            "Please wait a minute and try again.",
        )
        response.headers["Retry-After"] = str(wait)
        return token, response
    if not looks_like_token(token):
        await count_link_miss(request)
        return token, await link_not_found(request)
    return token, None


async def _invitation(request: web.Request, token: str) -> dict[str, Any] | web.StreamResponse:
    answer = await _call(request, "GET", f"/api/v1/invitations/{token}")
    if answer.status == 404:
        await count_link_miss(request)
        return await link_not_found(request)
    if not answer.ok or not isinstance(answer.data, dict):
        return await error_page(
            request, 503, "Please try again shortly", "This page is not available right now."
        )
    if answer.data.get("status") in ("cancelled", "expired"):
        return await link_not_found(request)
    return answer.data


async def search_page(
    request: web.Request,
    *,
    token: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> web.StreamResponse:
    try:
        if token is None:
            token, refusal = await _gate(request)
            if refusal is not None:
                return _private(refusal)
        found = await _invitation(request, token)
        if isinstance(found, web.StreamResponse):
            return _private(found)
        invitation = found
        if invitation.get("status") == "booked" or invitation.get("appointment_id"):
            return _private(see_other(f"/invitations/{token}/appointment"))
        due = _date(invitation.get("due_date"))
        start = _date(request.query.get("from"))
        today = request.app[RUNTIME].clock.now().date()
        window = search_window(today, due, start)
        days: list[Any] = []
        problem: str | None = None
        if window is not None:
            answer = await _call(
                request,
                "GET",
                f"/api/v1/invitations/{token}/slots",
                params={"from": window.start.isoformat(), "to": window.end.isoformat()},
            )
            if answer.ok and isinstance(answer.data, dict):
                days = slots_by_day(answer.data.get("items") or [])
            elif answer.status == 404:
                await count_link_miss(request)
                return _private(await link_not_found(request))
            else:
                problem = answer.detail
        response = await render(
            request,
            "student_search.html",
            status=status,
            title="Book your appointment",
            token=token,
            invitation=invitation,
            days=days,
            window=window,
            due=due,
            problem=problem,
            notice=notice,
            first_page=start is None,
        )
    except Problem as exc:
        response = await error_page(
            request, exc.status, "Please try again shortly", "This page is not available now."
        )
    return _private(response)


def _date(value: Any) -> date | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


async def search(request: web.Request) -> web.StreamResponse:
    return await search_page(request)


async def confirm(request: web.Request) -> web.StreamResponse:
    """The chosen time again, with the one button that books it."""
    token, refusal = await _gate(request)
    if refusal is not None:
        return _private(refusal)
    choice = request.query.get("slot", "")
    availability_id, _, starts_at = choice.partition("|")
    start = parse_instant(starts_at)
    if not availability_id or start is None:
        return await search_page(request, token=token, notice="Choose a time first.", status=422)
    try:
        found = await _invitation(request, token)
        if isinstance(found, web.StreamResponse):
            return _private(found)
        if found.get("status") == "booked" or found.get("appointment_id"):
            return _private(see_other(f"/invitations/{token}/appointment"))
        answer = await _call(
            request,
            "GET",
            f"/api/v1/invitations/{token}/slots",
            params={"from": start.date().isoformat(), "to": start.date().isoformat()},
        )
    except Problem:
        return _private(
            await error_page(request, 503, "Please try again shortly", "Please try again.")
        )
    slots = answer.data.get("items") or [] if answer.ok and isinstance(answer.data, dict) else []
    slot = next(
        (
            s
            for s in slots
            if s.get("availability_id") == availability_id
            and parse_instant(s.get("starts_at")) == start
        ),
        None,
    )
    if slot is None:
        return await search_page(
            request,
            token=token,
            status=409,
            notice="That time is no longer available. Please choose another.",
        )
    return _private(
        await render(
            request,
            "student_confirm.html",
            title="Confirm your appointment",
            token=token,
            invitation=found,
            slot=slot,
        )
    )


async def book(request: web.Request) -> web.StreamResponse:
    token, refusal = await _gate(request)
    if refusal is not None:
        return _private(refusal)
    form = await read_form(request)
    body = {
        "availability_id": first(form, "availability_id"),
        "starts_at": first(form, "starts_at"),
    }
    try:
        answer = await _call(
            request, "POST", f"/api/v1/invitations/{token}/appointments", json_body=body
        )
    except Problem:
        return _private(
            await error_page(
                request,
                503,
                "Please try again shortly",
                "Your appointment could not be booked just now; nothing was booked.",
            )
        )
    if answer.status == 201:
        return _private(see_other(f"/invitations/{token}/appointment?booked=1"))
    if answer.status == 404:
        await count_link_miss(request)
        return _private(await link_not_found(request))
    if answer.status == 409:
        return await search_page(
            request,
            token=token,
            status=409,
            notice="That time was just taken, or you already have an appointment. "
            "Please choose another time.",
        )
    return await search_page(
        request,
        token=token,
        status=answer.status if answer.status < 500 else 503,
        notice=f"This time cannot be booked: {answer.detail}",
    )


async def appointment(request: web.Request) -> web.StreamResponse:
    token, refusal = await _gate(request)
    if refusal is not None:
        return _private(refusal)
    try:
        answer = await _call(request, "GET", f"/api/v1/invitations/{token}/appointment")
        if answer.status == 404:
            # Not booked yet (or the booking was cancelled): the search, if the link works.
            found = await _invitation(request, token)
            if isinstance(found, web.StreamResponse):
                return _private(found)
            return _private(see_other(f"/invitations/{token}"))
        if not answer.ok or not isinstance(answer.data, dict):
            raise Problem(503, "unavailable")
        invitation = await _call(request, "GET", f"/api/v1/invitations/{token}")
    except Problem:
        return _private(
            await error_page(request, 503, "Please try again shortly", "Please try again.")
        )
    return _private(
        await render(
            request,
            "student_appointment.html",
            title="Your appointment",
            token=token,
            appointment=answer.data,
            invitation=invitation.data if invitation.ok else {},
            booked=request.query.get("booked") == "1",
        )
    )
