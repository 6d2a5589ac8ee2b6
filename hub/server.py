"""The hub: a thin facade over one part per concern, and the handlers that change the hall's state.

Each connection's frames are validated (``protocol.messages``), checked
against the permission table (``hub.permissions``), applied to the queue
(``hub.queue_state``), made durable (``hub.store``) and only then answered
and broadcast (``hub.delivery``, with messages built by ``hub.views``).
Frames of one connection are handled in order; connections run
concurrently. The parts (Mopidy's core is the model: one controller per concern):

* ``sessions``: connections and the client registry; ``registration``: REGISTER_CLIENT and leaving;
* ``session_auth``: AUTH and LOGIN, with the login back-off; ``token_registry``: which tokens still count;
* ``connection_gate``: connections per address, per token and before AUTH; ``ticket_limit``: tickets per token;
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
from hub import accept_log, metrics, people, views
from hub import store as db
from hub.alert_feed import AlertFeed
from hub.alerts import Alert, AlertRules
from hub.announcements import AnnouncementBoard
from hub.audit import AuditTrail
from hub.auth import TokenAuthority
from hub.background import BackgroundTasks
from hub.backup import DailyBackup, backup_directory
from hub.clock import Clock, SystemClock
from hub.connection_gate import ConnectionGate, ConnectionLimits
from hub.database_check import DataDirLock, open_data_dir
from hub.day_clock import DayClock
from hub.day_gate import DayGate
from hub.delivery import CounterState, Delivery, EveryBoard, Plan
from hub.event_log import log_event
from hub.handshake import forget_handshake
from hub.http_gate import HttpGate
from hub.permissions import check as permission_problem
from hub.queue_state import Change, HallQueue, QueueError
from hub.rate_limit import TokenBucket
from hub.ratings import RatingDesk
from hub.registration import Registration
from hub.restore import restore_hall
from hub.session_auth import SessionAuth
from hub.sessions import ClientRegistry, Session, peer_of
from hub.shipping import Shipper
from hub.site_config import SiteConfig
from hub.stats_feed import StatsThrottle
from hub.ticket_limit import TicketLimiter, ticket_keys
from hub.token_registry import TokenRegistry
from protocol import messages as m

__version__ = "0.1.0"

log = logging.getLogger("qms.hub")

RECENT_CALLS_KEPT = 20
# A change of at most this many tickets and events is a brief job for the store (its SQL may run on the
# event loop): a ticket, a call, an action. A day turning over expires whole queues: the writer thread.
BRIEF_CHANGE_ROWS = 16
TICKETS_TOO_FAST = ("Quá nhiều yêu cầu lấy số, xin chờ một lát rồi thử lại "
                    "(too many ticket requests from this kiosk or token: wait a moment)")


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
    # How often the shipping to the province looks for new events, and how long it waits after a failure.
    shipping_poll: float = 2.0
    shipping_retry: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


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
        limits = site.rate_limit
        # Sockets are counted from the moment they are accepted (per address, per token, not yet authenticated).
        self.gate = ConnectionGate(ConnectionLimits(limits.connections_per_address, limits.connections_per_token,
                                                    limits.unauthenticated_connections), self.clock.monotonic)
        accept_log.install()  # asyncio's "out of system resource" once a minute, not once per accept

        def close_for(session: Session, code: int, text: str) -> None:
            self.close(session, code, text, reason="manual_disconnect")

        self.token_registry = TokenRegistry(self.clock, lambda: self.store, lambda: self.clients.sessions.values(),
                                            close_for, self.background.spawn)
        self.session_auth = SessionAuth(self.tokens, self.clock, self.audit, self.send, self.error,
                                        registry=self.token_registry, gate=self.gate, clients=self.clients,
                                        close=close_for)
        self.ticket_limit = TicketLimiter(limits.tickets_per_minute, limits.ticket_burst)
        self.alerts = AlertFeed(AlertRules(site.alerts, (c.id for c in site.counters), self.clock.now()), self.clock,
                                self.to_admins)
        self.stats_feed = StatsThrottle(site.stats_interval, self.clock, self._send_stats)
        self.http = HttpGate(self, self.metrics, (*self.options.allowed_origins, *site.allowed_origins),
                             version=__version__, host_names=(*site.host_names, self.options.host),
                             urls=(site.public_url,) if site.public_url else ())
        self.registration = Registration(
            site=site, clock=self.clock, clients=self.clients, alert_rules=self.alerts.rules, audit=self.audit,
            delivery=self.delivery, version=__version__, queue=self._live_queue, snapshot=self.snapshot,
            close=self.close, refuse=self.error, to_admins=self.to_admins)
        self.board = AnnouncementBoard(self.clock, self.clients, self.delivery, self.audit)
        self.ratings = RatingDesk(self.clock, self.clients, self.delivery, self.audit)
        self.recent_calls: deque[m.CallRecord] = deque(maxlen=RECENT_CALLS_KEPT)
        self.store: db.Store | None = None
        self.queue: HallQueue | None = None
        self.started_at: datetime | None = None
        self._server: Server | None = None
        self._tick_task: asyncio.Task[None] | None = None
        # Ticket requests being saved, by (kiosk, request_id): a retry meanwhile waits for the same ticket.
        self._pending_requests: dict[tuple[str | None, str], asyncio.Future[None]] = {}
        self._counter_locks: dict[int, asyncio.Lock] = {}
        self.day_gate = DayGate()
        self.day_clock = DayClock()
        # Held while the hub runs (a restore waits for it); the daily backup, planned once the store is open.
        self._data_lock: DataDirLock | None = None
        self.daily_backup: DailyBackup | None = None
        self.shipper: Shipper | None = None
        self._handlers: dict[type, Callable[[Session, Any], Awaitable[None]]] = {
            m.RegisterClient: self.registration.register,
            m.TicketRequest: self._on_ticket_request,
            m.CallTicket: self._on_call_ticket,
            m.TicketAction: self._on_ticket_action,
            m.CounterStatusChange: self._on_counter_status_change,
            m.Announcement: self.board.on_announcement,
            m.Rating: self.ratings.on_rating,
            m.DeviceStatus: self._on_device_status,
            **people.handlers(site, self.clock, self.clients, self.audit, self.send, self.error, self.close,
                              store=lambda: self.store),
        }

    # --- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        now = self.clock.now()
        self.started_at = now
        # Refuses (DatabaseRefused) a database that is not ours or is damaged, and a folder it cannot write.
        self._data_lock = open_data_dir(self.data_dir, self.site.site_name)
        self.store = db.Store(self.data_dir / "qms.db")
        self.store.run_sync(lambda conn: db.record_site(conn, self.site.site_name))
        self.daily_backup = DailyBackup(self.store.path, backup_directory(self.site.backup, self.data_dir),
                                        self.site.backup, self.site.tz, self.clock, self.background,
                                        self.alerts.system_error)
        self.daily_backup.start()
        self.shipper = Shipper(self.site, self.store, self.clock, lambda text, severity: self.alerts.raise_alert(
            Alert("system_error", None, text, severity)), poll_seconds=self.options.shipping_poll,
            retry_seconds=self.options.shipping_retry, changed=self.stats_feed.changed)
        self.audit.store = self.session_auth.store = self.board.store = self.ratings.store = self.store
        self.queue = self.ratings.queue = self._load_state(now)
        self.store.start()
        self._server = await serve(
            self._handle_connection, self.options.host, self.options.port,
            ssl=self.options.ssl_context,
            process_request=self.http.process_request,
            process_response=self.http.process_response,
            create_connection=self.gate.connection_class(),
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
        assert self.shipper is not None
        self.shipper.start()
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
        if self.shipper is not None:
            await self.shipper.stop()
        await self.background.drain()
        self.delivery.close()
        if self.store is not None:
            await self.store.close()
        if self._data_lock is not None:
            self._data_lock.release()
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
        if restored.clock_behind:
            log_event("hub.clock_behind", logging.WARNING, clock=now.isoformat(),
                      service_day=restored.queue.service_day,
                      hint="the clock is behind the last day the hall opened: check NTP (timedatectl)")
        return restored.queue

    def _live_queue(self) -> HallQueue:
        assert self.queue is not None, "the hub has not started"
        return self.queue

    # --- one connection -----------------------------------------------------------------

    async def _handle_connection(self, ws: ServerConnection) -> None:
        forget_handshake(ws)  # the upgrade's headers, kept by websockets for the connection's life
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
            await self.session_auth.on_auth(session, message)
            return
        if isinstance(message, m.Login):
            await self.session_auth.on_login(session, message)
            return
        if isinstance(message, m.Rating) and message.payload.ticket_code is not None:
            # The citizen's status page: the ticket's secret code authorises it, no token (PROTOCOL.md).
            await self._run(session, message, self.ratings.on_rating)
            return
        identity = session.identity
        if identity is None or session.token_revoked:
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
        if not session.registered and not isinstance(message, m.RegisterClient):
            # Between AUTH and REGISTER_CLIENT only PING and REGISTER_CLIENT are served: a connection that
            # never registers is never displaced by its device's next one, so it must not act either.
            self.error(session, "FORBIDDEN", "Đăng ký kết nối trước: gửi REGISTER_CLIENT (register first)", message)
            return
        if isinstance(message, m.TicketRequest):
            # Across every connection of the token and the kiosk; a retry of an answered request is no new ticket.
            kiosk, request_id = session.client_id, message.payload.request_id
            retry = request_id is not None and self.queue is not None and (
                (kiosk, request_id) in self._pending_requests or self.queue.find_request(kiosk, request_id) is not None)
            if not retry and not self.ticket_limit.allow(ticket_keys(identity, session.client_type, kiosk),
                                                         self.clock.monotonic()):
                self.error(session, "RATE_LIMITED", TICKETS_TOO_FAST, message)
                return
        await self._run(session, message, self._handlers[type(message)])

    async def _run(self, session: Session, message: m.ClientMessage,
                   handler: Callable[[Session, Any], Awaitable[None]]) -> None:
        """Carry out a request: a refusal, a failed write or a bug costs this request only, with an ERROR."""
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

    # --- making a change durable ----------------------------------------------------------------

    async def _commit(self, change: Change, entry: db.AuditEntry, *, counter_status: bool = False) -> None:
        """Write the change and its audit row, then apply it; if the write fails the queue stays as it was."""
        assert self.queue is not None and self.store is not None
        try:
            await self.store.submit(change_writer(change, entry, counter_status=counter_status),
                                    brief=len(change.tickets) + len(change.events) <= BRIEF_CHANGE_ROWS)
        except BaseException:
            self.queue.release(change)
            raise
        self.queue.apply(change)
        self.audit.log(entry)

    def _counter_lock(self, counter_id: int) -> asyncio.Lock:
        """One change at a time per counter: a call, an action or a pause plans on what the last one applied."""
        lock = self._counter_locks.get(counter_id)
        if lock is None:
            lock = self._counter_locks[counter_id] = asyncio.Lock()
        return lock

    def _queue_updates(self, change: Change) -> list[Plan]:
        """QUEUE_UPDATE for every counter whose line the change moved (QUEUE_UPDATE goes to every client)."""
        assert self.queue is not None
        counter_ids = set(self.queue.counters_touching(change.queue_ids))
        counter_ids |= {c.counter_id for c in change.counters}
        everyone = EveryBoard(self.clients.registered_besides_tvs)
        return [(everyone, self._counter_state(counter_id)) for counter_id in sorted(counter_ids)]

    def _counter_state(self, counter_id: int) -> CounterState:
        """The counter's QUEUE_UPDATE, built when written: the latest of a burst, once (hub.delivery)."""
        return CounterState(counter_id, lambda: views.queue_update(self.site, self._live_queue(), counter_id))

    def _ticket_news(self, session: Session, *counter_ids: int | None) -> EveryBoard:
        """Who hears of a ticket's status: TVs, admins, the sender, and the displays and officers of the counters
        concerned."""
        news = self.clients.recipients("admin", include=session)
        for counter_id in counter_ids:
            if counter_id is not None:
                news |= self.clients.counter_displays(counter_id)
                # The counter's officer hears of what a leader or admin did at the counter.
                officer = self.clients.officer_at(counter_id)
                if officer is not None:
                    news.add(officer.ws)
        return EveryBoard(news)

    # --- tickets --------------------------------------------------------------------------------

    async def _on_ticket_request(self, session: Session, message: m.TicketRequest) -> None:
        assert self.queue is not None and self.store is not None
        p = message.payload
        now = self.clock.now()
        await self._roll_day_if_needed(now)
        kiosk = session.client_id
        async with self.day_gate.change():
            if p.request_id is not None:
                key = (kiosk, p.request_id)
                pending = self._pending_requests.get(key)
                if pending is not None:
                    # The same request again while its ticket is being saved: the same answer, once saved.
                    await asyncio.shield(pending)
                earlier = self.queue.find_request(kiosk, p.request_id)
                if earlier is not None:
                    log_event("ticket.retried", actor=session.actor, request_id=p.request_id, number=earlier.number)
                    ahead = self.queue.people_ahead(earlier)
                    self.send(session, views.ticket_created(
                        self.site, earlier, ahead, self.queue.estimate_wait_minutes(earlier.queue_id, ahead),
                        for_requester=True))
                    return
            change = self.queue.plan_issue(now, code=secrets.token_urlsafe(12), procedure_id=p.procedure_id,
                                           queue_id=p.queue_id, counter_id=p.counter_id, priority=p.priority,
                                           priority_reason=p.priority_reason, request_id=p.request_id,
                                           kiosk_id=kiosk, actor=session.actor)
            ticket = change.ticket
            entry = self.audit.entry(session, "ticket.issued", {
                "ticket_id": ticket.ticket_id, "queue_id": ticket.queue_id, "number": ticket.number,
                "request_id": ticket.request_id, "priority": ticket.priority,
            })
            saved: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if p.request_id is not None:
                self._pending_requests[(kiosk, p.request_id)] = saved
            try:
                await self._commit(change, entry)
            finally:
                saved.set_result(None)
                if p.request_id is not None:
                    del self._pending_requests[(kiosk, p.request_id)]
        self.metrics.tickets_issued += 1

        created = views.ticket_created(self.site, ticket, change.people_ahead, change.estimated_wait_minutes,
                                       for_requester=False)
        self.delivery.deliver(
            ((session.ws,), views.for_requester(created, ticket)),
            (EveryBoard(self.clients.recipients("admin", exclude=session)), created),
            *self._queue_updates(change),
        )
        self._check_queue_lengths(change)
        self.stats_feed.changed()

    # --- calls and the officer's actions ------------------------------------------------------------

    async def _on_call_ticket(self, session: Session, message: m.CallTicket) -> None:
        assert self.queue is not None
        p = message.payload
        identity = session.identity
        assert identity is not None
        now = self.clock.now()
        await self._roll_day_if_needed(now)
        async with self.day_gate.change(), self._counter_lock(p.counter_id):
            change = self.queue.plan_call(now, p.counter_id, ticket_number=p.ticket_number, queue_id=p.queue_id,
                                          actor=session.actor, officer_user_id=identity.user_id)
            if change.kind == "queue_empty" and change.closed is None:
                raise QueueError("QUEUE_EMPTY", _queue_empty_text(self.queue, p.counter_id))
            called = change.ticket if change.kind != "queue_empty" else None
            action = "ticket.recalled" if change.recall else "ticket.called" if called else "ticket.finished"
            entry = self.audit.entry(session, action, {
                "ticket_id": called.ticket_id if called else None, "counter_id": p.counter_id,
                "number": called.number if called else None,
                "closed_number": change.closed.number if change.closed else None,
            })
            await self._commit(change, entry)
        plan: list[Plan] = []
        if called is not None:
            self.metrics.calls += 1
            announcement, call = views.call_messages(self.site, change, identity, now)
            self.recent_calls.append(views.call_record(self.site, called))
            # TVs get the announcement first; one write per TV carries all of it.
            plan += [(EveryBoard(), announcement),
                     (EveryBoard(self.clients.recipients("admin", include=session)
                                 | self.clients.counter_displays(p.counter_id)), call)]
        if change.closed is not None:
            plan.append((self._ticket_news(session, p.counter_id),
                         views.ticket_updated(self.site, change.closed, "finish", session.actor, now,
                                              from_counter_id=p.counter_id)))
        self.delivery.deliver(*plan, *self._queue_updates(change))
        self._check_queue_lengths(change)
        self.stats_feed.changed()
        if called is None:
            # Nobody waiting: the current ticket was closed all the same (PROTOCOL.md).
            raise QueueError("QUEUE_EMPTY", _queue_empty_text(self.queue, p.counter_id))

    async def _on_ticket_action(self, session: Session, message: m.TicketAction) -> None:
        assert self.queue is not None
        p = message.payload
        now = self.clock.now()
        await self._roll_day_if_needed(now)
        async with self.day_gate.change(), self._counter_lock(p.counter_id):
            before = self.queue.counters[p.counter_id].current if p.counter_id in self.queue.counters else None
            change = self.queue.plan_action(now, p.counter_id, p.action, actor=session.actor,
                                            ticket_number=p.ticket_number, queue_id=p.queue_id,
                                            to_queue_id=p.to_queue_id, to_counter_id=p.to_counter_id, note=p.note)
            ticket = change.ticket
            entry = self.audit.entry(session, f"ticket.{p.action}", {
                "ticket_id": ticket.ticket_id, "counter_id": p.counter_id, "number": ticket.number,
                "queue_id": ticket.queue_id, "to_queue_id": p.to_queue_id, "to_counter_id": p.to_counter_id,
                "note": p.note,
            })
            await self._commit(change, entry)
        from_queue = before.queue_id if before is not None and p.action == "transfer" else None
        update = views.ticket_updated(self.site, ticket, p.action, session.actor, now, from_queue_id=from_queue,
                                      from_counter_id=p.counter_id, to_counter_id=p.to_counter_id, note=p.note)
        self.delivery.deliver((self._ticket_news(session, p.counter_id, p.to_counter_id), update),
                              *self._queue_updates(change))
        self._check_queue_lengths(change)
        self.stats_feed.changed()

    # --- counter status -------------------------------------------------------------------------

    async def _on_counter_status_change(self, session: Session, message: m.CounterStatusChange) -> None:
        assert self.queue is not None
        p = message.payload
        now = self.clock.now()
        await self._roll_day_if_needed(now)
        self.queue.counter(p.counter_id)  # COUNTER_NOT_FOUND before anything
        async with self.day_gate.change(), self._counter_lock(p.counter_id):
            change = self.queue.plan_status(now, p.counter_id, p.status, p.reason, session.actor)
            status = change.counters[0]
            entry = self.audit.entry(session, "counter.status_changed", {
                "counter_id": p.counter_id, "status": p.status, "reason": status.reason,
                "affected_tickets": change.affected_tickets,
            })
            await self._commit(change, entry, counter_status=True)
        update = views.counter_status_update(self.site, p.counter_id, status.status, status.reason, session.actor,
                                             now, change.affected_tickets)
        self.delivery.deliver((EveryBoard(self.clients.registered_besides_tvs | {session.ws}), update),
                              *self._queue_updates(change))
        self.alerts.rules.counter_status_changed(p.counter_id, status.status)
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
            counters=views.counter_states(self.site, queue, self.alerts.rules.officer_connected,
                                          self.registration.officer_name,
                                          for_admin=session.client_type == "admin"),
            announcements=self.board.for_client(session),
            recent_calls=self.recent_calls,
            admin=session.client_type == "admin",
            clients=self._client_list,
            alerts=self.alerts.recent,
            stats=lambda: views.stats(queue, now, self.shipper.status if self.shipper else None),
            display_counters=self.site.counters_shown_at(session.location) if session.client_type == "tv" else (),
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
        if self.queue.service_day_at(now) > self.queue.service_day:
            # Decided now, against the last look at the clocks (taken just below), not when the task runs.
            stepped = self.day_clock.stepped_forward(now, self.clock.monotonic())
            self.background.spawn(self._roll_day_if_needed(now, stepped=stepped))
        self.alerts.check_unattended(self.queue)
        self.board.drop_expired()
        self.stats_feed.flush_if_due()
        self.day_clock.observe(now, self.clock.monotonic())
        if self.daily_backup is not None:
            self.daily_backup.tick()
        self.token_registry.refresh_if_due()

    async def _roll_day_if_needed(self, now: datetime, *, stepped: bool | None = None) -> None:
        """At local midnight: numbering starts again, what was left open expires (once on disk)."""
        assert self.queue is not None and self.store is not None
        if self.queue.service_day_at(now) <= self.queue.service_day:
            return
        async with self.day_gate.turning():
            # A clock put right (a Pi that booted with an old time) is not midnight: today's tickets carry over.
            if stepped is None:
                stepped = self.day_clock.stepped_forward(now, self.clock.monotonic())
            change = self.queue.plan_roll_day(now, keep_tickets=stepped)
            if change is None:
                return  # another request turned it while this one waited
            previous = self.queue.service_day
            entry = db.AuditEntry(now, "hub", None, None, "day.rolled", {
                "previous_day": previous.isoformat(), "service_day": str(change.day),
                "expired_tickets": len(change.events), "carried_over": len(change.tickets) if stepped else 0,
            })
            try:
                await self._commit(change, entry)
            except db.StoreError as exc:
                self.alerts.system_error(f"Lỗi cơ sở dữ liệu khi sang ngày mới: {exc}")
                return  # still the old day, in memory as on disk; the next tick tries again
        self.recent_calls.clear()
        self.alerts.rules.day_rolled()
        self.delivery.deliver(*self._queue_updates(change))
        self.stats_feed.changed()

    def _check_queue_lengths(self, change: Change) -> None:
        assert self.queue is not None
        for queue_id in sorted(change.queue_ids):
            self.alerts.check_queue_length(self.queue, queue_id)

    def _send_stats(self) -> None:
        if self.clients.audience["admin"] and self.queue is not None:
            shipping = self.shipper.status if self.shipper else None
            self.to_admins(m.StatsUpdate(views.stats(self.queue, self.clock.now(), shipping)))

    # --- sending ----------------------------------------------------------------------------------

    def send(self, session: Session, message: Struct) -> None:
        self.delivery.send(session.ws, message)

    def to_admins(self, message: Struct, exclude: Session | None = None) -> None:
        self.delivery.broadcast(self.clients.recipients("admin", exclude=exclude), message)

    def error(self, session: Session, code: str, text: str, failed: m.ClientMessage | str | None = None,
              request_id: str | None = None) -> None:
        self.metrics.count_error(code)
        self.send(session, views.error(code, text, self.clock.now(), failed, request_id))


