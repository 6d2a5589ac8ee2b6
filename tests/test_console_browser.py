"""The officer and admin console and the ticket status page, in a real headless Chromium.

The hub runs in-process on loopback (conftest's ``start_hub``); Debian's
``chromium`` is driven through ``chromium-driver`` by selenium. Selenium's
calls block, so each one runs in a thread while the hub keeps serving on the
test's event loop. Devices (kiosks, TVs) are real WebSocket test clients.

Needs: ``apt-get install chromium chromium-driver`` and the dev extra (selenium).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, AsyncIterator, Callable

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
from selenium.webdriver.common.keys import Keys

from conftest import HallHarness, start_hub
from hub import store as db
from hub.auth import hash_password
from hub.clock import Clock
from hub.site_config import AlertThresholds, sample_site

CHROMIUM = os.environ.get("QMS_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("QMS_CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--lang=vi-VN", "--window-size=1366,768",
)
ROOT = Path(__file__).resolve().parent.parent
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


def _require_chromium() -> None:
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
        download_dir = self.tmp_path / f"downloads-{len(self.pages)}"
        download_dir.mkdir()
        profile_dir = self.tmp_path / f"chromium-profile-{len(self.pages)}"
        driver = await asyncio.to_thread(_launch, profile_dir, download_dir)
        page = Page(driver, f"http://127.0.0.1:{hall.hub.port}", download_dir)
        self.pages.append(page)
        if path is not None:
            await page.goto(path)
        return page

    def close(self) -> None:
        for page in self.pages:
            try:
                page.driver.quit()
            except Exception:  # noqa: BLE001 - a browser that died already
                pass


@pytest.fixture
async def browser(tmp_path) -> AsyncIterator[Browser]:
    _require_chromium()
    opened = Browser(tmp_path)
    try:
        yield opened
    finally:
        await asyncio.to_thread(opened.close)


# --- people and the hall ----------------------------------------------------------------------------


async def add_person(hall: HallHarness, username: str, password: str, role: str, counter_id: int | None = None,
                     full_name: str | None = None) -> None:
    """What ``qms-hub user add`` does, into the running hub's database."""
    hashed = await asyncio.to_thread(hash_password, password)
    await hall.hub.store.run(lambda conn: db.add_user(conn, username, hashed, role, counter_id, full_name,
                                                      datetime.now(timezone.utc)))


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


async def issue(kiosk, counter_id: int, request_id: str) -> dict[str, Any]:
    await kiosk.send("TICKET_CREATED", {"counter_id": counter_id, "request_id": request_id})
    return await kiosk.expect("TICKET_CREATED", where=lambda p: p.get("request_id") == request_id)


async def hall_with(tmp_path: Path, clock: Clock | None = None, **site_fields: Any) -> HallHarness:
    hub = await start_hub(tmp_path / "hall", site=replace(sample_site(), **site_fields), clock=clock)
    return HallHarness(hub)


# --- the officer --------------------------------------------------------------------------------------------


