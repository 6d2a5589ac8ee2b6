"""Shipping the hall's history to the province's PostgreSQL, store-and-forward, never in the hall's way.

Every event the hall records is in its SQLite ``events`` table, numbered by
``event_id``. A background task reads the next batch after the cursor (the
last event PostgreSQL confirmed, kept in the ``meta`` table), sends the events
and the current state of the tickets they touch in one PostgreSQL
transaction, and moves the cursor on only after that commit: at-least-once
delivery. PostgreSQL keeps an event once (its key is the hall's site id,
event id and time, which a resend repeats) and a ticket's newest state (by
``version``, the hall's highest event id for it), so a resend after a WAN
cut, a restart, a SIGKILL or a PostgreSQL restart loses and doubles nothing.

Reading SQLite runs in a worker thread (``Store.read``), PostgreSQL is
spoken to asynchronously (psycopg 3), and a failure only waits longer before
the next try: with PostgreSQL down the hall serves as fast as with it up.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from hub import store as db
from hub.clock import Clock
from hub.event_log import log_event
from hub.site_config import CentralConfig, SiteConfig

log = logging.getLogger("qms.shipping")

CURSOR_KEY = "central_shipped_event_id"
PASSWORD_ENV = "QMS_CENTRAL_PASSWORD"
IDLE_POLL_SECONDS = 2.0
RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)

EVENT_COLUMNS = ("site_id", "event_id", "at", "kind", "ticket_id", "counter_id", "queue_id", "actor", "detail")
TICKET_COLUMNS = (
    "site_id", "ticket_id", "version", "service_day", "queue_id", "origin_queue_id", "queue_name", "field_id",
    "field_name",
    "procedure_id", "number", "priority", "priority_reason", "status", "counter_id", "counter_name", "officer",
    "officer_name", "created_at", "first_called_at", "served_since", "closed_at", "transfers", "rating",
)


@dataclass(frozen=True)
class Batch:
    events: list[tuple[Any, ...]]
    tickets: list[tuple[Any, ...]]
    last_event_id: int


@dataclass
class ShippingStatus:
    """What /healthz, /metrics and the admin page show of the shipping."""

    enabled: bool
    pending_events: int = 0
    oldest_pending_at: datetime | None = None
    shipped_events: int = 0
    last_shipped_at: datetime | None = None
    problem: str = ""
    cursor: int = 0
    batches: int = 0
    failures: int = 0
    history: list[str] = field(default_factory=list)

    def lag_seconds(self, now: datetime) -> float:
        return max(0.0, (now - self.oldest_pending_at).total_seconds()) if self.oldest_pending_at else 0.0

    def as_health(self, now: datetime) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "pending_events": self.pending_events,
            "lag_seconds": round(self.lag_seconds(now), 1),
            "last_shipped_at": self.last_shipped_at.isoformat() if self.last_shipped_at else None,
            "problem": self.problem,
        }


def read_batch(conn: sqlite3.Connection, site: SiteConfig, after: int, limit: int) -> Batch:
    """The next events after ``after`` and the current state of the tickets they touch, as PostgreSQL rows."""
    rows = conn.execute(
        "SELECT event_id, at, kind, ticket_id, counter_id, queue_id, actor, detail FROM events "
        "WHERE event_id > ? ORDER BY event_id LIMIT ?", (after, limit)).fetchall()
    if not rows:
        return Batch([], [], after)
    events = [(site.site_id, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]
    ticket_ids = sorted({r[3] for r in rows if r[3] is not None})
    tickets: list[tuple[Any, ...]] = []
    for start in range(0, len(ticket_ids), 500):
        chunk = ticket_ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        found = conn.execute(
            "SELECT t.ticket_id, (SELECT MAX(e.event_id) FROM events e WHERE e.ticket_id = t.ticket_id), "
            "t.service_day, t.queue_id, t.procedure_id, t.number, t.priority, t.priority_reason, t.status, "
            "t.counter_id, t.called_by, u.full_name, t.created_at, t.first_called_at, t.served_since, t.closed_at, "
            "t.transfers, r.score, t.origin_queue_id FROM tickets t LEFT JOIN ratings r ON r.ticket_id = t.ticket_id "
            f"LEFT JOIN users u ON u.user_id = t.officer_user_id WHERE t.ticket_id IN ({marks})", chunk).fetchall()
        for t in found:
            queue = site.queue(t[3])
            procedure = site.procedure(t[4]) if t[4] is not None else None
            field_config = site.field(procedure.field_id) if procedure and procedure.field_id else None
            counter = site.counter(t[9]) if t[9] is not None else None
            tickets.append((
                site.site_id, t[0], t[1] or 0, t[2], t[3], t[18], queue.name if queue else "",
                field_config.id if field_config else None, field_config.name if field_config else None, t[4],
                t[5], bool(t[6]), t[7], t[8], t[9], counter.name if counter else None, t[10], t[11], t[12],
                t[13], t[14], t[15], t[16], t[17],
            ))
    return Batch(events, tickets, rows[-1][0])


def pending(conn: sqlite3.Connection, after: int) -> tuple[int, datetime | None]:
    """How many events PostgreSQL has not confirmed yet, and when the oldest of them happened."""
    count, oldest = conn.execute("SELECT COUNT(*), MIN(at) FROM events WHERE event_id > ?", (after,)).fetchone()
    return int(count), datetime.fromisoformat(oldest) if oldest else None


def read_password(central: CentralConfig) -> str | None:
    if central.password_file:
        return Path(central.password_file).read_text(encoding="utf-8").strip()
    return os.environ.get(PASSWORD_ENV)


def _copy_text(rows: list[tuple[Any, ...]]) -> bytes:
    """Rows in COPY's text format (tab separated, \\N for NULL, backslash escapes)."""
    out = io.StringIO()
    for row in rows:
        cells = []
        for value in row:
            if value is None:
                cells.append("\\N")
                continue
            text = ("t" if value else "f") if isinstance(value, bool) else str(value)
            cells.append(text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r"))
        out.write("\t".join(cells) + "\n")
    return out.getvalue().encode("utf-8")


# The tickets' newest state, and each one's first caller (the province's reports count a ticket's issue
# and wait for whoever first called it; the hall's row names the last): the first ``ticket.called`` of the
# first batch that has one, never changed after. Events are shipped in order, so no later batch holds an
# earlier call; a batch sent again keeps what the first sending set.
_UPSERT_TICKETS = (
    "INSERT INTO tickets ({columns}, first_counter_id, first_officer) "
    "SELECT {incoming}, c.counter_id, c.actor FROM incoming_tickets t LEFT JOIN ("
    "SELECT DISTINCT ON (ticket_id) ticket_id, counter_id, NULLIF(actor, '') AS actor FROM incoming_events "
    "WHERE kind = 'ticket.called' ORDER BY ticket_id, event_id) c ON c.ticket_id = t.ticket_id "
    "ON CONFLICT (site_id, ticket_id) DO UPDATE SET {updates}, "
    "first_counter_id = COALESCE(tickets.first_counter_id, EXCLUDED.first_counter_id), "
    "first_officer = CASE WHEN tickets.first_counter_id IS NULL THEN EXCLUDED.first_officer "
    "ELSE tickets.first_officer END "
    "WHERE tickets.version <= EXCLUDED.version"
)


async def send_batch(conn: Any, batch: Batch) -> None:
    """One PostgreSQL transaction: the events (a copy already there is dropped) and the tickets' newest state."""
    async with conn.transaction():
        await conn.execute("CREATE TEMP TABLE IF NOT EXISTS incoming_events (LIKE events INCLUDING DEFAULTS) "
                           "ON COMMIT DELETE ROWS")
        await conn.execute("CREATE TEMP TABLE IF NOT EXISTS incoming_tickets (LIKE tickets INCLUDING DEFAULTS) "
                           "ON COMMIT DELETE ROWS")
        async with conn.cursor().copy(f"COPY incoming_events ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
            await copy.write(_copy_text(batch.events))
        await conn.execute(f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) SELECT {', '.join(EVENT_COLUMNS)} "
                           "FROM incoming_events ON CONFLICT DO NOTHING")
        if batch.tickets:
            async with conn.cursor().copy(f"COPY incoming_tickets ({', '.join(TICKET_COLUMNS)}) FROM STDIN") as copy:
                await copy.write(_copy_text(batch.tickets))
            updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in TICKET_COLUMNS if c not in ("site_id", "ticket_id"))
            await conn.execute(_UPSERT_TICKETS.format(
                columns=", ".join(TICKET_COLUMNS), incoming=", ".join(f"t.{c}" for c in TICKET_COLUMNS),
                updates=updates))


