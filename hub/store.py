"""The hub's SQLite database: durable tickets, calls, statuses, users and the audit trail.

One write connection (:class:`Store`). Jobs queued while a transaction
commits are grouped into the next transaction (group commit), so ten kiosks
share one fsync instead of waiting for ten: ``synchronous=FULL`` in WAL mode
makes every commit durable, and a job's awaitable completes only after the
commit that holds it. The commit, with its fsync, always runs on the writer
thread; so does every job that may take more than microseconds. A brief job
(a ticket's rows) runs its few statements on the event loop, where they cost
less than handing them to the thread would (``Store``). Reports and other
reads run on read-only connections in worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from hub.queue_state import Ticket, TicketEvent

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
    # 2: queues shared by counters, priority, the serving lifecycle, every event kept.
    # Tickets of the first shape belonged to a counter: each counter becomes the queue of
    # the same id (the site file is read that way too), so old tickets keep their numbers;
    # counter_id now means the counter that called a ticket (none for one never called).
    """
    CREATE TABLE tickets_v2 (
        ticket_id       INTEGER PRIMARY KEY,
        service_day     TEXT NOT NULL,
        queue_id        INTEGER NOT NULL,
        origin_queue_id INTEGER NOT NULL,
        number          INTEGER NOT NULL,
        procedure_id    INTEGER,
        procedure_name  TEXT NOT NULL,
        code            TEXT NOT NULL UNIQUE,
        request_id      TEXT,
        kiosk_id        TEXT,
        priority        INTEGER NOT NULL DEFAULT 0,
        priority_reason TEXT,
        status          TEXT NOT NULL
                        CHECK (status IN ('waiting', 'called', 'done', 'no_show', 'cancelled', 'expired')),
        counter_id      INTEGER,
        created_at      TEXT NOT NULL,
        called_at       TEXT,
        served_since    TEXT,
        first_called_at TEXT,
        closed_at       TEXT,
        called_by       TEXT,
        officer_user_id INTEGER,
        call_count      INTEGER NOT NULL DEFAULT 0,
        transfers       INTEGER NOT NULL DEFAULT 0,
        order_rank      INTEGER NOT NULL DEFAULT 0,
        order_seq       INTEGER NOT NULL,
        UNIQUE (service_day, origin_queue_id, number),
        UNIQUE (service_day, kiosk_id, request_id)
    );
    INSERT INTO tickets_v2 (ticket_id, service_day, queue_id, origin_queue_id, number, procedure_id,
        procedure_name, code, request_id, kiosk_id, status, counter_id, created_at, called_at, served_since,
        first_called_at, closed_at, called_by, call_count, order_seq)
    SELECT ticket_id, service_day, counter_id, counter_id, number, procedure_id, procedure_name, code,
        request_id, kiosk_id, status, CASE WHEN called_at IS NULL THEN NULL ELSE counter_id END, created_at,
        called_at, called_at, called_at, closed_at, called_by, call_count, ticket_id
    FROM tickets;
    DROP TABLE tickets;
    ALTER TABLE tickets_v2 RENAME TO tickets;
    CREATE INDEX tickets_by_day ON tickets (service_day, status);
    CREATE TABLE events (
        event_id   INTEGER PRIMARY KEY,
        at         TEXT NOT NULL,
        kind       TEXT NOT NULL,
        ticket_id  INTEGER,
        counter_id INTEGER,
        queue_id   INTEGER,
        actor      TEXT NOT NULL DEFAULT '',
        detail     TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_by_time ON events (at);
    CREATE INDEX events_by_ticket ON events (ticket_id);
    INSERT INTO events (at, kind, ticket_id, counter_id, queue_id, actor)
    SELECT created_at, 'ticket.issued', ticket_id, NULL, queue_id, COALESCE(kiosk_id, '') FROM tickets;
    INSERT INTO events (at, kind, ticket_id, counter_id, queue_id, actor)
    SELECT called_at, 'ticket.called', ticket_id, counter_id, queue_id, COALESCE(called_by, '')
    FROM tickets WHERE called_at IS NOT NULL;
    INSERT INTO events (at, kind, ticket_id, counter_id, queue_id, actor)
    SELECT closed_at, CASE status WHEN 'done' THEN 'ticket.finished' ELSE 'ticket.expired' END, ticket_id,
        counter_id, queue_id, 'hub'
    FROM tickets WHERE closed_at IS NOT NULL;
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 3: revocable tokens. Every token the hub or `qms-hub token` hands out is listed (by its jti);
    # a device's tokens from before tokens had ids are cut off by time; a person's tokens carry the
    # account's generation, which a new password, disabling the account, a new role or counter, or
    # deleting it moves on (the triggers, so that every way of changing an account does it).
    # Addresses a person logged in from are remembered: the right password from one is never throttled.
    """
    CREATE TABLE tokens (
        token_id   TEXT PRIMARY KEY,
        role       TEXT NOT NULL,
        client_id  TEXT,
        user_id    INTEGER,
        username   TEXT,
        generation INTEGER,
        issued_at  TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        issued_by  TEXT NOT NULL,
        revoked_at TEXT,
        revoked_by TEXT
    );
    CREATE INDEX tokens_by_client ON tokens (client_id);
    CREATE INDEX tokens_by_user ON tokens (user_id);
    CREATE TABLE device_revocations (
        client_id      TEXT PRIMARY KEY,
        revoked_before REAL NOT NULL
    );
    ALTER TABLE users ADD COLUMN token_gen INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE login_addresses (
        user_id    INTEGER NOT NULL,
        address    TEXT NOT NULL,
        last_ok_at TEXT NOT NULL,
        PRIMARY KEY (user_id, address)
    );
    CREATE TRIGGER users_token_generation AFTER UPDATE OF password_hash, disabled, role, counter_id ON users
    WHEN NEW.password_hash IS NOT OLD.password_hash OR NEW.disabled IS NOT OLD.disabled
        OR NEW.role IS NOT OLD.role OR NEW.counter_id IS NOT OLD.counter_id
    BEGIN
        UPDATE users SET token_gen = token_gen + 1 WHERE user_id = NEW.user_id;
        UPDATE tokens SET revoked_at = strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'),
            revoked_by = CASE WHEN NEW.disabled AND NOT OLD.disabled THEN 'account disabled'
                WHEN NEW.password_hash IS NOT OLD.password_hash THEN 'password changed'
                ELSE 'account changed' END
        WHERE user_id = NEW.user_id AND revoked_at IS NULL;
    END;
    CREATE TRIGGER users_deleted_tokens AFTER DELETE ON users
    BEGIN
        UPDATE tokens SET revoked_at = strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), revoked_by = 'account deleted'
        WHERE user_id = OLD.user_id AND revoked_at IS NULL;
        DELETE FROM login_addresses WHERE user_id = OLD.user_id;
    END;
    """,
    # 4: the citizens' ratings, one per ticket, with who served it and where (for the reports);
    # and what the reports group and filter by, indexed.
    """
    CREATE TABLE ratings (
        rating_id       INTEGER PRIMARY KEY,
        ticket_id       INTEGER NOT NULL UNIQUE REFERENCES tickets (ticket_id),
        score           INTEGER NOT NULL CHECK (score BETWEEN 1 AND 4),
        comment         TEXT NOT NULL DEFAULT '',
        source          TEXT NOT NULL CHECK (source IN ('counter', 'status_page')),
        client_id       TEXT,
        request_id      TEXT,
        service_day     TEXT NOT NULL,
        queue_id        INTEGER NOT NULL,
        counter_id      INTEGER,
        officer_user_id INTEGER,
        officer         TEXT,
        rated_at        TEXT NOT NULL,
        UNIQUE (client_id, request_id)
    );
    CREATE INDEX ratings_by_day ON ratings (service_day);
    CREATE INDEX tickets_by_day_queue ON tickets (service_day, queue_id);
    CREATE INDEX tickets_by_day_counter ON tickets (service_day, counter_id);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
# PRAGMA application_id of the hub's databases ("QMSH"): tells them from other programs' SQLite files.
APPLICATION_ID = 0x514D5348
# Tables every schema version of the hub has (hub.database_check: is this file ours?).
OUR_TABLES = frozenset({"counters", "tickets", "users", "announcements", "audit"})


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


def _statements(script: str) -> list[str]:
    """The statements of a migration, each whole: a trigger's body has semicolons of its own."""
    statements, pending = [], ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                statements.append(pending)
            pending = ""
    return statements


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
            if version == 0:
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return found


# --- row mapping -------------------------------------------------------------


def ticket_values(ticket: Ticket) -> tuple[Any, ...]:
    """The ticket's row, in the order of ``_TICKET_COLUMNS``: made when its change is planned, bound by position
    (by name, each of 25 parameters was a lookup in a dict: a sixth of the statement's cost)."""
    return (
        ticket.ticket_id, ticket.service_day.isoformat(), ticket.queue_id, ticket.origin_queue_id, ticket.number,
        ticket.procedure_id, ticket.procedure_name, ticket.code, ticket.request_id, ticket.kiosk_id,
        int(ticket.priority), ticket.priority_reason, ticket.status, ticket.counter_id, _iso(ticket.created_at),
        _iso(ticket.called_at), _iso(ticket.served_since), _iso(ticket.first_called_at), _iso(ticket.closed_at),
        ticket.called_by, ticket.officer_user_id, ticket.call_count, ticket.transfers, ticket.order[0],
        ticket.order[1],
    )


def ticket_from_row(row: sqlite3.Row) -> Ticket:
    created_at = _moment(row["created_at"])
    assert created_at is not None
    return Ticket(
        ticket_id=row["ticket_id"],
        service_day=date.fromisoformat(row["service_day"]),
        queue_id=row["queue_id"],
        origin_queue_id=row["origin_queue_id"],
        number=row["number"],
        procedure_id=row["procedure_id"],
        procedure_name=row["procedure_name"],
        code=row["code"],
        request_id=row["request_id"],
        kiosk_id=row["kiosk_id"],
        priority=bool(row["priority"]),
        priority_reason=row["priority_reason"],
        status=row["status"],
        counter_id=row["counter_id"],
        created_at=created_at,
        called_at=_moment(row["called_at"]),
        served_since=_moment(row["served_since"]),
        first_called_at=_moment(row["first_called_at"]),
        closed_at=_moment(row["closed_at"]),
        called_by=row["called_by"],
        officer_user_id=row["officer_user_id"],
        call_count=row["call_count"],
        transfers=row["transfers"],
        order=(row["order_rank"], row["order_seq"]),
    )


_TICKET_COLUMNS = (
    "ticket_id, service_day, queue_id, origin_queue_id, number, procedure_id, procedure_name, code, request_id, "
    "kiosk_id, priority, priority_reason, status, counter_id, created_at, called_at, served_since, "
    "first_called_at, closed_at, called_by, officer_user_id, call_count, transfers, order_rank, order_seq"
)
# What a change of a ticket may change; the rest is fixed when it is issued.
_MUTABLE_TICKET_COLUMNS = (
    "service_day", "queue_id", "status", "counter_id", "called_at", "served_since", "first_called_at", "closed_at",
    "called_by", "officer_user_id", "call_count", "transfers", "order_rank", "order_seq",
)
_UPSERT_TICKET = (
    f"INSERT INTO tickets ({_TICKET_COLUMNS}) VALUES ({', '.join('?' for _ in _TICKET_COLUMNS.split(','))}) "
    "ON CONFLICT (ticket_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _MUTABLE_TICKET_COLUMNS)
)


# --- operations, each run inside a transaction of the store ---------


def save_tickets(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Rows made by :func:`ticket_values` when the change was planned: the store never reads live tickets."""
    conn.executemany(_UPSERT_TICKET, rows)


_INSERT_EVENT = ("INSERT INTO events (at, kind, ticket_id, counter_id, queue_id, actor, detail) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?)")


def _event_detail(detail: dict[str, Any]) -> str:
    return json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)


def event_values(event: TicketEvent) -> tuple[Any, ...]:
    """A ticket's step as a ``ticket.<action>`` row of the hall's event log (:func:`insert_events`)."""
    return (_iso(event.at), "ticket." + event.action, event.ticket_id, event.counter_id, event.queue_id,
            event.actor, _event_detail(event.detail))


def insert_events(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Rows made by :func:`event_values`."""
    conn.executemany(_INSERT_EVENT, rows)


def write_event(conn: sqlite3.Connection, at: datetime, kind: str, *, actor: str = "", counter_id: int | None = None,
                queue_id: int | None = None, ticket_id: int | None = None,
                detail: dict[str, Any] | None = None) -> None:
    """One event of the hall that is not a ticket's step (a counter paused, an officer logged in)."""
    conn.execute(_INSERT_EVENT, (_iso(at), kind, ticket_id, counter_id, queue_id, actor, _event_detail(detail or {})))


def last_event_at(conn: sqlite3.Connection) -> datetime | None:
    """When the hall last recorded anything: the hub's last known time."""
    row = conn.execute("SELECT at FROM events ORDER BY event_id DESC LIMIT 1").fetchone()
    return _moment(row[0]) if row else None


@dataclass(frozen=True)
class StoredRating:
    rating_id: int
    ticket_id: int
    score: int
    source: str
    client_id: str | None
    request_id: str | None
    counter_id: int | None
    rated_at: datetime


def find_rating(conn: sqlite3.Connection, ticket_id: int) -> StoredRating | None:
    row = conn.execute("SELECT rating_id, ticket_id, score, source, client_id, request_id, counter_id, rated_at "
                       "FROM ratings WHERE ticket_id = ?", (ticket_id,)).fetchone()
    if row is None:
        return None
    rated_at = _moment(row[7])
    assert rated_at is not None
    return StoredRating(row[0], row[1], row[2], row[3], row[4], row[5], row[6], rated_at)


def save_rating(conn: sqlite3.Connection, ticket: Ticket, score: int, comment: str, source: str,
                client_id: str | None, request_id: str | None, at: datetime) -> int:
    """The rating of a finished ticket, with the ticket's queue, counter and officer; its rating_id."""
    cursor = conn.execute(
        "INSERT INTO ratings (ticket_id, score, comment, source, client_id, request_id, service_day, queue_id, "
        "counter_id, officer_user_id, officer, rated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (ticket.ticket_id, score, comment, source, client_id, request_id, ticket.service_day.isoformat(),
         ticket.queue_id, ticket.counter_id, ticket.officer_user_id, ticket.called_by, _iso(at)))
    write_event(conn, at, "ticket.rated", actor=client_id or source, counter_id=ticket.counter_id,
                queue_id=ticket.queue_id, ticket_id=ticket.ticket_id, detail={"score": score, "source": source})
    return int(cursor.lastrowid)  # type: ignore[arg-type]


def get_meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                 (key, value))


