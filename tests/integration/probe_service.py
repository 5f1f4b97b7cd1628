"""A minimal service built on the shared runtime, to test the bus and HTTP core alone."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import web
from pydantic import BaseModel, Field

from shared.bus.consumer import Handler
from shared.bus.outbox import add_to_outbox
from shared.events import ReasonUpserted, make_event
from shared.http import json_response, parse_body, require_role
from shared.runtime import RUNTIME, Runtime, ServiceSpec

PROBE = "probe_service"


class ThingIn(BaseModel):
    id: str = Field(min_length=1, max_length=50)
    count: int = Field(ge=0)


async def create_thing(request: web.Request) -> web.Response:
    require_role(request, "admin", "staff")
    body = await parse_body(request, ThingIn)
    runtime = request.app[RUNTIME]
    async with runtime.db.acquire() as conn, conn.transaction():
        await conn.execute("INSERT INTO things(id) VALUES ($1)", body.id)
        await add_to_outbox(
            conn,
            [
                make_event(
                    "directory.reason_upserted",
                    ReasonUpserted(reason_id=body.id, name="thing"),
                    producer=PROBE,
                )
            ],
        )
    runtime.wake_relay()
    return json_response({"id": body.id}, status=201)


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/things", create_thing)


class Behaviour:
    """What the probe's handler does: record, or fail for names listed in ``fail_names``."""

    def __init__(self) -> None:
        self.fail_names: set[str] = set()
        self.calls = 0


def make_spec(behaviour: Behaviour | None = None) -> ServiceSpec:
    behaviour = behaviour or Behaviour()

    def handlers(runtime: Runtime) -> Mapping[str, Handler]:
        async def on_reason(conn: asyncpg.Connection, event: Any) -> None:
            behaviour.calls += 1
            if event.payload.name in behaviour.fail_names:
                raise RuntimeError(f"refusing {event.payload.name}")
            await conn.execute(
                "INSERT INTO seen(event_id, reason_id, name) VALUES ($1, $2, $3)",
                event.id,
                event.payload.reason_id,
                event.payload.name,
            )

        return {"directory.reason_upserted": on_reason}

    return ServiceSpec(
        name=PROBE,
        migrations_dir=Path(__file__).parent / "probe_migrations",
        setup_routes=setup_routes,
        handlers=handlers,
        routing_keys=("directory.reason_upserted",),
    )
