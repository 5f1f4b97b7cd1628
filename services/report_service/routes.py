"""HTTP handlers of the report service (thin: parse, resolve, render, answer)."""

from __future__ import annotations

import base64
import logging
import uuid
from datetime import datetime
from urllib.parse import urlencode

import asyncpg
from aiohttp import web

from services.report_service import repository as repo
from services.report_service.domain.criteria import CriteriaError, ReportCriteria
from services.report_service.domain.deliveries import EmailOutcome, delivery_state
from services.report_service.domain.recipients import InvalidRecipients, parse_recipients
from services.report_service.models import (
    DeliveryAccepted,
    DeliveryRequest,
    DeliveryStatus,
    ReportParams,
)
from services.report_service.report import (
    TITLE,
    RenderStats,
    ReportTooLarge,
    build_criteria,
    content_type,
    render,
    render_to_bytes,
)
from shared.bus.outbox import add_to_outbox
from shared.errors import Problem, field_problem
from shared.events import ReportDeliveryRequested, make_event
from shared.http import json_response, parse_body, parse_query, require_role
from shared.openapi import add_api_route
from shared.runtime import RUNTIME

log = logging.getLogger(__name__)

REPORT_PATH = "/api/v1/reports/appointment-invite-schedule"
DELIVERIES_PATH = f"{REPORT_PATH}/deliveries"
DELIVERY_PATH = "/api/v1/reports/deliveries/{id}"
STAFF = ("admin", "staff")
# An attachment travels inside one message (base64): keep it to a sane size.
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024


async def get_report(request: web.Request) -> web.StreamResponse:
    require_role(request, *STAFF)
    # fields may come as a comma list or repeated (?fields=a&fields=b).
    params = parse_query(request, ReportParams, list_fields=("fields",))
    runtime = request.app[RUNTIME]
    async with runtime.db.acquire() as conn:
        criteria = await _criteria(conn, params, runtime.clock.now())
        response = web.StreamResponse(headers=_headers(criteria))
        csv_href = "?" + urlencode(
            [(k, v) for k, v in request.query.items() if k != "format"] + [("format", "csv")]
        )
        await response.prepare(request)
        stats = RenderStats()
        chunks = render(conn, criteria, stats, csv_href=csv_href)
        try:
            async for chunk in chunks:
                await response.write(chunk)
        except ConnectionResetError:
            log.info("report client went away", extra={"rows": stats.rows})
            return response
        except Exception:
            # The status line is gone already: cut the connection so the client
            # sees an incomplete transfer instead of a short "complete" report.
            log.exception("report failed while streaming", extra={"rows": stats.rows})
            if request.transport is not None:
                request.transport.close()
            return response
        finally:
            await chunks.aclose()
        await response.write_eof()
    log.info(
        "report streamed",
        extra={"rows": stats.rows, "bytes": stats.bytes, "format": criteria.format},
    )
    return response


async def request_delivery(request: web.Request) -> web.Response:
    ident = require_role(request, *STAFF)
    body = await parse_body(request, DeliveryRequest)
    try:
        recipients = parse_recipients(body.recipients)
    except InvalidRecipients as exc:
        raise field_problem("recipients", str(exc)) from exc
    runtime = request.app[RUNTIME]
    now = runtime.clock.now()
    async with runtime.db.acquire() as conn:
        criteria = await _criteria(conn, body, now)
        try:
            content, stats = await render_to_bytes(conn, criteria, limit=MAX_ATTACHMENT_BYTES)
        except ReportTooLarge as exc:
            raise Problem(
                422,
                f"The report is too large to email ({exc}); narrow the time frame or "
                "filters, or download it instead.",
            ) from exc
        delivery_id = str(uuid.uuid4())
        filename = criteria.filename()
        subject = f"{TITLE}: {criteria.period_text()}"
        event = make_event(
            "report.delivery_requested",
            ReportDeliveryRequested(
                delivery_id=delivery_id,
                recipients=recipients,
                subject=subject,
                body_text=_body_text(criteria, stats.rows, ident.name or ident.sub),
                filename=filename,
                content_type=content_type(criteria),
                content_base64=base64.b64encode(content).decode("ascii"),
            ),
            producer=runtime.service,
        )
        async with conn.transaction():
            await repo.insert_delivery(
                conn,
                delivery_id=delivery_id,
                requested_at=now,
                requested_by=ident.sub,
                recipients=recipients,
                format=criteria.format,
                filename=filename,
                subject=subject,
                parameters=body.model_dump(mode="json", by_alias=True, exclude_none=True),
                row_count=stats.rows,
                size_bytes=len(content),
            )
            await add_to_outbox(conn, [event])
    runtime.wake_relay()
    log.info(
        "report delivery requested",
        extra={"delivery_id": delivery_id, "recipients": len(recipients), "rows": stats.rows},
    )
    return json_response(DeliveryAccepted(id=delivery_id), status=202)


async def get_delivery(request: web.Request) -> web.Response:
    require_role(request, *STAFF)
    delivery_id = request.match_info["id"]
    runtime = request.app[RUNTIME]
    async with runtime.db.acquire() as conn:
        found = await repo.get_delivery(conn, delivery_id)
    if found is None:
        raise Problem(404, f"No report delivery {delivery_id[:100]!r}.")
    row, emails = found
    view = delivery_state(EmailOutcome(e["outcome"], e["error"], e["permanent"]) for e in emails)
    return json_response(
        DeliveryStatus(
            id=row["delivery_id"],
            status=view.status,
            recipients=list(row["recipients"]),
            error=view.error,
            requested_at=row["requested_at"],
            requested_by=row["requested_by"],
            filename=row["filename"],
            format=row["format"],
            row_count=row["row_count"],
            messages_sent=view.sent,
            messages_failed=view.failed,
        )
    )


async def _criteria(
    conn: asyncpg.Connection, params: ReportParams, now: datetime
) -> ReportCriteria:
    try:
        return await build_criteria(conn, params, now)
    except CriteriaError as exc:
        raise field_problem(exc.field, exc.message) from exc


def _headers(criteria: ReportCriteria) -> dict[str, str]:
    headers = {
        "Content-Type": content_type(criteria),
        # Exam passcodes are in it: never cached by a browser or proxy.
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    if criteria.format == "csv":
        headers["Content-Disposition"] = f'attachment; filename="{criteria.filename()}"'
    else:
        headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'"
        )
    return headers


def _body_text(criteria: ReportCriteria, rows: int, requested_by: str) -> str:
    return (
        f"The {TITLE} you asked for is attached ({criteria.filename()}).\n\n"
        f"Period: {criteria.period_text()}\n"
        f"Criteria: {criteria.describe()}\n"
        f"Appointments: {rows}\n"
        f"Requested by: {requested_by}\n"
    )


def setup_routes(app: web.Application) -> None:
    add_api_route(
        app,
        "GET",
        REPORT_PATH,
        get_report,
        summary="The Appointment Invite Schedule report (HTML page or CSV, streamed)",
        roles=STAFF,
        query=ReportParams,
    )
    add_api_route(
        app,
        "POST",
        DELIVERIES_PATH,
        request_delivery,
        summary="Email the report as an attachment to ';'-separated recipients",
        roles=STAFF,
        body=DeliveryRequest,
        response=DeliveryAccepted,
        status=202,
    )
    add_api_route(
        app,
        "GET",
        DELIVERY_PATH,
        get_delivery,
        summary="The status of a report delivery: requested, sent or failed",
        roles=STAFF,
        response=DeliveryStatus,
    )
