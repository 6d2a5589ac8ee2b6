"""A database that is not the hub's, or is damaged, or cannot be written: ``qms-hub serve`` refuses to start.

Each case is a real ``qms-hub serve`` subprocess on a data folder made for it. Before
the fix a 0-byte ``qms.db`` started as a new hall (users gone, numbering back at 1),
and the others died with a raw traceback (and under systemd restarted every 2 s).
Now each exits with code 2 and one line naming the file, the problem and the fix
(which backup to restore, with the command), leaves the file exactly as it was, and
notes the line in ``start-failure.txt`` for qms-diagnose.

Root ignores file modes, so the two "cannot write" cases are made real another way:

* a read-only folder: the data folder is bind-mounted read-only in a mount namespace
  of the hub's own (``unshare -m``), the way a failing SD card is remounted read-only
  by the kernel (EROFS, for root too);
* a 0444 file: the hub runs as root without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH
  (``setpriv --bounding-set``), so file modes bind it as they bind the ``qms`` user on
  a device (the usual cause there: a file left 0444, or owned by root after a command
  run with sudo).
"""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support import free_port
from support.hub_process import ServingHub, qms_hub

from hub import store as db
from hub.backup import make_backup
from hub.database_check import START_FAILURE_NAME, prepare_database

SITE_NAME = "Trung tâm Phục vụ hành chính công tỉnh"


def good_data_dir(folder: Path) -> Path:
    """A hall's data folder as a running hub leaves it: a migrated qms.db with a person and some tickets' worth."""
    folder.mkdir(mode=0o700, parents=True)
    prepare_database(folder / "qms.db", SITE_NAME)
    conn = db.connect(folder / "qms.db")
    try:
        conn.execute("BEGIN")
        db.add_user(conn, "quantri", "scrypt$x", "admin", None, "Trần Văn Minh", datetime.now(UTC))
        for i in range(2000):
            db.write_audit(conn, db.AuditEntry(datetime.now(UTC), "kiosk-001", "kiosk", "kiosk-001",
                                               "ticket.issued", {"number": i, "thủ_tục": "Đăng ký đất đai"}))
        conn.execute("COMMIT")
    finally:
        conn.close()
    (folder / "token-secret").write_text("ab" * 64 + "\n")
    (folder / "token-secret").chmod(0o600)
    return folder


def backups_of(data_dir: Path) -> Path:
    return data_dir.with_name(data_dir.name + "-backups")


def spoil_empty(path: Path) -> None:
    path.write_bytes(b"")


