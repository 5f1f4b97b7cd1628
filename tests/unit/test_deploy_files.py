"""docker-compose.yml and deploy/ stay consistent with the code (Docker does not run here)."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml

from shared.bus.export_definitions import render
from shared.settings import DEFAULT_PORTS, SERVICE_NAMES, Settings

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_infrastructure_and_every_service():
    services = compose()["services"]
    assert {"postgres", "rabbitmq", "mailcatcher"} <= set(services)
    assert "15672:15672" in services["rabbitmq"]["ports"]  # the management dashboard
    for name in (*SERVICE_NAMES, "gateway"):
        svc = services[name]
        command = svc["command"]
        assert command[:3] == ["python", "-m", f"services.{name}"]
        importlib.import_module(f"services.{name}.__main__".replace(".__main__", ""))
        port = DEFAULT_PORTS[name]
        assert f"{port}:{port}" in svc["ports"]
        assert command[command.index("--port") + 1] == str(port)


def test_compose_environment_names_are_settings_the_code_reads():
    known = {name.upper() for name in Settings.model_fields}
    for name in (*SERVICE_NAMES, "gateway"):
        env = compose()["services"][name]["environment"]
        unknown = sorted(set(env) - known)
        assert not unknown, f"{name}: compose sets variables no setting reads: {unknown}"
        for url_var in ("POSTGRES_DSN", "AMQP_URL", "PUBLIC_BASE_URL", "INTERNAL_AUTH_SECRET"):
            assert url_var in env
    gateway_env = compose()["services"]["gateway"]["environment"]
    for name in SERVICE_NAMES:
        host = gateway_env[f"{name.upper()}_URL"].split("//")[1].split(":")[0]
        assert host in compose()["services"], f"{name} URL points at no compose service"


def test_rabbitmq_definitions_file_is_the_topology_in_code(monkeypatch):
    monkeypatch.delenv("BUS_NAMESPACE", raising=False)
    monkeypatch.delenv("BUS_RETRY_DELAYS_MS", raising=False)
    committed = (ROOT / "deploy" / "rabbitmq" / "definitions.json").read_text()
    assert committed == render(), (
        "deploy/rabbitmq/definitions.json is stale: "
        "python -m shared.bus.export_definitions > deploy/rabbitmq/definitions.json"
    )
