"""The hub: a thin facade over one part per concern, and the handlers that change the hall's state.

Each connection's frames are validated (``protocol.messages``), checked
against the permission table (``hub.permissions``), applied to the queue
(``hub.queue_state``), made durable (``hub.store``) and only then answered
and broadcast (``hub.delivery``, with messages built by ``hub.views``).
Frames of one connection are handled in order; connections run
concurrently. The parts (Mopidy's core is the model: one controller per concern):

* ``sessions``: connections and the client registry; ``registration``: REGISTER_CLIENT and leaving;
* ``session_auth``: AUTH and LOGIN, with the login back-off;
* ``views``: every outbound message, built from the state (pure); ``delivery``: sending them;
* ``alerts``: when admins get a SYSTEM_ALERT (pure rules); ``alert_feed``: sending and keeping them;
* ``announcements``: ANNOUNCEMENT on the TVs; ``stats_feed``: the throttled STATS_UPDATE;
* ``audit``: the audit trail; ``background``: tasks left running; ``restore``: state read back at start;
* ``http_gate``, ``http_routes`` and ``metrics``: plain HTTP GET on the same port.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from msgspec import Struct
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from appliance import sd_notify
from hub import metrics, views
from hub import store as db
from hub.alert_feed import AlertFeed
from hub.alerts import AlertRules
from hub.announcements import AnnouncementBoard
from hub.audit import AuditTrail
from hub.auth import TokenAuthority
from hub.background import BackgroundTasks
from hub.clock import Clock, SystemClock
from hub.delivery import Delivery
from hub.event_log import log_event
from hub.http_gate import HttpGate
from hub.permissions import check as permission_problem
from hub.queue_state import HallQueue, QueueError
from hub.rate_limit import TokenBucket
from hub.registration import Registration
from hub.restore import restore_hall
from hub.session_auth import SessionAuth
from hub.sessions import ClientRegistry, Session, peer_of
from hub.site_config import SiteConfig
from hub.stats_feed import StatsThrottle
from protocol import messages as m

__version__ = "0.1.0"

log = logging.getLogger("qms.hub")

RECENT_CALLS_KEPT = 20


@dataclass
class HubOptions:
    host: str = "127.0.0.1"
    port: int = 3001
    ssl_context: ssl.SSLContext | None = None
    auth_timeout: float = 10.0
    tick_interval: float = 1.0
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    # How long a closing handshake may take before the TCP connection is dropped.
    close_timeout: float = 5.0
    # Browser Origins allowed besides the hub's own (from the site file).
    allowed_origins: tuple[str, ...] = ()


class Hub:
    def __init__(self, site: SiteConfig, data_dir: str | Path, *, options: HubOptions | None = None,
                 clock: Clock | None = None):
        self.site = site
        self.data_dir = Path(data_dir)
        self.options = options or HubOptions()
        self.clock: Clock = clock or SystemClock()
        # Tokens are checked against the hub's clock, the one every other rule uses.
        self.tokens = TokenAuthority.from_data_dir(self.data_dir, clock=lambda: self.clock.now().timestamp())
        self.clients = ClientRegistry()
        self.metrics = metrics.HubMetrics(self)
        self.delivery = Delivery(self.metrics)
        self.background = BackgroundTasks()
        self.audit = AuditTrail(self.clock, self.background)
        self.session_auth = SessionAuth(self.tokens, self.clock, self.audit, self.send, self.error)
        self.alerts = AlertFeed(AlertRules(site.alerts, (c.id for c in site.counters), self.clock.now()), self.clock,
                                self.to_admins)
        self.stats_feed = StatsThrottle(site.stats_interval, self.clock, self._send_stats)
        self.http = HttpGate(self, self.metrics, (*self.options.allowed_origins, *site.allowed_origins),
                             version=__version__)
        self.registration = Registration(
            site=site, clock=self.clock, clients=self.clients, alert_rules=self.alerts.rules, audit=self.audit,
            delivery=self.delivery, version=__version__, queue=self._live_queue, snapshot=self.snapshot,
            close=self.close, refuse=self.error, to_admins=self.to_admins)
        self.board = AnnouncementBoard(self.clock, self.clients, self.delivery, self.audit)
        self.recent_calls: deque[m.CallRecord] = deque(maxlen=RECENT_CALLS_KEPT)
        self.store: db.Store | None = None
        self.queue: HallQueue | None = None
        self.started_at: datetime | None = None
        self._server: Server | None = None
        self._tick_task: asyncio.Task[None] | None = None
        self._pending_tickets: dict[int, asyncio.Future[Any]] = {}
        self._handlers: dict[type, Callable[[Session, Any], Awaitable[None]]] = {
            m.RegisterClient: self.registration.register,
            m.TicketRequest: self._on_ticket_request,
            m.CallTicket: self._on_call_ticket,
            m.CounterStatusChange: self._on_counter_status_change,
            m.Announcement: self.board.on_announcement,
            m.DeviceStatus: self._on_device_status,
        }

    # --- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        now = self.clock.now()
        self.started_at = now
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = db.Store(self.data_dir / "qms.db")
        self.audit.store = self.session_auth.store = self.board.store = self.store
        self.queue = self._load_state(now)
        self.store.start()
        self._server = await serve(
            self._handle_connection, self.options.host, self.options.port,
            ssl=self.options.ssl_context,
            process_request=self.http.process_request,
            compression=None,
            max_size=m.MAX_MESSAGE_BYTES,
            # A few queued frames are plenty: clients send a message at a time.
            max_queue=4,
            ping_interval=self.options.ping_interval,
            ping_timeout=self.options.ping_timeout,
            close_timeout=self.options.close_timeout,
            server_header=f"qms-hub/{__version__}",
        )
        self._tick_task = asyncio.create_task(self._tick_forever(), name="hub-tick")
        log_event("hub.started", host=self.options.host, port=self.port, service_day=self.queue.service_day,
                  tls=self.options.ssl_context is not None)
        # Type=notify: systemd counts the hub as started only now that it listens (no-op outside systemd).
        sd_notify.ready(f"serving {self.site.site_name} on port {self.port}, day {self.queue.service_day}")

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        sd_notify.stopping()
        if self._tick_task:
            self._tick_task.cancel()
        self.stats_feed.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await self.background.drain()
        if self.store is not None:
            await self.store.close()
        log_event("hub.stopped")

    async def serve_forever(self) -> None:
        assert self._server is not None
        await self._server.serve_forever()

    def _load_state(self, now: datetime) -> HallQueue:
        assert self.store is not None
        restored = restore_hall(self.store, self.site, now)
        self.board.restore(restored.announcements)
        for runtime in restored.queue.counters.values():
            if runtime.current is not None and runtime.current.called_at is not None:
                self.recent_calls.append(views.call_record(self.site, runtime.current))
        log_event("hub.state_loaded", service_day=restored.queue.service_day, tickets=restored.tickets,
                  expired_from_earlier_days=restored.expired_from_earlier_days)
        return restored.queue

    def _live_queue(self) -> HallQueue:
        assert self.queue is not None, "the hub has not started"
        return self.queue

    # --- one connection -----------------------------------------------------------------

    async def _handle_connection(self, ws: ServerConnection) -> None:
        rate = self.site.rate_limit
        session = Session(ws=ws, bucket=TokenBucket(rate=rate.rate, burst=rate.burst), peer=peer_of(ws))
        self.clients.opened(session)
        self.metrics.connections_total += 1
        auth_deadline = asyncio.get_running_loop().call_later(
            self.options.auth_timeout, self._close_unauthenticated, session)
        try:
            async for frame in ws:
                await self._on_frame(session, frame)
        except ConnectionClosed:
            pass
        finally:
            auth_deadline.cancel()
            self.clients.closed(session)
            self.registration.leave(session, closing=True)

    def _close_unauthenticated(self, session: Session) -> None:
        if session.identity is None:
            self.close(session, 1008, "authentication timeout", reason="timeout")

    def close(self, session: Session, code: int, text: str, *, reason: str) -> None:
        session.close_reason = reason
        session.close_detail = text
        self.background.spawn(session.ws.close(code, text))

    async def _on_frame(self, session: Session, frame: str | bytes) -> None:
        self.metrics.frames_in += 1
        if not session.bucket.take(self.clock.monotonic()):
            self._on_rate_limited(session)
            return
        if isinstance(frame, bytes):
            self.error(session, "INVALID_MESSAGE", "binary frames are not accepted: send JSON text frames")
            return
        try:
            message = m.decode_client_message(frame)
        except m.InvalidMessage as exc:
            self.error(session, "INVALID_MESSAGE", f"invalid message: {exc}", exc.message_type, exc.request_id)
            return
        await self._dispatch(session, message)

    def _on_rate_limited(self, session: Session) -> None:
        if session.bucket.refused >= self.site.rate_limit.close_after:
            if session.close_reason is None:
                log_event("connection.flood_closed", logging.WARNING, actor=session.actor, peer=session.peer)
                self.close(session, 1008, "rate limit exceeded", reason="network_error")
            return
        now = self.clock.monotonic()
        # One RATE_LIMITED a second is enough: answering every refused frame would amplify the flood.
        if session.last_rate_error is None or now - session.last_rate_error >= 1.0:
            session.last_rate_error = now
            self.error(session, "RATE_LIMITED", "too many messages: slow down")

    async def _dispatch(self, session: Session, message: m.ClientMessage) -> None:
        self.metrics.count_message(m.message_type(message))
        if isinstance(message, m.Ping):
            self.send(session, m.Pong(m.PongPayload(timestamp=message.payload.timestamp)))
            return
        if isinstance(message, m.Auth):
            self.session_auth.on_auth(session, message)
            return
        if isinstance(message, m.Login):
            await self.session_auth.on_login(session, message)
            return
        identity = session.identity
        if identity is None:
            self.error(session, "AUTH_FAILED", "authenticate first: send AUTH or LOGIN", message)
            return
        if identity.expires_at <= self.clock.now():
            session.identity = None
            self.error(session, "AUTH_FAILED", "token expired: authenticate again", message)
            return
        problem = permission_problem(identity, message)
        if problem is not None:
            log_event("request.forbidden", logging.WARNING, actor=session.actor, type=m.message_type(message),
                      problem=problem)
            self.error(session, "FORBIDDEN", problem, message)
            return
        handler = self._handlers[type(message)]
        try:
            await handler(session, message)
        except QueueError as exc:
            self.error(session, exc.code, exc.message, message)
        except db.StoreError as exc:
            log_event("store.failed", logging.ERROR, actor=session.actor, type=m.message_type(message),
                      problem=str(exc))
            self.alerts.system_error(f"Lỗi cơ sở dữ liệu: {exc}")
            self.error(session, "INTERNAL_ERROR",
                       "Hệ thống đang gặp sự cố lưu dữ liệu, xin thử lại (the hub could not save this)", message)
        except Exception as exc:  # noqa: BLE001 - a bug must cost one request, not the connection
            log.exception("handling %s failed", m.message_type(message))
            self.alerts.system_error(f"Lỗi hệ thống khi xử lý {m.message_type(message)}: {exc}")
            self.error(session, "INTERNAL_ERROR", "internal error: the request was not carried out", message)

    # --- tickets --------------------------------------------------------------------------------

    async def _on_ticket_request(self, session: Session, message: m.TicketRequest) -> None:
        assert self.queue is not None and self.store is not None
        p = message.payload
        now = self.clock.now()
        self._roll_day(now)
        issued = self.queue.issue_ticket(now, code=secrets.token_urlsafe(12), counter_id=p.counter_id,
                                         procedure_id=p.procedure_id, request_id=p.request_id,
                                         kiosk_id=session.client_id)
        ticket = issued.ticket

        def created(for_requester: bool) -> m.TicketCreated:
            return views.ticket_created(self.site, ticket, issued.people_ahead, issued.estimated_wait_minutes,
                                        for_requester=for_requester)

        if not issued.created:
            pending = self._pending_tickets.get(ticket.ticket_id)
            if pending is not None:
                await asyncio.shield(pending)
            log_event("ticket.retried", actor=session.actor, request_id=p.request_id, number=ticket.number)
            self.send(session, created(True))
            return
        row = db.ticket_row(ticket)
        entry = self.audit.entry(session, "ticket.issued", {
            "ticket_id": ticket.ticket_id, "counter_id": ticket.counter_id, "number": ticket.number,
            "request_id": ticket.request_id,
        })
        # A plain future, not a task: awaiters wake in commit order, so a call of
        # this ticket queued just after it is never announced before it.
        write = self.store.submit(lambda conn: _save(conn, [row], entry))
        self._pending_tickets[ticket.ticket_id] = write
        try:
            await write
        except db.StoreError:
            self.queue.withdraw(ticket)
            raise
        finally:
            self._pending_tickets.pop(ticket.ticket_id, None)
        self.metrics.tickets_issued += 1
        self.audit.log(entry)
        self.delivery.deliver(
            ((session.ws,), created(True)),
            (self.clients.recipients("tv", "admin", exclude=session), created(False)),
            (self.clients.registered, views.queue_update(self.site, self.queue, ticket.counter_id)),
        )
        self.alerts.check_queue_length(self.queue, ticket.counter_id)
        self.stats_feed.changed()

    # --- calls ------------------------------------------------------------------------------------

    async def _on_call_ticket(self, session: Session, message: m.CallTicket) -> None:
        assert self.queue is not None and self.store is not None
        p = message.payload
        now = self.clock.now()
        self._roll_day(now)
        identity = session.identity
        assert identity is not None
        called = self.queue.call(now, p.counter_id, p.ticket_number, called_by=session.actor)
        rows = [db.ticket_row(called.ticket)] + ([db.ticket_row(called.closed)] if called.closed else [])
        entry = self.audit.entry(session, "ticket.recalled" if called.recall else "ticket.called", {
            "ticket_id": called.ticket.ticket_id, "counter_id": p.counter_id, "number": called.ticket.number,
            "closed_number": called.closed.number if called.closed else None,
        })
        await self.store.submit(lambda conn: _save(conn, rows, entry))
        self.metrics.calls += 1
        self.audit.log(entry)
        call, announcement = views.call_messages(self.site, called, identity, now)
        self.recent_calls.append(views.call_record(self.site, called.ticket))
        # One write per TV carries all three: the last TV hears of the call as soon as a bare broadcast would.
        self.delivery.deliver(
            (self.clients.recipients("tv", "admin", include=session), call),
            (self.clients.audience["tv"], announcement),
            (self.clients.registered, views.queue_update(self.site, self.queue, called.ticket.counter_id)),
        )
        self.alerts.check_queue_length(self.queue, called.ticket.counter_id)
        self.stats_feed.changed()

    # --- counter status -------------------------------------------------------------------------

    async def _on_counter_status_change(self, session: Session, message: m.CounterStatusChange) -> None:
        assert self.queue is not None and self.store is not None
        p = message.payload
        now = self.clock.now()
        runtime = self.queue.counter(p.counter_id)  # COUNTER_NOT_FOUND before anything changes
        changed = self.queue.set_status(now, runtime.config.id, p.status, p.reason, session.actor)
        status, reason = changed.counter.status, changed.counter.reason
        entry = self.audit.entry(session, "counter.status_changed", {
            "counter_id": p.counter_id, "status": p.status, "reason": reason,
            "affected_tickets": changed.affected_tickets,
        })
        def save(conn: sqlite3.Connection) -> None:
            db.save_counter_status(conn, p.counter_id, status, reason, session.actor, now)
            db.write_audit(conn, entry)

        await self.store.run(save)
        self.audit.log(entry)
        update = views.counter_status_update(self.site, p.counter_id, status, reason, session.actor, now,
                                             changed.affected_tickets)
        self.delivery.deliver(
            (self.clients.registered | {session.ws}, update),
            (self.clients.registered, views.queue_update(self.site, self.queue, p.counter_id)),
        )
        self.alerts.rules.counter_status_changed(p.counter_id, status)
        self.stats_feed.changed()

    # --- device status --------------------------------------------------------------------------

    async def _on_device_status(self, session: Session, message: m.DeviceStatus) -> None:
        p = message.payload
        identity = session.identity
        assert identity is not None
        device = session.client_id or identity.client_id or session.actor
        self.audit.record(session, "device.status", {"component": p.component, "status": p.status, "code": p.code,
                                                     "message": p.message, "detail": p.detail})
        where = device + (f" ({session.location})" if session.location else "")
        self.alerts.raise_alert(self.alerts.rules.device_status(device, where, p.component, p.status, p.code,
                                                                p.message))

    # --- state for clients ---------------------------------------------------------------------

    def snapshot(self, session: Session) -> m.Snapshot:
        queue = self.queue
        assert queue is not None
        now = self.clock.now()
        return views.snapshot(
            self.site, queue, now,
            counters=views.counter_states(queue, self.alerts.rules.officer_connected),
            announcements=self.board.for_client(session),
            recent_calls=self.recent_calls,
            admin=session.client_type == "admin",
            clients=self._client_list,
            alerts=self.alerts.recent,
            stats=lambda: views.stats(queue, now),
        )

    def _client_list(self) -> list[m.ClientInfo]:
        return [views.client_info(s.client_id or "", s.client_type or "", s.location, s.identity, s.connected_since)
                for s in self.clients.registered_sessions()]

    # --- the periodic tick: the day, alerts, statistics ----------------------------------------------

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.options.tick_interval)
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a bug here must not stop the hub
                log.exception("tick failed")
            # Sent from the event loop itself: if the loop hangs the pings stop and systemd restarts the hub.
            sd_notify.watchdog_ping()

    def tick(self) -> None:
        """Periodic work: the day turning, counters left without an officer, statistics held back."""
        assert self.queue is not None
        now = self.clock.now()
        self._roll_day(now)
        self.alerts.check_unattended(self.queue)
        self.board.drop_expired()
        self.stats_feed.flush_if_due()

    def _roll_day(self, now: datetime) -> None:
        assert self.queue is not None and self.store is not None
        rolled = self.queue.roll_day_if_needed(now)
        if rolled is None:
            return
        rows = [db.ticket_row(t) for t in rolled.expired]
        entry = db.AuditEntry(now, "hub", None, None, "day.rolled", {
            "previous_day": rolled.previous_day.isoformat(), "service_day": rolled.service_day.isoformat(),
            "expired_tickets": len(rows),
        })
        # Queued before any request of the new day, so it commits first.
        self.background.spawn(self.store.run(lambda conn: _save(conn, rows, entry)))
        self.audit.log(entry)
        self.recent_calls.clear()
        self.alerts.rules.day_rolled()
        for counter in self.site.counters:
            self.delivery.broadcast(self.clients.registered, views.queue_update(self.site, self.queue, counter.id))
        self.stats_feed.changed()

    def _send_stats(self) -> None:
        if self.clients.audience["admin"] and self.queue is not None:
            self.to_admins(m.StatsUpdate(views.stats(self.queue, self.clock.now())))

    # --- sending ----------------------------------------------------------------------------------

    def send(self, session: Session, message: Struct) -> None:
        self.delivery.send(session.ws, message)

    def to_admins(self, message: Struct, exclude: Session | None = None) -> None:
        self.delivery.broadcast(self.clients.recipients("admin", exclude=exclude), message)

    def error(self, session: Session, code: str, text: str, failed: m.ClientMessage | str | None = None,
              request_id: str | None = None) -> None:
        self.metrics.count_error(code)
        self.send(session, views.error(code, text, self.clock.now(), failed, request_id))


def _save(conn: sqlite3.Connection, rows: list[dict[str, Any]], entry: db.AuditEntry) -> None:
    db.save_ticket_rows(conn, rows)
    db.write_audit(conn, entry)


__all__ = ["Hub", "HubOptions", "Session"]
