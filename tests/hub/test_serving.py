"""The serving lifecycle on a real hub (PROTOCOL.md Version 2): shared queues, priority, finish, no-show,
transfer, return, one officer per counter, and the current ticket across a restart.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import urllib.request
from contextlib import closing
from datetime import timedelta

import pytest
from support import HallHarness, HubRig, round_trip
from websockets.exceptions import ConnectionClosed

from hub.registration import TAKEN_OVER_CODE


async def issue(kiosk, request_id: str, **payload) -> dict:
    await kiosk.send("TICKET_CREATED", {"request_id": request_id, **payload})
    return await kiosk.expect("TICKET_CREATED", where=lambda p: p.get("request_id") == request_id)


def db_rows(hall: HallHarness, sql: str, *args) -> list[tuple]:
    with closing(sqlite3.connect(hall.hub.data_dir / "qms.db")) as conn:
        return conn.execute(sql, args).fetchall()


@pytest.fixture
async def rig(tmp_path):
    rig = HubRig(tmp_path / "data")
    yield rig
    await rig.close_hubs()


async def test_two_counters_calling_at_the_same_instant_never_get_the_same_ticket(hall):
    kiosk = await hall.client("kiosk")
    for i in range(10):
        await issue(kiosk, f"r{i}", queue_id=2)
    at_2 = await hall.client("officer", counter_id=2)
    at_5 = await hall.client("officer", counter_id=5)
    called: dict[int, list[int]] = {2: [], 5: []}
    for _ in range(5):
        # Both frames are on the wire before either is answered.
        await asyncio.gather(at_2.send("CALL_TICKET", {"counter_id": 2}), at_5.send("CALL_TICKET", {"counter_id": 5}))
        for officer, counter_id in ((at_2, 2), (at_5, 5)):
            call = await officer.expect("CALL_TICKET", where=lambda p, c=counter_id: p["counter_id"] == c)
            called[counter_id].append(call["ticket_number"])
    everyone = called[2] + called[5]
    assert sorted(everyone) == list(range(2001, 2011)), called
    assert len(set(everyone)) == 10
    stored = db_rows(hall, "SELECT counter_id, COUNT(*) FROM tickets WHERE status IN ('called', 'done') "
                           "GROUP BY counter_id")
    assert dict(stored) == {2: 5, 5: 5}


async def test_priority_citizens_go_first_and_their_tickets_say_so(hall):
    kiosk = await hall.client("kiosk")
    normal = await issue(kiosk, "n1", procedure_id=101)
    elderly = await issue(kiosk, "p1", procedure_id=101, priority=True, priority_reason="elderly")
    assert elderly["priority"] is True and elderly["priority_reason"] == "elderly"
    assert elderly["people_ahead"] == 0 and normal["people_ahead"] == 0
    officer = await hall.client("officer", counter_id=1)
    await officer.send("CALL_TICKET", {"counter_id": 1})
    call = await officer.expect("CALL_TICKET")
    assert call["ticket_number"] == elderly["ticket_number"] and call["priority"] is True
    assert db_rows(hall, "SELECT priority, priority_reason FROM tickets WHERE ticket_id = ?",
                   elderly["ticket_id"]) == [(1, "elderly")]


async def test_finish_no_show_transfer_and_return_are_durable_audited_and_told(hall):
    kiosk = await hall.client("kiosk")
    tv = await hall.client("tv")
    admin = await hall.client("admin")
    officer = await hall.client("officer", counter_id=1, username="canbo1")
    for i in range(4):
        await issue(kiosk, f"t{i}", queue_id=1)

    async def act(action: str, **extra) -> dict:
        await officer.send("TICKET_ACTION", {"counter_id": 1, "action": action, **extra})
        return await officer.expect("TICKET_UPDATED", where=lambda p: p["action"] == action)

    await officer.send("CALL_TICKET", {"counter_id": 1})
    await officer.expect("CALL_TICKET")
    finished = await act("finish")
    assert (finished["ticket_number"], finished["status"], finished["by"]) == (1, "done", "canbo1")

    await officer.send("CALL_TICKET", {"counter_id": 1})
    await officer.expect("CALL_TICKET")
    absent = await act("no_show")
    assert (absent["ticket_number"], absent["status"]) == (2, "no_show")

    await officer.send("CALL_TICKET", {"counter_id": 1})
    await officer.expect("CALL_TICKET")
    moved = await act("transfer", to_counter_id=4, note="Cần làm thủ tục bảo hiểm")
    assert (moved["ticket_number"], moved["status"], moved["queue_id"]) == (3, "waiting", 4)
    assert (moved["from_queue_id"], moved["from_counter_id"], moved["to_counter_id"]) == (1, 1, 4)

    back = await act("return", ticket_number=2)
    assert (back["ticket_number"], back["status"]) == (2, "waiting")
    # The late citizen is first in line again; the TV saw every step.
    assert hall.hub.queue.queue_view(1).next_numbers[:2] == [2, 4]
    heard = [(m["payload"]["ticket_number"], m["payload"]["action"]) for m in await round_trip(tv)
             if m["type"] == "TICKET_UPDATED"]
    assert heard == [(1, "finish"), (2, "no_show"), (3, "transfer"), (2, "return")]
    assert [m for m in await round_trip(admin) if m["type"] == "TICKET_UPDATED"]

    statuses = dict(db_rows(hall, "SELECT number, status FROM tickets WHERE service_day = ?",
                            hall.hub.queue.service_day.isoformat()))
    assert statuses == {1: "done", 2: "waiting", 3: "waiting", 4: "waiting"}
    assert db_rows(hall, "SELECT queue_id, transfers FROM tickets WHERE number = 3") == [(4, 1)]
    kinds = [k for (k,) in db_rows(hall, "SELECT kind FROM events WHERE ticket_id = (SELECT ticket_id FROM tickets "
                                         "WHERE number = 2) ORDER BY event_id")]
    assert kinds == ["ticket.issued", "ticket.called", "ticket.no_show", "ticket.returned"]
    audited = [a for (a,) in db_rows(hall, "SELECT action FROM audit WHERE action LIKE 'ticket.%' ORDER BY audit_id")]
    assert {"ticket.finish", "ticket.no_show", "ticket.transfer", "ticket.return"} <= set(audited)


async def test_an_action_that_does_not_apply_changes_nothing(hall):
    officer = await hall.client("officer", counter_id=1)
    await officer.send("TICKET_ACTION", {"counter_id": 1, "action": "finish"})
    assert (await officer.expect("ERROR"))["error_code"] == "TICKET_NOT_FOUND"
    await officer.send("TICKET_ACTION", {"counter_id": 1, "action": "transfer"})
    assert (await officer.expect("ERROR"))["error_code"] == "INVALID_MESSAGE"
    await officer.send("TICKET_ACTION", {"counter_id": 2, "action": "finish"})
    assert (await officer.expect("ERROR"))["error_code"] == "FORBIDDEN"


async def test_the_last_ticket_of_the_day_can_be_closed(hall):
    """Calling with nobody waiting closes the current ticket: it no longer stays 'being served' forever."""
    kiosk = await hall.client("kiosk")
    tv = await hall.client("tv")
    ticket = await issue(kiosk, "last", queue_id=4)
    officer = await hall.client("officer", counter_id=4)
    await officer.send("CALL_TICKET", {"counter_id": 4})
    await officer.expect("CALL_TICKET")
    await round_trip(tv)
    await officer.send("CALL_TICKET", {"counter_id": 4})
    assert (await officer.expect("ERROR"))["error_code"] == "QUEUE_EMPTY"
    closed = await tv.expect("TICKET_UPDATED")
    assert (closed["ticket_id"], closed["status"]) == (ticket["ticket_id"], "done")
    update = await tv.expect("QUEUE_UPDATE", where=lambda p: p["counter_id"] == 4)
    assert update["current_number"] is None
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    # The hub serves on this test's event loop: the blocking request runs in a thread.
    page = json.loads(await asyncio.to_thread(
        lambda: opener.open(f"http://127.0.0.1:{hall.hub.port}/api/t/{ticket['ticket_code']}", timeout=5).read()))
    assert page["status"] == "done" and page["status_text"] == "Đã xong"


async def test_one_officer_per_counter_unless_taking_over(hall):
    first = await hall.client("officer", counter_id=1, username="canbo1", full_name="Nguyễn Thị Lan")
    token = hall.token("officer", counter_id=1, username="canbo2")
    second = await hall.raw()
    await second.send("AUTH", {"token": token})
    await second.expect("AUTH_OK")
    await second.send("REGISTER_CLIENT", {"client_type": "officer", "client_id": "officer-canbo2"})
    busy = await second.expect("ERROR")
    assert busy["error_code"] == "COUNTER_BUSY" and "Nguyễn Thị Lan" in busy["message"]
    assert "officer-canbo2" not in hall.hub.clients.by_id
    await second.send("REGISTER_CLIENT", {"client_type": "officer", "client_id": "officer-canbo2", "take_over": True})
    await second.expect("CONNECTION_ACK")
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await first.ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == TAKEN_OVER_CODE
    assert "Quầy đã được cán bộ khác nhận" in closed.value.rcvd.reason
    assert hall.hub.clients.officer_at(1).client_id == "officer-canbo2"


async def test_the_current_ticket_survives_a_restart(rig):
    hub = await rig.start_hub()
    hall = rig.harness(hub)
    kiosk = await hall.client("kiosk")
    await issue(kiosk, "a", queue_id=2)
    await issue(kiosk, "b", queue_id=2)
    officer = await hall.client("officer", counter_id=5)
    await officer.send("CALL_TICKET", {"counter_id": 5})
    await officer.expect("CALL_TICKET")
    await rig.stop_hub(hub)
    again = await rig.start_hub()
    tv = await rig.harness(again).client("tv")
    counter = next(c for c in tv.snapshot["counters"] if c["counter_id"] == 5)
    assert counter["current_ticket"]["ticket_number"] == 2001 and counter["current_number"] == 2001
    officer = await rig.harness(again).client("officer", counter_id=5)
    await officer.send("TICKET_ACTION", {"counter_id": 5, "action": "finish"})
    assert (await officer.expect("TICKET_UPDATED"))["ticket_number"] == 2001


async def test_a_day_of_tickets_is_listed_from_the_database(rig):
    from datetime import datetime

    from hub.clock import ManualClock

    clock = ManualClock(datetime(2026, 11, 24, 3, 0).astimezone())
    hub = await rig.start_hub(clock=clock)
    hall = rig.harness(hub)
    kiosk = await hall.client("kiosk")
    await issue(kiosk, "yesterday", queue_id=3)
    clock.advance(days=1)
    hub.tick()
    kiosk = await hall.client("kiosk")  # the first one's token (an hour long) has expired
    await issue(kiosk, "today", queue_id=3)
    token = hall.token("admin")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    async def listing(query: str) -> dict:
        request = urllib.request.Request(f"http://127.0.0.1:{hub.port}/api/tickets{query}",
                                         headers={"Authorization": f"Bearer {token}"})
        # The hub serves on this test's event loop: the blocking request runs in a thread.
        return json.loads(await asyncio.to_thread(lambda: opener.open(request, timeout=5).read()))

    day_before = (hub.queue.service_day - timedelta(days=1)).isoformat()
    old = await listing(f"?date={day_before}")
    assert old["service_day"] == day_before and [t["status"] for t in old["tickets"]] == ["expired"]
    assert old["tickets"][0]["queue_id"] == 3 and old["tickets"][0]["ticket_number"] == 3001
    assert [t["ticket_number"] for t in (await listing(""))["tickets"]] == [3001]
    with pytest.raises(urllib.error.HTTPError) as refused:
        await listing("?date=25-11-2026")
    assert refused.value.code == 400
    # The error holds its connection open until it is collected; the hub's stop would wait its close timeout.
    refused.value.close()


async def test_a_tv_hears_the_announcement_of_a_call_first_and_only_once_the_call_is_on_disk(hall):
    kiosk = await hall.client("kiosk")
    tv = await hall.client("tv")
    officer = await hall.client("officer", counter_id=1)
    ticket = await issue(kiosk, "a1", queue_id=1)
    await round_trip(tv)
    heard_before = len(tv.received)
    await officer.send("CALL_TICKET", {"counter_id": 1})
    announced = await tv.expect("TICKET_ANNOUNCEMENT")
    # The announcement is the first thing the TV hears of the call, and by then the call is durable.
    assert db_rows(hall, "SELECT status, counter_id FROM tickets WHERE ticket_id = ?", ticket["ticket_id"]) == [
        ("called", 1)]
    await round_trip(tv)
    heard = [message["type"] for message in tv.received[heard_before:] if message["type"] != "PONG"]
    assert heard[0] == "TICKET_ANNOUNCEMENT" and announced["ticket_number"] == ticket["ticket_number"]
    assert {"CALL_TICKET", "QUEUE_UPDATE"} <= set(heard[1:]), heard
