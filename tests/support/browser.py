"""Driving Debian's headless Chromium at the hub's console pages (selenium, each call in a thread)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    NoAlertPresentException,
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from hub import store as db
from hub.auth import hash_password
from hub.clock import Clock
from hub.site_config import sample_site
from support import REPO_ROOT, HallHarness, start_hub

CHROMIUM = os.environ.get("QMS_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("QMS_CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--lang=vi-VN", "--window-size=1366,768",
)
ROOT = REPO_ROOT
ARTIFACTS = ROOT / "test-artifacts" / "console"
# How long to wait for the page to show something (a bound on failure, not a speed check).
WAIT = 10.0
# The console reconnects 5 s after a drop; allow for that and the resync.
RECONNECT_WAIT = 20.0

DESKTOP = (1366, 768)
PHONE = (390, 844)

OFFICER_PASSWORD = "mật-khẩu-quầy-1"
ADMIN_PASSWORD = "mật-khẩu-quản-trị"


# --- the browser -------------------------------------------------------------------------------


def require_chromium() -> None:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).exists()]
    if missing:
        pytest.fail(f"the console tests need Debian's chromium and chromium-driver (missing: {', '.join(missing)}); "
                    "install them with: apt-get install chromium chromium-driver", pytrace=False)


def _launch(profile_dir: Path, download_dir: Path) -> webdriver.Chrome:
    options = Options()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    # A fresh profile each time: no cache, no stored session from an earlier test.
    options.add_argument(f"--user-data-dir={profile_dir}")
    # An alert() left open is what the XSS test looks for: do not let the driver dismiss it.
    options.set_capability("unhandledPromptBehavior", "ignore")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)})
    return driver


class Page:
    """One Chromium window on the hub. Every selenium call runs in a thread: the hub shares the test's loop."""

    def __init__(self, driver: webdriver.Chrome, base_url: str, download_dir: Path):
        self.driver = driver
        self.base_url = base_url
        self.download_dir = download_dir
        self.log: list[dict[str, Any]] = []

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    async def goto(self, path: str) -> None:
        await self.run(self.driver.get, self.base_url + path)

    async def reload(self) -> None:
        await self.run(self.driver.refresh)

    def _element(self, css: str):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    async def click(self, css: str) -> None:
        await self.run(lambda: self._element(css).click())

    async def fill(self, css: str, text: str) -> None:
        def fill() -> None:
            element = self._element(css)
            element.clear()
            element.send_keys(text)
        await self.run(fill)

    async def keys(self, *keys: str) -> None:
        """Type keys at whatever has the focus, as a person at the keyboard would."""
        await self.run(lambda: ActionChains(self.driver).send_keys(*keys).perform())

    async def text(self, css: str) -> str:
        """The visible text of an element ('' when it is hidden)."""
        return await self.run(lambda: self._element(css).text)

    async def visible(self, css: str) -> bool:
        return await self.run(lambda: self._element(css).is_displayed())

    async def js(self, script: str, *args: Any) -> Any:
        return await self.run(self.driver.execute_script, script, *args)

    async def wait(self, what: str, check: Callable[[], Any], timeout: float = WAIT) -> Any:
        """Poll ``check`` (run in the browser's thread) until it returns something true."""
        def poll() -> Any:
            deadline = time.monotonic() + timeout
            last_error: Exception | None = None
            while True:
                try:
                    result = check()
                    if result:
                        return result
                except (NoSuchElementException, StaleElementReferenceException) as exc:
                    last_error = exc
                if time.monotonic() > deadline:
                    raise AssertionError(f"waited {timeout}s for {what}; last error: {last_error}")
                time.sleep(0.05)
        return await self.run(poll)

    async def wait_text(self, css: str, expected: str, timeout: float = WAIT) -> str:
        seen: list[str] = []

        def check() -> str | None:
            text = self._element(css).text
            seen[:] = [text]
            return text if expected in text else None
        try:
            return await self.wait(f"{expected!r} in {css}", check, timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; {css} shows {seen[0] if seen else None!r}") from None

    async def wait_visible(self, css: str, visible: bool = True, timeout: float = WAIT) -> None:
        await self.wait(f"{css} {'shown' if visible else 'hidden'}",
                        lambda: self._element(css).is_displayed() == visible, timeout)

    async def login(self, username: str, password: str) -> None:
        await self.wait_visible("#login-form")
        await self.fill("#login-username", username)
        await self.fill("#login-password", password)
        await self.click("#login-submit")

    async def alert_open(self) -> bool:
        def probe() -> bool:
            try:
                self.driver.switch_to.alert  # noqa: B018 - raises when there is none
                return True
            except NoAlertPresentException:
                return False
        return await self.run(probe)

    async def session_storage(self) -> dict[str, str]:
        return await self.js("return Object.fromEntries(Object.entries(sessionStorage));")

    async def console_problems(self, allow: tuple[str, ...] = ()) -> list[str]:
        """Errors the page logged (JS exceptions, CSP refusals, failed loads), minus the expected ones."""
        self.log += await self.run(self.driver.get_log, "browser")
        return [entry["message"] for entry in self.log
                if entry["level"] == "SEVERE" and not any(text in entry["message"] for text in allow)]

    async def set_viewport(self, width: int, height: int) -> None:
        await self.run(self.driver.execute_cdp_cmd, "Emulation.setDeviceMetricsOverride",
                       {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
        await self.settle()

    async def settle(self) -> None:
        """Let the page lay out and paint what it was just given."""
        await self.run(self.driver.execute_async_script,
                       "const done = arguments[arguments.length - 1];"
                       "requestAnimationFrame(() => requestAnimationFrame(() => done(true)));")

    async def screenshot(self, name: str, size: tuple[int, int], full_page: bool = True) -> Path:
        """A PNG of the page at this viewport size (the whole page height when full_page) under test-artifacts/.

        Fails if the page is wider than the viewport: on a phone that means sideways scrolling.
        """
        width, height = size
        await self.set_viewport(width, height)
        # Elements reaching past the right edge (a phone would scroll sideways, or zoom the page out).
        wide = await self.js("""
            const width = arguments[0];
            return [...document.querySelectorAll('body *')]
                .filter((e) => e.getClientRects().length && e.getBoundingClientRect().right > width + 1
                    && !e.parentElement.closest('.table-wrap'))
                .slice(0, 5).map((e) => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}px`);
        """, width)
        assert not wide, f"{name}: wider than {width}px: {wide}"
        if full_page:
            content_height = await self.js("return Math.ceil(document.documentElement.getBoundingClientRect().height);")
            await self.set_viewport(width, max(height, content_height))
        shot = await self.run(self.driver.execute_cdp_cmd, "Page.captureScreenshot", {"format": "png"})
        await self.run(self.driver.execute_cdp_cmd, "Emulation.clearDeviceMetricsOverride", {})
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


class Browser:
    """Opens Chromium windows on a hub; closes them all at the end of the test."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.pages: list[Page] = []

    async def open(self, hall: HallHarness, path: str | None = None) -> Page:
        return await self.open_at(f"http://127.0.0.1:{hall.hub.port}", path)

    async def open_at(self, base_url: str, path: str | None = None) -> Page:
        """A window on any server of ours (the province's page too)."""
        download_dir = self.tmp_path / f"downloads-{len(self.pages)}"
        download_dir.mkdir()
        profile_dir = self.tmp_path / f"chromium-profile-{len(self.pages)}"
        driver = await asyncio.to_thread(_launch, profile_dir, download_dir)
        page = Page(driver, base_url, download_dir)
        self.pages.append(page)
        if path is not None:
            await page.goto(path)
        return page

    def close(self) -> None:
        for page in self.pages:
            with contextlib.suppress(Exception):  # a browser that died already
                page.driver.quit()




# --- people and the hall ----------------------------------------------------------------------------


async def add_person(hall: HallHarness, username: str, password: str, role: str, counter_id: int | None = None,
                     full_name: str | None = None) -> None:
    """What ``qms-hub user add`` does, into the running hub's database."""
    hashed = await asyncio.to_thread(hash_password, password)
    await hall.hub.store.run(lambda conn: db.add_user(conn, username, hashed, role, counter_id, full_name,
                                                      datetime.now(UTC)))


async def officer_page(browser: Browser, hall: HallHarness, username: str = "canbo1", counter_id: int = 1,
                       full_name: str = "Nguyễn Thị Lan") -> Page:
    await add_person(hall, username, OFFICER_PASSWORD, "officer", counter_id, full_name)
    page = await browser.open(hall, "/officer")
    await page.login(username, OFFICER_PASSWORD)
    await page.wait_text("#connection-status", "Đã kết nối")
    await page.wait_text("#counter-title", f"Quầy {counter_id} ·")
    return page


async def admin_page(browser: Browser, hall: HallHarness, username: str = "quantri",
                     full_name: str = "Trần Văn Minh") -> Page:
    await add_person(hall, username, ADMIN_PASSWORD, "admin", None, full_name)
    page = await browser.open(hall, "/admin")
    await page.login(username, ADMIN_PASSWORD)
    await page.wait_text("#connection-status", "Đã kết nối")
    await page.wait_text("#counters", "Quầy 1")
    return page


async def issue(kiosk, counter_id: int | None, request_id: str, **request: Any) -> dict[str, Any]:
    """A ticket from a kiosk: for a counter (its first queue), or as ``request`` says (queue_id, priority...)."""
    if counter_id is not None:
        request["counter_id"] = counter_id
    await kiosk.send("TICKET_CREATED", {"request_id": request_id, **request})
    return await kiosk.expect("TICKET_CREATED", where=lambda p: p.get("request_id") == request_id)


async def hall_with(tmp_path: Path, clock: Clock | None = None, **site_fields: Any) -> HallHarness:
    hub = await start_hub(tmp_path / "hall", site=replace(sample_site(), **site_fields), clock=clock)
    return HallHarness(hub)


