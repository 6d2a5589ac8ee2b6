"""Backups of ``qms.db`` and putting one back: ``qms-hub backup``, the hub's daily backup, ``qms-hub restore``.

A backup is made with SQLite's online backup API from a connection of its
own, in one step: one read snapshot of the database, which in WAL mode never
blocks the hub's writer (a stepped backup would start over each time the hub
commits, and a busy hall commits all day). The copy is written under a
temporary name, switched out of WAL mode so it is one self-contained file,
checked (``PRAGMA quick_check``), synced and only then renamed to
``qms-YYYYMMDD-HHMMSS.db``, mode 0600. So a backup folder holds whole
backups only; the oldest beyond ``keep`` are removed after a new one is made.

A restore refuses a backup that is not a whole database of the hub, comes
from a newer hub, or comes from another hall (the ``hall_id`` every database
gets when it is made, else the site's name and, once site files carry one,
its ``site_id``). It runs only while the hub is stopped (it takes the data
folder's lock) and keeps the file it replaces, with its -wal and -shm, in a
``replaced-*`` folder beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from pathlib import Path

from hub import database_check as check
from hub import store as db
from hub.background import BackgroundTasks
from hub.clock import Clock
from hub.event_log import log_event
from hub.site_config import BackupSchedule, SiteConfig

log = logging.getLogger("qms.backup")

BACKUP_NAME = re.compile(r"^qms-(\d{8})-(\d{6})(?:-\d+)?\.db$")
# After a failed daily backup, the hub tries again this much later.
RETRY_AFTER = timedelta(minutes=15)


class BackupError(Exception):
    """A backup or restore that did not happen, and why, in one line."""


def backup_directory(schedule: BackupSchedule, data_dir: Path) -> Path:
    """Where the daily backups go: the site file's ``[backup] directory``, else a folder beside the data folder
    named after it (/var/lib/qms -> /var/lib/qms-backups, which qms-hub.service has systemd make)."""
    if schedule.directory:
        return Path(schedule.directory)
    data_dir = data_dir.absolute()
    return data_dir.with_name(data_dir.name + "-backups")


def list_backups(directory: Path) -> list[Path]:
    """The backups in ``directory``, oldest first (by the time in their names)."""
    if not directory.is_dir():
        return []
    return sorted((p for p in directory.iterdir() if BACKUP_NAME.match(p.name) and p.is_file()),
                  key=lambda p: (BACKUP_NAME.match(p.name).groups(), p.name))  # type: ignore[union-attr]


def backup_time(path: Path, tz: tzinfo) -> datetime | None:
    match = BACKUP_NAME.match(path.name)
    if not match:
        return None
    return datetime.strptime("".join(match.groups()), "%Y%m%d%H%M%S").replace(tzinfo=tz)


# --- making one ----------------------------------------------------------------------------------------------


def make_backup(source: Path, directory: Path, now: datetime, *, keep: int | None = None) -> Path:
    """Copy the live database ``source`` into ``directory``; returns the new backup's path.

    Blocking (SQLite and file work): the hub calls it in a worker thread.
    """
    if not source.is_file():
        raise BackupError(f"{source} does not exist: nothing to back up")
    try:
        directory.mkdir(mode=check.DIR_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"cannot make the backup folder {directory}: {exc.strerror or exc}") from None
    if not directory.is_dir():
        raise BackupError(f"{directory} is not a folder")
    stamp = now.strftime("%Y%m%d-%H%M%S")
    partial: Path | None = None
    try:
        # A name of its own (mkstemp: 0600), so a hub and a `qms-hub backup` in the same second never share one.
        fd, name = tempfile.mkstemp(dir=directory, prefix=f".qms-{stamp}-", suffix=".partial")
        os.close(fd)
        partial = Path(name)
        _copy_database(source, partial, now)
        check.fsync_file(partial)
        check.give_to_folder_owner(partial, directory)
        final = _publish(partial, directory, stamp)
        check.fsync_directory(directory)
    except (OSError, sqlite3.Error) as exc:
        if partial is not None:
            with contextlib.suppress(OSError):
                partial.unlink()
        raise BackupError(f"backup into {directory} failed: {getattr(exc, 'strerror', None) or exc}") from None
    except BaseException:
        if partial is not None:
            with contextlib.suppress(OSError):
                partial.unlink()
        raise
    if keep is not None:
        prune(directory, keep)
    return final


def _publish(partial: Path, directory: Path, stamp: str) -> Path:
    """Give the finished copy its name, never over another backup's (link() refuses a name that exists)."""
    serial = 1
    while True:
        final = directory / (f"qms-{stamp}.db" if serial == 1 else f"qms-{stamp}-{serial}.db")
        try:
            os.link(partial, final)
        except FileExistsError:
            serial += 1
            continue
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            # A USB stick's FAT has no hard links; only this command writes there.
            if final.exists():
                serial += 1
                continue
            os.rename(partial, final)
            return final
        partial.unlink()
        return final