def change_writer(change: Change, entry: db.AuditEntry, *, counter_status: bool
                  ) -> Callable[[sqlite3.Connection], None]:
    """The store job that makes a change durable, in one transaction: tickets, their events, counters, the
    audit row.

    Its rows are made now, when the change is planned: the loop makes them while the last commit is being
    synced, and what runs between one commit and the next (``hub.store.Store``: a brief job's SQL) is only
    SQLite's own work.
    """
    tickets = [db.ticket_values(t) for t in change.tickets]
    events = [db.event_values(e) for e in change.events]
    audit = db.audit_values(entry)
    counters = list(change.counters) if counter_status else []
    day = change.day

    def write(conn: sqlite3.Connection) -> None:
        db.save_tickets(conn, tickets)
        db.insert_events(conn, events)
        for counter in counters:
            db.save_counter_status(conn, counter.counter_id, counter.status, counter.reason, counter.changed_by,
                                   entry.at)
            db.write_event(conn, entry.at, f"counter.{counter.status}", actor=counter.changed_by,
                           counter_id=counter.counter_id, detail={"reason": counter.reason})
        if day is not None:
            db.set_meta(conn, "service_day", day.isoformat())
        db.insert_audit(conn, audit)

    return write


def persist_change(conn: sqlite3.Connection, change: Change, entry: db.AuditEntry, *, counter_status: bool) -> None:
    """Everything a change makes durable, in the open transaction (:func:`change_writer`, run at once).

    Public for bench.ticket_throughput, whose baseline writes exactly this per ticket.
    """
    change_writer(change, entry, counter_status=counter_status)(conn)


def _queue_empty_text(queue: HallQueue, counter_id: int) -> str:
    return f"Quầy {queue.counters[counter_id].config.name} không còn ai chờ (queue is empty)"


__all__ = ["Hub", "HubOptions", "Session", "persist_change"]
