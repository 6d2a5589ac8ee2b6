"""The officer and admin console and the ticket status page, in a real headless Chromium.

The hub runs in-process on loopback (conftest's ``start_hub``); Debian's
``chromium`` is driven through ``chromium-driver`` by selenium. Selenium's
calls block, so each one runs in a thread while the hub keeps serving on the
test's event loop. Devices (kiosks, TVs) are real WebSocket test clients.

Needs: ``apt-get install chromium chromium-driver`` and the dev extra (selenium).
"""

from __future__ import annotations

import json

from selenium.webdriver.common.keys import Keys
from support.browser import (
    ADMIN_PASSWORD,
    OFFICER_PASSWORD,
    RECONNECT_WAIT,
    add_person,
    admin_page,
    hall_with,
    issue,
    officer_page,
)

from hub.site_config import AlertThresholds

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
    await page.wait_text("#waiting-list", "1")
    numbers = await page.js("return [...document.querySelectorAll('#waiting-list .waiting-number')]"
                            ".map(e => e.textContent)")
    assert numbers == ["1", "2"]

    await page.click("#call-next")
    announced = await tv.expect("TICKET_ANNOUNCEMENT")
    assert (announced["ticket_number"], announced["counter_id"]) == (1, 1)
    assert announced["announcement_text"] == "Mời khách hàng số 1 đến quầy số 1"
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

    # The token stays for the tab: a reload comes back signed in and current (the same console: no take-over).
    await page.reload()
    await page.wait_text("#connection-status", "Đã kết nối")
    await page.wait_text("#current-number", "2")
    assert not await page.visible("#login")
    assert not await page.visible("#held")

    # Nobody left: the citizen being served is done all the same, a clear message, and nothing is announced.
    await page.keys(Keys.SPACE)
    await page.wait_text("#notice", "Đã hoàn thành số 2. Không còn ai đang chờ")
    await page.wait_text("#current-number", "—")
    await tv.expect_nothing("TICKET_ANNOUNCEMENT")
    assert hall.hub.queue.counters[1].current is None

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
    officer = next(s for s in hall.hub.clients.sessions.values() if s.client_type == "officer")
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



async def test_the_officer_page_is_shown_connected_only_with_the_halls_state(hall, browser):
    """Back after a drop, the page says «Đã kết nối» (its buttons live) only once the SNAPSHOT that follows
    CONNECTION_ACK is in: never with the last connection's line."""
    kiosk = await hall.client("kiosk")
    page = await officer_page(browser, hall)
    await issue(kiosk, 1, "before")
    await page.wait_text("#waiting-count", "1")
    # Each time the badge turns to connected, what the page shows then: observed in the microtask after
    # the message that turned it, before the browser handles the next message.
    await page.js("""
        window.seenOnline = [];
        const badge = document.getElementById('connection-status');
        new MutationObserver(() => {
          if (badge.textContent.includes('Đã kết nối')) {
            window.seenOnline.push(document.getElementById('waiting-count').textContent);
          }
        }).observe(badge, { childList: true, characterData: true, subtree: true });
    """)
    officer = next(s for s in hall.hub.clients.sessions.values() if s.client_type == "officer")
    officer.ws.transport.abort()
    await page.wait_visible("#connection-banner")
    await issue(kiosk, 1, "during")
    await page.wait_text("#connection-status", "Đã kết nối", timeout=RECONNECT_WAIT)
    await page.wait_text("#waiting-count", "2")
    assert await page.js("return window.seenOnline") == ["2"]
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
    # Waiting: the counters serving the ticket's queue, and the queue.
    assert await page.text("#ticket-counter") == "Quầy 1 · Đất đai"
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
    assert await page.text("#ticket-counter") == "Quầy 1 · Văn phòng đăng ký đất đai"
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
