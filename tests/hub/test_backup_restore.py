"""Backups and restores: ``qms-hub backup`` from a hub serving tickets, the hub's daily backup, ``qms-hub restore``.

The backup taken while kiosks get tickets is a real ``qms-hub backup`` process
next to a real ``qms-hub serve`` process: it must hold every ticket acknowledged
before it started, be a whole database, leave the live one whole, and the kiosks
must go on getting tickets meanwhile. The daily backup runs in the hub on a
ManualClock: it is planned, made off the event loop, pruned to ``keep``, and a
failure reaches the admins as a SYSTEM_ALERT and is tried again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from support import REPO_ROOT, HallHarness, free_port, start_hub
from support.hub_process import ServingHub, qms_hub, qms_hub_async
from websockets.asyncio.client import connect

from hub import store as db
from hub.auth import TokenAuthority
from hub.backup import list_backups
from hub.clock import ManualClock
from hub.database_check import prepare_database
from hub.site_config import BackupSchedule, RateLimit, sample_site, site_to_toml

HALL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
KIOSKS = 6


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def filled_data_dir(folder: Path, site_name: str, audit_rows: int = 0) -> Path:
    """A hall's data folder; ``audit_rows`` of history make the database big enough for a backup to take a while."""
    prepare_database(folder / "qms.db", site_name)
    if audit_rows:
        conn = db.connect(folder / "qms.db")
        try:
            conn.execute("BEGIN")
            at = datetime.now(UTC)
            for i in range(audit_rows):
                db.write_audit(conn, db.AuditEntry(at, "kiosk-001", "kiosk", "kiosk-001", "ticket.issued",
                                                   {"number": i, "procedure": "Đăng ký kết hôn", "pad": "x" * 200}))
            conn.execute("COMMIT")
        finally:
            conn.close()
    return folder


