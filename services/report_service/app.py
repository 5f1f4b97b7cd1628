"""App factory of the report service: its routes, event handlers and background work.

The service keeps its own read store of the Appointment Invite Schedule (fed
by every other service's events), serves the report as a streamed HTML page
or CSV, and hands emailed reports to notify through ``report.delivery_requested``.
Rebuild the store with ``python -m services.report_service.rebuild``.
"""

from __future__ import annotations

from pathlib import Path

from services.report_service.handlers import handlers
from services.report_service.routes import setup_routes
from shared.runtime import ServiceSpec

SERVICE = "report_service"

SPEC = ServiceSpec(
    name=SERVICE,
    migrations_dir=Path(__file__).parent / "migrations",
    setup_routes=setup_routes,
    handlers=handlers,
)
