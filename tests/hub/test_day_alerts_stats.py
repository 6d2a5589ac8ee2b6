"""The day turning at local midnight (injected clock), alerts, statistics and connection events."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from datetime import datetime

import pytest
from support import HallHarness, round_trip, start_hub

from hub.clock import ManualClock
from hub.site_config import AlertThresholds, sample_site


@pytest.fixture
async def clocked_hall(tmp_path, request):
    site = sample_site()
    marker = request.node.get_closest_marker("site")
    if marker is not None:
        site = dataclasses.replace(site, **marker.kwargs)
    start_at = request.node.get_closest_marker("start_at")
    start = datetime(*start_at.args, tzinfo=site.tz) if start_at else datetime(2026, 11, 25, 23, 59, 50, tzinfo=site.tz)
    clock = ManualClock(start)
    hub = await start_hub(tmp_path / "data", site=site, clock=clock)
    harness = HallHarness(hub)
    harness.clock = clock  # type: ignore[attr-defined]
    yield harness
    await harness.close_all()
    await hub.stop()


async def test_numbering_restarts_at_local_midnight(clocked_hall):
    hall, clock = clocked_hall, clocked_hall.clock
    kiosk = await hall.client("kiosk")
    tv = await hall.client("tv")
    for i in range(3):
        await kiosk.send("TICKET_CREATED", {"counter_id": 1, "request_id": f"late-{i}"})
        assert (await kiosk.expect("TICKET_CREATED"))["ticket_number"] == i + 1
    await round_trip(tv)

    clock.advance(seconds=15)  # 00:00:05 in Hà Nội
    # The hub's periodic tick notices the new day without any request: TVs are told the queues emptied.
    update = await tv.expect("QUEUE_UPDATE", where=lambda p: p["counter_id"] == 1)
    assert update["waiting_count"] == 0 and update["next_numbers"] == []

    await kiosk.send("TICKET_CREATED", {"counter_id": 1, "request_id": "early-0"})
    first_of_day = await kiosk.expect("TICKET_CREATED")
    assert first_of_day["ticket_number"] == 1
    assert first_of_day["service_day"] == "2026-11-26"

    with sqlite3.connect(hall.hub.data_dir / "qms.db") as conn:
        days = conn.execute("SELECT service_day, status, COUNT(*) FROM tickets GROUP BY 1, 2 ORDER BY 1").fetchall()
    assert days == [("2026-11-25", "expired", 3), ("2026-11-26", "waiting", 1)]


async def test_a_hub_started_after_midnight_expires_yesterdays_queue(tmp_path):
    site = sample_site()
    clock = ManualClock(datetime(2026, 11, 25, 16, 0, tzinfo=site.tz))
    hub = await start_hub(tmp_path / "data", clock=clock)
    hall = HallHarness(hub)
    kiosk = await hall.client("kiosk")
    await kiosk.send("TICKET_CREATED", {"counter_id": 1, "request_id": "y1"})
    await kiosk.expect("TICKET_CREATED")
    await hall.close_all()
    await hub.stop()

    clock.set(datetime(2026, 11, 26, 7, 30, tzinfo=site.tz))
    hub = await start_hub(tmp_path / "data", clock=clock)
    hall = HallHarness(hub)
    tv = await hall.client("tv")
    assert tv.snapshot["service_day"] == "2026-11-26"
    assert all(c["waiting_count"] == 0 for c in tv.snapshot["counters"])
    kiosk = await hall.client("kiosk")
    # The same request_id on a new day is a new request.
    await kiosk.send("TICKET_CREATED", {"counter_id": 1, "request_id": "y1"})
    assert (await kiosk.expect("TICKET_CREATED"))["ticket_number"] == 1
    await hall.close_all()
    await hub.stop()


@pytest.mark.site(alerts=AlertThresholds(counter_offline_minutes=5, high_queue=2))
@pytest.mark.start_at(2026, 11, 25, 9, 0)
async def test_alerts_for_a_counter_without_officer_and_a_long_queue(clocked_hall):
    hall, clock = clocked_hall, clocked_hall.clock
    admin = await hall.client("admin")
    officer = await hall.client("officer", counter_id=1)
    await admin.send("COUNTER_STATUS_CHANGE", {"counter_id": 3, "status": "paused", "reason": "Nghỉ trưa"})
    await admin.expect("COUNTER_STATUS_UPDATE")
    kiosk = await hall.client("kiosk")

    clock.advance(minutes=5, seconds=1)
    alerted = set()
    for _ in range(len(hall.hub.site.counters) - 2):  # not counter 1 (officer there) nor 3 (paused)
        alert = await admin.expect("SYSTEM_ALERT", where=lambda p: p["alert_type"] == "counter_offline")
        assert alert["severity"] == "warning" and "5 phút" in alert["message"]
        alerted.add(alert["counter_id"])
    assert alerted == {c.id for c in hall.hub.site.counters} - {1, 3}
    await admin.expect_nothing("SYSTEM_ALERT", within=0.3)  # once per episode

    # The officer leaves counter 1: after five minutes more, counter 1 is reported too.
    await officer.close()
    await admin.expect("CLIENT_DISCONNECTED")
    clock.advance(minutes=5, seconds=1)
    alert = await admin.expect("SYSTEM_ALERT", where=lambda p: p["alert_type"] == "counter_offline")
    assert alert["counter_id"] == 1

    for i in range(4):
        await kiosk.send("TICKET_CREATED", {"counter_id": 2, "request_id": f"q{i}"})
        await kiosk.expect("TICKET_CREATED")
    high = await admin.expect("SYSTEM_ALERT", where=lambda p: p["alert_type"] == "high_queue")
    assert high["counter_id"] == 2 and "3 người chờ" in high["message"]
    await admin.expect_nothing("SYSTEM_ALERT", within=0.3)
    # A late admin console sees the alerts in its snapshot.
    late = await hall.client("admin")
    assert {a["alert_type"] for a in late.snapshot["alerts"]} == {"counter_offline", "high_queue"}


@pytest.mark.site(stats_interval=0.5)
async def test_stats_are_throttled_and_end_current(clocked_hall):
    hall, clock = clocked_hall, clocked_hall.clock
    admin = await hall.client("admin")
    assert admin.snapshot["stats"]["total_tickets_today"] == 0
    kiosk = await hall.client("kiosk")
    tv = await hall.client("tv")
    for i in range(6):
        await kiosk.send("TICKET_CREATED", {"counter_id": 2, "request_id": f"s{i}"})
        await kiosk.expect("TICKET_CREATED")
    # The hub's clock has not moved: the first change went out at once, the others wait for the interval.
    stats = [msg["payload"] for msg in await round_trip(admin) if msg["type"] == "STATS_UPDATE"]
    assert [s["total_tickets_today"] for s in stats] == [1], "six tickets in a burst must not make six updates"
    clock.advance(seconds=0.5)
    hall.hub.tick()
    stats = [msg["payload"] for msg in await round_trip(admin) if msg["type"] == "STATS_UPDATE"]
    assert len(stats) == 1 and stats[-1]["total_tickets_today"] == 6
    assert stats[-1]["busiest_counter"] == {"id": 2, "name": hall.hub.site.counter(2).name, "queue_length": 6}
    assert stats[-1]["active_counters"] == len(hall.hub.site.counters)
    # Only admins get them.
    assert not [m for m in await round_trip(tv) if m["type"] == "STATS_UPDATE"]


async def test_admins_see_clients_come_and_go(hall):
    admin = await hall.client("admin")
    kiosk = await hall.client("kiosk", client_id="kiosk-001", location="main-hall")
    connected = await admin.expect("CLIENT_CONNECTED")
    assert connected == {**connected, "client_id": "kiosk-001", "client_type": "kiosk", "location": "main-hall"}
    await kiosk.close()
    gone = await admin.expect("CLIENT_DISCONNECTED")
    assert (gone["client_id"], gone["reason"]) == ("kiosk-001", "manual_disconnect")

    tv = await hall.client("tv", client_id="tv-hall-1")
    await admin.expect("CLIENT_CONNECTED")
    tv.ws.transport.abort()  # the cable pulled: no closing handshake
    gone = await admin.expect("CLIENT_DISCONNECTED")
    assert (gone["client_id"], gone["reason"]) == ("tv-hall-1", "network_error")

    # The same device connecting twice: the newer connection wins, the older is closed.
    first = await hall.client("tv", client_id="tv-hall-2")
    second = await hall.client("tv", client_id="tv-hall-2")
    replaced = await admin.expect("CLIENT_DISCONNECTED", where=lambda p: p["client_id"] == "tv-hall-2")
    assert "replaced" in replaced["detail"]
    await asyncio.wait_for(first.ws.wait_closed(), 5)
    await second.send("PING", {})
    await second.expect("PONG")
    listed = (await hall.client("admin")).snapshot["clients"]
    assert [c["client_id"] for c in listed if c["client_id"] == "tv-hall-2"] == ["tv-hall-2"]


async def test_announcements_reach_only_their_tvs(hall):
    admin = await hall.client("admin")
    hall_tv = await hall.client("tv", client_id="tv-hall-1")
    other_tv = await hall.client("tv", client_id="tv-hall-2")
    kiosk = await hall.client("kiosk")
    await admin.send("ANNOUNCEMENT", {"message": "Thông báo: Hệ thống sẽ bảo trì từ 12:00-13:00", "priority": "high",
                                      "duration": 30, "target_displays": ["tv-hall-1"]})
    seen = await hall_tv.expect("ANNOUNCEMENT")
    assert seen["message"] == "Thông báo: Hệ thống sẽ bảo trì từ 12:00-13:00"
    assert (seen["priority"], seen["duration"], seen["target_displays"]) == ("high", 30, ["tv-hall-1"])
    await admin.expect("ANNOUNCEMENT")
    await other_tv.expect_nothing("ANNOUNCEMENT")
    await kiosk.expect_nothing("ANNOUNCEMENT")
    # Empty target list: every TV.
    await admin.send("ANNOUNCEMENT", {"message": "Xin cảm ơn", "priority": "low", "duration": 5})
    for tv in (hall_tv, other_tv):
        assert (await tv.expect("ANNOUNCEMENT"))["message"] == "Xin cảm ơn"
    # A TV that reconnects while an announcement is still up gets it back in its snapshot.
    again = await hall.client("tv", client_id="tv-hall-1")
    assert [a["message"] for a in again.snapshot["announcements"]] == [
        "Thông báo: Hệ thống sẽ bảo trì từ 12:00-13:00", "Xin cảm ơn"]


async def test_same_request_id_twice_gives_one_ticket(hall):
    kiosk = await hall.client("kiosk", client_id="kiosk-sanh")
    tv = await hall.client("tv")
    payload = {"counter_id": 1, "request_id": "kiosk-001-7f3a"}
    await kiosk.send("TICKET_CREATED", payload)
    await kiosk.send("TICKET_CREATED", payload)  # a retry before the first answer
    first = await kiosk.expect("TICKET_CREATED")
    second = await kiosk.expect("TICKET_CREATED")
    assert first["ticket_id"] == second["ticket_id"] and first["ticket_number"] == second["ticket_number"]
    # Another connection of the same kiosk, after a reconnect.
    await kiosk.close()
    kiosk = await hall.client("kiosk", client_id="kiosk-sanh")
    await kiosk.send("TICKET_CREATED", payload)
    third = await kiosk.expect("TICKET_CREATED")
    assert third["ticket_id"] == first["ticket_id"]
    # A request id is the kiosk's own (PROTOCOL.md Version 2): another kiosk's same id is its own ticket.
    other = await hall.client("kiosk", client_id="kiosk-tang-2")
    await other.send("TICKET_CREATED", payload)
    assert (await other.expect("TICKET_CREATED"))["ticket_id"] != first["ticket_id"]
    # TVs heard of one ticket.
    await round_trip(kiosk)
    await round_trip(other)
    assert len([m for m in await round_trip(tv) if m["type"] == "TICKET_CREATED"]) == 2
    with sqlite3.connect(hall.hub.data_dir / "qms.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM tickets").fetchone()[0] == 2


async def test_token_expiry_follows_the_hub_clock(clocked_hall):
    hall, clock = clocked_hall, clocked_hall.clock
    officer = await hall.client("officer", counter_id=1)
    clock.advance(hours=2)  # the test tokens last an hour
    await officer.send("CALL_TICKET", {"counter_id": 1})
    error = await officer.expect("ERROR")
    assert error["error_code"] == "AUTH_FAILED" and "expired" in error["message"]


async def test_a_registered_officer_cannot_reauthenticate_as_another_counter(hall):
    officer = await hall.client("officer", counter_id=1, username="officer01", user_id=7)
    other = hall.token("officer", counter_id=2, username="officer01", user_id=7)
    await officer.send("AUTH", {"token": other})
    assert (await officer.expect("ERROR"))["error_code"] == "AUTH_FAILED"
    # Renewing the same identity's token is fine.
    renewed = hall.token("officer", counter_id=1, username="officer01", user_id=7)
    await officer.send("AUTH", {"token": renewed})
    await officer.expect("AUTH_OK")
    await officer.send("CALL_TICKET", {"counter_id": 2})
    assert (await officer.expect("ERROR"))["error_code"] == "FORBIDDEN"
    assert hall.hub.snapshot(next(iter(hall.hub.clients.sessions.values()))).payload.counters[0].officer_connected