def _copy_database(source: Path, target: Path, now: datetime) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(target, isolation_level=None)
        try:
            # pages=-1: the whole database in one step, under one read snapshot (see the module's docstring).
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=DELETE")
            checked = [row[0] for row in dst.execute("PRAGMA quick_check")]
            if checked != ["ok"]:
                raise BackupError(f"the copy of {source} is damaged ({'; '.join(checked[:2])}): "
                                  "the database itself needs a look (qms-diagnose)")
            if dst.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
                db.set_meta(dst, "backed_up_at", now.isoformat())
        finally:
            dst.close()
    finally:
        src.close()


def prune(directory: Path, keep: int) -> list[Path]:
    """Remove the oldest backups beyond ``keep``; returns what was removed."""
    backups = list_backups(directory)
    removed = backups[:-keep] if keep > 0 else backups
    for old in removed:
        with contextlib.suppress(FileNotFoundError):
            old.unlink()
    return removed


# --- the hub's daily backup ------------------------------------------------------------------------------------


def next_run_after(moment: datetime, at: time, tz: tzinfo) -> datetime:
    """The first ``at`` (local time) strictly after ``moment``."""
    local = moment.astimezone(tz)
    candidate = datetime.combine(local.date(), at, tzinfo=tz)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=tz)
    return candidate


class DailyBackup:
    """Once a day at the site's ``[backup] time`` (and at start when the newest backup missed its turn, e.g.
    the hub was switched off overnight): a backup in a worker thread. A failure is a SYSTEM_ALERT and is tried
    again RETRY_AFTER later."""

    def __init__(self, source: Path, directory: Path, schedule: BackupSchedule, tz: tzinfo, clock: Clock,
                 tasks: BackgroundTasks, alert: Callable[[str], None], *, retry_after: timedelta = RETRY_AFTER):
        self.source = source
        self.directory = directory
        self.schedule = schedule
        self.tz = tz
        self.clock = clock
        self.tasks = tasks
        self.alert = alert
        self.retry_after = retry_after
        hours, minutes = (int(part) for part in schedule.time.split(":"))
        self.at = time(hours, minutes)
        self.next_due: datetime | None = None
        self.running = False
        self.last_backup: Path | None = None
        self.failures = 0

    def start(self) -> None:
        """Plan the first run: the next ``time`` after the newest backup (now, if it missed one or there is none)."""
        now = self.clock.now()
        newest = list_backups(self.directory)[-1:]
        made = backup_time(newest[0], self.tz) if newest else None
        self.next_due = now if made is None else min(next_run_after(made, self.at, self.tz),
                                                     next_run_after(now, self.at, self.tz))

    def tick(self) -> None:
        """From the hub's tick: start the backup when it is due (never two at once)."""
        if self.next_due is None or self.running or self.clock.now() < self.next_due:
            return
        self.running = True
        self.tasks.spawn(self.run())

    async def run(self) -> Path | None:
        now = self.clock.now()
        try:
            made = await asyncio.to_thread(make_backup, self.source, self.directory, now.astimezone(self.tz),
                                           keep=self.schedule.keep)
        except Exception as exc:  # noqa: BLE001 - whatever failed, the admins hear of it and it is retried
            self.failures += 1
            self.next_due = now + self.retry_after
            problem = str(exc) or type(exc).__name__
            log_event("backup.failed", logging.ERROR, directory=str(self.directory), problem=problem,
                      retry_at=self.next_due.isoformat())
            self.alert(f"Sao lưu dữ liệu hằng ngày không thành công, sẽ thử lại lúc "
                       f"{self.next_due.astimezone(self.tz):%H:%M}: {problem} (daily backup failed)")
            return None
        finally:
            self.running = False
        self.failures = 0
        self.last_backup = made
        self.next_due = next_run_after(now, self.at, self.tz)
        log_event("backup.made", path=str(made), next_at=self.next_due.isoformat())
        return made


