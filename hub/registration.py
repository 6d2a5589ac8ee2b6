"""REGISTER_CLIENT and leaving: a connection joins the hall as a kiosk, TV, officer or admin console.

Registration puts the session in the client registry (a device's id is its
own; a reconnect displaces the device's lingering old connection), counts
an officer present at its counter, and sends the client its whole state in
one write. Leaving (a close, or registering again) undoes that and tells
the admins why the client went.
"""

from __future__ import annotations

from collections.abc import Callable

from hub import views
from hub.alerts import AlertRules
from hub.audit import AuditTrail
from hub.clock import Clock
from hub.delivery import Delivery, Plan
from hub.queue_state import HallQueue
from hub.sessions import ClientRegistry, Session, close_text, disconnect_reason
from hub.site_config import SiteConfig
from protocol import messages as m

# How the first officer's console is closed when a second one takes the counter over.
TAKEN_OVER_CODE = 4001
TAKEN_OVER_REASON = "Quầy đã được cán bộ khác nhận (taken over)"


class Registration:
    def __init__(self, *, site: SiteConfig, clock: Clock, clients: ClientRegistry, alert_rules: AlertRules,
                 audit: AuditTrail, delivery: Delivery, version: str,
                 queue: Callable[[], HallQueue], snapshot: Callable[[Session], m.Snapshot],
                 close: Callable[..., None], refuse: Callable[..., None],
                 to_admins: Callable[..., None]):
        self.site, self.clock, self.clients = site, clock, clients
        self.alert_rules, self.audit, self.delivery = alert_rules, audit, delivery
        self.version = version
        self._queue, self._snapshot = queue, snapshot
        self._close, self._refuse, self._to_admins = close, refuse, to_admins

    async def register(self, session: Session, message: m.RegisterClient) -> None:
        p = message.payload
        identity = session.identity
        assert identity is not None
        if self.clients.holder_is_other_device(session, p.client_id, p.client_type):
            self._refuse(session, "FORBIDDEN", f"client_id {p.client_id!r} belongs to a connected device", message)
            return
        previous = self.clients.previous_holder(session, p.client_id)
        busy = None
        if p.client_type == "officer" and identity.counter_id is not None:
            busy = self.clients.officer_at(identity.counter_id, besides=session)
            if busy is previous:
                busy = None  # the same console reconnecting: the newer connection wins, as for devices
            if busy is not None and not p.take_over:
                holder = busy.identity.full_name or busy.identity.username if busy.identity else None
                self._refuse(session, "COUNTER_BUSY",
                             f"Quầy {identity.counter_id} đang có cán bộ {holder or busy.actor} làm việc; chọn "
                             "\"Nhận quầy\" để thay (the counter has an officer: register with take_over)", message)
                return
        if session.registered:
            self.leave(session, closing=False)
        if previous is not None:
            # The same device again (a reconnect whose old socket has not timed out yet): the newer one wins.
            self._close(previous, 1000, "replaced by a newer connection", reason="manual_disconnect")
            self.leave(previous, closing=True)
        if busy is not None:
            self.audit.record(session, "counter.taken_over", {"counter_id": identity.counter_id,
                                                              "from": busy.actor})
            # A close reason is at most 123 bytes of UTF-8: a fixed text the console knows how to show.
            self._close(busy, TAKEN_OVER_CODE, TAKEN_OVER_REASON, reason="manual_disconnect")
            self.leave(busy, closing=True)
        now = self.clock.now()
        self.clients.register(session, p.client_type, p.client_id, p.location, now)
        if p.client_type == "tv":
            self.delivery.pace(session.ws)  # a board: what it hears may wait its turn under load
        if p.client_type == "officer" and identity.counter_id is not None:
            self.alert_rules.officer_arrived(identity.counter_id)
            self.audit.hall_event("officer.logged_in", actor=session.actor, counter_id=identity.counter_id,
                                  detail={"user_id": identity.user_id, "client_id": p.client_id})
            self._refresh_displays(identity.counter_id)
        self.audit.record(session, "client.registered", {"client_type": p.client_type, "location": p.location})
        ack = m.ConnectionAck(m.ConnectionAckPayload(
            client_id=p.client_id, server_time=m.utc_timestamp(now), connected_clients=len(self.clients.registered),
            client_type=p.client_type, hub_version=self.version))
        # The acknowledgement and the whole state in one write: a client is current at once.
        me = (session.ws,)
        queue = self._queue()
        state: list[Plan] = [(me, ack), (me, self._snapshot(session))]
        state += [(me, views.queue_update(self.site, queue, c.id)) for c in self.site.counters]
        self.delivery.deliver(*state)
        self._to_admins(m.ClientConnected(m.ClientConnectedPayload(
            client_id=p.client_id, client_type=p.client_type, timestamp=m.utc_timestamp(now),
            location=p.location)), exclude=session)

    def _refresh_displays(self, counter_id: int) -> None:
        """A new SNAPSHOT to the counter's display: it shows who serves there (an officer came or went)."""
        for ws in self.clients.counter_displays(counter_id):
            self.delivery.send(ws, self._snapshot(self.clients.sessions[ws]))

    def officer_name(self, counter_id: int) -> str | None:
        """The full name (or username) of the officer at a counter now, for the counter's display."""
        officer = self.clients.officer_at(counter_id)
        identity = officer.identity if officer is not None else None
        if identity is None:
            return None
        return identity.full_name or identity.username

    def leave(self, session: Session, *, closing: bool) -> None:
        """The session stops being a registered client: it closed, or it registers again."""
        if not session.registered:
            return
        client_id, client_type, identity = session.client_id, session.client_type, session.identity
        assert client_id is not None
        ws = session.ws
        reason = session.close_reason or (disconnect_reason(ws) if closing else "manual_disconnect")
        detail = session.close_detail or close_text(ws) or ("" if closing else "registered again")
        # Built before the registry forgets the client, so the audit row names it.
        entry = self.audit.entry(session, "client.disconnected", {"reason": reason, "detail": detail})
        self.clients.unregister(session)
        self.delivery.unpace(ws)
        if client_type == "officer" and identity is not None and identity.counter_id is not None:
            self.alert_rules.officer_left(identity.counter_id, self.clock.now())
            self.audit.hall_event("officer.logged_out", actor=session.actor, counter_id=identity.counter_id,
                                  detail={"user_id": identity.user_id, "reason": reason})
            self._refresh_displays(identity.counter_id)
        self.audit.commit(entry)
        self._to_admins(m.ClientDisconnected(m.ClientDisconnectedPayload(
            client_id=client_id, reason=reason, timestamp=m.utc_timestamp(self.clock.now()),
            client_type=client_type, detail=detail)))
