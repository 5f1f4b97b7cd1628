from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from services.gateway.app import SPEC
from shared.settings import SERVICE_NAMES, Settings
from tests.integration.gateway.support import ADMIN, DEAD, FakeUpstream, start_upstream


@pytest.fixture
def gateway_settings(settings: Settings) -> Settings:
    settings.admin_username, settings.admin_password = ADMIN
    for name in SERVICE_NAMES:
        setattr(settings, f"{name}_url", DEAD)
    return settings


@pytest.fixture
async def upstream() -> AsyncIterator[Callable[[str], Any]]:
    servers: list[TestServer] = []

    async def make(name: str = "upstream") -> FakeUpstream:
        return await start_upstream(name, servers)

    yield make
    for server in servers:
        await server.close()


@pytest.fixture
def start_gateway(start_service: Any, gateway_settings: Settings) -> Callable[..., Any]:
    async def start(**service_urls: str) -> Any:
        for name, url in service_urls.items():  # e.g. search_service_url="http://…"
            setattr(gateway_settings, name, url)
        return await start_service(SPEC, gateway_settings)

    return start