def create_hall_identity(conn: sqlite3.Connection, site_name: str | None) -> None:
    """A new database's identity: a random ``hall_id`` (a restore refuses another hall's backup) and the site name."""
    set_meta(conn, "hall_id", secrets.token_hex(16))
    set_meta(conn, "created_at", datetime.now(UTC).isoformat())
    if site_name:
        set_meta(conn, "site_name", site_name)


def record_site(conn: sqlite3.Connection, site_name: str, site_id: str | None = None) -> None:
    """At each start: the site this database serves (a database made before hall ids gets its own now)."""
    if get_meta(conn, "hall_id") is None:
        create_hall_identity(conn, site_name)
    if get_meta(conn, "site_name") != site_name:
        set_meta(conn, "site_name", site_name)
    if site_id is not None and get_meta(conn, "site_id") != site_id:
        set_meta(conn, "site_id", site_id)


def hall_identity(conn: sqlite3.Connection) -> dict[str, str]:
    """The identity keys of ``meta``: hall_id, site_name, site_id, created_at, backed_up_at (those present)."""
    rows = conn.execute("SELECT key, value FROM meta WHERE key IN "
                        "('hall_id', 'site_name', 'site_id', 'created_at', 'backed_up_at')").fetchall()
    return {row[0]: row[1] for row in rows}


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


