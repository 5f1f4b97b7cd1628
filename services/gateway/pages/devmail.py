"""The built-in SMTP sink's mail viewer (notify's ``/mail``), in dev and test only."""

from __future__ import annotations

from aiohttp import web

from services.gateway.auth import Principal
from services.gateway.pages.common import page
from services.gateway.upstream import forward
from services.gateway.views import error_page
from shared.runtime import RUNTIME


@page("admin", "staff")
async def mail_viewer(request: web.Request, who: Principal) -> web.StreamResponse:
    if request.app[RUNTIME].settings.app_env == "prod":
        return await error_page(request, 404, "Not found", "There is no mail viewer here.")
    query = f"?{request.query_string}" if request.query_string else ""
    return await forward(request, "notify_service", who.identity(), path_qs=f"/mail{query}")
