"""RATING: the citizen's verdict on a finished service, from the counter's display or the ticket's status page.

One rating per ticket, stored with the ticket's queue, counter and officer
(the reports group by them). From the counter display of the counter that
served the ticket, within ``RATING_WINDOW`` of the finish (a tap made while
the hub was unreachable says when it was made); from the status page with the
ticket's secret code. A ``request_id`` sent again (a replay) gets the same
answer, never a second rating.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub import store as db
from hub.audit import AuditTrail
from hub.clock import Clock
from hub.delivery import Delivery
from hub.queue_state import DONE, HallQueue, QueueError, Ticket
from hub.reports import SCORES_VI as SCORES_VI  # the citizen's four answers, as the reports name them
from hub.sessions import ClientRegistry, Session
from protocol import messages as m

# How long after the finish the counter display may still record the citizen's tap.
RATING_WINDOW = timedelta(minutes=10)
# A display's idea of the hub's time may be off by this much.
CLOCK_SLACK = timedelta(seconds=30)


@dataclass(frozen=True)
class RatingCheck:
    """Whether a rating may be recorded: the ticket and the source, or why not (as a protocol error)."""

    ticket: Ticket
    source: str


def check_rating(queue: HallQueue, payload: m.RatingPayload, identity_role: str | None,
                 identity_counter: int | None, now: datetime) -> RatingCheck:
    """The rules, with no I/O: raises QueueError with the protocol's code when the rating does not apply."""
    ticket = queue.tickets.get(payload.ticket_id)
    if payload.ticket_code is not None:
        if ticket is None or ticket.code != payload.ticket_code:
            raise QueueError("TICKET_NOT_FOUND", "Không tìm thấy vé (ticket not found)")
        source = "status_page"
    else:
        if identity_role != "counter":
            raise QueueError("FORBIDDEN", "only the counter display or the ticket's status page rates a ticket")
        if ticket is None or ticket.counter_id != identity_counter:
            raise QueueError("TICKET_NOT_FOUND",
                             f"Vé {payload.ticket_id} không được phục vụ ở quầy {identity_counter} (ticket not found)")
        source = "counter"
    if ticket.status != DONE or ticket.closed_at is None:
        raise QueueError("INVALID_MESSAGE", "Chỉ đánh giá được vé đã phục vụ xong (the ticket is not done yet)")
    if source == "counter":
        tapped = now
        if payload.rated_at is not None:
            try:
                tapped = min(now, m.parse_timestamp(payload.rated_at))
            except ValueError:
                raise QueueError("INVALID_MESSAGE", f"unreadable rated_at {payload.rated_at!r}") from None
        if not ticket.closed_at - CLOCK_SLACK <= tapped <= ticket.closed_at + RATING_WINDOW:
            raise QueueError("INVALID_MESSAGE", "Đã quá thời gian đánh giá (more than 10 minutes after the finish)")
    return RatingCheck(ticket, source)


class RatingDesk:
    def __init__(self, clock: Clock, clients: ClientRegistry, delivery: Delivery, audit: AuditTrail):
        self.clock, self.clients, self.delivery, self.audit = clock, clients, delivery, audit
        self.store: db.Store | None = None
        self.queue: HallQueue | None = None

    async def on_rating(self, session: Session, message: m.Rating) -> None:
        assert self.store is not None and self.queue is not None
        p = message.payload
        now = self.clock.now()
        identity = session.identity
        device = session.client_id if identity is not None else None
        earlier = await self.store.read(lambda conn: db.find_rating(conn, p.ticket_id))
        if earlier is not None:
            if p.request_id is not None and earlier.request_id == p.request_id and earlier.client_id == device:
                known = self.queue.tickets.get(p.ticket_id)
                self._answer(session, earlier.rating_id, p, known.number if known else 0, earlier.source,
                             earlier.counter_id, earlier.rated_at)
                return
            raise QueueError("ALREADY_RATED", "Vé này đã được đánh giá (this ticket has its rating already)")
        checked = check_rating(self.queue, p, identity.role if identity else None,
                               identity.counter_id if identity else None, now)
        ticket = checked.ticket
        entry = self.audit.entry(session, "ticket.rated", {"ticket_id": ticket.ticket_id, "score": p.score,
                                                           "source": checked.source, "counter_id": ticket.counter_id})

        def save(conn: sqlite3.Connection) -> int:
            db.write_audit(conn, entry)
            return db.save_rating(conn, ticket, p.score, p.comment, checked.source, device, p.request_id, now)

        try:
            rating_id = await self.store.submit(save, brief=True)
        except db.StoreError as exc:
            if "UNIQUE" in str(exc):  # rated meanwhile, by the other way
                raise QueueError("ALREADY_RATED", "Vé này đã được đánh giá (this ticket has its rating already)") \
                    from None
            raise
        self.audit.log(entry)
        self._answer(session, rating_id, p, ticket.number, checked.source, ticket.counter_id, now)

    def _answer(self, session: Session, rating_id: int, p: m.RatingPayload, number: int, source: str,
                counter_id: int | None, at: datetime) -> None:
        recorded = m.RatingRecorded(m.RatingRecordedPayload(
            rating_id=rating_id, ticket_id=p.ticket_id, ticket_number=number, score=p.score, counter_id=counter_id,
            source=source, timestamp=m.utc_timestamp(at), request_id=p.request_id))
        self.delivery.broadcast(self.clients.audience["admin"] | self.clients.counter_displays(counter_id)
                                | {session.ws}, recorded)
