from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.system import Api, System

ADMIN = ("admin", "admin-password-1")


@pytest.fixture
async def system() -> AsyncIterator[System]:
    sys_ = System()
    try:
        await sys_.start()
        yield sys_
    finally:
        sys_.stop()


@pytest.fixture
async def admin(system: System) -> AsyncIterator[Api]:
    api = Api(system.url)
    await api.login(*ADMIN)
    yield api
    await api.close()
