"""App factory of the invite service: its routes, event handlers and background work."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from aiohttp import web

from shared.bus.consumer import Handler
from shared.runtime import Runtime, ServiceSpec

SERVICE = "invite_service"


def setup_routes(app: web.Application) -> None:
    pass


def handlers(runtime: Runtime) -> Mapping[str, Handler]:
    return {}


SPEC = ServiceSpec(
    name=SERVICE,
    migrations_dir=Path(__file__).parent / "migrations",
    setup_routes=setup_routes,
    handlers=handlers,
)
