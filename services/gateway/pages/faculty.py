"""Faculty: their sections and rosters, from which they invite (the same invite form)."""

from __future__ import annotations

from aiohttp import web

from services.gateway.auth import Principal
from services.gateway.pages.common import all_items, api, items, page, q
from services.gateway.views import render

ROSTER_CAP = 5_000


@page("faculty", "admin", "staff")
async def sections(request: web.Request, who: Principal) -> web.StreamResponse:
    return await render(
        request,
        "faculty_sections.html",
        title="My Sections",
        sections=await items(request, who, "/api/v1/sections"),
    )


@page("faculty", "admin", "staff")
async def roster(request: web.Request, who: Principal) -> web.StreamResponse:
    section_id = request.match_info["section_id"]
    section = (await api(request, who, "GET", f"/api/v1/sections/{q(section_id)}")).data
    students = await all_items(
        request, who, "/api/v1/students", {"section_id": section_id}, cap=ROSTER_CAP
    )
    return await render(
        request,
        "roster.html",
        title=f"Roster: {section.get('subject', '')} "
        f"{section.get('course', '')}-{section.get('section', '')}",
        section=section,
        students=students,
        back=request.path_qs,
    )
