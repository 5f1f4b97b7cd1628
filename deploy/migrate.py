"""Apply one service's migrations and exit: ``python deploy/migrate.py <service>``.

The cluster runs this as a Job per service before (or while) the new version
rolls out. The services also migrate at start under the same advisory lock, so
the Job is what makes a failing migration visible as a failed Job instead of
pods that never become ready; running both is safe.

Reads the same settings as the services (``POSTGRES_DSN``, ``DB_PREFIX``).
Exit codes: 0 migrated (or nothing to do), 2 PostgreSQL unreachable or an
unknown service, 1 a migration failed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from the image's WORKDIR

from shared.db import DatabaseUnavailable, prepare_database  # noqa: E402
from shared.logs import configure_logging  # noqa: E402
from shared.settings import SERVICE_NAMES, Settings, load_settings  # noqa: E402

SERVICES = ("gateway", *SERVICE_NAMES)
log = logging.getLogger("deploy.migrate")


def migrations_dir(service: str) -> Path:
    return ROOT / "services" / service / "migrations"


async def migrate_service(settings: Settings, service: str) -> None:
    database = settings.database_name(service)
    pool = await prepare_database(
        settings.postgres_dsn, database, migrations_dir(service), min_size=1, max_size=1
    )
    await pool.close()
    log.info("migrations applied", extra={"database": database})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python deploy/migrate.py", description=__doc__)
    parser.add_argument("service", choices=SERVICES, help="whose database to migrate")
    args = parser.parse_args(argv)
    settings = load_settings()
    configure_logging(f"migrate.{args.service}", settings.log_level)
    if not migrations_dir(args.service).is_dir():
        sys.stderr.write(f"no migrations folder at {migrations_dir(args.service)}\n")
        return 2
    try:
        asyncio.run(migrate_service(settings, args.service))
    except DatabaseUnavailable as exc:
        log.error("cannot migrate", extra={"reason": str(exc)})
        sys.stderr.write(f"{exc}\n")
        return 2
    except Exception:
        log.exception("migration failed", extra={"service": args.service})
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
