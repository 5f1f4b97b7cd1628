"""The mail viewer of the built-in sink: an HTML page and a JSON API.

Staff and admins may read it; in dev and test any identity may (so a new user
sees the emails at once). In prod the sink is off and these routes answer 404.
Messages are listed newest first.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

import asyncpg
from aiohttp import web

from services.notify_service import repository as repo
from services.notify_service.domain.mailview import attachments_of, parse_raw, view
from services.notify_service.models import MailDetailOut, MailList, MailOut, MailQuery
from shared.errors import Problem
from shared.http import identity, json_response, parse_query
from shared.openapi import add_api_route
from shared.runtime import RUNTIME

VIEWER_ROLES = ("admin", "staff")


def _check_viewer(request: web.Request) -> None:
    runtime = request.app[RUNTIME]
    if runtime.settings.app_env == "prod":
        raise Problem(404, "The mail viewer is off in production.")
    ident = identity(request)
    # Captured email holds personal links and report attachments: staff only,
    # whatever the environment.
    if ident.role not in VIEWER_ROLES:
        raise Problem(403, "Only staff may read captured email.")


def _to_out(row: asyncpg.Record, *, detail: bool = False) -> MailOut:
    v = view(bytes(row["raw"]))
    fields: dict[str, Any] = {
        "id": row["id"],
        "received_at": row["received_at"],
        "mail_from": row["mail_from"],
        "to": list(row["rcpt_tos"]),
        "subject": v.subject,
        "date": v.date,
        "message_id": v.message_id,
        "header_from": v.header_from,
        "header_to": v.header_to,
        "text": v.text,
        "html": v.html,
        "attachments": [a.__dict__ for a in v.attachments],
    }
    if detail:
        return MailDetailOut(**fields, raw=bytes(row["raw"]).decode("utf-8", "replace"))
    return MailOut(**fields)


def _message_key(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError as exc:
        raise Problem(404, "No such message.") from exc
    if value < 1 or value > 2**62:
        raise Problem(404, "No such message.")
    return value


async def _fetch(request: web.Request, raw_key: str | None = None) -> asyncpg.Record:
    key = _message_key(raw_key if raw_key is not None else request.match_info["id"])
    async with request.app[RUNTIME].db.acquire() as conn:
        row = await repo.get_sink_message(conn, key)
    if row is None:
        raise Problem(404, "No such message.")
    return row


async def list_messages(request: web.Request) -> web.Response:
    _check_viewer(request)
    query = parse_query(request, MailQuery)
    async with request.app[RUNTIME].db.acquire() as conn:
        rows = await repo.list_sink_messages(
            conn, to=query.to, limit=query.limit + 1, before_id=query.cursor
        )
    page = rows[: query.limit]
    next_cursor = page[-1]["id"] if len(rows) > query.limit else None
    return json_response(MailList(items=[_to_out(r) for r in page], next_cursor=next_cursor))


async def get_message(request: web.Request) -> web.Response:
    _check_viewer(request)
    return json_response(_to_out(await _fetch(request), detail=True))


async def get_raw(request: web.Request) -> web.Response:
    _check_viewer(request)
    row = await _fetch(request)
    return web.Response(body=bytes(row["raw"]), content_type="message/rfc822")


async def get_attachment(request: web.Request) -> web.Response:
    _check_viewer(request)
    row = await _fetch(request)
    found = attachments_of(parse_raw(bytes(row["raw"])))
    try:
        index = int(request.match_info["n"])
        info, data = found[index]
    except (ValueError, IndexError) as exc:
        raise Problem(404, "No such attachment.") from exc
    safe_name = "".join(c for c in info.filename if c.isalnum() or c in "._- ") or "attachment"
    return web.Response(
        body=data,
        content_type=info.content_type,
        headers={"Content-Disposition": f'attachment; filename="{safe_name}"'},
    )


# ------------------------------------------------------------------ the page
_STYLE = """
body{font-family:Arial,Helvetica,sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;width:100%}td,th{padding:.35rem .6rem;border-bottom:1px solid #ddd;
text-align:left;vertical-align:top}tr:hover{background:#f5f7fa}a{color:#1a5fb4}
pre{white-space:pre-wrap;background:#f7f7f7;padding:1rem;border:1px solid #ddd}
iframe{width:100%;height:28rem;border:1px solid #ddd}
.meta td:first-child{font-weight:bold;width:8rem}
"""


def _page(title: str, body: str) -> web.Response:
    doc = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}'
        f"</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )
    return web.Response(
        text=doc,
        content_type="text/html",
        headers={
            # The captured HTML is shown in a sandboxed frame; nothing may run.
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
            "frame-src 'self' data:; img-src data:",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _fmt(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


async def mail_page(request: web.Request) -> web.Response:
    _check_viewer(request)
    e = html.escape
    selected = request.query.get("id")
    if selected:
        row = await _fetch(request, selected)
        v = view(bytes(row["raw"]))
        atts = "".join(
            f'<li><a href="/api/v1/mail/messages/{row["id"]}/attachments/{i}">'
            f"{e(a.filename)}</a> ({e(a.content_type)}, {a.size} bytes)</li>"
            for i, a in enumerate(v.attachments)
        )
        body = (
            '<p><a href="/mail">← all messages</a></p>'
            f"<h1>{e(v.subject) or '(no subject)'}</h1><table class='meta'>"
            f"<tr><td>From</td><td>{e(v.header_from)}</td></tr>"
            f"<tr><td>To</td><td>{e(v.header_to)}</td></tr>"
            f"<tr><td>Date</td><td>{e(v.date)}</td></tr>"
            f"<tr><td>Message-ID</td><td>{e(v.message_id)}</td></tr></table>"
            + (f"<h2>Attachments</h2><ul>{atts}</ul>" if atts else "")
            + (
                f'<h2>HTML</h2><iframe sandbox="" srcdoc="{e(v.html, quote=True)}"></iframe>'
                if v.html
                else ""
            )
            + f"<h2>Text</h2><pre>{e(v.text)}</pre>"
            + f'<p><a href="/api/v1/mail/messages/{row["id"]}/raw">raw message</a></p>'
        )
        return _page(v.subject or "Message", body)
    to = request.query.get("to") or None
    async with request.app[RUNTIME].db.acquire() as conn:
        rows = await repo.list_sink_messages(conn, to=to, limit=200, before_id=None)
    lines = "".join(
        f"<tr><td>{_fmt(r['received_at'])}</td><td>{e(', '.join(r['rcpt_tos']))}</td>"
        f'<td><a href="/mail?id={r["id"]}">{e(r["subject"]) or "(no subject)"}</a></td></tr>'
        for r in rows
    )
    body = (
        "<h1>Captured email</h1><p>Every email the service sent is caught here; nothing"
        " left this machine. Newest first (last 200).</p>"
        '<form method="get" action="/mail"><input name="to" placeholder="recipient"'
        f' value="{e(to or "")}"> <button>Filter</button></form>'
        "<table><tr><th>Received</th><th>To</th><th>Subject</th></tr>"
        f"{lines or '<tr><td colspan=3>No email yet.</td></tr>'}</table>"
    )
    return _page("Captured email", body)


def setup_routes(app: web.Application) -> None:
    roles = ("admin", "staff")
    add_api_route(
        app,
        "GET",
        "/api/v1/mail/messages",
        list_messages,
        summary="Emails captured by the built-in SMTP sink, newest first (not in prod)",
        roles=roles,
        query=MailQuery,
        response=MailList,
    )
    add_api_route(
        app,
        "GET",
        "/api/v1/mail/messages/{id}",
        get_message,
        summary="One captured email, with its raw source",
        roles=roles,
        response=MailDetailOut,
    )
    add_api_route(
        app,
        "GET",
        "/api/v1/mail/messages/{id}/raw",
        get_raw,
        summary="The raw RFC 5322 source of a captured email",
        roles=roles,
    )
    add_api_route(
        app,
        "GET",
        "/api/v1/mail/messages/{id}/attachments/{n}",
        get_attachment,
        summary="One attachment of a captured email (0-based)",
        roles=roles,
    )
    app.router.add_get("/mail", mail_page)