def audit_values(entry: AuditEntry) -> tuple[Any, ...]:
    """The audit row of ``entry`` (:func:`insert_audit`)."""
    return (_iso(entry.at), entry.actor, entry.role, entry.client_id, entry.action,
            json.dumps(entry.detail, ensure_ascii=False, sort_keys=True, default=str))


def insert_audit(conn: sqlite3.Connection, row: tuple[Any, ...]) -> None:
    """A row made by :func:`audit_values`."""
    conn.execute("INSERT INTO audit (at, actor, role, client_id, action, detail) VALUES (?, ?, ?, ?, ?, ?)", row)


def write_audit(conn: sqlite3.Connection, entry: AuditEntry) -> None:
    insert_audit(conn, audit_values(entry))


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


_USER_COLUMNS = "user_id, username, password_hash, role, counter_id, full_name, disabled"


def _user(row: Any) -> UserRecord:
    return UserRecord(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]))


def find_user(conn: sqlite3.Connection, username: str) -> UserRecord | None:
    row = conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE username = ?", (username,)).fetchone()
    return _user(row) if row else None


def add_user(
    conn: sqlite3.Connection,
    username: str,
    password_hash: str,
    role: str,
    counter_id: int | None,
    full_name: str | None,
    at: datetime,
) -> int:
    # Never a deleted person's id again: a token or a ticket naming that id must not come to mean someone new.
    highest = int(conn.execute("SELECT COALESCE(MAX(user_id), 0) FROM users").fetchone()[0])
    user_id = max(highest, int(get_meta(conn, "last_user_id") or 0)) + 1
    conn.execute(
        "INSERT INTO users (user_id, username, password_hash, role, counter_id, full_name, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (user_id, username, password_hash, role, counter_id, full_name, _iso(at)),
    )
    set_meta(conn, "last_user_id", str(user_id))
    return user_id


