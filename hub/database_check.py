"""Whether the hub may open its data folder and ``qms.db``: the start-up check, and the safe making of a new one.

A hub that opened a damaged or foreign file as if it were its own would
start a new hall on top of it (users gone, numbering back at 1, old request
ids handed new tickets), and a hub that dies on a read-only card with a
traceback restarts every two seconds saying nothing useful. So before the
store opens the file, :func:`prepare_database` either

* makes a genuinely new database (no file yet): built under a temporary name
  and renamed into place, so a ``qms.db`` that exists is always a whole one
  and an empty or half-made file can never pass for a new install; or
* checks the file that is there (writable, an SQLite file, whole, ours, not
  from a newer hub) and raises :class:`DatabaseRefused` naming the file, the
  problem and the fix.

The same module holds what else guards the folder: modes 0700/0600 (the
database holds password hashes), the lock a running hub holds (a restore
must not replace the file under it; two hubs on one folder would keep two
different queues), and the note of the last refused start that
``qms-diagnose`` shows.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import sqlite3
import stat
from dataclasses import dataclass
from pathlib import Path

from hub import store as db

log = logging.getLogger("qms.database")

DATABASE_NAME = "qms.db"
LOCK_NAME = "hub.lock"
# What the last refused start said, for qms-diagnose (removed by a start that succeeds).
START_FAILURE_NAME = "start-failure.txt"
SQLITE_MAGIC = b"SQLite format 3\x00"
# The files SQLite keeps beside the database in WAL mode.
SIDE_FILES = ("-wal", "-shm")

DIR_MODE = 0o700
FILE_MODE = 0o600


@dataclass(frozen=True)
class Problem:
    """What is wrong, as a kind (which fix applies) and words for a person."""

    kind: str  # empty, not_sqlite, truncated, damaged, foreign, newer, stray_wal, read_only, not_a_folder, in_use
    text: str


class DatabaseRefused(Exception):
    """The hub will not open this database (or folder); ``str()`` is one line: the file, the problem, the fix."""

    def __init__(self, path: Path, problem: Problem, fix: str = ""):
        self.path = path
        self.problem = problem
        self.fix = fix
        super().__init__(f"{path}: {problem.text}" + (f": {fix}" if fix else ""))

    def with_fix(self, fix: str) -> DatabaseRefused:
        return DatabaseRefused(self.path, self.problem, fix)


# --- the folder --------------------------------------------------------------------------------------------


def ensure_data_dir(data_dir: Path) -> None:
    """Make the data folder (0700) if it is missing; tighten one readable by others; refuse one we cannot write."""
    if not data_dir.exists():
        data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if not data_dir.is_dir():
        raise DatabaseRefused(data_dir, Problem("not_a_folder", "is not a folder"))
    if not os.access(data_dir, os.W_OK | os.X_OK):
        raise DatabaseRefused(data_dir, _read_only_problem(data_dir, "folder"))
    tighten(data_dir, DIR_MODE)


def tighten(path: Path, mode: int) -> None:
    """Take group and other permissions away from a file or folder of ours (never widens)."""
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if current & 0o077:
        try:
            os.chmod(path, mode)
        except OSError as exc:
            log.warning("could not tighten %s from %04o: %s", path, current, exc)
            return
        log.warning("%s had mode %04o (readable by other users); tightened it to %04o", path, current, mode)


def _read_only_problem(path: Path, what: str) -> Problem:
    if _on_read_only_filesystem(path):
        return Problem("read_only", f"the {what} is on a read-only file system (a failing SD card is remounted "
                                    "read-only by the kernel)")
    owner = _owner_name(path)
    return Problem("read_only", f"the {what} is not writable by user {_user_name()} (it belongs to {owner}, "
                                f"mode {stat.S_IMODE(path.stat().st_mode):04o})")


def _on_read_only_filesystem(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _owner_name(path: Path) -> str:
    import pwd

    uid = path.stat().st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _user_name() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


# --- the database file -------------------------------------------------------------------------------------


def prepare_database(path: Path, site_name: str | None = None) -> str:
    """Make ``path`` ready for :class:`hub.store.Store`: ``"new"`` (just made) or ``"existing"`` (checked).

    Raises :class:`DatabaseRefused` (without a fix: the caller knows where the backups are).
    """
    ensure_data_dir(path.parent)
    if not path.exists() and not path.is_symlink():
        stray = [path.with_name(path.name + side) for side in SIDE_FILES]
        if stray[0].exists() and stray[0].stat().st_size > 0:
            raise DatabaseRefused(path, Problem(
                "stray_wal", f"is missing but {stray[0].name} (its latest changes) is still there"))
        for side in stray:
            side.unlink(missing_ok=True)
        create_database(path, site_name)
        return "new"
    check_database(path)
    for candidate in (path, *(path.with_name(path.name + side) for side in SIDE_FILES)):
        tighten(candidate, FILE_MODE)
    return "existing"


def create_database(path: Path, site_name: str | None) -> None:
    """A new, migrated database with this hall's identity, appearing at ``path`` whole or not at all."""
    building = path.with_name(f".{path.name}.new")
    for leftover in (building, *(building.with_name(building.name + side) for side in SIDE_FILES)):
        leftover.unlink(missing_ok=True)
    # 0600 from the start: SQLite gives the -wal and -shm files the database file's mode.
    os.close(os.open(building, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
    conn = db.connect(building)
    try:
        db.migrate(conn)
        conn.execute("BEGIN IMMEDIATE")
        db.create_hall_identity(conn, site_name)
        conn.execute("COMMIT")
        # Everything into the main file: the rename below moves one complete file.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    fsync_file(building)
    give_to_folder_owner(building, path.parent)
    os.rename(building, path)
    fsync_directory(path.parent)
    log.info("created a new database at %s", path)


def check_database(path: Path, *, need_write: bool = True) -> None:
    """Raise :class:`DatabaseRefused` unless ``path`` is a whole database of this hub that it can use."""
    if not path.is_file():
        raise DatabaseRefused(path, Problem("not_sqlite", "is not a file"))
    if need_write:
        for candidate in (path, *(path.with_name(path.name + side) for side in SIDE_FILES)):
            if candidate.exists() and not os.access(candidate, os.R_OK | os.W_OK):
                raise DatabaseRefused(candidate, _read_only_problem(candidate, "file"))
    elif not os.access(path, os.R_OK):
        raise DatabaseRefused(path, Problem("read_only", f"is not readable by user {_user_name()}"))
    size = path.stat().st_size
    if size == 0:
        raise DatabaseRefused(path, Problem("empty", "is empty (0 bytes): its data is gone"))
    with open(path, "rb") as file:
        header = file.read(100)
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        raise DatabaseRefused(path, Problem("not_sqlite", "is not an SQLite database"))
    expected = _size_in_header(header)
    wal = path.with_name(path.name + "-wal")
    # With a WAL beside it the file may lag its header after a crash mid-checkpoint: SQLite's own check decides.
    if expected is not None and size < expected and not (wal.exists() and wal.stat().st_size > 0):
        raise DatabaseRefused(path, Problem("truncated", f"is cut short ({size} of {expected} bytes): "
                                                         "part of the file is missing"))
    _check_contents(path, need_write=need_write)


def _size_in_header(header: bytes) -> int | None:
    """The database size the header states, when SQLite's rule says the field is valid."""
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    change_counter = int.from_bytes(header[24:28], "big")
    pages = int.from_bytes(header[28:32], "big")
    valid_for = int.from_bytes(header[92:96], "big")
    if pages == 0 or valid_for != change_counter or page_size < 512:
        return None
    return pages * page_size


def _check_contents(path: Path, *, need_write: bool) -> None:
    mode = "rw" if need_write else "ro"
    try:
        conn = sqlite3.connect(f"file:{path}?mode={mode}", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise DatabaseRefused(path, Problem("damaged", f"cannot be opened ({exc})")) from None
    try:
        try:
            checked = [row[0] for row in conn.execute("PRAGMA quick_check")]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            application_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            text = str(exc)
            if "not a database" in text:
                raise DatabaseRefused(path, Problem("not_sqlite", "is not an SQLite database")) from None
            if isinstance(exc, sqlite3.OperationalError) and ("readonly" in text or "unable to open" in text):
                raise DatabaseRefused(path, _read_only_problem(path, "file")) from None
            raise DatabaseRefused(path, Problem("damaged", f"is damaged ({text})")) from None
    finally:
        conn.close()
    if checked != ["ok"]:
        raise DatabaseRefused(path, Problem("damaged", f"is damaged (SQLite's check: {'; '.join(checked[:2])})"))
    if application_id not in (0, db.APPLICATION_ID):
        raise DatabaseRefused(path, Problem(
            "foreign", f"is another program's SQLite database (application id {application_id:#x}), not the hub's"))
    if version > db.SCHEMA_VERSION:
        raise DatabaseRefused(path, Problem(
            "newer", f"was written by a newer hub (schema {version}; this hub knows up to {db.SCHEMA_VERSION})"))
    missing = db.OUR_TABLES - tables
    if version == 0 or missing:
        what = "holds no tables" if not tables else f"has no {', '.join(sorted(missing))} table"
        raise DatabaseRefused(path, Problem(
            "foreign", f"is an SQLite database but not the hub's (it {what}, schema {version})"))


# --- what to do about it -------------------------------------------------------------------------------------


def advice(refused: DatabaseRefused, *, program: str, data_dir: Path, backup_dir: Path, newest: Path | None,
           config: str | None = None) -> DatabaseRefused:
    """The refusal with its fix: which command restores which backup (``newest`` in ``backup_dir``), or what else."""
    kind = refused.problem.kind
    refused = DatabaseRefused(refused.path.absolute(), refused.problem)
    service_user = _owner_name(data_dir) if data_dir.exists() else "qms"
    if kind == "read_only":
        if "read-only file system" in refused.problem.text:
            return refused.with_fix(
                "check the card (dmesg; sudo fsck), or write a new card and restore the last backup onto it")
        return refused.with_fix(
            f"give it back to the hub's user: sudo chown -R {service_user}: {data_dir} && "
            f"sudo chmod 0700 {data_dir} && sudo chmod 0600 {data_dir}/{DATABASE_NAME}*")
    if kind == "in_use":
        return refused.with_fix("stop the other hub first (sudo systemctl stop qms-hub), or use another --data-dir")
    if kind == "not_a_folder":
        return refused.with_fix("move it away so the hub can make its folder, or serve with another --data-dir")
    config_part = f" --config {config}" if config else ""
    if newest is not None:
        restore = (f"restore the last backup: sudo {program} --data-dir {data_dir} restore {newest}{config_part} "
                   f"(backups are in {backup_dir})")
    else:
        restore = (f"restore a backup: sudo {program} --data-dir {data_dir} restore FILE{config_part}, with FILE "
                   f"from the USB stick (no backup in {backup_dir})")
    if kind == "newer":
        return refused.with_fix(f"install the newer hub release again (sudo qms-update), or {restore}")
    if kind == "stray_wal":
        return refused.with_fix(f"{restore}; for a new hall, move {refused.path.name}-wal away")
    if kind in ("empty", "foreign"):
        return refused.with_fix(f"{restore}; for a new hall, move {refused.path.name} away")
    return refused.with_fix(restore)


# --- the running hub's lock ------------------------------------------------------------------------------------


class DataDirLock:
    """An exclusive lock on ``<data dir>/hub.lock``, held by a running hub and by a restore (the kernel drops it
    when the process dies, so a killed hub leaves nothing to clean up)."""

    def __init__(self, data_dir: Path):
        self.path = data_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self, what: str = "a qms-hub") -> DataDirLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        give_to_folder_owner(self.path, self.path.parent)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise DatabaseRefused(self.path.parent, Problem(
                    "in_use", f"is in use by a running qms-hub (it holds {self.path.name})")) from None
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def open_data_dir(data_dir: Path, site_name: str | None) -> DataDirLock:
    """What a hub does before it opens its store: the folder checked, its lock taken, ``qms.db`` made or checked.

    Returns the lock (release it when the hub stops); raises :class:`DatabaseRefused`.
    """
    ensure_data_dir(data_dir)
    lock = DataDirLock(data_dir).acquire()
    try:
        prepare_database(data_dir / DATABASE_NAME, site_name)
    except BaseException:
        lock.release()
        raise
    return lock


# --- the note qms-diagnose reads -----------------------------------------------------------------------------------


def record_start_failure(data_dir: Path, line: str) -> None:
    """Leave the refusal where qms-diagnose finds it (best effort: a read-only folder takes no note)."""
    with contextlib.suppress(OSError):
        fd = os.open(data_dir / START_FAILURE_NAME, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        give_to_folder_owner(data_dir / START_FAILURE_NAME, data_dir)
        with os.fdopen(fd, "w", encoding="utf-8") as note:
            note.write(line.rstrip("\n") + "\n")


def clear_start_failure(data_dir: Path) -> None:
    with contextlib.suppress(OSError):
        (data_dir / START_FAILURE_NAME).unlink(missing_ok=True)


def give_to_folder_owner(path: Path, directory: Path) -> None:
    """Run as root (sudo), a file made in the hub's folder must still belong to the hub's user, or it cannot open it."""
    if os.geteuid() != 0:
        return
    folder = directory.stat()
    with contextlib.suppress(OSError):  # a USB stick's FAT has no owners
        os.chown(path, folder.st_uid, folder.st_gid)


# --- durability helpers -----------------------------------------------------------------------------------------


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(directory: Path) -> None:
    """Make a rename or a new name in ``directory`` durable, not only the file's bytes."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

