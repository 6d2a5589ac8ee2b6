"""``qms-hub user list | disable | enable | passwd | delete`` and the modes of what ``qms-hub`` writes.

Real subprocesses on a real data folder. The modes: a fresh folder made by
``user add`` was 0755 with a 0644 ``qms.db`` (password hashes readable by every
user of the machine); now the folder is 0700 and every file 0600, the -wal and
-shm of a serving hub and the backups too, and a file left readable is tightened.
"""

from __future__ import annotations

import sqlite3
import stat
from contextlib import closing
from pathlib import Path

from support import free_port
from support.hub_process import ServingHub, qms_hub

from hub.auth import verify_password

PASSWORD = "mật-khẩu-dài-1"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def add(data_dir: Path, name: str, *args: str, password: str = PASSWORD) -> None:
    done = qms_hub("--data-dir", data_dir, "user", "add", name, *args, stdin=password + "\n")
    assert done.returncode == 0, done.stderr


def accounts(data_dir: Path) -> dict[str, tuple]:
    with closing(sqlite3.connect(data_dir / "qms.db")) as conn:
        rows = conn.execute("SELECT username, role, counter_id, disabled, password_hash FROM users").fetchall()
    return {r[0]: r[1:] for r in rows}


def test_a_fresh_data_folder_and_its_files_are_for_the_hub_alone(tmp_path):
    data_dir = tmp_path / "hall"
    add(data_dir, "quantri", "--role", "admin", "--full-name", "Trần Văn Minh")
    assert mode(data_dir) == 0o700 and mode(data_dir / "qms.db") == 0o600

    hub = ServingHub(data_dir, free_port(), tmp_path / "hub.log")
    hub.start()
    try:
        # While it serves: its WAL and shared-memory files, its lock, its token secret.
        for name in ("qms.db", "qms.db-wal", "qms.db-shm", "hub.lock", "token-secret"):
            assert mode(data_dir / name) == 0o600, name
        made = qms_hub("--data-dir", data_dir, "backup")
        assert made.returncode == 0, made.stderr
    finally:
        assert hub.stop() == 0
    backups = tmp_path / "hall-backups"
    assert mode(backups) == 0o700 and {mode(p) for p in backups.iterdir()} == {0o600}


def test_a_database_readable_by_others_is_tightened_when_the_hub_opens_it(tmp_path):
    data_dir = tmp_path / "hall"
    add(data_dir, "quantri", "--role", "admin")
    data_dir.chmod(0o755)
    (data_dir / "qms.db").chmod(0o644)
    listed = qms_hub("--data-dir", data_dir, "user", "list")
    assert listed.returncode == 0, listed.stderr
    assert mode(data_dir) == 0o700 and mode(data_dir / "qms.db") == 0o600
    assert "tightened it to 0600" in listed.stderr


def test_list_disable_enable_passwd_delete(tmp_path):
    data_dir = tmp_path / "hall"
    add(data_dir, "quantri", "--role", "admin", "--full-name", "Trần Văn Minh")
    add(data_dir, "canbo1", "--role", "officer", "--counter-id", "1", "--full-name", "Nguyễn Thị Lan")

    listed = qms_hub("--data-dir", data_dir, "user", "list")
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["id", "username", "role", "counter", "state", "full", "name"]
    assert lines[1].split() == ["2", "canbo1", "officer", "1", "active", "Nguyễn", "Thị", "Lan"]
    assert lines[2].split() == ["1", "quantri", "admin", "-", "active", "Trần", "Văn", "Minh"]

    disabled = qms_hub("--data-dir", data_dir, "user", "disable", "canbo1")
    assert disabled.returncode == 0 and "disabled officer canbo1" in disabled.stdout
    assert accounts(data_dir)["canbo1"][2] == 1
    assert qms_hub("--data-dir", data_dir, "user", "enable", "canbo1").returncode == 0
    assert accounts(data_dir)["canbo1"][2] == 0

    short = qms_hub("--data-dir", data_dir, "user", "passwd", "canbo1", stdin="ngắn\n")
    assert short.returncode == 2 and "ít nhất 8 ký tự" in short.stderr
    changed = qms_hub("--data-dir", data_dir, "user", "passwd", "canbo1", stdin="mật-khẩu-mới-2025\n")
    assert changed.returncode == 0, changed.stderr
    assert verify_password("mật-khẩu-mới-2025", accounts(data_dir)["canbo1"][3])

    # No lock-out from the command line either: the last admin stays.
    last = qms_hub("--data-dir", data_dir, "user", "disable", "quantri")
    assert last.returncode == 2 and "cuối cùng" in last.stderr and accounts(data_dir)["quantri"][2] == 0

    unasked = qms_hub("--data-dir", data_dir, "user", "delete", "canbo1")
    assert unasked.returncode == 2 and "--yes" in unasked.stderr and "canbo1" in accounts(data_dir)
    deleted = qms_hub("--data-dir", data_dir, "user", "delete", "canbo1", "--yes")
    assert deleted.returncode == 0 and set(accounts(data_dir)) == {"quantri"}
    nobody = qms_hub("--data-dir", data_dir, "user", "disable", "canbo1")
    assert nobody.returncode == 2 and "no user named 'canbo1'" in nobody.stderr

    with closing(sqlite3.connect(data_dir / "qms.db")) as conn:
        audited = conn.execute("SELECT actor, action, detail FROM audit ORDER BY audit_id").fetchall()
    assert [a[1] for a in audited] == ["user.disabled", "user.enabled", "user.password_changed", "user.deleted"]
    assert all(a[0].startswith("cli:") and "canbo1" in a[2] for a in audited)
    assert not any("mật-khẩu-mới" in a[2] for a in audited)


def test_a_user_command_on_a_damaged_database_refuses_it_too(tmp_path):
    data_dir = tmp_path / "hall"
    data_dir.mkdir()
    (data_dir / "qms.db").write_bytes(b"")
    done = qms_hub("--data-dir", data_dir, "user", "add", "quantri", "--role", "admin", stdin=PASSWORD + "\n")
    assert done.returncode == 2 and "is empty (0 bytes)" in done.stderr and "Traceback" not in done.stderr
    assert (data_dir / "qms.db").read_bytes() == b""
