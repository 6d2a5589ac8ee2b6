"""The SQLite store: migrations, group commit, a failing job, the audit trail, an injected disk fault."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime

import pytest
from support import HallHarness, start_hub

from hub import store as db
from hub.site_config import sample_site


def test_new_database_is_migrated_to_the_current_schema(tmp_path):
    store = db.Store(tmp_path / "qms.db")
    store.close_sync()
    with sqlite3.connect(tmp_path / "qms.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"tickets", "counters", "users", "announcements", "audit"} <= tables
    # Opening it again migrates nothing and keeps what is there.
    db.Store(tmp_path / "qms.db").close_sync()


def test_a_database_from_a_newer_hub_is_refused(tmp_path):
    with sqlite3.connect(tmp_path / "qms.db") as conn:
        conn.execute(f"PRAGMA user_version = {db.SCHEMA_VERSION + 1}")
    with pytest.raises(db.StoreError, match="newer"):
        db.Store(tmp_path / "qms.db")


@pytest.mark.parametrize("brief", [False, True], ids=["on the writer thread", "brief: SQL on the loop"])
async def test_concurrent_jobs_share_commits_and_a_failing_job_fails_alone(tmp_path, brief):
    store = db.Store(tmp_path / "qms.db")
    store.start()
    at = datetime(2026, 11, 25, tzinfo=UTC)

    def audit(i):
        return lambda conn: db.write_audit(conn, db.AuditEntry(at, f"actor{i}", None, None, "test", {"i": i}))

    def broken(conn):
        conn.execute("INSERT INTO no_such_table VALUES (1)")

    jobs = ([store.run(audit(i), brief=brief) for i in range(200)] + [store.run(broken, brief=brief)]
            + [store.run(audit(200), brief=brief)])
    results = await asyncio.gather(*jobs, return_exceptions=True)
    assert isinstance(results[200], db.StoreError)
    assert all(r is None for i, r in enumerate(results) if i != 200)
    assert store.commits < 201  # grouped: far fewer commits than jobs
    await store.close()
    with sqlite3.connect(tmp_path / "qms.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM audit WHERE action = 'test'").fetchone()[0] == 201


async def test_jobs_complete_in_the_order_they_were_submitted_whichever_path_they_take(tmp_path):
    store = db.Store(tmp_path / "qms.db")
    store.start()
    at = datetime(2026, 11, 25, tzinfo=UTC)
    finished: list[int] = []

    async def job(i):
        await store.run(lambda conn: db.write_event(conn, at, "test", detail={"i": i}), brief=i % 3 != 0)
        finished.append(i)

    await asyncio.gather(*(job(i) for i in range(60)))
    await store.close()
    assert finished == list(range(60))
    with closing(sqlite3.connect(tmp_path / "qms.db")) as conn:
        written = [json.loads(d)["i"] for (d,) in conn.execute("SELECT detail FROM events WHERE kind = 'test' "
                                                               "ORDER BY event_id")]
    assert written == list(range(60))


async def test_a_database_locked_by_another_program_waits_on_the_writer_thread_not_the_loop(tmp_path):
    """``qms-hub user add`` writing while the hub runs: a brief job's batch goes to the writer thread,
    which waits for the lock; the event loop goes on serving meanwhile."""
    store = db.Store(tmp_path / "qms.db")
    store.start()
    at = datetime(2026, 11, 25, tzinfo=UTC)
    other = sqlite3.connect(tmp_path / "qms.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # the other program holds the write lock
        saved = asyncio.ensure_future(store.run(lambda conn: db.write_audit(
            conn, db.AuditEntry(at, "kiosk-001", "kiosk", "kiosk-001", "test", {})), brief=True))
        for _ in range(20):  # the loop keeps turning while the job waits for the lock
            await asyncio.sleep(0.01)
        assert not saved.done()
        other.execute("COMMIT")
        await asyncio.wait_for(saved, 10)
    finally:
        other.close()
    # Back on the loop's own path once the lock is free.
    await store.run(lambda conn: db.write_audit(conn, db.AuditEntry(at, "kiosk-001", "kiosk", "kiosk-001",
                                                                     "test", {})), brief=True)
    await store.close()
    with closing(sqlite3.connect(tmp_path / "qms.db")) as conn:
        assert conn.execute("SELECT COUNT(*) FROM audit WHERE action = 'test'").fetchone()[0] == 2


async def test_every_event_is_in_the_audit_table(hall):
    admin = await hall.client("admin", username="admin01")
    kiosk = await hall.client("kiosk", client_id="kiosk-001")
    await kiosk.send("TICKET_CREATED", {"counter_id": 1, "request_id": "a1"})
    await kiosk.expect("TICKET_CREATED")
    await admin.send("CALL_TICKET", {"counter_id": 1})
    await admin.expect("CALL_TICKET")
    await admin.send("COUNTER_STATUS_CHANGE", {"counter_id": 1, "status": "paused", "reason": "Đi họp"})
    await admin.expect("COUNTER_STATUS_UPDATE")
    await kiosk.close()
    await admin.expect("CLIENT_DISCONNECTED")
    await admin.send("PING", {})
    await admin.expect("PONG")
    # Connection events are written just after they are logged: once a later job commits, they have.
    await hall.hub.store.run(lambda conn: None)
    with sqlite3.connect(hall.hub.data_dir / "qms.db") as conn:
        rows = conn.execute("SELECT actor, role, client_id, action, detail FROM audit ORDER BY audit_id").fetchall()
    actions = [(actor, action) for actor, _, _, action, _ in rows]
    for expected in [("kiosk-001", "ticket.issued"), ("admin01", "ticket.called"),
                     ("admin01", "counter.status_changed"), ("kiosk-001", "client.disconnected"),
                     ("kiosk-001", "client.registered"), ("admin01", "auth.ok")]:
        assert expected in actions, expected
    status = next(json.loads(d) for _, _, _, a, d in rows if a == "counter.status_changed")
    assert status == {**status, "counter_id": 1, "status": "paused", "reason": "Đi họp"}


async def test_a_disk_fault_answers_internal_error_raises_an_alert_and_keeps_serving(tmp_path):
    hub = await start_hub(tmp_path / "data")
    hall = HallHarness(hub)
    try:
        # A fault injected in the real database: inserts for counter 2 fail as a full disk would.
        with sqlite3.connect(hub.data_dir / "qms.db") as conn:
            conn.execute("CREATE TRIGGER injected_fault BEFORE INSERT ON tickets WHEN NEW.queue_id = 2 "
                         "BEGIN SELECT RAISE(ABORT, 'database or disk is full (injected)'); END")
        admin = await hall.client("admin")
        kiosk = await hall.client("kiosk")
        tv = await hall.client("tv")
        await kiosk.send("TICKET_CREATED", {"counter_id": 2, "request_id": "doomed"})
        error = await kiosk.expect("ERROR")
        assert error["error_code"] == "INTERNAL_ERROR" and error["request_id"] == "doomed"
        alert = await admin.expect("SYSTEM_ALERT")
        assert (alert["alert_type"], alert["severity"]) == ("system_error", "critical")
        # Nobody heard of the ticket that was not saved, and it cannot be called.
        await tv.expect_nothing("TICKET_CREATED")
        assert hub.queue.queue_view(2).waiting_count == 0
        await admin.send("CALL_TICKET", {"counter_id": 2})
        assert (await admin.expect("ERROR"))["error_code"] == "QUEUE_EMPTY"
        # Everything else goes on.
        await kiosk.send("TICKET_CREATED", {"counter_id": 1, "request_id": "fine"})
        assert (await kiosk.expect("TICKET_CREATED"))["ticket_number"] == 1
        assert (await tv.expect("TICKET_CREATED"))["counter_id"] == 1
    finally:
        await hall.close_all()
        await hub.stop()


async def test_keepalive_timeout_is_reported_as_timeout(tmp_path):
    hub = await start_hub(tmp_path / "data", ping_interval=0.2, ping_timeout=0.3, close_timeout=0.3)
    hall = HallHarness(hub)
    try:
        admin = await hall.client("admin")
        tv = await hall.client("tv", client_id="tv-frozen")
        tv.ws.transport.pause_reading()  # a hung TV: it never answers the hub's pings
        gone = await admin.expect("CLIENT_DISCONNECTED", where=lambda p: p["client_id"] == "tv-frozen")
        assert gone["reason"] == "timeout"
        tv.ws.transport.abort()  # the test's own side would otherwise wait out its close timeout
    finally:
        await hall.close_all()
        await hub.stop()


async def test_a_database_of_the_first_shape_is_migrated_and_its_tickets_stay_readable(tmp_path):
    """Schema 1 (tickets belonged to a counter) becomes queues: each old counter is the queue of its id."""
    import urllib.request

    data = tmp_path / "data"
    data.mkdir()
    path = data / "qms.db"
    # The hall's day, in the hall's time zone: from 17:00 UTC it is already tomorrow in Hà Nội.
    today = datetime.now(sample_site().tz).date().isoformat()
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(db.MIGRATIONS[0] + "; PRAGMA user_version = 1;")
        rows = [  # ticket_id, day, counter, number, status, called_at, closed_at
            (1, "2026-11-20", 2, 2001, "done", "2026-11-20T02:05:00+00:00", "2026-11-20T02:09:00+00:00"),
            (2, "2026-11-20", 2, 2002, "expired", None, "2026-11-20T17:00:00+00:00"),
            (3, today, 1, 1, "called", f"{today}T01:00:00+00:00", None),
            (4, today, 1, 2, "waiting", None, None),
        ]
        conn.executemany(
            "INSERT INTO tickets (ticket_id, service_day, counter_id, number, procedure_id, procedure_name, code, "
            "request_id, kiosk_id, status, created_at, called_at, closed_at, called_by, call_count) "
            "VALUES (?, ?, ?, ?, 101, 'Đăng ký đất đai', ?, ?, 'kiosk-001', ?, ?, ?, ?, 'canbo1', ?)",
            [(t, d, c, n, f"code-{t}-xxxxxxxx", f"req-{t}", s, f"{d}T01:00:00+00:00", called, closed,
              1 if called else 0) for t, d, c, n, s, called, closed in rows])
        conn.commit()
    hub = await start_hub(data)
    try:
        assert hub.queue.counters[1].current.number == 1, "the ticket being served is still served"
        assert [t.number for t in hub.queue.waiting_tickets(1)] == [2]
        assert hub.queue.find_request("kiosk-001", "req-4") is not None
        with closing(sqlite3.connect(path)) as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION
            old = conn.execute("SELECT queue_id, origin_queue_id, counter_id, status FROM tickets "
                               "WHERE service_day = '2026-11-20' ORDER BY ticket_id").fetchall()
            assert old == [(2, 2, 2, "done"), (2, 2, None, "expired")]
            kinds = conn.execute("SELECT kind FROM events WHERE ticket_id = 1 ORDER BY event_id").fetchall()
            assert [k for (k,) in kinds] == ["ticket.issued", "ticket.called", "ticket.finished"]
        hall = HallHarness(hub)
        token = hall.token("admin")
        request = urllib.request.Request(f"http://127.0.0.1:{hub.port}/api/tickets?date=2026-11-20",
                                         headers={"Authorization": f"Bearer {token}"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        listing = json.loads(await asyncio.to_thread(lambda: opener.open(request, timeout=5).read()))
        assert [(t["ticket_number"], t["queue_name"], t["status"]) for t in listing["tickets"]] == [
            (2001, "Tư pháp - Hộ tịch", "done"), (2002, "Tư pháp - Hộ tịch", "expired")]
    finally:
        await hub.stop()


def test_a_ticket_is_stored_by_position_and_read_back_by_name(tmp_path):
    """``ticket_values`` is bound by position: every field must land in its own column, none shifted."""
    import dataclasses
    from datetime import date, timedelta

    from hub.queue_state import Ticket

    def fields_of(ticket: Ticket) -> dict:
        return dataclasses.asdict(ticket)  # a Ticket compares by identity

    at = datetime(2026, 12, 2, 2, 30, tzinfo=UTC)
    # Every field distinct from the others (and from its default), so a swapped pair of columns shows.
    ticket = Ticket(
        ticket_id=41, service_day=date(2026, 12, 2), queue_id=3, number=3017, procedure_id=105,
        procedure_name="Chứng thực bản sao", code="c0de-41-xyz", request_id="kiosk-002:r41", kiosk_id="kiosk-002",
        created_at=at, priority=True, priority_reason="elderly", origin_queue_id=2, status="called", counter_id=4,
        called_at=at + timedelta(minutes=9), served_since=at + timedelta(minutes=7),
        first_called_at=at + timedelta(minutes=5), closed_at=at + timedelta(minutes=11), called_by="canbo4",
        officer_user_id=12, call_count=2, transfers=1, order=(1, 39),
    )
    conn = db.connect(tmp_path / "qms.db")
    try:
        db.migrate(conn)
        conn.execute("BEGIN IMMEDIATE")
        db.save_tickets(conn, [db.ticket_values(ticket)])
        conn.execute("COMMIT")
        conn.row_factory = sqlite3.Row
        assert [fields_of(t) for t in db.load_tickets(conn, date(2026, 12, 2))] == [fields_of(ticket)]
        # Saved again (an upsert, as every later change of the ticket is): the row changes, no second row.
        ticket.status, ticket.call_count = "done", 3
        conn.execute("BEGIN IMMEDIATE")
        db.save_tickets(conn, [db.ticket_values(ticket)])
        conn.execute("COMMIT")
        assert [fields_of(t) for t in db.load_tickets(conn, date(2026, 12, 2))] == [fields_of(ticket)]
    finally:
        conn.close()
