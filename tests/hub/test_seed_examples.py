"""The seed's three usage examples, end to end on a real hub with real clients."""

from __future__ import annotations

import dataclasses

from support import HallHarness, round_trip, start_hub

from hub.site_config import sample_site


async def test_admin_pauses_a_counter(hall):
    admin = await hall.client("admin")
    kiosk = await hall.client("kiosk")
    tv = await hall.client("tv")

    await admin.send("COUNTER_STATUS_CHANGE", {
        "counter_id": 1, "status": "paused", "reason": "Đi họp",
        # A seed console sends these too; the hub records who from the token.
        "changed_by": {"user_id": 123, "username": "someone-else", "role": "admin"},
        "timestamp": "2025-07-19T10:30:00Z",
    })
    for client in (admin, kiosk, tv):
        update = await client.expect("COUNTER_STATUS_UPDATE")
        assert update["counter_id"] == 1
        assert update["status"] == "paused"
        assert update["reason"] == "Đi họp"
        assert update["counter_name"] == "Văn phòng đăng ký đất đai"
        assert update["changed_by"] != "someone-else"
        assert update["affected_tickets"] == 0

    # The kiosk cannot get a ticket there while it is paused; nothing changes.
    await kiosk.send("TICKET_CREATED", {"counter_id": 1, "request_id": "r-paused"})
    error = await kiosk.expect("ERROR")
    assert error["error_code"] == "COUNTER_PAUSED"
    assert hall.hub.queue.queue_view(1).waiting_count == 0

    # A TV that connects now sees the pause in its snapshot.
    late_tv = await hall.client("tv")
    counter = next(c for c in late_tv.snapshot["counters"] if c["counter_id"] == 1)
    assert counter["status"] == "paused" and counter["reason"] == "Đi họp"

    await admin.send("COUNTER_STATUS_CHANGE", {"counter_id": 1, "status": "active"})
    resumed = await tv.expect("COUNTER_STATUS_UPDATE")
    assert resumed["status"] == "active" and resumed["reason"] == ""


async def test_pause_counts_affected_tickets(hall):
    kiosk = await hall.client("kiosk")
    officer = await hall.client("officer", counter_id=1)
    for i in range(3):
        await kiosk.send("TICKET_CREATED", {"counter_id": 1, "request_id": f"r{i}"})
        await kiosk.expect("TICKET_CREATED")
    await officer.send("COUNTER_STATUS_CHANGE", {"counter_id": 1, "status": "paused", "reason": "Nghỉ trưa"})
    update = await officer.expect("COUNTER_STATUS_UPDATE")
    assert update["affected_tickets"] == 3
    # Waiting tickets stay.
    assert hall.hub.queue.queue_view(1).waiting_count == 3


async def test_customer_gets_a_ticket(hall):
    kiosk = await hall.client("kiosk")
    tv = await hall.client("tv")
    admin = await hall.client("admin")

    await kiosk.send("TICKET_CREATED", {"counter_id": 1, "request_id": "kiosk-001-0001"})
    mine = await kiosk.expect("TICKET_CREATED")
    assert mine["request_id"] == "kiosk-001-0001"
    assert mine["ticket_number"] == 1
    assert mine["counter_name"] == "Văn phòng đăng ký đất đai"
    assert mine["procedure_name"] == "Đăng ký đất đai, tài sản gắn liền với đất"
    assert mine["created_at"].endswith("Z")
    assert mine["estimated_wait_time"] == 0
    assert mine["ticket_code"]

    for client in (tv, admin):
        seen = await client.expect("TICKET_CREATED")
        assert seen["ticket_id"] == mine["ticket_id"]
        assert seen["ticket_number"] == 1
        assert seen["request_id"] is None and seen["ticket_code"] is None  # the kiosk's alone
        update = await client.expect("QUEUE_UPDATE", where=lambda p: p["counter_id"] == 1)
        assert update["waiting_count"] == 1
        assert update["next_numbers"] == [1]
        assert update["current_number"] is None

    # A second ticket waits behind the first: a default service time each.
    await kiosk.send("TICKET_CREATED", {"procedure_id": 101, "request_id": "kiosk-001-0002"})
    second = await kiosk.expect("TICKET_CREATED")
    assert second["ticket_number"] == 2
    assert second["people_ahead"] == 1
    assert second["estimated_wait_time"] == 5


