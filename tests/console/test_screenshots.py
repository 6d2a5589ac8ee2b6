"""Every console page in a busy hall, at desktop (1366x768) and phone (390x844) widths.

The screenshots are kept under test-artifacts/console/ (git-ignored). With
QMS_UPDATE_SCREENSHOTS=1 they are also copied to docs/screenshots/, which is
how the pictures in docs/console.md are made:

    QMS_UPDATE_SCREENSHOTS=1 .venv/bin/python -m pytest tests/console/test_screenshots.py

Each page must fit the phone's width (no sideways scrolling) and show its key
Vietnamese text; the pictures are for people to look at.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, time, timedelta

from selenium.webdriver.common.keys import Keys
from support.browser import (
    DESKTOP,
    OFFICER_PASSWORD,
    PHONE,
    ROOT,
    add_person,
    admin_page,
    hall_with,
    issue,
    officer_page,
)

from hub.clock import ManualClock
from hub.site_config import AlertThresholds, sample_site

DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"


async def test_screenshots_of_every_page_in_a_busy_hall(tmp_path, browser):
    # The hub's clock is moved by hand so the morning's waits and service times look like a real one. It starts
    # 95 minutes ago, but never before the hall's last midnight: the day would turn in the middle and expire its
    # tickets (a run at 18:28 UTC, 01:28 in Hà Nội, failed so). Not earlier than that either: the pages time
    # what they show (an announcement's hour on screen) by the browser's clock, so the hub's may run ahead of
    # it, as it then does, but not far behind.
    now = datetime.now(UTC)
    midnight = datetime.combine(now.astimezone(sample_site().tz).date(), time(0, 1), tzinfo=sample_site().tz)
    clock = ManualClock(max(now - timedelta(minutes=95), midnight.astimezone(UTC)))
    hall = await hall_with(tmp_path, clock=clock, alerts=AlertThresholds(high_queue=5),
                           counter_display_shows_officer=True)
    try:
        kiosks = [await hall.client("kiosk", client_id=f"kiosk-0{i}", location="Sảnh chính") for i in (1, 2)]
        await hall.client("tv", client_id="tv-sanh-1", location="Sảnh chính")
        await hall.client("tv", client_id="tv-sanh-2", location="Khu chờ tầng 2")
        tickets: dict[int, list[dict]] = {}
        wanted = {1: 7, 2: 4, 3: 2, 4: 3}
        for round_number in range(max(wanted.values())):
            for counter_id, count in wanted.items():
                if round_number < count:
                    ticket = await issue(kiosks[round_number % 2], counter_id, f"c{counter_id}-{round_number}")
                    tickets.setdefault(counter_id, []).append(ticket)
            clock.advance(minutes=3)
        # The admin's page is open all morning: it sees every ticket event.
        admin = await admin_page(browser, hall)
        others = {}
        for counter_id, calls, name in ((2, 2, "Phạm Văn Đức"), (3, 1, "Lê Thị Mai")):
            other = others[counter_id] = await hall.client(
                "officer", counter_id=counter_id, client_id=f"officer-c{counter_id}-ws",
                location=f"counter-{counter_id}", username=f"canbo{counter_id}", full_name=name)
            for _ in range(calls):
                await other.send("CALL_TICKET", {"counter_id": counter_id})
                await other.expect("CALL_TICKET")
                clock.advance(minutes=6)
        clock.advance(minutes=20)

        shots = []
        # The officer at counter 1: two citizens called did not come, the third is being served; an elderly
        # citizen and the one sent from counter 2 wait first.
        officer = await officer_page(browser, hall)
        for number in (1, 2):
            await officer.keys(Keys.SPACE)
            await officer.wait_text("#current-number", str(number))
            clock.advance(minutes=2)
            await officer.keys("n")
            await officer.wait_text("#no-show-list", f"{number}\n")
        await officer.keys(Keys.SPACE)
        await officer.wait_text("#current-number", "3")
        # Counter 2's citizen has come for a land matter: sent to the Đất đai line, keeping their number.
        await others[2].send("TICKET_ACTION", {"counter_id": 2, "action": "transfer", "to_queue_id": 1,
                                               "note": "Hồ sơ đất đai"})
        await others[2].expect("TICKET_UPDATED")
        # (A kiosk connected now: the morning's kiosk tokens, an hour long, have run out on the hub's clock.)
        late_kiosk = await hall.client("kiosk", client_id="kiosk-03", location="Sảnh chính")
        await issue(late_kiosk, None, "elderly", queue_id=1, priority=True, priority_reason="elderly")
        clock.advance(minutes=4)
        await officer.wait_text("#waiting-count", "6")
        await officer.wait_text("#waiting-list", "Ưu tiên · Người cao tuổi")
        await officer.wait_text("#waiting-list", "Được chuyển đến")
        await officer.js("document.activeElement.blur()")
        for name, size in (("officer-desktop", DESKTOP), ("officer-phone", PHONE)):
            shots.append(await officer.screenshot(name, size))
        # Transfer (T): where to, from the keyboard.
        await officer.keys("t")
        await officer.wait_visible("#transfer-dialog")
        shots.append(await officer.screenshot("officer-transfer-desktop", DESKTOP, full_page=False))
        await officer.keys(Keys.ESCAPE)

        # Another officer logging in at counter 1 is asked first.
        await add_person(hall, "canbo1b", OFFICER_PASSWORD, "officer", 1, "Trần Văn Hùng")
        second = await browser.open(hall, "/officer")
        await second.login("canbo1b", OFFICER_PASSWORD)
        await second.wait_text("#busy-text", "Quầy 1 đang có cán bộ Nguyễn Thị Lan làm việc. Nhận quầy?")
        shots.append(await second.screenshot("officer-busy-desktop", DESKTOP, full_page=False))

        # The admin: counter 4 paused for lunch, an announcement on the TVs, the alert about counter 1.
        await admin.click("[data-counter-id='4'] .counter-pause")
        await admin.click("#pause-dialog [data-reason='Nghỉ trưa']")
        await admin.click("#pause-confirm")
        await admin.wait_text("[data-counter-id='4']", "Lý do: Nghỉ trưa")
        await admin.fill("#announce-message", "Từ 11:30 đến 13:00 quầy Bảo hiểm xã hội nghỉ trưa. "
                                              "Quý khách vui lòng quay lại sau 13:00.")
        await admin.fill("#announce-duration", "3600")
        await admin.click("#announce-send")
        await admin.wait_text("#announcements", "nghỉ trưa")
        await admin.wait_text("#alerts", "vượt ngưỡng 5")
        await admin.wait_text("#ticket-count", "17")
        await admin.wait_text("#stat-total", "17")
        await admin.wait_text("#ticket-events", "Số 2002 chuyển từ quầy 2 sang hàng Đất đai")
        await admin.wait_text("#ticket-event-count", "4")
        await admin.wait_text("#queues [data-queue-id='1'] .queue-priority", "1")
        await admin.wait_text("[data-counter-id='1'] .officer-presence", "Có cán bộ: Nguyễn Thị Lan")
        await admin.js("window.scrollTo(0, 0); document.activeElement.blur()")
        for name, size in (("admin-desktop", DESKTOP), ("admin-phone", PHONE)):
            shots.append(await admin.screenshot(name, size))

        # The login screen.
        login = await browser.open(hall, "/officer")
        await login.wait_visible("#login-form")
        await login.fill("#login-username", "canbo1")
        for name, size in (("login-desktop", DESKTOP), ("login-phone", PHONE)):
            shots.append(await login.screenshot(name, size, full_page=False))

        # A citizen's phone: waiting with people ahead, priority, transferred, called, absent when called;
        # and a code that is not (or no longer) valid.
        citizen = await browser.open(hall, f"/t/{tickets[1][5]['ticket_code']}")
        await citizen.wait_text("#ticket-status", "Còn 4 người trước bạn")
        for name, size in (("ticket-waiting-phone", PHONE), ("ticket-waiting-desktop", DESKTOP)):
            shots.append(await citizen.screenshot(name, size, full_page=False))
        elderly = next(t for t in hall.hub.queue.tickets.values() if t.priority)
        for name, code, expected in (
                ("ticket-priority-phone", elderly.code, "Ưu tiên · Người cao tuổi"),
                ("ticket-transferred-phone", tickets[2][1]["ticket_code"], "Đã chuyển sang quầy 1 (Đất đai)"),
                ("ticket-called-phone", tickets[3][0]["ticket_code"], "Mời bạn đến quầy 3"),
                ("ticket-no-show-phone", tickets[1][0]["ticket_code"], "Quý khách đã vắng mặt khi được gọi")):
            await citizen.goto(f"/t/{code}")
            await citizen.wait_text("#ticket", expected)
            shots.append(await citizen.screenshot(name, PHONE, full_page=False))
        await citizen.goto("/t/KhongCoVeNay123")
        await citizen.wait_text("body", "Không tìm thấy vé")
        shots.append(await citizen.screenshot("ticket-missing-phone", PHONE, full_page=False))

        # The second officer takes counter 1 over: the first console says why it closed.
        await second.click("#busy-confirm")
        await officer.wait_text("#held-title", "Quầy đã được cán bộ khác nhận")
        shots.append(await officer.screenshot("officer-taken-over-phone", PHONE, full_page=False))

        for page in (officer, admin, login, second):
            assert await page.console_problems(allow=("WebSocket",)) == []
        assert all(shot.stat().st_size > 10_000 for shot in shots)
        if os.environ.get("QMS_UPDATE_SCREENSHOTS") == "1":
            DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            for shot in shots:
                shutil.copyfile(shot, DOCS_SCREENSHOTS / shot.name)
    finally:
        await hall.close_all()
        await hall.hub.stop()
