"""The raw HTTP baseline: one aiohttp handler doing one asyncpg primary-key select.

    python -m bench.rawapp --dsn postgresql://.../db --port 8123

``GET /raw/{id}`` answers the availability row with that id as JSON (404 when
none). The same pool size as the services (``--pool``), no gateway, no auth.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator

import asyncpg
from aiohttp import web

POOL = web.AppKey("pool", asyncpg.Pool)
QUERY = """SELECT id, consultant_id, center_id, starts_at, ends_at, modality, kind, capacity
           FROM availabilities WHERE id = $1"""


async def raw(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        row = await conn.fetchrow(QUERY, request.match_info["id"])
    if row is None:
        raise web.HTTPNotFound()
    body = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
    return web.Response(text=json.dumps(body), content_type="application/json")


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def create_app(dsn: str, pool: int) -> web.Application:
    app = web.Application()

    async def pool_ctx(app: web.Application) -> AsyncIterator[None]:
        app[POOL] = await asyncpg.create_pool(dsn, min_size=pool, max_size=pool)
        yield
        await app[POOL].close()

    app.cleanup_ctx.append(pool_ctx)
    app.router.add_get("/raw/{id}", raw)
    app.router.add_get("/healthz", healthz)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pool", type=int, default=10)
    args = parser.parse_args()
    web.run_app(
        create_app(args.dsn, args.pool),
        host="127.0.0.1",
        port=args.port,
        print=None,
        access_log=None,
    )
