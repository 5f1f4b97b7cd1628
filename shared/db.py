"""PostgreSQL through asyncpg: each service's own database, its pool and its migrations.

Migrations are numbered SQL files (``0001_name.sql``). The shared ones
(outbox, inbox) are applied first under the namespace ``shared``, then the
service's own. Each runs in its own transaction under a PostgreSQL advisory
lock, so two copies starting at once apply each file exactly once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

log = logging.getLogger(__name__)

SHARED_MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK_KEY = 0x41505049  # "APPI": any constant shared by every copy
_FILE_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class DatabaseUnavailable(RuntimeError):
    """PostgreSQL could not be reached; the message says where we looked."""


def dsn_for_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def describe_dsn(dsn: str) -> str:
    parts = urlsplit(dsn)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"


# PostgreSQL is up but cannot take us yet (starting, or out of connection slots):
# worth waiting for, unlike a refused connection.
_BUSY = (asyncpg.TooManyConnectionsError, asyncpg.CannotConnectNowError)
BUSY_WAIT_SECONDS = 30.0


async def _connect(dsn: str) -> asyncpg.Connection:
    deadline = asyncio.get_running_loop().time() + BUSY_WAIT_SECONDS
    while True:
        try:
            return await asyncpg.connect(dsn, timeout=10)
        except _BUSY as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise DatabaseUnavailable(
                    f"PostgreSQL at {describe_dsn(dsn)} is busy ({exc})"
                ) from exc
            log.warning("PostgreSQL busy; waiting", extra={"error": str(exc)})
            await asyncio.sleep(1)
        except (OSError, asyncpg.PostgresError) as exc:
            raise DatabaseUnavailable(
                f"PostgreSQL is not reachable at {describe_dsn(dsn)} ({exc})"
            ) from exc


async def ensure_database(server_dsn: str, database: str) -> None:
    """Create the service's database when it is missing (safe when two race)."""
    conn = await _connect(server_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            try:
                await conn.execute(f'CREATE DATABASE "{database}"')
                log.info("database created", extra={"database": database})
            except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                pass  # another copy created it first
    finally:
        await conn.close()


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(
            typename, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Nothing to undo on release: no session state is kept on pooled connections.

    asyncpg's default reset (``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET
    ALL``) costs a round trip on every release, about half of a short request's time.
    It is not needed: LISTEN has its own connection (shared/bus/outbox.py), the only
    session advisory lock (migrations) is taken on a connection of its own, settings
    are only ``SET LOCAL`` and cursors live in transactions. asyncpg still rolls back
    a transaction left open before calling this (``Connection._reset``).
    """


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    # One connection first, waiting out a busy server, so the pool's own start succeeds.
    probe = await _connect(dsn)
    await probe.close()
    try:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            init=_init_connection,
            reset=_keep_session,
            timeout=10,
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise DatabaseUnavailable(
            f"PostgreSQL is not reachable at {describe_dsn(dsn)} ({exc})"
        ) from exc
    assert pool is not None
    return pool


@dataclass(frozen=True)
class Migration:
    namespace: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(namespace: str, directory: Path) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_RE.match(path.name)
        if not match:
            raise ValueError(f"migration file {path} is not named NNNN_name.sql")
        found.append(Migration(namespace, int(match.group(1)), path.stem, path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"two migrations in {directory} share a number")
    return found


async def migrate(conn: asyncpg.Connection, migrations: list[Migration]) -> list[str]:
    """Apply what is not applied yet; returns the names applied now.

    Takes a session advisory lock: give it a connection that is closed afterwards or
    not pooled (pooled connections are not reset on release), as prepare_database does.
    """
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   namespace text NOT NULL,
                   version integer NOT NULL,
                   name text NOT NULL,
                   checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now(),
                   PRIMARY KEY (namespace, version))"""
        )
        rows = await conn.fetch("SELECT namespace, version, checksum FROM schema_migrations")
        done: dict[tuple[str, int], str] = {
            (r["namespace"], r["version"]): r["checksum"] for r in rows
        }
        for m in migrations:
            key = (m.namespace, m.version)
            if key in done:
                if done[key] != m.checksum:
                    log.warning(
                        "applied migration differs from its file",
                        extra={"migration": f"{m.namespace}/{m.name}"},
                    )
                continue
            async with conn.transaction():
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations(namespace, version, name, checksum)"
                    " VALUES ($1, $2, $3, $4)",
                    m.namespace,
                    m.version,
                    m.name,
                    m.checksum,
                )
            applied_now.append(f"{m.namespace}/{m.name}")
            log.info("migration applied", extra={"migration": f"{m.namespace}/{m.name}"})
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK_KEY)
    return applied_now


def service_migrations(service_migrations_dir: Path) -> list[Migration]:
    return load_migrations("shared", SHARED_MIGRATIONS) + load_migrations(
        "service", service_migrations_dir
    )


async def prepare_database(
    server_dsn: str, database: str, migrations_dir: Path, **pool_args: Any
) -> asyncpg.Pool:
    """Create the database if missing, migrate it, and open the pool."""
    await ensure_database(server_dsn, database)
    dsn = dsn_for_database(server_dsn, database)
    # Its own connection: the session advisory lock ends with it, whatever happens.
    conn = await _connect(dsn)
    try:
        await migrate(conn, service_migrations(migrations_dir))
    finally:
        await conn.close()
    return await create_pool(dsn, **pool_args)