def list_users(conn: sqlite3.Connection) -> list[UserRecord]:
    return [_user(r) for r in conn.execute(f"SELECT {_USER_COLUMNS} FROM users ORDER BY username").fetchall()]


def find_user_by_id(conn: sqlite3.Connection, user_id: int) -> UserRecord | None:
    row = conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE user_id = ?", (user_id,)).fetchone()
    return _user(row) if row else None


def set_user_disabled(conn: sqlite3.Connection, user_id: int, disabled: bool) -> bool:
    cursor = conn.execute("UPDATE users SET disabled = ? WHERE user_id = ?", (int(disabled), user_id))
    return cursor.rowcount == 1


def set_user_password(conn: sqlite3.Connection, user_id: int, password_hash: str) -> bool:
    cursor = conn.execute("UPDATE users SET password_hash = ? WHERE user_id = ?", (password_hash, user_id))
    return cursor.rowcount == 1


def set_user_counter(conn: sqlite3.Connection, user_id: int, counter_id: int | None) -> bool:
    cursor = conn.execute("UPDATE users SET counter_id = ? WHERE user_id = ?", (counter_id, user_id))
    return cursor.rowcount == 1


def delete_user(conn: sqlite3.Connection, user_id: int) -> bool:
    return conn.execute("DELETE FROM users WHERE user_id = ?", (user_id,)).rowcount == 1


