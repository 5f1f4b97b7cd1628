"""``python -m services.<name>``: run one service process."""

from __future__ import annotations

import argparse
import logging
import sys

from aiohttp import web

from shared.db import DatabaseUnavailable
from shared.logs import configure_logging
from shared.runtime import BrokerUnavailable, ServiceSpec, build_service_app
from shared.settings import load_settings

HOW_TO_START = {
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
    "  (or: docker compose up -d postgres)",
    "RabbitMQ": "rabbitmq-server -detached  (or: docker compose up -d rabbitmq)",
}


def run(spec: ServiceSpec) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m services.{spec.name}")
    parser.add_argument("--port", type=int, help="listen on this port (default from settings)")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    settings = load_settings()
    if args.port:
        settings.service_port = args.port
    configure_logging(spec.name, settings.log_level)
    app = build_service_app(spec, settings)
    try:
        web.run_app(
            app,
            host=args.host,
            port=settings.port_for(spec.name),
            print=None,
            access_log=None,
            shutdown_timeout=10,
        )
    except DatabaseUnavailable as exc:
        _fail("PostgreSQL", str(exc))
    except BrokerUnavailable as exc:
        _fail("RabbitMQ", str(exc))


def _fail(what: str, message: str) -> None:
    logging.getLogger(__name__).error("cannot start", extra={"reason": message})
    sys.stderr.write(f"\n{message}.\nStart {what} with: {HOW_TO_START[what]}\n")
    raise SystemExit(2)
