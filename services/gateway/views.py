"""Rendering of the server-side pages (Jinja2, autoescaped) and their shared context."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from aiohttp import web

from services.gateway.auth import current_principal
from shared.runtime import RUNTIME

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
JINJA = web.AppKey("gateway_jinja", jinja2.Environment)


def parse_iso(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def local_time(value: Any, timezone: str | None = None) -> datetime | None:
    """The instant in ``timezone`` when known, else in the offset it was written with."""
    moment = parse_iso(value)
    if moment is None:
        return None
    if timezone:
        try:
            return moment.astimezone(ZoneInfo(timezone))
        except (ZoneInfoNotFoundError, ValueError):
            return moment
    return moment


def _fmt_datetime(value: Any, timezone: str | None = None) -> str:
    moment = local_time(value, timezone)
    if moment is None:
        return str(value or "")
    return moment.strftime("%a %d %b %Y, %H:%M")


def _fmt_time(value: Any, timezone: str | None = None) -> str:
    moment = local_time(value, timezone)
    return moment.strftime("%H:%M") if moment else str(value or "")


def _fmt_date(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.strftime("%a %d %b %Y")
    return ""


def _humanize(value: Any) -> str:
    return str(value or "").replace("_", " ").capitalize()


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["datetime"] = _fmt_datetime
    env.filters["time"] = _fmt_time
    env.filters["date"] = _fmt_date
    env.filters["humanize"] = _humanize
    env.globals["static"] = _static_url
    return env


def _static_url(name: str) -> str:
    """A versioned URL, so browsers never keep an old script or style sheet."""
    path = STATIC_DIR / name
    try:
        version = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
    except OSError:
        version = "0"
    return f"/static/{name}?v={version}"


def nav_for(role: str | None) -> list[tuple[str, str]]:
    if role in ("admin", "staff"):
        items = [
            ("/students", "Students"),
            ("/invites", "Appointment Invites"),
            ("/appointments", "Appointments"),
            ("/reports/appointment-invite-schedule", "Reports"),
            ("/duration-rules", "Duration Rules"),
        ]
        if role == "admin":
            items.append(("/admin/widgets", "Search Availability Options"))
        return items
    if role == "faculty":
        return [("/faculty/sections", "My Sections"), ("/invites", "My Invites")]
    return []


async def render(
    request: web.Request, template: str, status: int = 200, **context: Any
) -> web.Response:
    runtime = request.app[RUNTIME]
    principal = await current_principal(request)
    user = principal.user if principal else None
    base = {
        "user": user,
        "csrf_token": principal.csrf_token if principal else None,
        "nav": nav_for(user.role if user else None),
        "path": request.path,
        "app_env": runtime.settings.app_env,
        "today": runtime.clock.now().date(),
    }
    base.update(context)
    html = request.app[JINJA].get_template(template).render(**base)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


async def error_page(
    request: web.Request, status: int, title: str, message: str, **extra: Any
) -> web.Response:
    return await render(request, "error.html", status=status, title=title, message=message, **extra)
