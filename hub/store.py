"""The hub's SQLite database: durable tickets, calls, statuses, users and the audit trail.

All database work runs on one writer thread, never on the event loop. Jobs
queued while a transaction commits are grouped into the next transaction
(group commit), so ten kiosks share one fsync instead of waiting for ten:
``synchronous=FULL`` in WAL mode makes every commit durable, and a job's
awaitable completes only after the commit that holds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from hub.queue_state import Ticket

log = logging.getLogger("qms.store")

T = TypeVar("T")

# Largest number of jobs one transaction takes: bounds the latency a job
# waits behind others in a flood.
MAX_BATCH = 512

MIGRATIONS: list[str] = [
    # 1: the first schema.
    """
    CREATE TABLE counters (
        counter_id  INTEGER PRIMARY KEY,
        status      TEXT NOT NULL CHECK (status IN ('active', 'paused', 'offline')),
        reason      TEXT NOT NULL DEFAULT '',
        changed_by  TEXT NOT NULL DEFAULT '',
        changed_at  TEXT
    );
    CREATE TABLE tickets (
        ticket_id      INTEGER PRIMARY KEY,
        service_day    TEXT NOT NULL,
        counter_id     INTEGER NOT NULL,
        number         INTEGER NOT NULL,
        procedure_id   INTEGER,
        procedure_name TEXT NOT NULL,
        code           TEXT NOT NULL UNIQUE,
        request_id     TEXT,
        kiosk_id       TEXT,
        status         TEXT NOT NULL CHECK (status IN ('waiting', 'called', 'done', 'expired')),
        created_at     TEXT NOT NULL,
        called_at      TEXT,
        closed_at      TEXT,
        called_by      TEXT,
        call_count     INTEGER NOT NULL DEFAULT 0,
        UNIQUE (service_day, counter_id, number),
        UNIQUE (service_day, request_id)
    );
    CREATE INDEX tickets_by_day ON tickets (service_day, status);
    CREATE TABLE users (
        user_id       INTEGER PRIMARY KEY,
        username      TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        role          TEXT NOT NULL CHECK (role IN ('admin', 'leader', 'officer')),
        counter_id    INTEGER,
        full_name     TEXT,
        created_at    TEXT NOT NULL,
        disabled      INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE announcements (
        announcement_id INTEGER PRIMARY KEY,
        message         TEXT NOT NULL,
        priority        TEXT NOT NULL,
        duration        INTEGER NOT NULL,
        target_displays TEXT NOT NULL,
        sent_by         TEXT NOT NULL,
        created_at      TEXT NOT NULL,
        expires_at      TEXT NOT NULL
    );
    CREATE TABLE audit (
        audit_id  INTEGER PRIMARY KEY,
        at        TEXT NOT NULL,
        actor     TEXT NOT NULL,
        role      TEXT,
        client_id TEXT,
        action    TEXT NOT NULL,
        detail    TEXT NOT NULL
    );
    CREATE INDEX audit_by_time ON audit (at);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(Exception):
    """The database failed; the request that needed it did not happen."""


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    role: str | None
    client_id: str | None
    action: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class UserRecord:
    user_id: int
    username: str
    password_hash: str
    role: str
    counter_id: int | None
    full_name: str | None
    disabled: bool


@dataclass(frozen=True)
class StoredAnnouncement:
    announcement_id: int
    message: str
    priority: str
    duration: int
    target_displays: list[str]
    sent_by: str
    created_at: datetime
    expires_at: datetime


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def connect(path: Path) -> sqlite3.Connection:
    """A connection set up the way every hub connection must be."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk before it returns, so an acknowledged ticket
    # survives a power cut, not only a crash of the process.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to SCHEMA_VERSION; returns the version found."""
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    if found > SCHEMA_VERSION:
        raise StoreError(
            f"the database is at schema {found}, newer than this hub's {SCHEMA_VERSION}: install the newer hub"
        )
    for version in range(found, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[version].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return found


# --- row mapping -------------------------------------------------------------


def ticket_row(ticket: Ticket) -> dict[str, Any]:
    return {
        "ticket_id": ticket.ticket_id,
        "service_day": ticket.service_day.isoformat(),
        "counter_id": ticket.counter_id,
        "number": ticket.number,
        "procedure_id": ticket.procedure_id,
        "procedure_name": ticket.procedure_name,
        "code": ticket.code,
        "request_id": ticket.request_id,
        "kiosk_id": ticket.kiosk_id,
        "status": ticket.status,
        "created_at": _iso(ticket.created_at),
        "called_at": _iso(ticket.called_at),
        "closed_at": _iso(ticket.closed_at),
        "called_by": ticket.called_by,
        "call_count": ticket.call_count,
    }


def ticket_from_row(row: sqlite3.Row) -> Ticket:
    return Ticket(
        ticket_id=row["ticket_id"],
        service_day=date.fromisoformat(row["service_day"]),
        counter_id=row["counter_id"],
        number=row["number"],
        procedure_id=row["procedure_id"],
        procedure_name=row["procedure_name"],
        code=row["code"],
        request_id=row["request_id"],
        kiosk_id=row["kiosk_id"],
        status=row["status"],
        created_at=_moment(row["created_at"]),  # type: ignore[arg-type]
        called_at=_moment(row["called_at"]),
        closed_at=_moment(row["closed_at"]),
        called_by=row["called_by"],
        call_count=row["call_count"],
    )


_TICKET_COLUMNS = (
    "ticket_id, service_day, counter_id, number, procedure_id, procedure_name, code, request_id, "
    "kiosk_id, status, created_at, called_at, closed_at, called_by, call_count"
)
_UPSERT_TICKET = (
    f"INSERT INTO tickets ({_TICKET_COLUMNS}) VALUES ("
    + ", ".join(":" + c.strip() for c in _TICKET_COLUMNS.split(","))
    + ") ON CONFLICT (ticket_id) DO UPDATE SET status = excluded.status, called_at = excluded.called_at, "
    "closed_at = excluded.closed_at, called_by = excluded.called_by, call_count = excluded.call_count"
)


# --- operations, each run on the writer thread inside a transaction ---------


def save_ticket_rows(conn: sqlite3.Connection, rows: list[dict[str, Any]]) -> None:
    """Rows made by :func:`ticket_row` on the event loop: the writer thread never reads live tickets."""
    conn.executemany(_UPSERT_TICKET, rows)


def save_counter_status(
    conn: sqlite3.Connection, counter_id: int, status: str, reason: str, changed_by: str, changed_at: datetime
) -> None:
    conn.execute(
        "INSERT INTO counters (counter_id, status, reason, changed_by, changed_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (counter_id) DO UPDATE SET status = excluded.status, reason = excluded.reason, "
        "changed_by = excluded.changed_by, changed_at = excluded.changed_at",
        (counter_id, status, reason, changed_by, _iso(changed_at)),
    )


def save_announcement(
    conn: sqlite3.Connection,
    message: str,
    priority: str,
    duration: int,
    target_displays: list[str],
    sent_by: str,
    created_at: datetime,
    expires_at: datetime,
) -> int:
    cursor = conn.execute(
        "INSERT INTO announcements (message, priority, duration, target_displays, sent_by, created_at, expires_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (message, priority, duration, json.dumps(target_displays), sent_by, _iso(created_at), _iso(expires_at)),
    )
    return int(cursor.lastrowid)  # type: ignore[arg-type]


def write_audit(conn: sqlite3.Connection, entry: AuditEntry) -> None:
    conn.execute(
        "INSERT INTO audit (at, actor, role, client_id, action, detail) VALUES (?, ?, ?, ?, ?, ?)",
        (
            _iso(entry.at),
            entry.actor,
            entry.role,
            entry.client_id,
            entry.action,
            json.dumps(entry.detail, ensure_ascii=False, sort_keys=True, default=str),
        ),
    )


def load_tickets(conn: sqlite3.Connection, service_day: date) -> list[Ticket]:
    rows = conn.execute(
        f"SELECT {_TICKET_COLUMNS} FROM tickets WHERE service_day = ? ORDER BY ticket_id", (service_day.isoformat(),)
    ).fetchall()
    return [ticket_from_row(r) for r in rows]


def load_counter_statuses(conn: sqlite3.Connection) -> list[tuple[int, str, str, str, datetime | None]]:
    rows = conn.execute("SELECT counter_id, status, reason, changed_by, changed_at FROM counters").fetchall()
    return [(r[0], r[1], r[2], r[3], _moment(r[4])) for r in rows]


def next_ticket_id(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(ticket_id), 0) + 1 FROM tickets").fetchone()[0])


def expire_old_tickets(conn: sqlite3.Connection, before_day: date, at: datetime) -> int:
    """Tickets of earlier days still open when the hub was down over midnight."""
    cursor = conn.execute(
        "UPDATE tickets SET status = 'expired', closed_at = ? "
        "WHERE service_day < ? AND status IN ('waiting', 'called')",
        (_iso(at), before_day.isoformat()),
    )
    return cursor.rowcount


def load_active_announcements(conn: sqlite3.Connection, now: datetime) -> list[StoredAnnouncement]:
    rows = conn.execute(
        "SELECT announcement_id, message, priority, duration, target_displays, sent_by, created_at, expires_at "
        "FROM announcements WHERE expires_at > ? ORDER BY announcement_id",
        (_iso(now),),
    ).fetchall()
    return [
        StoredAnnouncement(
            r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], _moment(r[6]), _moment(r[7])  # type: ignore[arg-type]
        )
        for r in rows
    ]


def find_user(conn: sqlite3.Connection, username: str) -> UserRecord | None:
    row = conn.execute(
        "SELECT user_id, username, password_hash, role, counter_id, full_name, disabled FROM users WHERE username = ?",
        (username,),
    ).fetchone()
    return UserRecord(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6])) if row else None