async def test_officer_calls_next(hall):
    kiosk = await hall.client("kiosk")
    tv = await hall.client("tv")
    officer = await hall.client("officer", counter_id=1, full_name="Nguyễn Văn A", username="officer01")
    await kiosk.send("TICKET_CREATED", {"counter_id": 1, "request_id": "a"})
    await kiosk.expect("TICKET_CREATED")
    await kiosk.send("TICKET_CREATED", {"counter_id": 1, "request_id": "b"})
    await kiosk.expect("TICKET_CREATED")
    await round_trip(tv)

    await officer.send("CALL_TICKET", {"counter_id": 1})
    call = await tv.expect("CALL_TICKET")
    assert call["ticket_number"] == 1
    assert call["counter_name"] == "Văn phòng đăng ký đất đai"
    assert call["called_by"] == {"user_id": call["called_by"]["user_id"], "username": "officer01",
                                 "full_name": "Nguyễn Văn A"}
    announcement = await tv.expect("TICKET_ANNOUNCEMENT")
    # PROTOCOL.md Version 2's default template names the counter by number.
    assert announcement["announcement_text"] == "Mời khách hàng số 1 đến quầy số 1"
    assert announcement["display_duration"] == 10
    update = await tv.expect("QUEUE_UPDATE", where=lambda p: p["counter_id"] == 1)
    assert update["current_number"] == 1 and update["waiting_count"] == 1 and update["next_numbers"] == [2]
    # The officer hears back about the call.
    assert (await officer.expect("CALL_TICKET"))["ticket_number"] == 1

    # Recall the same number: announced again, nothing moves.
    await officer.send("CALL_TICKET", {"counter_id": 1, "ticket_number": 1})
    again = await tv.expect("CALL_TICKET")
    assert again["ticket_number"] == 1 and again["recall"] is True
    await tv.expect("TICKET_ANNOUNCEMENT")

    # Next: ticket 1 is closed, 2 is served; then the queue is empty.
    await officer.send("CALL_TICKET", {"counter_id": 1})
    assert (await tv.expect("CALL_TICKET"))["ticket_number"] == 2
    await officer.send("CALL_TICKET", {"counter_id": 1})
    error = await officer.expect("ERROR")
    assert error["error_code"] == "QUEUE_EMPTY"
    assert error["message_type"] == "CALL_TICKET"
    # Version 2: the current ticket is closed all the same, so none stays "being served" forever.
    assert hall.hub.queue.queue_view(1).current_number is None
    assert hall.hub.queue.ticket_by_number(2).status == "done"


async def test_ping_pong_and_state_on_register(hall):
    tv = await hall.client("tv")
    await tv.send("PING", {"timestamp": "2025-07-19T10:30:00Z"})
    assert (await tv.expect("PONG"))["timestamp"] == "2025-07-19T10:30:00Z"
    assert tv.ack["server_time"].endswith("Z")
    names = {c["counter_name"] for c in tv.snapshot["counters"]}
    assert "Văn phòng đăng ký đất đai" in names and len(names) >= 3
    assert all(c["procedures"] for c in tv.snapshot["counters"])


async def test_a_ticket_is_announced_before_any_call_of_it(tmp_path):
    """A call that reaches the hub while its ticket is still being saved is told to the TVs after the ticket."""
    # Twenty tickets in a row from one kiosk: past what a real kiosk takes (hub.ticket_limit), lifted here.
    site = sample_site()
    site = dataclasses.replace(site, rate_limit=dataclasses.replace(site.rate_limit, ticket_burst=100))
    hall = HallHarness(await start_hub(tmp_path / "data", site=site))
    try:
        await _tickets_and_calls_race(hall)
    finally:
        await hall.close_all()
        await hall.hub.stop()


async def _tickets_and_calls_race(hall: HallHarness) -> None:
    kiosk = await hall.client("kiosk")
    officer = await hall.client("officer", counter_id=1)
    tv = await hall.client("tv")
    for i in range(20):
        await kiosk.send("TICKET_CREATED", {"counter_id": 1, "request_id": f"race-{i}"})
        await officer.send("CALL_TICKET", {"counter_id": 1})
        await kiosk.expect("TICKET_CREATED")
    # Once the officer's and the kiosk's probes are answered, every call and ticket was sent to the TV.
    await round_trip(officer)
    await round_trip(kiosk)
    heard = await round_trip(tv)
    seen: set[int] = set()
    calls = 0
    for message in heard:
        if message["type"] == "TICKET_CREATED":
            seen.add(message["payload"]["ticket_number"])
        elif message["type"] == "CALL_TICKET":
            calls += 1
            assert message["payload"]["ticket_number"] in seen, "CALL_TICKET before its TICKET_CREATED"
    assert calls > 0