def tickets_in(path: Path) -> set[str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows = {r[0] for r in conn.execute("SELECT request_id FROM tickets")}
    conn.close()
    return rows


def quick_check(path: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("PRAGMA quick_check")]
    finally:
        conn.close()


async def kiosk(url: str, token: str, client_id: str):
    ws = await connect(url, open_timeout=5)
    await ws.send(json.dumps({"type": "AUTH", "payload": {"token": token}}))
    await ws.send(json.dumps({"type": "REGISTER_CLIENT", "payload": {"client_type": "kiosk", "client_id": client_id}}))
    while json.loads(await ws.recv())["type"] != "CONNECTION_ACK":
        pass
    return ws


async def test_a_backup_taken_while_tickets_are_issued_holds_them_and_stops_nobody(tmp_path):
    data_dir = filled_data_dir(tmp_path / "data", sample_site().site_name, audit_rows=60_000)
    # A busy morning squeezed into seconds: the per-kiosk ticket limit raised so the kiosks keep the hub writing.
    busy = dataclasses.replace(sample_site(), rate_limit=RateLimit(rate=200, burst=400, tickets_per_minute=60_000,
                                                                   ticket_burst=1000))
    site = tmp_path / "site.toml"
    site.write_text(site_to_toml(busy), encoding="utf-8")
    hub = ServingHub(data_dir, free_port(), tmp_path / "hub.log", "--config", str(site))
    authority = TokenAuthority.from_data_dir(data_dir)
    hub.start()
    acknowledged: list[str] = []
    in_flight: dict[int, str] = {}
    errors: list[dict[str, Any]] = []
    stop = asyncio.Event()
    warmed_up = asyncio.Event()

    async def issue_tickets(i: int) -> None:
        token = authority.issue("kiosk", client_id=f"kiosk-{i:03d}", ttl=timedelta(hours=1))
        ws = await kiosk(hub.url, token, f"kiosk-{i:03d}")
        seq = 0
        try:
            while not stop.is_set():
                request_id = in_flight[i] = f"k{i}-{seq}"
                await ws.send(json.dumps({"type": "TICKET_CREATED",
                                          "payload": {"counter_id": 1 + seq % 2, "request_id": request_id}}))
                while True:
                    message = json.loads(await ws.recv())
                    if message["type"] == "ERROR":
                        errors.append(message["payload"])
                        break
                    if message["type"] == "TICKET_CREATED" and message["payload"].get("request_id") == request_id:
                        acknowledged.append(request_id)
                        del in_flight[i]
                        if len(acknowledged) >= 50:
                            warmed_up.set()
                        break
                seq += 1
        finally:
            await ws.close()

    try:
        kiosks = [asyncio.create_task(issue_tickets(i)) for i in range(KIOSKS)]
        await asyncio.wait_for(warmed_up.wait(), 30)
        backups = []
        for _ in range(3):
            before = set(acknowledged)
            code, out, err = await qms_hub_async("--data-dir", data_dir, "backup", "--config", site)
            during = len(acknowledged) - len(before)
            assert code == 0, err
            made = Path(out.split(" to ", 1)[1].split(" (", 1)[0])
            backups.append(made)
            # Whole, holding everything acknowledged before it began, nothing never issued.
            assert quick_check(made) == ["ok"]
            in_backup = tickets_in(made)
            assert before <= in_backup <= set(acknowledged) | set(in_flight.values())
            # The hub went on serving while the backup ran (a separate process reading its own snapshot).
            assert during > 0
        stop.set()
        await asyncio.gather(*kiosks)
    finally:
        stop.set()
        assert hub.stop() == 0
    assert errors == []
    assert quick_check(data_dir / "qms.db") == ["ok"]
    assert set(acknowledged) <= tickets_in(data_dir / "qms.db")
    # The site's own folder, beside the data folder; 0700 and 0600 like the database; whole files only.
    folder = data_dir.with_name("data-backups")
    # The hub's own first backup is there too (it had none when it started).
    assert set(backups) < set(list_backups(folder))
    assert mode(folder) == 0o700 and all(mode(b) == 0o600 for b in backups)
    assert not [p for p in folder.iterdir() if p.name.endswith(".partial")]
    # A backup is one self-contained file: no WAL to forget when it is copied to a USB stick.
    assert all(b.read_bytes()[18:20] == b"\x01\x01" for b in backups)


def test_backup_to_a_usb_stick_and_the_list(tmp_path):
    data_dir = filled_data_dir(tmp_path / "data", sample_site().site_name)
    stick = tmp_path / "usb"
    first = qms_hub("--data-dir", data_dir, "backup", "--to", stick)
    second = qms_hub("--data-dir", data_dir, "backup", "--to", stick)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    listed = qms_hub("--data-dir", data_dir, "backup", "--to", stick, "--list")
    assert [line.split()[0] for line in listed.stdout.splitlines()] == [str(p) for p in list_backups(stick)]
    assert len(list_backups(stick)) == 2
    # Nothing to back up is said, not a traceback.
    missing = qms_hub("--data-dir", tmp_path / "nowhere", "backup", "--to", stick)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


SAMPLE_SITE = REPO_ROOT / "hub" / "sample_site.toml"


def another_site_toml(tmp_path: Path, name: str) -> Path:
    text = SAMPLE_SITE.read_text(encoding="utf-8")
    site = tmp_path / "site.toml"
    site.write_text(text.replace(f'site_name = "{sample_site().site_name}"', f'site_name = "{name}"'),
                    encoding="utf-8")
    return site


def test_restore_puts_the_backup_back_and_keeps_what_it_replaced(tmp_path):
    data_dir = filled_data_dir(tmp_path / "data", sample_site().site_name)
    conn = db.connect(data_dir / "qms.db")
    db.add_user(conn, "canbo1", "scrypt$x", "officer", 1, "Nguyễn Thị Lan", datetime.now(UTC))
    conn.close()
    made = qms_hub("--data-dir", data_dir, "backup", "--to", tmp_path / "usb")
    backup = list_backups(tmp_path / "usb")[0]
    assert made.returncode == 0, made.stderr
    # After the backup, someone else is added: the restore takes the hall back to the backup.
    conn = db.connect(data_dir / "qms.db")
    db.add_user(conn, "canbo2", "scrypt$x", "officer", 2, "Lê Văn Hùng", datetime.now(UTC))
    conn.close()

    hub = ServingHub(data_dir, free_port(), tmp_path / "hub.log")
    hub.start()
    try:
        running = qms_hub("--data-dir", data_dir, "restore", backup)
        assert running.returncode == 2
        assert "the hub is running" in running.stderr and "sudo systemctl stop qms-hub" in running.stderr
    finally:
        assert hub.stop() == 0

    done = qms_hub("--data-dir", data_dir, "restore", backup)
    assert done.returncode == 0, done.stderr
    assert f"restored {backup}" in done.stdout and "sudo systemctl start qms-hub" in done.stdout
    with sqlite3.connect(data_dir / "qms.db") as conn:
        assert [r[0] for r in conn.execute("SELECT username FROM users")] == ["canbo1"]
    conn.close()
    assert mode(data_dir / "qms.db") == 0o600
    (replaced,) = data_dir.glob("replaced-*")
    with sqlite3.connect(replaced / "qms.db") as conn:
        assert sorted(r[0] for r in conn.execute("SELECT username FROM users")) == ["canbo1", "canbo2"]
    conn.close()
    hub.start()
    assert hub.stop() == 0


def test_restore_refuses_another_halls_a_newer_hubs_and_a_damaged_backup(tmp_path):
    here = filled_data_dir(tmp_path / "here", sample_site().site_name)
    there = filled_data_dir(tmp_path / "there", "Trung tâm Hành chính công huyện Đông Anh")
    usb = tmp_path / "usb"
    assert qms_hub("--data-dir", there, "backup", "--to", usb).returncode == 0
    foreign = list_backups(usb)[0]
    before = (here / "qms.db").read_bytes()

    refused = qms_hub("--data-dir", here, "restore", foreign)
    assert refused.returncode == 2 and "is another hall's backup" in refused.stderr
    assert "Trung tâm Hành chính công huyện Đông Anh" in refused.stderr

    newer = tmp_path / "newer.db"
    newer.write_bytes((here / "qms.db").read_bytes())
    with sqlite3.connect(newer) as conn:
        conn.execute(f"PRAGMA user_version = {db.SCHEMA_VERSION + 1}")
    conn.close()
    refused = qms_hub("--data-dir", here, "restore", newer)
    assert refused.returncode == 2 and "was written by a newer hub" in refused.stderr

    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(foreign.read_bytes()[: foreign.stat().st_size // 2])
    refused = qms_hub("--data-dir", here, "restore", damaged)
    assert refused.returncode == 2 and "not a backup this hub can restore: is cut short" in refused.stderr

    assert (here / "qms.db").read_bytes() == before and not list(here.glob("replaced-*"))
    assert not list(here.glob(".qms.db.restoring*"))


def test_with_no_database_left_the_site_file_decides(tmp_path):
    there = filled_data_dir(tmp_path / "there", "Trung tâm Hành chính công huyện Đông Anh")
    usb = tmp_path / "usb"
    assert qms_hub("--data-dir", there, "backup", "--to", usb).returncode == 0
    backup = list_backups(usb)[0]
    empty = tmp_path / "new-card"
    # A new card for the hub of the sample site: another site's backup is refused...
    refused = qms_hub("--data-dir", empty, "restore", backup)
    assert refused.returncode == 2 and "not of this site" in refused.stderr
    # ...its own site file lets it in, and --any-site moves a hall onto a hub that serves another name.
    site = another_site_toml(tmp_path, "Trung tâm Hành chính công huyện Đông Anh")
    assert qms_hub("--data-dir", empty, "restore", backup, "--config", site).returncode == 0
    other = tmp_path / "other-card"
    assert qms_hub("--data-dir", other, "restore", backup, "--any-site").returncode == 0


# --- the hub's daily backup ---------------------------------------------------------------------------------


async def until(what: str, check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Wait for the hub's own background work (the backup thread) to show its result."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (result := check()):
        if loop.time() > deadline:
            raise AssertionError(f"waited {timeout}s for {what}")
        await asyncio.sleep(0.01)
    return result


async def test_the_daily_backup_runs_at_its_time_keeps_n_and_retries_after_a_failure(tmp_path):
    clock = ManualClock(datetime(2025, 7, 21, 1, 0, tzinfo=HALL_TZ))
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the backup folder's parent should be")
    folder = blocker / "backups"
    site = dataclasses.replace(sample_site(), backup=BackupSchedule(directory=str(folder), keep=2, time="02:30"))
    hub = await start_hub(tmp_path / "data", site=site, clock=clock)
    hall = HallHarness(hub)
    try:
        daily = hub.daily_backup
        assert daily is not None
        # No backup yet: the first is due at once, and fails (the folder cannot be made).
        await until("the first attempt", lambda: daily.failures == 1 and not daily.running)
        assert daily.next_due == clock.now() + timedelta(minutes=15)
        # The admins hear of it (an admin console that connects later finds it in its SNAPSHOT).
        admin = await hall.client("admin")
        (alert,) = [a for a in admin.snapshot["alerts"] if "Sao lưu" in a["message"]]
        assert alert["severity"] == "critical" and "sẽ thử lại lúc 01:15" in alert["message"]
        assert str(folder) in alert["message"]

        blocker.unlink()  # the technician makes room
        clock.advance(minutes=15)
        first = await until("the retried backup", lambda: daily.last_backup)
        assert first.name == "qms-20250721-011500.db" and mode(first) == 0o600 and mode(folder) == 0o700
        assert daily.next_due == datetime(2025, 7, 21, 2, 30, tzinfo=HALL_TZ)

        # Nothing more until its time, then one a day.
        clock.set(datetime(2025, 7, 21, 2, 29, 59, tzinfo=HALL_TZ))
        daily.tick()
        assert not daily.running and list_backups(folder) == [first]
        clock.set(datetime(2025, 7, 21, 2, 30, tzinfo=HALL_TZ))
        second = await until("the 02:30 backup", lambda: daily.last_backup != first and daily.last_backup)
        assert second.name == "qms-20250721-023000.db"
        clock.set(datetime(2025, 7, 22, 2, 30, tzinfo=HALL_TZ))
        third = await until("the next day's backup", lambda: daily.last_backup != second and daily.last_backup)
        # keep = 2: the oldest went.
        assert list_backups(folder) == [second, third]
        assert quick_check(third) == ["ok"]
    finally:
        await hall.close_all()
        await hub.stop()


async def test_a_hub_switched_off_over_night_makes_the_missed_backup_when_it_starts(tmp_path):
    site = dataclasses.replace(sample_site(), backup=BackupSchedule(directory=str(tmp_path / "b"), time="02:30"))
    clock = ManualClock(datetime(2025, 7, 21, 16, 0, tzinfo=HALL_TZ))
    hub = await start_hub(tmp_path / "data", site=site, clock=clock)
    daily = hub.daily_backup
    assert daily is not None
    made = await until("the first backup", lambda: daily.last_backup)
    await hub.stop()
    # Off from 17:00 until 07:30 the next morning: 02:30 passed while it was off.
    clock.set(datetime(2025, 7, 22, 7, 30, tzinfo=HALL_TZ))
    hub = await start_hub(tmp_path / "data", site=site, clock=clock)
    try:
        daily = hub.daily_backup
        assert daily is not None
        again = await until("the missed backup", lambda: daily.last_backup)
        assert again != made and again.name == "qms-20250722-073000.db"
        assert daily.next_due == datetime(2025, 7, 23, 2, 30, tzinfo=HALL_TZ)
    finally:
        await hub.stop()


@pytest.mark.parametrize("text", ["25:00", "2:30", "noon"])
def test_the_backup_time_must_be_a_time_of_day(text):
    from hub.site_config import SiteConfigError, parse_site_config

    sample = SAMPLE_SITE.read_text(encoding="utf-8")
    with pytest.raises(SiteConfigError, match=r"backup\.time: must be a time of day"):
        parse_site_config(sample.replace('time = "02:30"', f'time = "{text}"', 1), "site.toml")
