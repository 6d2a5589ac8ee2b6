"""The SQLite store: migrations, group commit, a failing job, the audit trail, an injected disk fault."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime

import pytest
from support import HallHarness, start_hub

from hub import store as db


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


async def test_concurrent_jobs_share_commits_and_a_failing_job_fails_alone(tmp_path):
    store = db.Store(tmp_path / "qms.db")
    store.start()
    at = datetime(2026, 11, 25, tzinfo=UTC)

    def audit(i):
        return lambda conn: db.write_audit(conn, db.AuditEntry(at, f"actor{i}", None, None, "test", {"i": i}))

    def broken(conn):
        conn.execute("INSERT INTO no_such_table VALUES (1)")

    jobs = [store.run(audit(i)) for i in range(200)] + [store.run(broken)] + [store.run(audit(200))]
    results = await asyncio.gather(*jobs, return_exceptions=True)
    assert isinstance(results[200], db.StoreError)
    assert all(r is None for i, r in enumerate(results) if i != 200)
    assert store.commits < 201  # grouped: far fewer commits than jobs
    await store.close()
    with sqlite3.connect(tmp_path / "qms.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM audit WHERE action = 'test'").fetchone()[0] == 201


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
            conn.execute("CREATE TRIGGER injected_fault BEFORE INSERT ON tickets WHEN NEW.counter_id = 2 "
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
