"""One running system and one Chromium for every browser test of a worker (time is short).

Chromium is Debian's (``/usr/bin/chromium``, installed by ``bin/setup --test``).
When it is missing the tests fail with the command to install it; they skip only
where it cannot be installed at all (no apt).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import Browser, Error, Playwright, sync_playwright

from tests.browser.support import (
    ADMIN,
    CHROMIUM,
    CHROMIUM_ARGS,
    SCREENSHOTS,
    Api,
    apt_available,
)
from tests.support.system import System


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not CHROMIUM.exists():
        if not apt_available():
            pytest.skip(f"{CHROMIUM} is missing and apt-get is not available to install it")
        pytest.fail(
            f"{CHROMIUM} is missing: install it with `bin/setup --test` "
            "(or `apt-get install -y chromium`)",
            pytrace=False,
        )
    return str(CHROMIUM)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Playwright, chromium_path: str) -> Iterator[Browser]:
    try:
        browser = playwright.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True, timeout=60_000
        )
    except Error as exc:
        pytest.fail(f"Chromium ({chromium_path}) could not start: {exc}", pytrace=False)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def system() -> Iterator[System]:
    running = System()
    try:
        # In a thread of its own: Playwright's sync API keeps an event loop on this one.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, running.start()).result()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def admin_api(playwright: Playwright, system: System) -> Iterator[Api]:
    api = Api.login(playwright, system.url, *ADMIN)
    yield api
    api.close()
