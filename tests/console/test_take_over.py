"""One officer per counter, on the officer's page in a real headless Chromium.

A second officer logging in at a busy counter is asked (in Vietnamese, naming the officer there) before
taking it; declining leaves the first one working; accepting closes the first console with code 4001, which
says why and stays closed (no reconnect into a take-over war) until its officer presses «Nhận lại quầy».
"""

from __future__ import annotations

from selenium.webdriver.common.keys import Keys
from support.browser import OFFICER_PASSWORD, add_person, issue, officer_page

from hub.registration import TAKEN_OVER_CODE


def officer_at_counter(hall, counter_id: int) -> str | None:
    session = hall.hub.clients.officer_at(counter_id)
    return session.client_id if session is not None else None


async def console_id(page) -> str:
    """The client id this page registers with (officer-c<counter>-<tab>)."""
    stored = await page.js("return JSON.parse(sessionStorage.getItem('qms.console.officer')).tab")
    return f"officer-c1-{stored}"


async def test_a_second_officer_is_asked_and_the_one_taken_over_stays_closed(hall, browser):
    assert TAKEN_OVER_CODE == 4001  # what hub-session.js knows as TAKEN_OVER_CODE
    kiosk = await hall.client("kiosk")
    await issue(kiosk, 1, "waiting")
    first = await officer_page(browser, hall)  # canbo1, Nguyễn Thị Lan, at counter 1
    first_id = await console_id(first)
    assert officer_at_counter(hall, 1) == first_id

    await add_person(hall, "canbo1b", OFFICER_PASSWORD, "officer", 1, "Trần Văn Hùng")
    second = await browser.open(hall, "/officer")
    await second.login("canbo1b", OFFICER_PASSWORD)
    await second.wait_visible("#busy-dialog")
    assert await second.text("#busy-text") == "Quầy 1 đang có cán bộ Nguyễn Thị Lan làm việc. Nhận quầy?"
    second_id = await console_id(second)

    # Esc: not taken. The second page says why it is not working; the first keeps the counter.
    await second.keys(Keys.ESCAPE)
    await second.wait_visible("#held")
    assert "Chưa nhận quầy" in await second.text("#held")
    assert "Nguyễn Thị Lan" in await second.text("#held-text")
    await second.wait_text("#connection-status", "Chưa kết nối")
    assert not await second.visible("#officer-work")
    assert officer_at_counter(hall, 1) == first_id
    assert await first.text("#connection-status") == "Đã kết nối"

    # «Nhận quầy» (focused: Enter): the second takes the counter, the first console is closed with 4001.
    assert await second.js("return document.activeElement.id") == "held-take"
    await second.keys(Keys.ENTER)
    await second.wait_text("#connection-status", "Đã kết nối")
    await second.wait_visible("#officer-work")
    assert officer_at_counter(hall, 1) == second_id

    await first.wait_visible("#held")
    assert "Quầy đã được cán bộ khác nhận" in await first.text("#held-title")
    assert "không tự kết nối lại" in await first.text("#held-text")
    assert await first.text("#held-take") == "Nhận lại quầy"
    assert not await first.visible("#officer-work")
    # Closed, not reconnecting: no "connection lost, reconnecting in 5 s" (that is when a retry is scheduled).
    assert await first.text("#connection-status") == "Chưa kết nối"
    assert not await first.visible("#connection-banner")
    # Keys do nothing on a console that is not at its counter; Space out of habit, even on the focused
    # «Nhận lại quầy», does not take the counter back (taking it back hides the panel at once).
    await first.keys(Keys.SPACE, "f", "n")
    await first.js("document.getElementById('held-take').focus()")
    await first.keys(Keys.SPACE)
    assert await first.visible("#held")
    assert officer_at_counter(hall, 1) == second_id

    # The first officer asks for the counter back: the roles swap.
    await first.click("#held-take")
    await first.wait_text("#connection-status", "Đã kết nối")
    await first.wait_visible("#held", visible=False)
    assert officer_at_counter(hall, 1) == first_id
    await second.wait_visible("#held")
    assert "Quầy đã được cán bộ khác nhận" in await second.text("#held-title")
    assert await second.text("#connection-status") == "Chưa kết nối"

    # A reload of the console that lost the counter asks again rather than taking it back.
    await second.reload()
    await second.wait_visible("#busy-dialog")
    assert "Nguyễn Thị Lan" in await second.text("#busy-text")
    await second.click("#busy-cancel")
    await second.wait_visible("#held")
    assert officer_at_counter(hall, 1) == first_id
    # Nobody was called by the Space pressed on the closed console.
    assert hall.hub.queue.counters[1].current is None
    assert [t.number for t in hall.hub.queue.waiting_tickets(1)] == [1]
    for page in (first, second):
        assert await page.console_problems(allow=("WebSocket",)) == []
