"""The citizen's ticket page /t/<code> through the serving lifecycle, in a real headless Chromium: a priority
ticket marked, called, absent when called (no-show: whom to see), back in the line, transferred to another
counter ("Đã chuyển sang quầy ..."), called there, and done. The page polls /api/t/<code> by itself.
"""

from __future__ import annotations

from support.browser import issue


async def test_ticket_page_shows_priority_no_show_transfer_and_done(hall, browser):
    kiosk = await hall.client("kiosk")
    at_1 = await hall.client("officer", counter_id=1)
    at_4 = await hall.client("officer", counter_id=4)
    mine = await issue(kiosk, None, "mine", queue_id=1, priority=True, priority_reason="disability")

    async def act(officer, counter_id: int, action: str, **extra) -> None:
        await officer.send("TICKET_ACTION", {"counter_id": counter_id, "action": action, **extra})
        await officer.expect("TICKET_UPDATED")

    async def call(officer, counter_id: int) -> None:
        await officer.send("CALL_TICKET", {"counter_id": counter_id})
        await officer.expect("CALL_TICKET")

    page = await browser.open(hall, f"/t/{mine['ticket_code']}")
    await page.wait_text("#ticket-status", "Đang chờ")
    assert await page.text("#ticket-tags") == "Ưu tiên · Người khuyết tật"
    assert await page.text("#ticket-counter") == "Quầy 1 · Đất đai"
    assert not await page.visible("#ticket-transfer")

    await call(at_1, 1)
    await page.wait_text("#ticket-status", "Mời bạn đến quầy 1")

    await act(at_1, 1, "no_show")
    await page.wait_text("#ticket-status", "Quý khách đã vắng mặt khi được gọi: xin liên hệ quầy 1")
    assert "Vắng mặt" in await page.text("#ticket-status-title")
    assert await page.text("#ticket-counter") == "Quầy 1 · Văn phòng đăng ký đất đai"
    assert not await page.visible("#ticket-figures")

    # Not final: the counter puts the late citizen back, and the page follows.
    await act(at_1, 1, "return", ticket_number=mine["ticket_number"], queue_id=1)
    await page.wait_text("#ticket-status", "Bạn là người tiếp theo")

    await call(at_1, 1)
    await page.wait_text("#ticket-status", "Mời bạn đến quầy 1")
    await act(at_1, 1, "transfer", to_counter_id=4)
    await page.wait_text("#ticket-transfer", "Đã chuyển sang quầy 4 (Bảo hiểm xã hội). Số của bạn giữ nguyên.")
    await page.wait_text("#ticket-status", "Đang chờ")
    assert await page.text("#ticket-counter") == "Quầy 4 · Bảo hiểm xã hội"
    assert await page.text("#ticket-number") == str(mine["ticket_number"])  # the number is kept

    await call(at_4, 4)
    await page.wait_text("#ticket-status", "Mời bạn đến quầy 4")
    assert not await page.visible("#ticket-transfer")
    await act(at_4, 4, "finish")
    await page.wait_text("#ticket-status", "Đã xong")
    assert await page.text("#ticket-tags") == "Ưu tiên · Người khuyết tật"
    assert await page.console_problems() == []
