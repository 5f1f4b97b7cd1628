"""What the browser tests share: Debian's Chromium, page checks (screenshots + axe), API setup.

Every page a journey visits goes through :meth:`PageCheck.visit`: a full-page
screenshot at desktop and at phone width under ``artifacts/screenshots/`` (for a
reviewer; not committed), and an axe-core scan whose ``serious``/``critical``
findings are collected and asserted on at the end of the test.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import APIRequestContext, Page, Playwright, ViewportSize

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
BLOCKING_IMPACTS = ("serious", "critical")
ADMIN = ("admin", "admin-password-1")
PASSWORD = "browser-password-1"

T = TypeVar("T")


def apt_available() -> bool:
    return shutil.which("apt-get") is not None


def poll(
    probe: Callable[[], T],
    until: Callable[[T], bool] = bool,
    *,
    timeout: float = 20.0,
    interval: float = 0.1,
    message: str = "condition",
) -> T:
    """Poll ``probe`` until ``until(result)`` holds (the sync twin of ``eventually``)."""
    deadline = time.monotonic() + timeout
    while True:
        last = probe()
        if until(last):
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not reached within {timeout}s; last value: {last!r}")
        time.sleep(interval)


def link_in(text: str) -> str:
    match = re.search(r"https?://\S+/i/[A-Za-z0-9_\-]+", text)
    assert match, f"no personal link in: {text}"
    return match.group(0)


@dataclass
class Api:
    """A logged-in API client (the cookie session of a Playwright request context)."""

    context: APIRequestContext

    @classmethod
    def login(cls, playwright: Playwright, base_url: str, username: str, password: str) -> Api:
        context = playwright.request.new_context(base_url=base_url)
        response = context.post(
            "/api/v1/auth/login", data={"username": username, "password": password}
        )
        assert response.status == 200, response.text()
        return cls(context)

    def call(self, method: str, path: str, expect: int | tuple[int, ...], body: Any = None) -> Any:
        kwargs: dict[str, Any] = {"method": method}
        if body is not None:
            kwargs["data"] = body
        response = self.context.fetch(path, **kwargs)
        expected = (expect,) if isinstance(expect, int) else expect
        text = response.text()
        assert response.status in expected, f"{method} {path} → {response.status}: {text}"
        return json.loads(text) if "json" in response.headers.get("content-type", "") else text

    def mail_to(self, address: str) -> list[dict[str, Any]]:
        found = self.call("GET", f"/api/v1/mail/messages?to={address}&limit=100", 200)
        return list(found["items"])

    def close(self) -> None:
        self.context.dispose()


@dataclass
class PageCheck:
    """Screenshots at both widths and an axe scan of every page a test visits."""

    journey: str
    findings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    visited: list[str] = field(default_factory=list)

    def visit(self, page: Page, name: str, *, ours: bool = True) -> None:
        """``ours=False``: a page another service renders (the mail viewer): its phone-width
        layout is noted, not asserted (axe still is)."""
        page.wait_for_load_state("load")
        slug = f"{self.journey}-{len(self.visited) + 1:02d}-{name}"
        self.visited.append(f"{name} ({page.url})")
        original = page.viewport_size or DESKTOP
        try:
            for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
                page.set_viewport_size(size)
                page.screenshot(path=str(SCREENSHOTS / f"{slug}-{label}.png"), full_page=True)
                wide = page.evaluate("document.documentElement.scrollWidth")
                if wide > size["width"]:
                    finding = (
                        f"{name} at {label} width: the page is {wide}px wide (scrolls sideways)"
                    )
                    (self.findings if ours else self.notes).append(finding)
                self._scan(page, f"{name} at {label} width")
        finally:
            page.set_viewport_size(original)

    def _scan(self, page: Page, where: str) -> None:
        result = Axe().run(page)
        for violation in result.response.get("violations", []):
            if violation.get("impact") not in BLOCKING_IMPACTS:
                continue
            targets = [", ".join(map(str, n.get("target", []))) for n in violation["nodes"]][:5]
            self.findings.append(
                f"{where}: {violation['impact']} {violation['id']} — {violation['help']} "
                f"on {targets}"
            )

    def assert_accessible(self) -> None:
        for note in self.notes:
            print(f"note: {note}")
        assert not self.findings, "accessibility/layout findings:\n" + "\n".join(self.findings)
