"""The officer's serving lifecycle in a real headless Chromium: priority citizens marked in the line, finish,
no-show and putting a late citizen back, transfer to a queue or a counter with a note, calling one number.

Every action is done the way an officer does it (its key, or the keyboard in its dialog), and checked where
it lands: the hub's queue and a TV client's messages. The hub runs in-process on loopback (see test_browser.py).
"""

from __future__ import annotations

from selenium.webdriver.common.keys import Keys
from support.browser import issue, officer_page

BUTTON_KEYS = {"#call-next": "Space", "#recall": "R", "#finish": "F", "#no-show": "N", "#transfer": "T",
               "#call-number": "G"}


async def waiting_numbers(page) -> list[str]:
    return await page.js("return [...document.querySelectorAll('#waiting-list .waiting-number')]"
                         ".map(e => e.textContent)")


async def disabled(page, css: str) -> bool:
    return await page.js(f"return document.querySelector({css!r}).disabled")


async def test_officer_finishes_marks_a_no_show_and_puts_the_late_citizen_back(hall, browser):
    tv = await hall.client("tv")
    kiosk = await hall.client("kiosk")
    await issue(kiosk, 1, "a")
    await issue(kiosk, 1, "b")
    await issue(kiosk, None, "elderly", queue_id=1, priority=True, priority_reason="elderly")
    page = await officer_page(browser, hall)

    # Each button shows its key.
    for css, key in BUTTON_KEYS.items():
        assert key in await page.text(f"{css} kbd"), css
    # The elderly citizen waits first, marked with the reason.
    await page.wait_text("#waiting-list", "Ưu tiên · Người cao tuổi")
    assert await waiting_numbers(page) == ["3", "1", "2"]
    assert "Ưu tiên" in await page.text("#waiting-list .waiting-row:first-child")
    assert "Ưu tiên" not in await page.text("#waiting-list .waiting-row:nth-child(2)")
    await page.wait_text("#priority-count", "trong đó 1 ưu tiên")
    # Nobody is being served: nothing to finish, mark or transfer.
    for css in ("#finish", "#no-show", "#transfer", "#recall"):
        assert await disabled(page, css), css

    await page.keys(Keys.SPACE)
    await page.wait_text("#current-number", "3")
    await page.wait_text("#current-tags", "Ưu tiên · Người cao tuổi")
    await tv.expect("CALL_TICKET")

    # F: done.
    await page.keys("f")
    done = await tv.expect("TICKET_UPDATED")
    assert (done["ticket_number"], done["action"], done["status"]) == (3, "finish", "done")
    await page.wait_text("#notice", "Đã hoàn thành số 3")
    await page.wait_text("#current-number", "—")
    assert hall.hub.queue.counters[1].current is None
    assert await disabled(page, "#finish")

    # N: the citizen called did not come. No confirmation: one key, undone from the no-show list.
    await page.keys(Keys.SPACE)
    await page.wait_text("#current-number", "1")
    await page.keys("n")
    absent = await tv.expect("TICKET_UPDATED")
    assert (absent["ticket_number"], absent["action"], absent["status"]) == (1, "no_show", "no_show")
    await page.wait_text("#notice", "Số 1 vắng mặt")
    await page.wait_text("#no-show-list", "Gọi lại vào hàng")
    assert await page.text("#no-show-list .no-show-number") == "1"
    await page.wait_text("#no-show-count", "1")
    await page.wait_text("#current-number", "—")
    assert hall.hub.queue.tickets[absent["ticket_id"]].status == "no_show"

    # The list is the hub's, not only what this page saw: it is still there after a reload.
    await page.reload()
    await page.wait_text("#connection-status", "Đã kết nối")
    await page.wait_text("#no-show-list", "Gọi lại vào hàng")
    assert await page.text("#no-show-list .no-show-number") == "1"

    # The late citizen turns up: «Gọi lại vào hàng», from the keyboard (Tab to it, Enter).
    await page.js("document.querySelector('#no-show-list .no-show-return').focus()")
    await page.keys(Keys.ENTER)
    back = await tv.expect("TICKET_UPDATED")
    assert (back["ticket_number"], back["action"], back["status"]) == (1, "return", "waiting")
    await page.wait_text("#notice", "Số 1 đã vào lại hàng chờ")
    await page.wait_text("#no-show-list", "Chưa có ai vắng mặt")
    await page.wait("the returned citizen first in line", lambda: page.driver.execute_script(
        "return document.querySelector('#waiting-list .waiting-number')?.textContent === '1'"))
    # ...and is the next one called.
    tv.drain()
    await page.keys(Keys.SPACE)
    await page.wait_text("#current-number", "1")
    assert (await tv.expect("TICKET_ANNOUNCEMENT"))["ticket_number"] == 1
    assert await page.console_problems() == []


