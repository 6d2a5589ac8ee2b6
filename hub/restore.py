"""What the hub reads back from its database when it starts: today's queue, announcements still on show.

Tickets of earlier days still open (the hub was down over midnight) are
expired first. Runs once, before the hub serves, on the store's connection.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from hub import store as db
from hub.queue_state import HallQueue
from hub.site_config import SiteConfig


@dataclass(frozen=True)
class Restored:
    queue: HallQueue
    announcements: list[db.StoredAnnouncement]
    tickets: int
    expired_from_earlier_days: int


def restore_hall(store: db.Store, site: SiteConfig, now: datetime) -> Restored:
    queue_day = now.astimezone(site.tz).date()

    def load(conn: sqlite3.Connection) -> Restored:
        expired = db.expire_old_tickets(conn, queue_day, now)
        queue = HallQueue(site, queue_day, next_ticket_id=db.next_ticket_id(conn))
        for status in db.load_counter_statuses(conn):
            queue.restore_counter_status(*status)
        tickets = db.load_tickets(conn, queue_day)
        queue.restore_tickets(tickets)
        return Restored(queue, db.load_active_announcements(conn, now), len(tickets), expired)

    return store.run_sync(load)