class Shipper:
    """The background task that ships; its status is read by /healthz, /metrics and STATS_UPDATE."""

    def __init__(self, site: SiteConfig, store: db.Store, clock: Clock, alert: Callable[[str, str], None], *,
                 poll_seconds: float = IDLE_POLL_SECONDS, retry_seconds: tuple[float, ...] = RETRY_SECONDS,
                 changed: Callable[[], None] | None = None):
        self.poll_seconds = poll_seconds
        # Told when what the admin page shows changes (events waiting, the problem, the lag's minute).
        self._changed = changed
        self._shown: tuple[int, str, int] | None = None
        self.retry_seconds = retry_seconds
        self.site = site
        self.central = site.central
        self.store = store
        self.clock = clock
        self._alert = alert
        self.status = ShippingStatus(enabled=self.central.enabled)
        self._task: asyncio.Task[None] | None = None
        self._conn: Any = None
        self._lag_alerted = False

    def start(self) -> None:
        if self.central.enabled:
            self._task = asyncio.create_task(self._run(), name="hub-shipping")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _run(self) -> None:
        cursor_text = await self.store.read(lambda conn: db.get_meta(conn, CURSOR_KEY))
        self.status.cursor = int(cursor_text or 0)
        failures = 0
        while True:
            try:
                shipped = await self._ship_once()
                failures = 0
                if shipped:
                    continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the WAN, PostgreSQL or a bug: wait, try again, tell
                failures += 1
                self.status.failures += 1
                # psycopg's messages run over lines: one line for the admin page, the alert and the journal.
                problem = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
                if self._conn is not None:
                    conn, self._conn = self._conn, None
                    with contextlib.suppress(Exception):  # it is broken already
                        await conn.close()
                # What is waiting is read before the problem is shown, and the two are shown together: between
                # them, /healthz and the admin page told of a failure with nothing waiting.
                count, oldest = await self._pending_now()
                self.status.problem = problem
                if failures == 1 or failures % 20 == 0:
                    log_event("shipping.failed", logging.WARNING, problem=problem, failures=failures)
                self._show_pending(count, oldest)
                await asyncio.sleep(self.retry_seconds[min(failures - 1, len(self.retry_seconds) - 1)])
                continue
            await asyncio.sleep(self.poll_seconds)

    async def _ship_once(self) -> bool:
        """One batch if there is one; whether something was shipped."""
        after = self.status.cursor
        batch = await self.store.read(lambda conn: read_batch(conn, self.site, after, self.central.batch_size))
        if not batch.events:
            # Nothing after the cursor: nothing pending either, no second reading needed.
            self._show_pending(0, None)
            self.status.problem = ""
            return False
        conn = await self._connection()
        await send_batch(conn, batch)
        await self.store.run(lambda c: db.set_meta(c, CURSOR_KEY, str(batch.last_event_id)))
        self.status.cursor = batch.last_event_id
        self.status.shipped_events += len(batch.events)
        self.status.batches += 1
        self.status.last_shipped_at = self.clock.now()
        self.status.problem = ""
        await self._refresh_pending()
        return True

    async def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            import psycopg  # imported when shipping is on: a hall without a province server needs none

            # The password file is read off the event loop, like every other file of the hub's.
            password = await asyncio.to_thread(read_password, self.central)
            self._conn = await psycopg.AsyncConnection.connect(
                self.central.url, password=password, connect_timeout=10,
                application_name=f"qms-hub {self.site.site_id}", autocommit=True)
        return self._conn

    async def _pending_now(self) -> tuple[int, datetime | None]:
        after = self.status.cursor
        return await self.store.read(lambda conn: pending(conn, after))

    async def _refresh_pending(self) -> None:
        self._show_pending(*await self._pending_now())

    def _show_pending(self, count: int, oldest: datetime | None) -> None:
        self.status.pending_events, self.status.oldest_pending_at = count, oldest
        late = self.status.lag_seconds(self.clock.now()) > self.central.lag_alert_minutes * 60
        if late and not self._lag_alerted:
            self._lag_alerted = True
            minutes = int(self.status.lag_seconds(self.clock.now()) // 60)
            self._alert(f"Chưa gửi được dữ liệu về máy chủ tỉnh: {count} sự kiện chờ gửi, lâu nhất {minutes} phút "
                        f"({self.status.problem or 'đang gửi'})", "warning")
        elif not late:
            self._lag_alerted = False
        shown = (count, self.status.problem, int(self.status.lag_seconds(self.clock.now()) // 60))
        if shown != self._shown:
            self._shown = shown
            if self._changed is not None:
                self._changed()
