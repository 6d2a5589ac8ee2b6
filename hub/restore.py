"""What the hub reads back from its database when it starts: today's queue, announcements still on show.

Tickets of earlier days still open (the hub was down over midnight) are
expired first. The service day is never earlier than the last one opened or
the last event recorded: a Raspberry Pi without a real-time clock may boot
with an old time, and opening yesterday would give today's numbers again.
Runs once, before the hub serves, on the store's connection.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date, datetime

from hub import store as db
from hub.queue_state import HallQueue
from hub.site_config import SiteConfig


@dataclass(frozen=True)
class Restored:
    queue: HallQueue
    announcements: list[db.StoredAnnouncement]
    tickets: int
    expired_from_earlier_days: int
    # The clock said an earlier day than the database had already opened (a Pi booted with an old time).
    clock_behind: bool


def restore_hall(store: db.Store, site: SiteConfig, now: datetime) -> Restored:
    """Today's hall as stored; the service day never goes back, whatever the clock says."""

    def load(conn: sqlite3.Connection) -> Restored:
        clock_day = now.astimezone(site.tz).date()
        stored = db.get_meta(conn, "service_day")
        last_event = db.last_event_at(conn)
        known = [clock_day]
        if stored:
            known.append(date.fromisoformat(stored))
        if last_event is not None:
            known.append(last_event.astimezone(site.tz).date())
        queue_day = max(known)
        if stored != queue_day.isoformat():
            db.set_meta(conn, "service_day", queue_day.isoformat())
        expired = db.expire_old_tickets(conn, queue_day, now)
        queue = HallQueue(site, queue_day, next_ticket_id=db.next_ticket_id(conn))
        for status in db.load_counter_statuses(conn):
            queue.restore_counter_status(*status)
        tickets = db.load_tickets(conn, queue_day)
        queue.restore_tickets(tickets)
        return Restored(queue, db.load_active_announcements(conn, now), len(tickets), expired, queue_day > clock_day)

    return store.run_sync(load)
