"""App factory of the invite service: its routes, event handlers and background work."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from shared.runtime import ServiceSpec

from .api import directory, invites, rules, widgets
from .api.common import SERVICE
from .expiry import expiry_loop
from .handlers import handlers


def setup_routes(app: web.Application) -> None:
    directory.setup(app)
    widgets.setup(app)
    invites.setup(app)
    rules.setup(app)


SPEC = ServiceSpec(
    name=SERVICE,
    migrations_dir=Path(__file__).parent / "migrations",
    setup_routes=setup_routes,
    handlers=handlers,
    background=[expiry_loop],
)
