"""App factory of the search service: its routes, event handlers and background work."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from services.search_service import slot_cache
from services.search_service.handlers import handlers
from services.search_service.routes import setup_routes
from shared.runtime import ServiceSpec

SERVICE = "search_service"


def _setup(app: web.Application) -> None:
    setup_routes(app)
    slot_cache.install(app)  # the slot lists' cache, its write middleware and listener


SPEC = ServiceSpec(
    name=SERVICE,
    migrations_dir=Path(__file__).parent / "migrations",
    setup_routes=_setup,
    handlers=handlers,
)
