from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from shared.clock import Clock
from shared.runtime import RUNTIME, Runtime, ServiceSpec, build_service_app
from shared.settings import Settings
from tests.support.infra import cleanup_run, make_settings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The folder is the tier: tests/unit → unit, tests/integration → integration, …
    for item in items:
        parts = item.path.parts
        for tier in ("unit", "integration", "e2e", "browser", "resilience"):
            if tier in parts:
                item.add_marker(getattr(pytest.mark, "e2e" if tier == "resilience" else tier))


@pytest.fixture(scope="session", autouse=True)
def _cleanup_infrastructure() -> Any:
    yield
    asyncio.run(cleanup_run())


@pytest.fixture
def settings() -> Settings:
    return make_settings()


StartService = Callable[..., Any]


@pytest.fixture
async def start_service() -> AsyncIterator[StartService]:
    """Start a service in-process: ``client, runtime = await start(SPEC, settings)``."""
    clients: list[TestClient[Any, Any]] = []

    async def start(
        spec: ServiceSpec, settings: Settings, clock: Clock | None = None
    ) -> tuple[TestClient[Any, Any], Runtime]:
        app = build_service_app(spec, settings, clock)
        client: TestClient[Any, Any] = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client, app[RUNTIME]

    yield start
    for client in reversed(clients):
        await client.close()
