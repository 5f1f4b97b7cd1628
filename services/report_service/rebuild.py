"""Rebuild the report read store from the event history.

Run: ``python -m services.report_service.rebuild [--dry-run]``.

How it works: every event the report service consumes is appended, raw, to
its ``event_log`` table in the same transaction that applies it (and that
records the inbox row), so the log holds exactly what the store was built
from. The rebuild, in ONE transaction:

1. locks ``event_log`` against writers (``EXCLUSIVE``: readers still pass), so
   events consumed meanwhile wait and are applied to the rebuilt store after;
2. empties the derived tables (``repository.STORE_TABLES``; the deliveries this
   service requested are its own data and are kept);
3. replays the log through the same ``apply_event`` the consumer uses.

Because every apply is idempotent and order-tolerant, replaying gives the
store the consumer built, and fixes it when a handler's logic changed. While
it runs, report reads wait on the emptied tables' locks; it is all or nothing.

Options: ``--dry-run`` replays and rolls back (prints what it would do).
Settings come from the environment like the service's (``POSTGRES_DSN``,
``DB_PREFIX``...).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from dataclasses import dataclass

import asyncpg
from pydantic import ValidationError

from services.report_service import repository as repo
from services.report_service.app import SPEC
from services.report_service.handlers import apply_event
from shared.db import prepare_database
from shared.events import parse_event
from shared.logs import configure_logging
from shared.settings import Settings, load_settings

log = logging.getLogger(__name__)


@dataclass
class RebuildResult:
    replayed: int = 0
    ignored: int = 0
    invalid: int = 0


class _DryRun(Exception):
    pass


async def rebuild(conn: asyncpg.Connection, *, dry_run: bool = False) -> RebuildResult:
    """Empty the store and replay the whole event log into it, in one transaction."""
    result = RebuildResult()
    try:
        async with conn.transaction():
            await conn.execute("LOCK TABLE event_log IN EXCLUSIVE MODE")
            await repo.truncate_store(conn)
            async for record in conn.cursor(
                "SELECT event_id, body FROM event_log ORDER BY position", prefetch=1000
            ):
                try:
                    event = parse_event(json.dumps(record["body"]))
                except (ValidationError, ValueError) as exc:
                    # An event no longer valid under today's schemas: reported, not fatal.
                    result.invalid += 1
                    log.warning(
                        "logged event skipped: not valid any more",
                        extra={"event_id": str(record["event_id"]), "error": str(exc)[:300]},
                    )
                    continue
                if await apply_event(conn, event):
                    result.replayed += 1
                else:
                    result.ignored += 1
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return result


async def run(settings: Settings, *, dry_run: bool) -> RebuildResult:
    pool = await prepare_database(
        settings.postgres_dsn,
        settings.database_name(SPEC.name),
        SPEC.migrations_dir,
        min_size=1,
        max_size=1,
    )
    try:
        async with pool.acquire() as conn:
            return await rebuild(conn, dry_run=dry_run)
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.report_service.rebuild",
        description="Empty the report read store and replay the event log into it.",
    )
    parser.add_argument("--dry-run", action="store_true", help="replay, then roll back")
    args = parser.parse_args(argv)
    settings = load_settings()
    configure_logging(SPEC.name, settings.log_level)
    result = asyncio.run(run(settings, dry_run=args.dry_run))
    verb = "would replay" if args.dry_run else "replayed"
    sys.stdout.write(
        f"report store rebuilt: {verb} {result.replayed} events "
        f"({result.ignored} of unused types, {result.invalid} invalid)\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
