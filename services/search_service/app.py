"""App factory of the search service: its routes, event handlers and background work."""

from __future__ import annotations

from pathlib import Path

from services.search_service.handlers import handlers
from services.search_service.routes import setup_routes
from shared.runtime import ServiceSpec

SERVICE = "search_service"

SPEC = ServiceSpec(
    name=SERVICE,
    migrations_dir=Path(__file__).parent / "migrations",
    setup_routes=setup_routes,
    handlers=handlers,
)
