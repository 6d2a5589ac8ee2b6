"""The clock going back and forth (a Raspberry Pi has no real-time clock): the hall's day and order hold.

The hub's clock is a ManualClock: ``advance`` is time passing, ``step`` is the
wall clock being set (NTP, or a Pi booting with the last time it saved)
while the monotonic clock goes on.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import datetime

import pytest
from support import HubRig, round_trip

from hub.clock import ManualClock
from hub.site_config import sample_site

TZ = sample_site().tz


async def issue(kiosk, request_id: str, queue_id: int = 1) -> dict:
    await kiosk.send("TICKET_CREATED", {"queue_id": queue_id, "request_id": request_id})
    return await kiosk.expect("TICKET_CREATED", where=lambda p: p.get("request_id") == request_id)


@pytest.fixture
async def rig(tmp_path):
    rig = HubRig(tmp_path / "data")
    yield rig
    await rig.close_hubs()


async def test_a_hub_that_boots_with_yesterdays_time_keeps_todays_service_day(rig):
    morning = ManualClock(datetime(2026, 11, 25, 8, 0, tzinfo=TZ))
    hub = await rig.start_hub(clock=morning)
    kiosk = await rig.harness(hub).client("kiosk", client_id="kiosk-sanh")
    first = await issue(kiosk, "sang-1")
    await issue(kiosk, "sang-2")
    await rig.stop_hub(hub)

    # A power cut; the Pi comes back with the time it had the evening before (no RTC, NTP not yet answered).
    stale = ManualClock(datetime(2026, 11, 24, 21, 0, tzinfo=TZ))
    hub = await rig.start_hub(clock=stale)
    assert hub.queue.service_day.isoformat() == "2026-11-25", "never back to an earlier day"
    hall = rig.harness(hub)
    kiosk = await hall.client("kiosk", client_id="kiosk-sanh")
    again = await issue(kiosk, "sang-1")  # a retry of the morning's request: the same ticket
    assert again["ticket_id"] == first["ticket_id"]
    assert (await issue(kiosk, "sang-3"))["ticket_number"] == 3, "numbering goes on, nothing is given twice"
    officer = await hall.client("officer", counter_id=1)
    await officer.send("CALL_TICKET", {"counter_id": 1})
    assert (await officer.expect("CALL_TICKET"))["ticket_number"] == 1, "the morning's tickets are called"

    # NTP answers: the clock jumps to the right time, later the same day. Nothing turns.
    stale.step(hours=12)
    hub.tick()
    await round_trip(officer)
    assert hub.queue.service_day.isoformat() == "2026-11-25" and len(hub.queue.tickets) == 3


async def test_the_queue_keeps_its_order_when_the_clock_steps_back_between_tickets(rig):
    clock = ManualClock(datetime(2026, 11, 25, 9, 0, tzinfo=TZ))
    hub = await rig.start_hub(clock=clock)
    kiosk = await rig.harness(hub).client("kiosk")
    first = await issue(kiosk, "a")
    clock.step(minutes=-10)
    second = await issue(kiosk, "b")
    assert second["created_at"] < first["created_at"]
    await rig.stop_hub(hub)
    hub = await rig.start_hub(clock=clock)
    assert [t.number for t in hub.queue.waiting_tickets(1)] == [first["ticket_number"], second["ticket_number"]]


async def test_a_clock_put_right_across_midnight_carries_the_days_tickets_over(rig):
    # A new hall's Pi starts with a wrong date (yesterday) and no history to know better.
    clock = ManualClock(datetime(2026, 11, 24, 15, 0, tzinfo=TZ))
    hub = await rig.start_hub(clock=clock)
    hall = rig.harness(hub)
    kiosk = await hall.client("kiosk", client_id="kiosk-sanh")
    for i in range(3):
        await issue(kiosk, f"t{i}")
    officer = await hall.client("officer", counter_id=1)
    await officer.send("CALL_TICKET", {"counter_id": 1})
    await officer.expect("CALL_TICKET")
    await round_trip(officer)
    hub.tick()  # the hub looks at its clocks

    clock.step(days=1)  # NTP: it is really the 25th
    hub.tick()
    update = await officer.expect("QUEUE_UPDATE", where=lambda p: p["counter_id"] == 1)
    assert hub.queue.service_day.isoformat() == "2026-11-25"
    assert update["current_number"] == 1 and update["waiting_count"] == 2, "carried over, not expired"
    kiosk = await hall.client("kiosk", client_id="kiosk-sanh")
    assert (await issue(kiosk, "t9"))["ticket_number"] == 4
    with closing(sqlite3.connect(hub.data_dir / "qms.db")) as conn:
        assert {day for (day,) in conn.execute("SELECT DISTINCT service_day FROM tickets")} == {"2026-11-25"}

    # A real midnight later (time passing, both clocks move): the day turns and what is open expires.
    await round_trip(officer)
    clock.advance(hours=24)
    hub.tick()
    await officer.expect("QUEUE_UPDATE", where=lambda p: p["counter_id"] == 1 and p["waiting_count"] == 0)
    assert hub.queue.service_day.isoformat() == "2026-11-26" and hub.queue.tickets == {}