def spoil_truncated(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as file:
        file.truncate(size // 2 // 4096 * 4096)


def spoil_not_sqlite(path: Path) -> None:
    path.write_text("Đây không phải là cơ sở dữ liệu của hệ thống xếp hàng.\n" * 200, encoding="utf-8")


def spoil_other_program(path: Path) -> None:
    path.unlink()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE songs (title TEXT, artist TEXT)")
        conn.execute("INSERT INTO songs VALUES ('Diễm xưa', 'Trịnh Công Sơn')")
        conn.execute("PRAGMA user_version = 3")
    conn.close()


def spoil_newer_schema(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {db.SCHEMA_VERSION + 1}")
    conn.close()


DATABASE_CASES = {
    "empty": (spoil_empty, "is empty (0 bytes)"),
    "truncated": (spoil_truncated, "is cut short"),
    "not-sqlite": (spoil_not_sqlite, "is not an SQLite database"),
    "other-program": (spoil_other_program, "is an SQLite database but not the hub's"),
    "newer-schema": (spoil_newer_schema, "was written by a newer hub"),
}


def refusal(result) -> str:
    assert result.returncode == 2, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("case", DATABASE_CASES)
def test_a_bad_database_is_refused_with_the_file_the_problem_and_the_backup_to_restore(tmp_path, case):
    data_dir = good_data_dir(tmp_path / "data")
    database = data_dir / "qms.db"
    backup = make_backup(database, backups_of(data_dir), datetime.now().astimezone())
    spoil, problem = DATABASE_CASES[case]
    spoil(database)
    before = database.read_bytes()

    # Were it to start (the old behaviour for an empty file), it would serve until the timeout: the test fails.
    line = refusal(qms_hub("--data-dir", data_dir, "serve", "--host", "127.0.0.1", "--port", str(free_port())))

    assert line.startswith(f"qms-hub: refused to start: {database}: {problem}"), line
    assert f"restore {backup}" in line and f"backups are in {backups_of(data_dir)}" in line
    assert database.read_bytes() == before, "the refused file was changed"
    assert (data_dir / START_FAILURE_NAME).read_text(encoding="utf-8").strip() == line.removeprefix("qms-hub: ")


def test_the_fix_the_line_names_brings_the_hall_back(tmp_path):
    data_dir = good_data_dir(tmp_path / "data")
    backup = make_backup(data_dir / "qms.db", backups_of(data_dir), datetime.now().astimezone())
    spoil_truncated(data_dir / "qms.db")
    line = refusal(qms_hub("--data-dir", data_dir, "serve", "--port", str(free_port())))

    # "... restore the last backup: sudo qms-hub --data-dir D restore FILE (backups are in ...)"
    command = line.split("restore the last backup: sudo qms-hub ", 1)[1].split(" (backups are in", 1)[0].split()
    assert command == ["--data-dir", str(data_dir), "restore", str(backup)]
    restored = qms_hub(*command)
    assert restored.returncode == 0, restored.stderr
    assert "the database it replaced is kept in" in restored.stdout

    hub = ServingHub(data_dir, free_port(), tmp_path / "hub.log")
    try:
        hub.start()
    finally:
        assert hub.stop() == 0
    with sqlite3.connect(data_dir / "qms.db") as conn:
        assert conn.execute("SELECT username, full_name FROM users").fetchall() == [("quantri", "Trần Văn Minh")]
    conn.close()
    assert not (data_dir / START_FAILURE_NAME).exists(), "a start that succeeded leaves no old refusal behind"


def test_a_missing_database_with_its_wal_left_is_refused_not_taken_for_a_new_hall(tmp_path):
    data_dir = good_data_dir(tmp_path / "data")
    (data_dir / "qms.db-wal").write_bytes(b"\x37\x7f\x06\x82" + b"\0" * 4092)
    (data_dir / "qms.db").unlink()
    line = refusal(qms_hub("--data-dir", data_dir, "serve", "--port", str(free_port())))
    assert "qms.db: is missing but qms.db-wal (its latest changes) is still there" in line
    assert not (data_dir / "qms.db").exists()


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed: apt-get install util-linux")
    return path


def test_a_read_only_folder_is_refused_with_what_to_check(tmp_path):
    data_dir = good_data_dir(tmp_path / "data")
    before = (data_dir / "qms.db").read_bytes()
    unshare = require("unshare")
    script = (f'mount --bind "{data_dir}" "{data_dir}" && mount -o remount,ro,bind "{data_dir}" "{data_dir}" '
              '&& exec "$@"')
    wrap = (unshare, "--mount", "--propagation", "private", "sh", "-c", script, "sh")
    line = refusal(qms_hub("--data-dir", data_dir, "serve", "--port", str(free_port()), wrap=wrap))
    assert line.startswith(f"qms-hub: refused to start: {data_dir}: the folder is on a read-only file system")
    assert "check the card" in line and "restore the last backup" in line
    assert (data_dir / "qms.db").read_bytes() == before


def test_a_0444_database_is_refused_with_the_commands_that_give_it_back(tmp_path):
    data_dir = good_data_dir(tmp_path / "data")
    (data_dir / "qms.db").chmod(0o444)
    before = (data_dir / "qms.db").read_bytes()
    # Root without the capabilities that let it ignore modes: as bound by them as the qms user is.
    wrap = (require("setpriv"), "--bounding-set=-dac_override,-dac_read_search",
            "--inh-caps=-dac_override,-dac_read_search")
    line = refusal(qms_hub("--data-dir", data_dir, "serve", "--port", str(free_port()), wrap=wrap))
    assert line.startswith(f"qms-hub: refused to start: {data_dir / 'qms.db'}: the file is not writable by user")
    assert "mode 0444" in line
    assert f"sudo chown -R root: {data_dir} && sudo chmod 0700 {data_dir}" in line
    assert (data_dir / "qms.db").read_bytes() == before
    assert (data_dir / "qms.db").stat().st_mode & 0o777 == 0o444, "the hub does not change modes behind one's back"


def test_a_second_hub_on_the_same_folder_is_refused(tmp_path):
    data_dir = good_data_dir(tmp_path / "data")
    first = ServingHub(data_dir, free_port(), tmp_path / "hub.log")
    first.start()
    try:
        line = refusal(qms_hub("--data-dir", data_dir, "serve", "--port", str(free_port())))
        assert f"{data_dir}: is in use by a running qms-hub" in line
    finally:
        assert first.stop() == 0


def test_a_new_install_still_starts(tmp_path):
    data_dir = tmp_path / "new-hall"
    hub = ServingHub(data_dir, free_port(), tmp_path / "hub.log")
    try:
        hub.start()
    finally:
        assert hub.stop() == 0
    with sqlite3.connect(data_dir / "qms.db") as conn:
        identity = db.hall_identity(conn)
        assert conn.execute("PRAGMA application_id").fetchone()[0] == db.APPLICATION_ID
    conn.close()
    assert len(identity["hall_id"]) == 32 and identity["site_name"] == SITE_NAME
    # Started again, the same database: not taken for a foreign one, the identity kept.
    hub.start()
    assert hub.stop() == 0
    with sqlite3.connect(data_dir / "qms.db") as conn:
        assert db.hall_identity(conn)["hall_id"] == identity["hall_id"]
    conn.close()
