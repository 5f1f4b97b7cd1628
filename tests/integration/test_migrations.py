"""Migrations against the real PostgreSQL: idempotent, and safe when copies start together."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from shared.db import (
    dsn_for_database,
    ensure_database,
    migrate,
    prepare_database,
    service_migrations,
)
from tests.support.infra import SERVER_DSN

PROBE_MIGRATIONS = Path(__file__).parent / "probe_migrations"


async def test_applying_twice_is_a_no_op(settings):
    database = settings.database_name("probe_service")
    pool = await prepare_database(SERVER_DSN, database, PROBE_MIGRATIONS)
    try:
        async with pool.acquire() as conn:
            before = await conn.fetch(
                "SELECT namespace, version, applied_at FROM schema_migrations"
            )
            again = await migrate(conn, service_migrations(PROBE_MIGRATIONS))
            after = await conn.fetch("SELECT namespace, version, applied_at FROM schema_migrations")
        assert again == []
        assert before == after and len(before) == 2
    finally:
        await pool.close()


async def test_two_services_starting_at_once_do_not_race(settings):
    database = settings.database_name("probe_service")
    # Several copies create the database and migrate concurrently.
    pools = await asyncio.gather(
        *(prepare_database(SERVER_DSN, database, PROBE_MIGRATIONS) for _ in range(4))
    )
    try:
        conn = await asyncpg.connect(dsn_for_database(SERVER_DSN, database))
        try:
            rows = await conn.fetch("SELECT namespace, version FROM schema_migrations")
            assert sorted((r["namespace"], r["version"]) for r in rows) == [
                ("service", 1),
                ("shared", 1),
            ]
            assert await conn.fetchval("SELECT count(*) FROM seen") == 0
        finally:
            await conn.close()
    finally:
        for pool in pools:
            await pool.close()


async def test_ensure_database_is_idempotent(settings):
    database = settings.database_name("probe_service")
    await asyncio.gather(*(ensure_database(SERVER_DSN, database) for _ in range(3)))
    await ensure_database(SERVER_DSN, database)
    conn = await asyncpg.connect(SERVER_DSN)
    try:
        assert (
            await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname=$1", database) == 1
        )
    finally:
        await conn.close()