async def test_officer_logs_in_calls_next_and_the_tv_announces_it(hall, browser):
    tv = await hall.client("tv")
    kiosk = await hall.client("kiosk")
    page = await officer_page(browser, hall)
    assert "Văn phòng đăng ký đất đai" in await page.text("#counter-title")
    assert await page.text("#user-name") == "Nguyễn Thị Lan"

    await issue(kiosk, 1, "t1")
    await issue(kiosk, 1, "t2")
    await page.wait_text("#waiting-count", "2")
    await page.wait_text("#next-numbers", "1\n2")

    await page.click("#call-next")
    announced = await tv.expect("TICKET_ANNOUNCEMENT")
    assert (announced["ticket_number"], announced["counter_id"]) == (1, 1)
    assert announced["announcement_text"] == "Mời khách hàng số 1 đến quầy Văn phòng đăng ký đất đai"
    await page.wait_text("#current-number", "1")
    await page.wait_text("#waiting-count", "1")
    await page.wait_text("#notice", "Đã gọi số 1")

    # Space calls the next number, whichever button has the focus (the mouse left it on "Gọi số").
    await page.keys(Keys.SPACE)
    assert (await tv.expect("TICKET_ANNOUNCEMENT"))["ticket_number"] == 2
    await page.wait_text("#current-number", "2")
    await page.wait_text("#waiting-count", "0")
    # R recalls the number being served.
    await page.keys("r")
    recalled = await tv.expect("TICKET_ANNOUNCEMENT")
    assert recalled["ticket_number"] == 2
    await page.wait_text("#notice", "Đã gọi lại số 2")
    assert hall.hub.queue.counters[1].current.call_count == 2

    # Nobody left: a clear message, and nothing is announced.
    await page.keys(Keys.SPACE)
    await page.wait_text("#notice", "Không còn ai đang chờ")
    await tv.expect_nothing("TICKET_ANNOUNCEMENT")

    # The token stays for the tab: a reload comes back signed in and current.
    await page.reload()
    await page.wait_text("#connection-status", "Đã kết nối")
    await page.wait_text("#current-number", "2")
    assert not await page.visible("#login")

    # Logout drops the token: a reload asks for the password again.
    await page.click("#logout")
    await page.wait_visible("#login-form")
    assert await page.session_storage() == {}
    await page.reload()
    await page.wait_visible("#login-form")
    assert not await page.visible("#app")
    assert await page.console_problems() == []


async def test_wrong_password_and_wrong_role_get_clear_messages(hall, browser):
    await add_person(hall, "canbo2", OFFICER_PASSWORD, "officer", 2)
    await add_person(hall, "quantri", ADMIN_PASSWORD, "admin")
    page = await browser.open(hall, "/officer")

    await page.login("canbo2", "sai-mat-khau")
    await page.wait_text("#login-error", "Sai tên đăng nhập hoặc mật khẩu")
    assert await page.session_storage() == {}
    assert not await page.visible("#app")

    # An admin's password is right, but this page is for officers: say so, keep no token.
    await page.login("quantri", ADMIN_PASSWORD)
    await page.wait_text("#login-error", "không phải tài khoản cán bộ quầy")
    assert await page.session_storage() == {}

    await page.login("canbo2", OFFICER_PASSWORD)
    await page.wait_text("#counter-title", "Quầy 2 · Tư pháp - Hộ tịch")
    stored = json.loads((await page.session_storage())["qms.console.officer"])
    assert hall.hub.tokens.verify(stored["token"]).counter_id == 2
    assert await page.console_problems() == []


async def test_officer_page_reconnects_by_itself_and_catches_up(hall, browser):
    kiosk = await hall.client("kiosk")
    page = await officer_page(browser, hall)
    await issue(kiosk, 1, "before")
    await page.wait_text("#waiting-count", "1")

    # The network drops: the hub side of the officer's socket goes away without a goodbye.
    officer = next(s for s in hall.hub.sessions.values() if s.client_type == "officer")
    officer.ws.transport.abort()
    await page.wait_visible("#connection-banner")
    assert "Mất kết nối" in await page.text("#connection-banner")
    assert not await page.js("return document.getElementById('call-next').disabled === false")

    # What happens meanwhile is on the page once it is back.
    await issue(kiosk, 1, "during")
    await page.wait_text("#connection-status", "Đã kết nối", timeout=RECONNECT_WAIT)
    await page.wait_text("#waiting-count", "2")
    await page.wait_visible("#connection-banner", visible=False)
    await page.click("#call-next")
    await page.wait_text("#current-number", "1")
    assert await page.console_problems(allow=("WebSocket",)) == []


# --- the admin -------------------------------------------------------------------------------------------------