# --- restoring one ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Restored:
    database: Path
    replaced: Path | None
    identity: dict[str, str]


def restore(backup: Path, data_dir: Path, *, site: SiteConfig | None, any_site: bool = False,
            now: datetime) -> Restored:
    """Put ``backup`` in place of ``data_dir/qms.db``; refuses another hall's, a newer hub's or a damaged one."""
    target = data_dir / check.DATABASE_NAME
    if not backup.is_file():
        raise BackupError(f"{backup}: no such file")
    check.ensure_data_dir(data_dir)
    lock = check.DataDirLock(data_dir)
    try:
        lock.acquire()
    except check.DatabaseRefused:
        raise BackupError(f"the hub is running on {data_dir}: stop it first (sudo systemctl stop qms-hub), "
                          "then restore") from None
    try:
        incoming = data_dir / f".{check.DATABASE_NAME}.restoring"
        incoming.unlink(missing_ok=True)
        try:
            os.close(os.open(incoming, os.O_CREAT | os.O_EXCL | os.O_WRONLY, check.FILE_MODE))
            with open(backup, "rb") as source, open(incoming, "wb") as copy:
                shutil.copyfileobj(source, copy, 1024 * 1024)
            try:
                check.check_database(incoming)
            except check.DatabaseRefused as refused:
                raise BackupError(f"{backup}: not a backup this hub can restore: {refused.problem.text}") from None
            identity = _identity_of(incoming) or {}
            _refuse_another_hall(backup, identity, target, site, any_site)
            check.fsync_file(incoming)
            check.give_to_folder_owner(incoming, data_dir)
            replaced = _move_aside(target, data_dir, now)
            os.rename(incoming, target)
            check.fsync_directory(data_dir)
        finally:
            with contextlib.suppress(OSError):
                incoming.unlink()
    finally:
        lock.release()
    check.clear_start_failure(data_dir)
    return Restored(target, replaced, identity)


def _identity_of(path: Path) -> dict[str, str] | None:
    """The hall identity a database carries, or None when it cannot be read (missing, damaged, foreign)."""
    if not path.is_file() or path.stat().st_size == 0:
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return db.hall_identity(conn)
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def _refuse_another_hall(backup: Path, incoming: dict[str, str], target: Path, site: SiteConfig | None,
                         any_site: bool) -> None:
    if any_site:
        return
    current = _identity_of(target) or {}
    compared = False
    if current.get("hall_id") and incoming.get("hall_id"):
        if current["hall_id"] != incoming["hall_id"]:
            raise BackupError(
                f"{backup} is another hall's backup ({_describe(incoming)}), not this one's ({_describe(current)}): "
                "refused. Take the backup of this hall, or, to move a hall onto this hub, add --any-site")
        compared = True
    site_id = getattr(site, "site_id", None) if site is not None else None
    if site_id is not None and incoming.get("site_id") and incoming["site_id"] != site_id:
        raise BackupError(f"{backup} is the backup of site id {incoming['site_id']!r}, not of this site "
                          f"({site_id!r}): refused")
    if not compared and site is not None:
        if incoming.get("site_name") and incoming["site_name"] != site.site_name:
            raise BackupError(f"{backup} is the backup of '{incoming['site_name']}', not of this site "
                              f"'{site.site_name}': refused (add --any-site if that is what you want)")
        compared = bool(incoming.get("site_name"))
    if not compared:
        raise BackupError(
            "cannot tell whether this backup is this hall's: neither it nor the current database names its hall "
            "(made by an older hub?): add --any-site if you are sure")


def _describe(identity: dict[str, str]) -> str:
    return f"'{identity.get('site_name', '?')}', hall {identity.get('hall_id', '?')[:8]}"


def _move_aside(target: Path, data_dir: Path, now: datetime) -> Path | None:
    present = [p for p in (target, *(target.with_name(target.name + s) for s in check.SIDE_FILES)) if p.exists()]
    if not present:
        return None
    aside = data_dir / f"replaced-{now:%Y%m%d-%H%M%S}"
    serial = 1
    while aside.exists():
        serial += 1
        aside = data_dir / f"replaced-{now:%Y%m%d-%H%M%S}-{serial}"
    aside.mkdir(mode=check.DIR_MODE)
    for path in present:
        os.rename(path, aside / path.name)
    check.fsync_directory(data_dir)
    return aside
