"""App factory of the notify service: its routes, event handlers and background work."""

from __future__ import annotations

from pathlib import Path

from services.notify_service.handlers import make_handlers
from services.notify_service.routes import setup_routes
from services.notify_service.scheduler import scheduler_context
from services.notify_service.sink import sink_context
from shared.runtime import ServiceSpec

SERVICE = "notify_service"

SPEC = ServiceSpec(
    name=SERVICE,
    migrations_dir=Path(__file__).parent / "migrations",
    setup_routes=setup_routes,
    handlers=make_handlers,
    # The sink first, so the scheduler's first sends find it listening.
    background=[sink_context, scheduler_context],
)
