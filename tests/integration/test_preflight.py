"""When PostgreSQL or RabbitMQ cannot be reached, the commands say which, where, and how."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_preflight_names_the_missing_broker_and_how_to_start_it():
    result = run(["-m", "shared.preflight"], AMQP_URL="amqp://guest:guest@127.0.0.1:1/")
    assert result.returncode == 2
    assert "RabbitMQ is not reachable at 127.0.0.1:1" in result.stderr
    assert "rabbitmq-server -detached" in result.stderr
    assert "Traceback" not in result.stderr
    assert "PostgreSQL" not in result.stderr


def test_run_command_names_the_missing_database_without_a_stack_trace():
    result = run(["deploy/local_run.py"], POSTGRES_DSN="postgresql://postgres@127.0.0.1:1/postgres")
    assert result.returncode == 2
    assert "PostgreSQL is not reachable at 127.0.0.1:1" in result.stderr
    assert "pg_ctlcluster" in result.stderr and "docker compose up" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_service_started_without_its_database_says_so():
    result = run(
        ["-m", "services.report_service", "--port", "0"],
        POSTGRES_DSN="postgresql://postgres@127.0.0.1:1/postgres",
    )
    assert result.returncode == 2
    assert "PostgreSQL is not reachable at 127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.stderr
