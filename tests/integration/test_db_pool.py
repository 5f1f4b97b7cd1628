"""The services' pools: releasing costs no round trip, and no session state leaks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from shared.db import _MIGRATION_LOCK_KEY, dsn_for_database, prepare_database
from tests.support.infra import SERVER_DSN

PROBE_MIGRATIONS = Path(__file__).parent / "probe_migrations"


@pytest.fixture
def database(settings) -> str:
    return settings.database_name("probe_service")


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    """A service's pool of ONE connection, so each acquire gets the same session."""
    opened = await prepare_database(SERVER_DSN, database, PROBE_MIGRATIONS, max_size=1)
    try:
        yield opened
    finally:
        await opened.close()


async def _last_query(database: str, pid: int) -> str:
    conn = await asyncpg.connect(dsn_for_database(SERVER_DSN, database))
    try:
        query: str = await conn.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", pid)
        return query
    finally:
        await conn.close()


async def test_release_sends_nothing_to_the_server(pool, database):
    async with pool.acquire() as conn:
        await conn.fetchval("SELECT 41 + 1")
        pid = conn.get_server_pid()
    # asyncpg's default reset would show here as the last statement of the session.
    assert await _last_query(database, pid) == "SELECT 41 + 1"


async def test_a_transaction_left_open_is_rolled_back_on_release(pool, database):
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS pool_probe (n integer)")
        await conn.execute("TRUNCATE pool_probe")
        await conn.execute("BEGIN")  # not managed by asyncpg: nothing would end it
        await conn.execute("INSERT INTO pool_probe VALUES (1)")
    async with pool.acquire() as conn:  # the same connection (max_size=1)
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SELECT count(*) FROM pool_probe") == 0


async def test_the_migration_lock_is_not_held_by_pooled_connections(pool, database):
    async with pool.acquire() as conn:
        held = await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        )
        assert held == 0
        # Another session can take it at once: the migrations released it.
        other = await asyncpg.connect(dsn_for_database(SERVER_DSN, database))
        try:
            assert await other.fetchval("SELECT pg_try_advisory_lock($1)", _MIGRATION_LOCK_KEY)
        finally:
            await other.close()
