"""The admin page's view of the hall's queues in a real headless Chromium: each queue's waiting and priority
counts and the counters serving it (own and backup), each counter's current ticket and officer, and every
TICKET_UPDATED (no-show, transfer with its note, finish) as it happens, also in the day's ticket list.
"""

from __future__ import annotations

from dataclasses import replace

from support import HallHarness, free_port, start_hub
from support.browser import admin_page, hall_with, issue

from hub.site_config import CentralConfig, sample_site


async def test_admin_sees_queues_counters_and_ticket_events_live(hall, browser):
    kiosk = await hall.client("kiosk")
    officer = await hall.client("officer", counter_id=2, username="canbo2", full_name="Phạm Văn Đức",
                                location="counter-2")
    await issue(kiosk, None, "n", queue_id=2)
    await issue(kiosk, None, "p", queue_id=2, priority=True, priority_reason="pregnant")
    page = await admin_page(browser, hall)

    # Queue 2: two waiting, one of them priority; served by counters 2 and 5, backed up by counter 3.
    row = "#queues [data-queue-id='2']"
    await page.wait_text(row, "Tư pháp - Hộ tịch")
    assert await page.text(f"{row} .queue-waiting") == "2"
    assert await page.text(f"{row} .queue-priority") == "1"
    assert await page.text(f"{row} .queue-counters") == "Quầy 2, 5"
    assert await page.text(f"{row} .queue-backups") == "Quầy 3"
    assert await page.text("#queues [data-queue-id='1'] .queue-backups") == "—"
    # Counter 3 serves its own queue and backs up queue 2; counter 2 has its officer, by name.
    assert "Hàng: Đăng ký kinh doanh · dự phòng: Tư pháp - Hộ tịch" in await page.text(
        "[data-counter-id='3'] .counter-queues")
    # The admin knows the staff: the officer's full name (citizens see it on a counter display only where
    # the site says so, counter_display_shows_officer).
    assert await page.text("[data-counter-id='2'] .officer-presence") == "Có cán bộ: Phạm Văn Đức"
    await page.wait_text("#ticket-events", "Chưa có vé nào được xử lý")

    # The officer calls: the priority citizen, shown as the counter's current ticket.
    await officer.send("CALL_TICKET", {"counter_id": 2})
    assert (await officer.expect("CALL_TICKET"))["ticket_number"] == 2002
    await page.wait_text("[data-counter-id='2'] .figure-current", "2002")
    await page.wait_text("[data-counter-id='2'] .counter-figures", "Ưu tiên")
    # Who called is who works there: the full name, from the call.
    await page.wait_text("[data-counter-id='2'] .officer-presence", "Có cán bộ: Phạm Văn Đức")
    await page.wait_text(f"{row} .queue-priority", "0")
    await page.wait_text(f"{row} .queue-waiting", "1")

    # A no-show, then a transfer with a note: each in the events as it happens, and in the day's list.
    await officer.send("TICKET_ACTION", {"counter_id": 2, "action": "no_show"})
    await officer.expect("TICKET_UPDATED")
    await page.wait_text("#ticket-events", "Vắng mặt Số 2002 · Tư pháp - Hộ tịch")
    assert "Quầy 2 · canbo2" in await page.text("#ticket-events .feed-meta")
    await page.wait_text("[data-counter-id='2'] .figure-current", "—")
    await page.wait_text("#tickets", "Vắng mặt")

    await officer.send("CALL_TICKET", {"counter_id": 2})
    await officer.expect("CALL_TICKET")
    await officer.send("TICKET_ACTION", {"counter_id": 2, "action": "transfer", "to_counter_id": 4,
                                         "note": "Hỏi về bảo hiểm"})
    await officer.expect("TICKET_UPDATED")
    await page.wait_text("#ticket-events", "Số 2001 chuyển từ quầy 2 sang quầy 4")
    first_event = await page.text("#ticket-events .ticket-event:first-child")
    assert "Chuyển" in first_event and "Ghi chú: Hỏi về bảo hiểm" in first_event
    await page.wait_text("#queues [data-queue-id='4'] .queue-waiting", "1")
    await page.wait_text("#ticket-event-count", "2")
    await page.wait_text("#tickets", "chuyển 1 lần")
    # The day's list names the queue each ticket is in now, and marks the priority citizen.
    assert "Ưu tiên · Phụ nữ mang thai" in await page.text("#tickets")
    assert "Bảo hiểm xã hội" in await page.text("#tickets")
    assert await page.console_problems() == []


async def test_admin_sees_the_shipping_to_the_province_and_its_trouble(tmp_path, browser):
    # A hall whose province server cannot be reached (nothing listens there): its events wait to be sent.
    central = CentralConfig(enabled=True, url=f"postgresql://qms_site_x@127.0.0.1:{free_port()}/province")
    hub = await start_hub(tmp_path / "shipping", site=replace(sample_site(), site_id="hall-x", central=central),
                          shipping_poll=0.05, shipping_retry=(0.1,))
    hall = HallHarness(hub)
    plain = await hall_with(tmp_path / "plain")
    try:
        page = await admin_page(browser, hall)
        kiosk = await hall.client("kiosk")
        await issue(kiosk, 1, "shipped-later")
        await page.wait_text("#central-status", "sự kiện chờ gửi")
        text = await page.text("#central-status")
        assert text.startswith("Gửi dữ liệu về máy chủ tỉnh: ") and "Lỗi: OperationalError" in text, text
        assert await page.js("return document.getElementById('central-status').dataset.kind") == "late"
        # A hall that ships nowhere shows nothing of it.
        other = await admin_page(browser, plain, username="quantri2")
        assert not await other.visible("#central-status")
    finally:
        for each in (hall, plain):
            await each.close_all()
            await each.hub.stop()