async def test_admin_pauses_a_counter_and_the_officer_page_shows_it(hall, browser):
    tv = await hall.client("tv", client_id="tv-sanh-1")
    admin = await admin_page(browser, hall)
    officer = await officer_page(browser, hall)

    # The officer's console turned up in the admin's device list as it connected.
    await admin.wait_text("#devices", "Cán bộ")
    await admin.wait_text("#devices", "tv-sanh-1")
    await admin.wait_text("[data-counter-id='1'] .officer-presence", "Có cán bộ")

    await admin.click("[data-counter-id='1'] .counter-pause")
    await admin.wait_visible("#pause-dialog")
    await admin.click("#pause-dialog [data-reason='Nghỉ trưa']")
    await admin.click("#pause-confirm")

    paused = await tv.expect("COUNTER_STATUS_UPDATE")
    assert (paused["counter_id"], paused["status"], paused["reason"]) == (1, "paused", "Nghỉ trưa")
    await officer.wait_visible("#paused-banner")
    assert "Nghỉ trưa" in await officer.text("#paused-banner")
    await officer.wait_text("#counter-state", "Tạm dừng")
    assert await officer.js("return document.getElementById('call-next').disabled")
    await officer.wait_text("#notice", "bởi quantri")
    await admin.wait_text("[data-counter-id='1']", "Lý do: Nghỉ trưa")

    # Space on a paused counter calls nobody.
    await officer.keys(Keys.SPACE)
    await tv.expect_nothing("TICKET_ANNOUNCEMENT")

    # The officer resumes; the admin sees it.
    await officer.click("#resume")
    resumed = await tv.expect("COUNTER_STATUS_UPDATE")
    assert resumed["status"] == "active"
    await admin.wait_text("[data-counter-id='1']", "Đang hoạt động")
    await officer.wait_visible("#paused-banner", visible=False)
    for page in (admin, officer):
        assert await page.console_problems() == []


async def test_announcement_markup_is_shown_as_text_and_runs_nothing(tmp_path, browser):
    hall = await hall_with(tmp_path, alerts=AlertThresholds(high_queue=1))
    try:
        chosen = await hall.client("tv", client_id="tv-sanh-1")
        other = await hall.client("tv", client_id="tv-sanh-2")
        kiosk = await hall.client("kiosk", client_id="kiosk-01")
        page = await admin_page(browser, hall)
        await page.wait_text("#announce-tvs", "tv-sanh-2")

        hostile = "<img src=x onerror=alert(1)>"
        await page.fill("#announce-message", hostile)
        await page.click("#announce-some")
        await page.click("#announce-tvs input[value='tv-sanh-1']")
        await page.run(lambda: page._element("#announce-priority").send_keys("Cao"))
        await page.fill("#announce-duration", "120")
        await page.click("#announce-send")

        got = await chosen.expect("ANNOUNCEMENT")
        assert got["message"] == hostile
        assert (got["priority"], got["duration"], got["target_displays"]) == ("high", 120, ["tv-sanh-1"])
        await other.expect_nothing("ANNOUNCEMENT")
        shown = await page.wait_text("#announcements", hostile)
        assert "Ưu tiên Cao" in shown and "TV: tv-sanh-1" in shown
        texts = await page.js("return [...document.querySelectorAll('.announcement-text')].map(e => e.textContent)")
        assert texts == [hostile]
        await page.wait_text("#notice", "Đã gửi thông báo")

        # The alert feed and the day's figures are live too (two waiting is above this hall's threshold of one).
        await issue(kiosk, 3, "k1")
        await issue(kiosk, 3, "k2")
        await page.wait_text("#alerts", "vượt ngưỡng 1")
        await page.wait_text("#stat-total", "2")
        await page.wait_text("#tickets", "Đăng ký thành lập hộ kinh doanh")

        # Nothing ran: no dialog, no <img> made from the text, no CSP refusal of an injected handler.
        assert not await page.alert_open()
        assert await page.js("return document.querySelectorAll('img:not(.brand-icon)').length") == 0
        assert await page.console_problems() == []
    finally:
        await hall.close_all()
        await hall.hub.stop()