# --- tokens: which were handed out, which no longer count (hub.token_registry) ---------

# A listed token is kept this long after it expired (for `qms-hub token list --all`), then dropped.
TOKEN_ROWS_KEPT_AFTER_EXPIRY = timedelta(days=30)
# An address a person has not logged in from for this long is no longer known-good.
LOGIN_ADDRESS_KEPT = timedelta(days=180)


@dataclass(frozen=True)
class TokenRecord:
    token_id: str
    role: str
    client_id: str | None
    user_id: int | None
    username: str | None
    generation: int | None
    issued_at: datetime
    expires_at: datetime
    issued_by: str
    revoked_at: datetime | None = None
    revoked_by: str | None = None


@dataclass(frozen=True)
class AccountTokens:
    """What a person's tokens are checked against: the account's generation and whether it may log in."""

    user_id: int
    username: str
    generation: int
    disabled: bool


@dataclass(frozen=True)
class TokenRules:
    """Everything that makes a well-signed, unexpired token stop counting."""

    revoked_ids: frozenset[str]
    # client_id -> epoch seconds: that device's tokens without an id, issued before, are refused.
    device_cutoffs: dict[str, float]
    accounts: dict[int, AccountTokens]


_TOKEN_COLUMNS = ("token_id, role, client_id, user_id, username, generation, issued_at, expires_at, issued_by, "
                  "revoked_at, revoked_by")


def record_token(conn: sqlite3.Connection, token: TokenRecord) -> None:
    conn.execute(
        f"INSERT INTO tokens ({_TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (token.token_id, token.role, token.client_id, token.user_id, token.username, token.generation,
         _iso(token.issued_at), _iso(token.expires_at), token.issued_by, _iso(token.revoked_at), token.revoked_by),
    )
    conn.execute("DELETE FROM tokens WHERE expires_at < ?", (_iso(token.issued_at - TOKEN_ROWS_KEPT_AFTER_EXPIRY),))


def list_tokens(conn: sqlite3.Connection, now: datetime, *, include_expired: bool = False) -> list[TokenRecord]:
    where = "" if include_expired else "WHERE expires_at > ?"
    rows = conn.execute(f"SELECT {_TOKEN_COLUMNS} FROM tokens {where} ORDER BY issued_at, token_id",
                        () if include_expired else (_iso(now),)).fetchall()
    return [TokenRecord(r[0], r[1], r[2], r[3], r[4], r[5], _moment(r[6]), _moment(r[7]),  # type: ignore[arg-type]
                        r[8], _moment(r[9]), r[10]) for r in rows]


def revoke_tokens(conn: sqlite3.Connection, at: datetime, by: str, *, token_id: str | None = None,
                  client_id: str | None = None, user_id: int | None = None, username: str | None = None) -> int:
    """Mark the matching tokens revoked (one id, a device's, or a person's); how many were still in force."""
    args: tuple[object, ...]
    if token_id is not None:
        where, args = "token_id = ?", (token_id,)
    elif client_id is not None:
        where, args = "client_id = ?", (client_id,)
    elif user_id is not None or username is not None:
        where, args = "(user_id = ? OR (user_id IS NULL AND username = ?))", (user_id, username)
    else:
        raise ValueError("revoke which tokens? give a token id, a client_id or a user")
    cursor = conn.execute(f"UPDATE tokens SET revoked_at = ?, revoked_by = ? WHERE {where} AND revoked_at IS NULL "
                          "AND expires_at > ?", (_iso(at), by, *args, _iso(at)))
    return cursor.rowcount