def add_user(
    conn: sqlite3.Connection,
    username: str,
    password_hash: str,
    role: str,
    counter_id: int | None,
    full_name: str | None,
    at: datetime,
) -> int:
    cursor = conn.execute(
        "INSERT INTO users (username, password_hash, role, counter_id, full_name, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (username, password_hash, role, counter_id, full_name, _iso(at)),
    )
    return int(cursor.lastrowid)  # type: ignore[arg-type]


# --- the writer thread --------------------------------------------------------


class _Job:
    __slots__ = ("fn", "future", "loop")

    def __init__(self, fn: Callable[[sqlite3.Connection], Any], future: asyncio.Future[Any],
                 loop: asyncio.AbstractEventLoop):
        self.fn, self.future, self.loop = fn, future, loop


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class Store:
    """The database behind a single writer thread with group commit."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.healthy = True
        self.commits = 0
        self.jobs_committed = 0
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._conn = connect(self.path)
        self._conn.row_factory = sqlite3.Row
        migrate(self._conn)
        self._thread: threading.Thread | None = None

    # Synchronous access, for start-up (before serving) and the command line.
    def run_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._thread is not None:
            raise RuntimeError("the writer thread owns the connection now: use await store.run()")
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(self._conn)
            self._conn.execute("COMMIT")
            return result
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def start(self) -> None:
        self._thread = threading.Thread(target=self._writer, name="qms-store-writer", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Queue ``fn(conn)`` for the writer thread; the future completes once it is committed durably.

        Futures complete in the order their jobs were submitted, so awaiters
        resume, and answer their clients, in that order too.
        """
        if self._thread is None:
            raise RuntimeError("Store.start() was not called")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._jobs.put(_Job(fn, future, loop))
        return future

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` in a transaction on the writer thread; returns once it is committed durably."""
        return await self.submit(fn)

    async def close(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        self._conn.close()

    def close_sync(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()
            self._thread = None
        self._conn.close()

    def _writer(self) -> None:
        stopping = False
        while not stopping:
            first = self._jobs.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                batch.append(job)
            self._commit_batch(batch)

    def _commit_batch(self, batch: list[_Job]) -> None:
        conn = self._conn
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in batch:
                # A savepoint per job: one failing job (a constraint, a bug)
                # rolls back alone and the others still commit.
                conn.execute("SAVEPOINT job")
                try:
                    outcomes.append((job.fn(conn), None))
                    conn.execute("RELEASE job")
                except Exception as exc:  # noqa: BLE001 - reported to the job's awaiter
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    log.error("store job failed: %s", exc, exc_info=exc)
                    outcomes.append((None, StoreError(str(exc))))
            conn.execute("COMMIT")
            self.healthy = True
            self.commits += 1
            self.jobs_committed += len(batch)
        except Exception as exc:  # noqa: BLE001 - the whole transaction failed
            log.error("store commit failed: %s", exc, exc_info=exc)
            self.healthy = False
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            failed = StoreError(f"database commit failed: {exc}")
            outcomes = [(None, failed) for _ in batch]
        for job, (result, error) in zip(batch, outcomes, strict=True):
            job.loop.call_soon_threadsafe(_settle, job.future, result, error)
