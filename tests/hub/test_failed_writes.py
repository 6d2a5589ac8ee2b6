"""A state change is all or nothing: when the database refuses a write, memory and every screen stay as they were.

The disk fault is injected the way a full disk shows itself to SQLite: a
trigger makes the write fail with "database or disk is full". The hub must
answer INTERNAL_ERROR, tell admins, send nothing else to anyone, and after the
fault is gone carry out the very same request as if the first had never been
tried (the same ticket is called, the same number issued).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest
from support import HallHarness, hub_fingerprint, round_trip

FULL_DISK = "SELECT RAISE(ABORT, 'database or disk is full (injected)')"


def inject(hall: HallHarness, name: str, event: str) -> None:
    with closing(sqlite3.connect(hall.hub.data_dir / "qms.db")) as conn:
        conn.execute(f"CREATE TRIGGER {name} {event} BEGIN {FULL_DISK}; END")
        conn.commit()


def heal(hall: HallHarness, name: str) -> None:
    with closing(sqlite3.connect(hall.hub.data_dir / "qms.db")) as conn:
        conn.execute(f"DROP TRIGGER {name}")
        conn.commit()


@pytest.fixture
async def hall_with_a_line(hall):
    kiosk = await hall.client("kiosk")
    for i in range(3):
        await kiosk.send("TICKET_CREATED", {"queue_id": 2, "request_id": f"line-{i}"})
        await kiosk.expect("TICKET_CREATED")
    hall.officer = await hall.client("officer", counter_id=2)
    hall.tv = await hall.client("tv")
    hall.admin = await hall.client("admin")
    return hall


async def refused_quietly(hall, sender, message_type: str, payload: dict) -> None:
    """INTERNAL_ERROR to the sender, an alert to admins, nothing else anywhere, memory and disk unchanged."""
    for watcher in (sender, hall.tv, hall.admin):
        await round_trip(watcher)  # what came before is not this request's doing
    before = hub_fingerprint(hall.hub)
    await sender.send(message_type, payload)
    error = await sender.expect("ERROR")
    assert error["error_code"] == "INTERNAL_ERROR" and error["message_type"] == message_type
    if sender is not hall.admin:
        assert [m["type"] for m in await round_trip(sender)] == []
    assert [m["type"] for m in await round_trip(hall.tv)] == []
    assert {m["type"] for m in await round_trip(hall.admin)} == {"SYSTEM_ALERT"}
    assert hub_fingerprint(hall.hub) == before


async def test_a_failed_call_changes_nothing_and_the_retry_calls_the_same_ticket(hall_with_a_line):
    hall, officer = hall_with_a_line, hall_with_a_line.officer
    await officer.send("CALL_TICKET", {"counter_id": 2})
    assert (await officer.expect("CALL_TICKET"))["ticket_number"] == 2001
    inject(hall, "full_disk", "BEFORE UPDATE ON tickets")
    for _ in range(2):  # the officer presses again: still nothing moves
        await refused_quietly(hall, officer, "CALL_TICKET", {"counter_id": 2})
    assert hall.hub.queue.counters[2].current.number == 2001
    heal(hall, "full_disk")
    await officer.send("CALL_TICKET", {"counter_id": 2})
    assert (await officer.expect("CALL_TICKET"))["ticket_number"] == 2002, "not skipped past"
    with closing(sqlite3.connect(hall.hub.data_dir / "qms.db")) as conn:
        assert dict(conn.execute("SELECT number, status FROM tickets").fetchall()) == {
            2001: "done", 2002: "called", 2003: "waiting"}


async def test_a_failed_action_changes_nothing(hall_with_a_line):
    hall, officer = hall_with_a_line, hall_with_a_line.officer
    await officer.send("CALL_TICKET", {"counter_id": 2})
    await officer.expect("CALL_TICKET")
    inject(hall, "full_disk", "BEFORE UPDATE ON tickets")
    for action in ({"action": "finish"}, {"action": "no_show"}, {"action": "transfer", "to_queue_id": 4}):
        await refused_quietly(hall, officer, "TICKET_ACTION", {"counter_id": 2, **action})
    heal(hall, "full_disk")
    await officer.send("TICKET_ACTION", {"counter_id": 2, "action": "finish"})
    assert (await officer.expect("TICKET_UPDATED"))["ticket_number"] == 2001


async def test_a_failed_pause_changes_nothing(hall_with_a_line):
    hall, officer = hall_with_a_line, hall_with_a_line.officer
    inject(hall, "full_disk", "BEFORE INSERT ON counters")
    await refused_quietly(hall, officer, "COUNTER_STATUS_CHANGE", {"counter_id": 2, "status": "paused",
                                                                   "reason": "Đi họp"})
    assert hall.hub.queue.counters[2].status == "active"
    heal(hall, "full_disk")
    await officer.send("CALL_TICKET", {"counter_id": 2})
    assert (await officer.expect("CALL_TICKET"))["ticket_number"] == 2001


async def test_a_failed_ticket_changes_nothing_and_its_number_is_given_again(hall_with_a_line):
    hall = hall_with_a_line
    kiosk = await hall.client("kiosk")
    inject(hall, "full_disk", "BEFORE INSERT ON tickets")
    await refused_quietly(hall, kiosk, "TICKET_CREATED", {"queue_id": 2, "request_id": "doomed"})
    heal(hall, "full_disk")
    await kiosk.send("TICKET_CREATED", {"queue_id": 2, "request_id": "doomed"})
    assert (await kiosk.expect("TICKET_CREATED"))["ticket_number"] == 2004


async def test_a_failed_announcement_shows_nothing(hall_with_a_line):
    hall = hall_with_a_line
    inject(hall, "full_disk", "BEFORE INSERT ON announcements")
    await refused_quietly(hall, hall.admin, "ANNOUNCEMENT", {"message": "Hệ thống bảo trì lúc 12:00"})
    assert hall.hub.board.showing == []