async def test_officer_transfers_by_keyboard_to_a_queue_then_to_a_counter(hall, browser):
    tv = await hall.client("tv")
    kiosk = await hall.client("kiosk")
    await issue(kiosk, 1, "a")
    await issue(kiosk, 1, "b")
    page = await officer_page(browser, hall)
    await page.wait_text("#waiting-count", "2")
    await page.keys(Keys.SPACE)
    await page.wait_text("#current-number", "1")
    await tv.expect("CALL_TICKET")

    # T opens the choice: the other queues (with the counters serving them) and the other counters.
    await page.keys("t")
    await page.wait_visible("#transfer-dialog")
    assert await page.text("#transfer-title") == "Chuyển số 1"
    queues = await page.text("#transfer-queue-options")
    assert "Tư pháp - Hộ tịch\nQuầy 2, 5" in queues and "Bảo hiểm xã hội" in queues
    assert "Đất đai" not in queues  # the ticket's own queue
    counters = await page.text("#transfer-counter-options")
    assert "Quầy 4\nBảo hiểm xã hội" in counters and "Quầy 1" not in counters
    # Esc: nothing happens.
    await page.keys(Keys.ESCAPE)
    await page.wait_visible("#transfer-dialog", visible=False)
    await tv.expect_nothing("TICKET_UPDATED")
    assert hall.hub.queue.counters[1].current.number == 1

    # Arrows choose, Tab reaches the note, Enter sends.
    await page.keys("t")
    await page.wait_visible("#transfer-dialog")
    assert await page.js("return document.activeElement.value") == "queue:2"
    await page.keys(Keys.ARROW_DOWN)
    await page.wait_text("#transfer-confirm", "Chuyển sang hàng Đăng ký kinh doanh")
    await page.keys(Keys.TAB, "Cần đăng ký hộ kinh doanh", Keys.ENTER)
    moved = await tv.expect("TICKET_UPDATED")
    assert (moved["ticket_number"], moved["action"], moved["status"]) == (1, "transfer", "waiting")
    assert (moved["queue_id"], moved["from_queue_id"], moved["note"]) == (3, 1, "Cần đăng ký hộ kinh doanh")
    await page.wait_text("#notice", "Đã chuyển số 1 sang hàng Đăng ký kinh doanh")
    await page.wait_text("#current-number", "—")

    # The next one to counter 4, chosen with the mouse this time.
    await page.keys(Keys.SPACE)
    await page.wait_text("#current-number", "2")
    await page.click("#transfer")
    await page.click("label[for='transfer-counter-4']")
    await page.click("#transfer-confirm")
    moved = await tv.expect("TICKET_UPDATED", where=lambda p: p["ticket_number"] == 2)
    assert (moved["queue_id"], moved["to_counter_id"], moved["note"]) == (4, 4, "")
    await page.wait_text("#notice", "Đã chuyển số 2 sang quầy 4 · Bảo hiểm xã hội")
    assert [t.number for t in hall.hub.queue.waiting_tickets(4)] == [2]

    # At counter 3 the transferred citizen is in the line, marked; its officer can call one number from
    # either of its queues (its own, and the one it backs up).
    other = await officer_page(browser, hall, username="canbo3", counter_id=3, full_name="Lê Văn Bình")
    await other.wait_text("#waiting-list", "Được chuyển đến")
    assert await waiting_numbers(other) == ["1"]
    await other.keys("g")
    await other.wait_visible("#call-number-dialog")
    await other.wait_visible("#call-number-queue-field")
    assert "Tư pháp - Hộ tịch (dự phòng)" in await other.text("#call-number-queue")
    await other.keys(Keys.ESCAPE)
    await other.wait_visible("#call-number-dialog", visible=False)
    for each in (page, other):
        assert await each.console_problems() == []


async def test_officer_calls_one_number_by_hand(hall, browser):
    tv = await hall.client("tv")
    kiosk = await hall.client("kiosk")
    for name in ("a", "b", "c"):
        await issue(kiosk, 1, name)
    page = await officer_page(browser, hall)
    await page.wait_text("#waiting-count", "3")

    # G, the number, Enter: that citizen is called (out of turn), and the TVs announce it.
    await page.keys("g")
    await page.wait_visible("#call-number-dialog")
    assert not await page.visible("#call-number-queue-field")  # one queue: nothing to choose
    await page.keys("3", Keys.ENTER)
    announced = await tv.expect("TICKET_ANNOUNCEMENT")
    assert announced["ticket_number"] == 3
    await page.wait_text("#current-number", "3")
    await page.wait_text("#notice", "Đã gọi số 3")
    assert [t.number for t in hall.hub.queue.waiting_tickets(1)] == [1, 2]

    # What is not a number is refused in the dialog, and nothing is sent.
    await page.keys("g")
    await page.wait_visible("#call-number-dialog")
    await page.keys("ba", Keys.ENTER)
    await page.wait_text("#call-number-error", "Nhập số thứ tự cần gọi")
    await page.fill("#call-number-input", "A2")
    await page.keys(Keys.ENTER)
    await page.wait_text("#call-number-error", "ký hiệu A")
    assert await page.visible("#call-number-dialog")
    await tv.expect_nothing("TICKET_ANNOUNCEMENT")

    # A number nobody holds: the hub says so, the current ticket stays.
    await page.fill("#call-number-input", "99")
    await page.keys(Keys.ENTER)
    await page.wait_text("#notice", "Không có vé số 99")
    assert hall.hub.queue.counters[1].current.number == 3
    # The buttons are free again after the refusal.
    await page.wait("call next enabled", lambda: page.driver.execute_script(
        "return !document.getElementById('call-next').disabled"))
    assert await page.console_problems() == []
