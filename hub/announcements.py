"""ANNOUNCEMENT: a leader's or admin's message on the hall's TVs, kept on show until it expires.

An announcement is durable before anyone sees it, reaches the TVs it names
(every TV when it names none), the admins and its sender, and is part of the
SNAPSHOT of a TV that connects while it is still on show, also after a
restart of the hub.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import timedelta

from hub import store as db
from hub import views
from hub.audit import AuditTrail
from hub.clock import Clock
from hub.delivery import Delivery
from hub.sessions import ClientRegistry, Session
from protocol import messages as m


class AnnouncementBoard:
    def __init__(self, clock: Clock, clients: ClientRegistry, delivery: Delivery, audit: AuditTrail):
        self.clock, self.clients, self.delivery, self.audit = clock, clients, delivery, audit
        self.store: db.Store | None = None
        self.showing: list[m.AnnouncementOutPayload] = []

    def restore(self, stored: Iterable[db.StoredAnnouncement]) -> None:
        self.showing.extend(views.announcement(a) for a in stored)

    def drop_expired(self) -> None:
        self.showing = views.still_showing(self.showing, self.clock.now())

    def for_client(self, session: Session) -> list[m.AnnouncementOutPayload]:
        self.drop_expired()
        return views.announcements_for(session.client_type, session.client_id, self.showing)

    async def on_announcement(self, session: Session, message: m.Announcement) -> None:
        assert self.store is not None
        p = message.payload
        now = self.clock.now()
        expires = now + timedelta(seconds=p.duration)
        entry = self.audit.entry(session, "announcement.sent", {
            "message": p.message, "priority": p.priority, "duration": p.duration, "targets": p.target_displays,
        })
        def save(conn: sqlite3.Connection) -> int:
            db.write_audit(conn, entry)
            return db.save_announcement(conn, p.message, p.priority, p.duration, p.target_displays, session.actor,
                                        now, expires)

        announcement_id = await self.store.run(save)
        self.audit.log(entry)
        payload = m.AnnouncementOutPayload(
            message=p.message, priority=p.priority, duration=p.duration, target_displays=list(p.target_displays),
            announcement_id=announcement_id, sent_by=session.actor, timestamp=m.utc_timestamp(now),
            expires_at=m.utc_timestamp(expires),
        )
        self.showing.append(payload)
        tvs = (self.clients.tvs_named(payload.target_displays) if payload.target_displays
               else self.clients.audience["tv"])
        self.delivery.broadcast(tvs | self.clients.audience["admin"] | {session.ws}, m.AnnouncementOut(payload))