async def test_admin_exports_todays_tickets_as_csv(hall, browser):
    kiosk = await hall.client("kiosk")
    await issue(kiosk, 2, "a")
    await issue(kiosk, 4, "b")
    page = await admin_page(browser, hall)
    await page.wait_text("#ticket-count", "2")
    await page.wait_text("#tickets", "Bảo hiểm xã hội")
    await page.click("#tickets-csv")
    day = hall.hub.queue.service_day.isoformat()
    target = page.download_dir / f"ve-{day}.csv"
    await page.wait(f"{target.name} downloaded", lambda: target.exists() and target.stat().st_size > 0)
    body = target.read_bytes()
    assert body.startswith(b"\xef\xbb\xbf")
    text = body[3:].decode("utf-8")
    assert "Tư pháp - Hộ tịch" in text and "Đang chờ" in text
    assert text.count("\r\n") == 3
    assert await page.console_problems() == []


# --- the citizen's ticket page ---------------------------------------------------------------------------------


async def test_status_page_follows_a_ticket_from_waiting_to_called(hall, browser):
    kiosk = await hall.client("kiosk")
    officer = await hall.client("officer", counter_id=1)
    await issue(kiosk, 1, "ahead")
    mine = await issue(kiosk, 1, "mine")

    page = await browser.open(hall, f"/t/{mine['ticket_code']}")
    await page.wait_text("#ticket-number", str(mine["ticket_number"]))
    assert "Quầy 1 · Văn phòng đăng ký đất đai" in await page.text("#ticket-counter")
    await page.wait_text("#ticket-status", "Đang chờ")
    assert "Còn 1 người trước bạn" in await page.text("#ticket-status")
    assert await page.text("#ticket-ahead") == "1"
    assert await page.text("#ticket-wait") == "5 phút"

    await officer.send("CALL_TICKET", {"counter_id": 1})
    await officer.expect("CALL_TICKET")
    await page.wait_text("#ticket-status", "Bạn là người tiếp theo")
    await page.wait_text("#ticket-ahead", "0")

    await officer.send("CALL_TICKET", {"counter_id": 1})
    await officer.expect("CALL_TICKET")
    await page.wait_text("#ticket-status", "Mời bạn đến quầy 1")
    assert "Đang được phục vụ" in await page.text("#ticket-status")
    assert not await page.visible("#ticket-figures")

    await issue(kiosk, 1, "after")
    await officer.send("CALL_TICKET", {"counter_id": 1})
    await officer.expect("CALL_TICKET")
    await page.wait_text("#ticket-status", "Đã xong")
    assert await page.console_problems() == []


async def test_unknown_ticket_code_shows_a_friendly_page(hall, browser):
    page = await browser.open(hall, "/t/NoSuchTicketCode")
    await page.wait_text("body", "Không tìm thấy vé")
    assert "vé chỉ có giá trị trong ngày" in await page.text("body")
    # The page itself came with 404; that load is the only thing the console may mention.
    assert await page.console_problems(allow=("404",)) == []


# --- the Content-Security-Policy at work ------------------------------------------------------------------------


async def test_content_security_policy_blocks_inline_script(hall, browser):
    page = await browser.open(hall, "/officer")
    await page.wait_visible("#login-form")
    outcome = await page.run(page.driver.execute_async_script, """
        const done = arguments[arguments.length - 1];
        const violations = [];
        document.addEventListener('securitypolicyviolation', (e) => violations.push(e.effectiveDirective));
        // An inline <script> and an inline event handler, as an injection would bring them.
        const script = document.createElement('script');
        script.textContent = 'window.__inlineRan = true;';
        document.body.append(script);
        const probe = document.createElement('div');
        probe.innerHTML = '<img id="probe" src="data:," onerror="window.__handlerRan = true">';
        document.body.append(probe);
        setTimeout(() => done({
            inline: window.__inlineRan === true,
            handler: window.__handlerRan === true,
            violations,
        }), 500);
    """)
    assert outcome["inline"] is False and outcome["handler"] is False
    assert "script-src-elem" in outcome["violations"]
    assert "script-src-attr" in outcome["violations"]
    # The page's own module scripts and its WebSocket are allowed ('self' covers ws: on the same host and port).
    await add_person(hall, "canbo3", OFFICER_PASSWORD, "officer", 3)
    await page.login("canbo3", OFFICER_PASSWORD)
    await page.wait_text("#connection-status", "Đã kết nối")