def cut_off_device(conn: sqlite3.Connection, client_id: str, before: datetime) -> None:
    """Refuse every token of the device issued up to ``before``'s second, listed or not.

    Whole seconds, as a token's ``iat``: a token made in the same second as the cut-off, before or
    after it, is refused too (a token cannot say which came first); one for the device made from the
    next second on counts.
    """
    conn.execute("INSERT INTO device_revocations (client_id, revoked_before) VALUES (?, ?) "
                 "ON CONFLICT (client_id) DO UPDATE SET revoked_before = excluded.revoked_before",
                 (client_id, float(int(before.timestamp()) + 1)))


def bump_token_generation(conn: sqlite3.Connection, user_id: int) -> bool:
    """Every token the person holds stops counting; False if there is no such account."""
    return conn.execute("UPDATE users SET token_gen = token_gen + 1 WHERE user_id = ?", (user_id,)).rowcount == 1


def token_rules(conn: sqlite3.Connection, now: datetime) -> TokenRules:
    revoked = conn.execute("SELECT token_id FROM tokens WHERE revoked_at IS NOT NULL AND expires_at > ?",
                           (_iso(now),)).fetchall()
    cutoffs = conn.execute("SELECT client_id, revoked_before FROM device_revocations").fetchall()
    accounts = conn.execute("SELECT user_id, username, token_gen, disabled FROM users").fetchall()
    return TokenRules(
        revoked_ids=frozenset(r[0] for r in revoked),
        device_cutoffs={r[0]: float(r[1]) for r in cutoffs},
        accounts={r[0]: AccountTokens(r[0], r[1], r[2], bool(r[3])) for r in accounts},
    )


@dataclass(frozen=True)
class LoginAccount:
    """What LOGIN needs to know about a username before it checks the password."""

    user: UserRecord | None
    generation: int
    known_address: bool


def login_account(conn: sqlite3.Connection, username: str, address: str) -> LoginAccount:
    user = find_user(conn, username)
    if user is None:
        return LoginAccount(None, 0, False)
    generation = conn.execute("SELECT token_gen FROM users WHERE user_id = ?", (user.user_id,)).fetchone()[0]
    known = conn.execute("SELECT 1 FROM login_addresses WHERE user_id = ? AND address = ?",
                         (user.user_id, address)).fetchone()
    return LoginAccount(user, int(generation), known is not None)


def remember_login_address(conn: sqlite3.Connection, user_id: int, address: str, at: datetime) -> None:
    conn.execute("INSERT INTO login_addresses (user_id, address, last_ok_at) VALUES (?, ?, ?) "
                 "ON CONFLICT (user_id, address) DO UPDATE SET last_ok_at = excluded.last_ok_at",
                 (user_id, address, _iso(at)))
    conn.execute("DELETE FROM login_addresses WHERE last_ok_at < ?", (_iso(at - LOGIN_ADDRESS_KEPT),))


# --- the writer: group commit, the fsync on its own thread --------------------------------


class _Job:
    __slots__ = ("fn", "future", "brief")

    def __init__(self, fn: Callable[[sqlite3.Connection], Any], future: asyncio.Future[Any], brief: bool):
        self.fn, self.future, self.brief = fn, future, brief


# What a job came to: its result, or the error its awaiter gets.
Outcome = tuple[Any, BaseException | None]


class _Batch:
    """One transaction's jobs; ``outcomes`` is set when their SQL already ran on the loop (only COMMIT is left)."""

    __slots__ = ("jobs", "outcomes")

    def __init__(self, jobs: list[_Job], outcomes: list[Outcome] | None):
        self.jobs, self.outcomes = jobs, outcomes


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


# The most SQL of brief jobs run on the event loop for one transaction, in seconds: the next
# jobs wait for the next transaction (the loop serves everyone else meanwhile).
LOOP_SQL_BUDGET = 0.002
# The longest the loop waits, once it has handed a transaction to the writer thread, for the thread to take
# it (seconds): the time the thread takes to be scheduled, not the commit (``Store._start_batch``).
HAND_OVER_WAIT = 0.0005
# How long the writer thread waits for another program's write (``qms-hub user add``) to end.
BUSY_TIMEOUT_MS = 30_000


