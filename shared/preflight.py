"""Check that PostgreSQL and RabbitMQ answer before starting anything.

``python -m shared.preflight`` exits 0 when both answer, else 2 with one line
per missing piece: what, where we looked, and how to start it.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from urllib.parse import urlsplit

from shared.settings import load_settings

HOW = {
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "RabbitMQ": "rabbitmq-server -detached",
}


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=3):
            return True
    except OSError:
        return False


async def _amqp_ok(url: str) -> str | None:
    import aio_pika

    try:
        conn = await aio_pika.connect(url, timeout=5)
        await conn.close()
        return None
    except Exception as exc:
        return str(exc) or type(exc).__name__


async def _pg_ok(dsn: str) -> str | None:
    import asyncpg

    try:
        conn = await asyncpg.connect(dsn, timeout=5)
        await conn.close()
        return None
    except Exception as exc:
        return str(exc) or type(exc).__name__


def problems() -> list[str]:
    settings = load_settings()
    found = []
    pg = urlsplit(settings.postgres_dsn)
    pg_where = f"{pg.hostname or 'localhost'}:{pg.port or 5432}"
    if not _reachable(pg.hostname or "localhost", pg.port or 5432):
        found.append(("PostgreSQL", pg_where, "nothing listens there"))
    elif err := asyncio.run(_pg_ok(settings.postgres_dsn)):
        found.append(("PostgreSQL", pg_where, err))
    mq = urlsplit(settings.amqp_url)
    mq_where = f"{mq.hostname or 'localhost'}:{mq.port or 5672}"
    if not _reachable(mq.hostname or "localhost", mq.port or 5672):
        found.append(("RabbitMQ", mq_where, "nothing listens there"))
    elif err := asyncio.run(_amqp_ok(settings.amqp_url)):
        found.append(("RabbitMQ", mq_where, err))
    return [
        f"{what} is not reachable at {where} ({why}).\n"
        f"  Start it with: {HOW[what]}\n"
        f"  or run everything in containers: docker compose up -d postgres rabbitmq"
        for what, where, why in found
    ]


def main() -> int:
    found = problems()
    for line in found:
        print(line, file=sys.stderr)
    return 2 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