class Store:
    """The database behind one write connection, with group commit.

    Jobs submitted while a transaction commits wait for it and then share the
    next one, so ten kiosks share one fsync. A *brief* job (a few rows: a
    ticket, its event and its audit row; tens of microseconds) runs its SQL
    on the event loop, and only the COMMIT, with its fsync, runs on the
    writer thread: the SQL would hold the GIL wherever it ran, and run on the
    writer thread each statement hands the GIL over twice (the sqlite3 module
    releases it around every step), each time waiting for the busy loop to let
    go of it. Other jobs (a day's tickets expired, an account changed, anything
    that may take longer) run whole on the writer thread, as does a batch that
    finds the database locked by another program. Either way, a job's
    awaitable completes only after the commit that holds it, in the order the
    jobs were submitted, and a job that fails fails alone. Having handed a
    transaction over, the loop lets go of the GIL until the thread has it
    (at most ``HAND_OVER_WAIT``): the commit starts at once, not after the
    loop's next few milliseconds of work.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.healthy = True
        self.commits = 0
        self.jobs_committed = 0
        self._conn = connect(self.path)
        self._conn.row_factory = sqlite3.Row
        migrate(self._conn)
        self._thread: threading.Thread | None = None
        self._to_writer: queue.SimpleQueue[_Batch | None] = queue.SimpleQueue()
        self._writer_took = threading.Event()  # set by the writer thread once it has a batch (and the GIL)
        # On the event loop: jobs submitted and not yet in a transaction, whether one is with the writer thread.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: list[_Job] = []
        self._in_flight = False
        self._start_scheduled = False
        self._idle: list[asyncio.Future[None]] = []
        # Read-only connections for queries that need no writer (reports, other days' tickets), one per
        # worker thread: WAL lets them read while the writer commits.
        self._readers = threading.local()

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
        # The loop never waits for a lock: if another program is writing, the writer thread waits instead.
        self._conn.execute("PRAGMA busy_timeout = 0")
        self._thread = threading.Thread(target=self._writer, name="qms-store-writer", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[sqlite3.Connection], T], *, brief: bool = False) -> asyncio.Future[T]:
        """Run ``fn(conn)`` in a transaction; the future completes once it is committed durably.

        ``brief``: ``fn`` writes a few rows and reads next to nothing, so its SQL
        may run on the event loop. Futures complete in the order their jobs
        were submitted, so awaiters resume, and answer their clients, in that
        order too.
        """
        if self._thread is None:
            raise RuntimeError("Store.start() was not called")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise RuntimeError("the store serves one event loop")
        future = loop.create_future()
        self._waiting.append(_Job(fn, future, brief))
        if not self._in_flight and not self._start_scheduled:
            # In the next iteration: whatever else this one submits shares the transaction.
            self._start_scheduled = True
            loop.call_soon(self._start_batch)
        return future

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` on a read-only connection in a worker thread (never on the event loop)."""
        return await asyncio.to_thread(self._read, fn)

    def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = getattr(self._readers, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False, timeout=30)
            conn.row_factory = sqlite3.Row
            self._readers.conn = conn
        conn.execute("BEGIN")
        try:
            return fn(conn)
        finally:
            conn.execute("ROLLBACK")

    async def run(self, fn: Callable[[sqlite3.Connection], T], *, brief: bool = False) -> T:
        """Run ``fn(conn)`` in a transaction; returns once it is committed durably (``brief``: see :meth:`submit`)."""
        return await self.submit(fn, brief=brief)

    async def close(self) -> None:
        if self._thread is not None:
            while self._in_flight or self._waiting:
                idle = asyncio.get_running_loop().create_future()
                self._idle.append(idle)
                await idle
            self._to_writer.put(None)
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        self._conn.close()

    def close_sync(self) -> None:
        if self._thread is not None:
            self._to_writer.put(None)
            self._thread.join()
            self._thread = None
        self._conn.close()

    # --- on the event loop

    def _start_batch(self) -> None:
        """Hand the next transaction to the writer thread, its brief jobs' SQL already run."""
        self._start_scheduled = False
        if self._in_flight or not self._waiting:
            return
        waiting = self._waiting
        batch: _Batch | None = None
        if waiting[0].brief:
            try:
                batch = self._run_brief_jobs(waiting)
            except Exception as exc:  # noqa: BLE001 - a statement of our own refused: the thread retries, reports
                log.warning("store: the loop could not run a batch, the writer thread will: %s", exc)
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
        if batch is None:  # not brief, or the database is locked by another program: the writer thread waits
            batch = _Batch(waiting[:MAX_BATCH], None)
        del waiting[:len(batch.jobs)]
        self._in_flight = True
        self._writer_took.clear()
        self._to_writer.put(batch)
        # The writer thread needs the GIL to start the COMMIT, and the busy loop keeps it: it lets go of it
        # at every system call and takes it straight back, and each time the thread's wait for it starts
        # again (0.6-0.9 ms between the hand-over and the thread starting, p90 1.7-2.2, traced). Waiting
        # here, with the GIL let go, the thread has it in ~0.1 ms; the loop waits at most HAND_OVER_WAIT.
        self._writer_took.wait(HAND_OVER_WAIT)

    def _run_brief_jobs(self, waiting: list[_Job]) -> _Batch | None:
        """The leading brief jobs' SQL in an open transaction, within the loop's budget; None if locked."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return None
        started = time.monotonic()
        jobs: list[_Job] = []
        results: list[Any] = []
        try:
            for job in waiting:
                if not job.brief or len(jobs) >= MAX_BATCH or (jobs and time.monotonic() - started > LOOP_SQL_BUDGET):
                    break
                jobs.append(job)
                results.append(job.fn(conn))
        except Exception:  # noqa: BLE001 - done again job by job, which reports what failed
            # Nearly every batch succeeds whole, and a savepoint per job is two more statements each. A job
            # only writes to the connection it is given, so running it again after the rollback does the same.
            conn.execute("ROLLBACK")
            return self._run_one_by_one(jobs)
        return _Batch(jobs, [(result, None) for result in results])

    def _run_one_by_one(self, jobs: list[_Job]) -> _Batch | None:
        """``jobs`` again, a savepoint each: one failing job (a constraint, a bug) rolls back alone."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return None
        return _Batch(jobs, _each_in_a_savepoint(conn, jobs))

    def _finished(self, batch: _Batch, outcomes: list[Outcome]) -> None:
        """The writer thread is done with ``batch``: the next transaction starts, then its jobs' awaiters resume."""
        self._in_flight = False
        self._start_batch()
        for job, (result, error) in zip(batch.jobs, outcomes, strict=True):
            _settle(job.future, result, error)
        if not self._in_flight and not self._waiting:
            idle, self._idle = self._idle, []
            for future in idle:
                _settle(future, None, None)

    # --- on the writer thread

    def _writer(self) -> None:
        while True:
            batch = self._to_writer.get()
            self._writer_took.set()
            if batch is None:
                break
            # Its SQL already run on the loop (only the COMMIT is left), or all of it to do here.
            outcomes = self._run_whole(batch.jobs) if batch.outcomes is None else self._commit(batch.outcomes)
            loop = self._loop
            assert loop is not None
            loop.call_soon_threadsafe(self._finished, batch, outcomes)

    def _commit(self, outcomes: list[Outcome]) -> list[Outcome]:
        conn = self._conn
        try:
            conn.execute("COMMIT")
        except Exception as exc:  # noqa: BLE001 - the whole transaction failed
            return self._all_failed(exc, len(outcomes), rollback=True)
        self.healthy = True
        self.commits += 1
        self.jobs_committed += len(outcomes)
        return outcomes

    def _run_whole(self, jobs: list[_Job]) -> list[Outcome]:
        """A batch the loop did not start: its SQL and its commit, waiting for another program's lock if need be."""
        conn = self._conn
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except Exception as exc:  # noqa: BLE001 - nothing was written
                return self._all_failed(exc, len(jobs), rollback=False)
            try:
                outcomes = _each_in_a_savepoint(conn, jobs)
            except Exception as exc:  # noqa: BLE001 - a savepoint refused: the whole transaction failed
                return self._all_failed(exc, len(jobs), rollback=True)
            return self._commit(outcomes)
        finally:
            conn.execute("PRAGMA busy_timeout = 0")

    def _all_failed(self, exc: Exception, count: int, *, rollback: bool) -> list[Outcome]:
        """The transaction failed as a whole: every job of it gets the same error, and the store is unhealthy."""
        log.error("store commit failed: %s", exc, exc_info=exc)
        self.healthy = False
        if rollback:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
        failed = StoreError(f"database commit failed: {exc}")
        return [(None, failed)] * count


def _each_in_a_savepoint(conn: sqlite3.Connection, jobs: list[_Job]) -> list[Outcome]:
    """Run ``jobs`` in the open transaction, each in a savepoint: one that fails rolls back alone."""
    outcomes: list[Outcome] = []
    for job in jobs:
        conn.execute("SAVEPOINT job")
        try:
            outcomes.append((job.fn(conn), None))
            conn.execute("RELEASE job")
        except Exception as exc:  # noqa: BLE001 - reported to the job's awaiter
            conn.execute("ROLLBACK TO job")
            conn.execute("RELEASE job")
            log.error("store job failed: %s", exc, exc_info=exc)
            outcomes.append((None, StoreError(str(exc))))
    return outcomes
