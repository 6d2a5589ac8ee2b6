"""The hub's WebSocket server: thin I/O around the pure queue.

Each connection's frames are validated (``protocol.messages``), checked
against the permission table (``hub.permissions``), applied to the queue
(``hub.queue_state``), made durable (``hub.store``) and only then answered
and broadcast. Frames of one connection are handled in order; connections run
concurrently. Plain HTTP GETs on the same port serve ``/healthz`` and
``/metrics``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import secrets
import ssl
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from msgspec import Struct
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from appliance import sd_notify
from hub import fanout, http_routes, metrics, store as db
from hub.auth import Identity, TokenAuthority, TokenError, verify_password
from hub.clock import Clock, SystemClock
from hub.event_log import log_event
from hub.permissions import check as permission_problem
from hub.queue_state import HallQueue, QueueError, Ticket, TicketCalled
from hub.rate_limit import LoginBackoff, TokenBucket
from hub.site_config import SiteConfig
from protocol import messages as m

__version__ = "0.1.0"

log = logging.getLogger("qms.hub")

CLIENT_TYPES = ("kiosk", "tv", "officer", "admin")
# Tokens handed out by LOGIN: a working day and some.
LOGIN_TOKEN_TTL = timedelta(hours=14)
# A wrong password costs the sender this long before the answer comes.
LOGIN_FAILURE_DELAY = 1.0
RECENT_CALLS_KEPT = 20
RECENT_ALERTS_KEPT = 50
# DEVICE_STATUS components as admins read them in a SYSTEM_ALERT.
DEVICE_COMPONENT_NAMES = {"printer": "máy in", "gpio": "nút bấm và đèn (GPIO)", "display": "màn hình"}


@dataclass(eq=False)
class Session:
    """One WebSocket connection and what it has said about itself."""

    ws: ServerConnection
    bucket: TokenBucket
    peer: str
    identity: Identity | None = None
    client_type: str | None = None
    client_id: str | None = None
    location: str = ""
    connected_since: datetime | None = None
    # Set when the hub itself closes the connection, to report why.
    close_reason: str | None = None
    close_detail: str = ""
    last_rate_error: float = 0.0
    login_failures: int = 0

    @property
    def registered(self) -> bool:
        return self.client_id is not None

    @property
    def actor(self) -> str:
        ident = self.identity
        if ident is None:
            return f"anonymous@{self.peer}"
        return ident.username or ident.client_id or f"user:{ident.user_id}"


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
    def __init__(
        self,
        site: SiteConfig,
        data_dir: str | Path,
        *,
        options: HubOptions | None = None,
        clock: Clock | None = None,
    ):
        self.site = site
        self.data_dir = Path(data_dir)
        self.options = options or HubOptions()
        self.clock = clock or SystemClock()
        # Tokens are checked against the hub's clock, the one every other rule uses.
        self.tokens = TokenAuthority.from_data_dir(self.data_dir, clock=lambda: self.clock.now().timestamp())
        self.sessions: dict[ServerConnection, Session] = {}
        self.audience: dict[str, set[ServerConnection]] = {t: set() for t in CLIENT_TYPES}
        self.registered: set[ServerConnection] = set()
        self.clients_by_id: dict[str, Session] = {}
        self.recent_calls: deque[m.CallRecord] = deque(maxlen=RECENT_CALLS_KEPT)
        self.recent_alerts: deque[m.SystemAlertPayload] = deque(maxlen=RECENT_ALERTS_KEPT)
        self.announcements: list[m.AnnouncementOutPayload] = []
        self.metrics = metrics.HubMetrics(self)
        self.store: db.Store | None = None
        self.queue: HallQueue | None = None
        self._server: Server | None = None
        self._tick_task: asyncio.Task | None = None
        self._pending_tickets: dict[int, asyncio.Future] = {}
        self._officers_at: dict[int, int] = {}
        self._officer_absent_since: dict[int, datetime] = {}
        self._offline_alerted: set[int] = set()
        self._high_queue_alerted: set[int] = set()
        # (client_id, component) -> (status, code) of each device problem admins were alerted to.
        self._device_problems: dict[tuple[str, str], tuple[str, str]] = {}
        self._stats_sent_at = 0.0
        self._stats_timer: asyncio.TimerHandle | None = None
        self._background: set[asyncio.Task] = set()
        self.started_at: datetime | None = None
        # Failed logins per username and per peer address, across reconnects.
        self.login_backoff = LoginBackoff()

    # --- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        now = self.clock.now()
        self.started_at = now
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = db.Store(self.data_dir / "qms.db")
        self.queue = self._load_state(now)
        self.store.start()
        for counter in self.site.counters:
            self._officer_absent_since[counter.id] = now
        self._server = await serve(
            self._handle_connection,
            self.options.host,
            self.options.port,
            ssl=self.options.ssl_context,
            process_request=self._process_request,
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
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        sd_notify.stopping()
        if self._tick_task:
            self._tick_task.cancel()
        if self._stats_timer:
            self._stats_timer.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._background):
            try:
                await task
            except Exception:  # noqa: BLE001 - already logged where it failed
                pass
        if self.store is not None:
            await self.store.close()
        log_event("hub.stopped")

    async def serve_forever(self) -> None:
        assert self._server is not None
        await self._server.serve_forever()

    def _load_state(self, now: datetime) -> HallQueue:
        assert self.store is not None
        site = self.site
        queue_day = now.astimezone(site.tz).date()

        def load(conn):
            expired = db.expire_old_tickets(conn, queue_day, now)
            return (
                db.next_ticket_id(conn),
                db.load_counter_statuses(conn),
                db.load_tickets(conn, queue_day),
                db.load_active_announcements(conn, now),
                expired,
            )

        next_id, statuses, tickets, announcements, expired = self.store.run_sync(load)
        queue = HallQueue(site, queue_day, next_ticket_id=next_id)
        for status in statuses:
            queue.restore_counter_status(*status)
        queue.restore_tickets(tickets)
        for a in announcements:
            self.announcements.append(self._announcement_payload(a))
        for runtime in queue.counters.values():
            if runtime.current is not None and runtime.current.called_at is not None:
                self.recent_calls.append(self._call_record(runtime.current))
        log_event("hub.state_loaded", service_day=queue_day, tickets=len(tickets), expired_from_earlier_days=expired)
        return queue

    # --- HTTP on the WebSocket port ------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        is_upgrade = "websocket" in request.headers.get("Upgrade", "").lower()
        if is_upgrade:
            if path not in ("/", "/ws"):
                return connection.respond(HTTPStatus.NOT_FOUND, "No WebSocket here: use /ws\n")
            origin = request.headers.get("Origin")
            if origin is not None and not self._origin_allowed(origin, request.headers.get("Host")):
                log_event("http.origin_refused", logging.WARNING, origin=origin)
                return connection.respond(HTTPStatus.FORBIDDEN, "Origin not allowed\n")
            return None
        # The console pages, the ticket status page and their JSON (GET only, for every path).
        response = http_routes.respond(self, connection, request)
        if response is not None:
            return response
        if path == "/healthz":
            return _json_response(connection, self.health())
        if path == "/metrics":
            response = connection.respond(HTTPStatus.OK, self.metrics.render())
            _set_header(response, "Content-Type", metrics.CONTENT_TYPE)
            return response
        return connection.respond(HTTPStatus.NOT_FOUND, "Not found\n")

    def _origin_allowed(self, origin: str, host: str | None) -> bool:
        if origin in self.options.allowed_origins or origin in self.site.allowed_origins:
            return True
        # The console pages are served by the hub itself: same host and port is fine.
        return host is not None and urlsplit(origin).netloc.lower() == host.lower()

    def health(self) -> dict[str, Any]:
        database_ok = self.store is not None and self.store.healthy
        return {
            "status": "ok" if database_ok else "degraded",
            "version": __version__,
            "connected_clients": len(self.registered),
            "connections": len(self.sessions),
            "database": "ok" if database_ok else "error",
            "service_day": self.queue.service_day.isoformat() if self.queue else None,
        }

    # --- one connection -----------------------------------------------------------------

    async def _handle_connection(self, ws: ServerConnection) -> None:
        rate = self.site.rate_limit
        peer = _peer(ws)
        session = Session(ws=ws, bucket=TokenBucket(rate=rate.rate, burst=rate.burst), peer=peer)
        self.sessions[ws] = session
        self.metrics.connections_total += 1
        auth_deadline = asyncio.get_running_loop().call_later(
            self.options.auth_timeout, self._close_unauthenticated, session
        )
        try:
            async for frame in ws:
                await self._on_frame(session, frame)
        except ConnectionClosed:
            pass
        finally:
            auth_deadline.cancel()
            del self.sessions[ws]
            self._unregister(session, closing=True)

    def _close_unauthenticated(self, session: Session) -> None:
        if session.identity is None:
            self._close(session, 1008, "authentication timeout", reason="timeout")

    def _close(self, session: Session, code: int, text: str, *, reason: str) -> None:
        session.close_reason = reason
        session.close_detail = text
        self._spawn(session.ws.close(code, text))

    async def _on_frame(self, session: Session, frame: str | bytes) -> None:
        self.metrics.frames_in += 1
        bucket = session.bucket
        if not bucket.take(time.monotonic()):
            self._on_rate_limited(session)
            return
        if isinstance(frame, bytes):
            self._error(session, "INVALID_MESSAGE", "binary frames are not accepted: send JSON text frames")
            return
        try:
            message = m.decode_client_message(frame)
        except m.InvalidMessage as exc:
            self._error(session, "INVALID_MESSAGE", f"invalid message: {exc}", exc.message_type, exc.request_id)
            return
        await self._dispatch(session, message)

    def _on_rate_limited(self, session: Session) -> None:
        limit = self.site.rate_limit
        if session.bucket.refused >= limit.close_after:
            if session.close_reason is None:
                log_event("connection.flood_closed", logging.WARNING, actor=session.actor, peer=session.peer)
                self._close(session, 1008, "rate limit exceeded", reason="network_error")
            return
        now = time.monotonic()
        # One RATE_LIMITED a second is enough: answering every refused frame would amplify the flood.
        if now - session.last_rate_error >= 1.0:
            session.last_rate_error = now
            self._error(session, "RATE_LIMITED", "too many messages: slow down")

    async def _dispatch(self, session: Session, message: m.ClientMessage) -> None:
        self.metrics.count_message(m.message_type(message))
        if isinstance(message, m.Ping):
            self._send(session, m.Pong(m.PongPayload(timestamp=message.payload.timestamp)))
            return
        if isinstance(message, m.Auth):
            self._on_auth(session, message)
            return
        if isinstance(message, m.Login):
            await self._on_login(session, message)
            return
        identity = session.identity
        if identity is None:
            self._error(session, "AUTH_FAILED", "authenticate first: send AUTH or LOGIN", message)
            return
        if identity.expires_at <= self.clock.now():
            session.identity = None
            self._error(session, "AUTH_FAILED", "token expired: authenticate again", message)
            return
        problem = permission_problem(identity, message)
        if problem is not None:
            log_event("request.forbidden", logging.WARNING, actor=session.actor, type=m.message_type(message),
                      problem=problem)
            self._error(session, "FORBIDDEN", problem, message)
            return
        handler = self._handlers[type(message)]
        try:
            await handler(self, session, message)
        except QueueError as exc:
            self._error(session, exc.code, exc.message, message)
        except db.StoreError as exc:
            self._on_store_failure(session, message, exc)
        except Exception as exc:  # noqa: BLE001 - a bug must cost one request, not the connection
            log.exception("handling %s failed", m.message_type(message))
            self._alert("system_error", None, f"Lỗi hệ thống khi xử lý {m.message_type(message)}: {exc}", "critical")
            self._error(session, "INTERNAL_ERROR", "internal error: the request was not carried out", message)

    # --- AUTH, LOGIN, REGISTER_CLIENT ------------------------------------------------------------

    def _on_auth(self, session: Session, message: m.Auth) -> None:
        p = message.payload
        try:
            identity = self.tokens.verify(p.token)
        except TokenError as exc:
            log_event("auth.failed", logging.WARNING, peer=session.peer, problem=str(exc))
            self._error(session, "AUTH_FAILED", f"Authentication failed: {exc}", message)
            return
        mismatch = [
            name
            for name, claimed, actual in (
                ("role", p.role, identity.role),
                ("user_id", p.user_id, identity.user_id),
                ("counter_id", p.counter_id, identity.counter_id),
            )
            if claimed is not None and claimed != actual
        ]
        if mismatch:
            self._error(session, "AUTH_FAILED", f"Authentication failed: {', '.join(mismatch)} does not match the token",
                        message)
            return
        current = session.identity
        if session.registered and current is not None and _who(current) != _who(identity):
            # A registered connection may renew its token, not become someone else:
            # the hub's bookkeeping (officers present at a counter, device ids) follows who registered.
            self._error(session, "AUTH_FAILED",
                        "this connection is registered as someone else: connect again to change who you are", message)
            return
        session.identity = identity
        self._audit(session, "auth.ok", {"role": identity.role})
        self._send(session, self._auth_ok(identity))

    @staticmethod
    def _auth_ok(identity: Identity) -> m.AuthOk:
        return m.AuthOk(
            m.AuthOkPayload(
                role=identity.role,
                client_id=identity.client_id,
                user_id=identity.user_id,
                username=identity.username,
                full_name=identity.full_name,
                counter_id=identity.counter_id,
                expires_at=m.utc_timestamp(identity.expires_at),
            )
        )

    async def _on_login(self, session: Session, message: m.Login) -> None:
        assert self.store is not None
        p = message.payload
        backoff_keys = ("user:" + p.username.casefold(), "peer:" + (session.peer.rpartition(":")[0] or session.peer))
        wait = self.login_backoff.wait(backoff_keys, self.clock.now().timestamp())
        if wait > 0:
            log_event("login.throttled", logging.WARNING, username=p.username, peer=session.peer)
            self._error(session, "AUTH_FAILED", f"Đăng nhập sai nhiều lần: xin thử lại sau {math.ceil(wait)} giây "
                        f"(too many failed logins: try again in {math.ceil(wait)} s)", message)
            return
        user = await self.store.run(lambda conn: db.find_user(conn, p.username))
        ok = False
        if user is not None and not user.disabled:
            ok = await asyncio.to_thread(verify_password, p.password, user.password_hash)
        if not ok or user is None:
            session.login_failures += 1
            self.login_backoff.failed(backoff_keys, self.clock.now().timestamp())
            log_event("login.failed", logging.WARNING, username=p.username, peer=session.peer)
            self._audit(session, "login.failed", {"username": p.username})
            # Slower with every failure on this connection: guessing gets expensive.
            await asyncio.sleep(LOGIN_FAILURE_DELAY * min(session.login_failures, 5))
            self._error(session, "AUTH_FAILED", "Sai tên đăng nhập hoặc mật khẩu (wrong username or password)",
                        message)
            return
        token = self.tokens.issue(
            user.role,
            user_id=user.user_id,
            username=user.username,
            full_name=user.full_name,
            counter_id=user.counter_id,
            ttl=LOGIN_TOKEN_TTL,
        )
        identity = self.tokens.verify(token)
        session.identity = identity
        session.login_failures = 0
        self.login_backoff.succeeded(backoff_keys)
        self._audit(session, "login.ok", {"username": user.username, "role": user.role})
        self._send(
            session,
            m.LoginOk(
                m.LoginOkPayload(
                    token=token,
                    role=identity.role,
                    user_id=user.user_id,
                    username=user.username,
                    full_name=user.full_name,
                    counter_id=user.counter_id,
                    expires_at=m.utc_timestamp(identity.expires_at),
                )
            ),
        )

    async def _on_register(self, session: Session, message: m.RegisterClient) -> None:
        p = message.payload
        identity = session.identity
        assert identity is not None
        holder = self.clients_by_id.get(p.client_id)
        if holder is not None and holder is not session and holder.client_type in ("kiosk", "tv") \
                and holder.client_type != p.client_type:
            # A device's id is named by its token: only that device may take it over, or
            # anyone could knock a TV or kiosk off the air by registering under its id.
            self._error(session, "FORBIDDEN", f"client_id {p.client_id!r} belongs to a connected device", message)
            return
        if session.registered:
            self._unregister(session, closing=False)
        previous = self.clients_by_id.get(p.client_id)
        if previous is not None and previous is not session:
            # The same device again (a reconnect whose old socket has not timed
            # out yet): the newer connection wins.
            self._close(previous, 1000, "replaced by a newer connection", reason="manual_disconnect")
            self._unregister(previous, closing=True)
        now = self.clock.now()
        session.client_type, session.client_id, session.location = p.client_type, p.client_id, p.location
        session.connected_since = now
        self.registered.add(session.ws)
        self.audience[p.client_type].add(session.ws)
        self.clients_by_id[p.client_id] = session
        if p.client_type == "officer" and identity.counter_id is not None:
            counter_id = identity.counter_id
            self._officers_at[counter_id] = self._officers_at.get(counter_id, 0) + 1
            self._officer_absent_since.pop(counter_id, None)
            self._offline_alerted.discard(counter_id)
        self._audit(session, "client.registered", {"client_type": p.client_type, "location": p.location})
        ack = m.ConnectionAck(
            m.ConnectionAckPayload(
                client_id=p.client_id,
                server_time=m.utc_timestamp(now),
                connected_clients=len(self.registered),
                client_type=p.client_type,
                hub_version=__version__,
            )
        )
        # The acknowledgement and the whole state in one write: a client is current at once.
        me = (session.ws,)
        self._deliver((me, ack), (me, self.snapshot(session)),
                      *((me, self._queue_update(counter.id)) for counter in self.site.counters))
        self._to_admins(
            m.ClientConnected(
                m.ClientConnectedPayload(
                    client_id=p.client_id, client_type=p.client_type, timestamp=m.utc_timestamp(now), location=p.location
                )
            ),
            exclude=session,
        )

    def _unregister(self, session: Session, *, closing: bool) -> None:
        if not session.registered:
            return
        ws = session.ws
        client_id = session.client_id
        assert client_id is not None and session.client_type is not None
        self.registered.discard(ws)
        self.audience[session.client_type].discard(ws)
        if self.clients_by_id.get(client_id) is session:
            del self.clients_by_id[client_id]
        identity = session.identity
        if session.client_type == "officer" and identity is not None and identity.counter_id is not None:
            counter_id = identity.counter_id
            left = self._officers_at.get(counter_id, 1) - 1
            self._officers_at[counter_id] = left
            if left <= 0:
                self._officer_absent_since[counter_id] = self.clock.now()
        reason = session.close_reason or (_disconnect_reason(ws) if closing else "manual_disconnect")
        detail = session.close_detail or _close_text(ws)
        if not closing:
            detail = detail or "registered again"
        self._audit(session, "client.disconnected", {"reason": reason, "detail": detail})
        self._to_admins(
            m.ClientDisconnected(
                m.ClientDisconnectedPayload(
                    client_id=client_id,
                    reason=reason,
                    timestamp=m.utc_timestamp(self.clock.now()),
                    client_type=session.client_type,
                    detail=detail,
                )
            )
        )
        session.client_id = session.client_type = None

    # --- tickets --------------------------------------------------------------------------------

    async def _on_ticket_request(self, session: Session, message: m.TicketRequest) -> None:
        assert self.queue is not None and self.store is not None
        p = message.payload
        now = self.clock.now()
        self._roll_day(now)
        issued = self.queue.issue_ticket(
            now,
            code=secrets.token_urlsafe(12),
            counter_id=p.counter_id,
            procedure_id=p.procedure_id,
            request_id=p.request_id,
            kiosk_id=session.client_id,
        )
        ticket = issued.ticket
        if not issued.created:
            pending = self._pending_tickets.get(ticket.ticket_id)
            if pending is not None:
                await asyncio.shield(pending)
            log_event("ticket.retried", actor=session.actor, request_id=p.request_id, number=ticket.number)
            self._send(session, self._ticket_created(ticket, issued.people_ahead, issued.estimated_wait_minutes,
                                                     for_requester=True))
            return
        row = db.ticket_row(ticket)
        entry = self._audit_entry(session, "ticket.issued", {
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
        self._log_audit(entry)
        self._deliver(
            ((session.ws,), self._ticket_created(ticket, issued.people_ahead, issued.estimated_wait_minutes,
                                                 for_requester=True)),
            (self._recipients("tv", "admin", exclude=session),
             self._ticket_created(ticket, issued.people_ahead, issued.estimated_wait_minutes, for_requester=False)),
            (self.registered, self._queue_update(ticket.counter_id)),
        )
        self._check_high_queue(ticket.counter_id)
        self._stats_changed()

    def _ticket_created(self, ticket: Ticket, people_ahead: int, wait: int, *, for_requester: bool) -> m.TicketCreated:
        counter = self.site.counter(ticket.counter_id)
        assert counter is not None
        return m.TicketCreated(
            m.TicketCreatedPayload(
                ticket_id=ticket.ticket_id,
                ticket_number=ticket.number,
                counter_id=ticket.counter_id,
                counter_name=counter.name,
                procedure_name=ticket.procedure_name,
                created_at=m.utc_timestamp(ticket.created_at),
                estimated_wait_time=wait,
                procedure_id=ticket.procedure_id,
                people_ahead=people_ahead,
                request_id=ticket.request_id if for_requester else None,
                ticket_code=ticket.code if for_requester else None,
                service_day=ticket.service_day.isoformat(),
            )
        )

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
        entry = self._audit_entry(session, "ticket.recalled" if called.recall else "ticket.called", {
            "ticket_id": called.ticket.ticket_id, "counter_id": p.counter_id, "number": called.ticket.number,
            "closed_number": called.closed.number if called.closed else None,
        })
        await self.store.submit(lambda conn: _save(conn, rows, entry))
        self.metrics.calls += 1
        self._log_audit(entry)
        self._announce_call(session, identity, called, now)

    def _announce_call(self, session: Session, identity: Identity, called: TicketCalled, now: datetime) -> None:
        ticket = called.ticket
        counter = self.site.counter(ticket.counter_id)
        assert counter is not None
        call = m.CallTicketOut(
            m.CallTicketOutPayload(
                ticket_number=ticket.number,
                counter_id=ticket.counter_id,
                counter_name=counter.name,
                called_by=m.CalledBy(user_id=identity.user_id, username=identity.username, full_name=identity.full_name),
                timestamp=m.utc_timestamp(now),
                ticket_id=ticket.ticket_id,
                recall=called.recall,
            )
        )
        text = self.site.render_announcement(ticket.number, counter)
        announcement = m.TicketAnnouncement(
            m.TicketAnnouncementPayload(
                ticket_number=ticket.number,
                counter_id=ticket.counter_id,
                counter_name=counter.name,
                announcement_text=text,
                audio_url=None,
                display_duration=self.site.display_duration,
            )
        )
        self.recent_calls.append(self._call_record(ticket))
        # One write per TV carries all three: the last TV hears of the call as soon as a bare broadcast would.
        self._deliver(
            (self._recipients("tv", "admin", include=session), call),
            (self.audience["tv"], announcement),
            (self.registered, self._queue_update(ticket.counter_id)),
        )
        self._check_high_queue(ticket.counter_id)
        self._stats_changed()

    def _call_record(self, ticket: Ticket) -> m.CallRecord:
        counter = self.site.counter(ticket.counter_id)
        assert counter is not None and ticket.called_at is not None
        return m.CallRecord(
            ticket_number=ticket.number,
            counter_id=ticket.counter_id,
            counter_name=counter.name,
            announcement_text=self.site.render_announcement(ticket.number, counter),
            timestamp=m.utc_timestamp(ticket.called_at),
        )

    # --- counter status -------------------------------------------------------------------------

    async def _on_counter_status_change(self, session: Session, message: m.CounterStatusChange) -> None:
        assert self.queue is not None and self.store is not None
        p = message.payload
        now = self.clock.now()
        runtime = self.queue.counter(p.counter_id)  # COUNTER_NOT_FOUND before anything changes
        changed = self.queue.set_status(now, runtime.config.id, p.status, p.reason, session.actor)
        entry = self._audit_entry(session, "counter.status_changed", {
            "counter_id": p.counter_id, "status": p.status, "reason": changed.counter.reason,
            "affected_tickets": changed.affected_tickets,
        })
        status, reason = changed.counter.status, changed.counter.reason
        await self.store.run(
            lambda conn: (db.save_counter_status(conn, p.counter_id, status, reason, session.actor, now),
                          db.write_audit(conn, entry))
        )
        self._log_audit(entry)
        update = m.CounterStatusUpdate(
            m.CounterStatusUpdatePayload(
                counter_id=p.counter_id,
                counter_name=runtime.config.name,
                status=status,
                reason=reason,
                changed_by=session.actor,
                timestamp=m.utc_timestamp(now),
                affected_tickets=changed.affected_tickets,
            )
        )
        self._deliver(
            (self.registered | {session.ws}, update),
            (self.registered, self._queue_update(p.counter_id)),
        )
        if status != "active":
            self._offline_alerted.discard(p.counter_id)
        self._stats_changed()

    # --- announcements --------------------------------------------------------------------------

    async def _on_announcement(self, session: Session, message: m.Announcement) -> None:
        assert self.store is not None
        p = message.payload
        now = self.clock.now()
        expires = now + timedelta(seconds=p.duration)
        entry = self._audit_entry(session, "announcement.sent", {
            "message": p.message, "priority": p.priority, "duration": p.duration, "targets": p.target_displays,
        })
        announcement_id = await self.store.run(
            lambda conn: (
                db.save_announcement(conn, p.message, p.priority, p.duration, p.target_displays, session.actor, now,
                                     expires),
                db.write_audit(conn, entry),
            )[0]
        )
        self._log_audit(entry)
        payload = m.AnnouncementOutPayload(
            message=p.message,
            priority=p.priority,
            duration=p.duration,
            target_displays=list(p.target_displays),
            announcement_id=announcement_id,
            sent_by=session.actor,
            timestamp=m.utc_timestamp(now),
            expires_at=m.utc_timestamp(expires),
        )
        self.announcements.append(payload)
        self._broadcast(self._announcement_audience(payload) | self.audience["admin"] | {session.ws},
                        m.AnnouncementOut(payload))

    def _announcement_audience(self, payload: m.AnnouncementOutPayload) -> set[ServerConnection]:
        if not payload.target_displays:
            return set(self.audience["tv"])
        targets = set(payload.target_displays)
        return {ws for ws in self.audience["tv"] if self.sessions[ws].client_id in targets}

    # --- device status --------------------------------------------------------------------------

    async def _on_device_status(self, session: Session, message: m.DeviceStatus) -> None:
        p = message.payload
        identity = session.identity
        assert identity is not None
        device = session.client_id or identity.client_id or session.actor
        self._audit(session, "device.status", {"component": p.component, "status": p.status, "code": p.code,
                                               "message": p.message, "detail": p.detail})
        key = (device, p.component)
        previous = self._device_problems.get(key)
        where = device + (f" ({session.location})" if session.location else "")
        component = DEVICE_COMPONENT_NAMES[p.component]
        if p.status == "ok":
            if previous is not None:
                del self._device_problems[key]
                self._alert("system_error", None, f"{where}: {component} đã hoạt động bình thường trở lại", "info")
            return
        if previous == (p.status, p.code):
            return  # the same problem again (a device re-reports after reconnecting): one alert is enough
        self._device_problems[key] = (p.status, p.code)
        self._alert("system_error", None, f"{where}: {component}: {p.message or p.code}",
                    "critical" if p.status == "fault" else "warning")

    def _announcement_payload(self, stored: db.StoredAnnouncement) -> m.AnnouncementOutPayload:
        return m.AnnouncementOutPayload(
            message=stored.message,
            priority=stored.priority,
            duration=stored.duration,
            target_displays=stored.target_displays,
            announcement_id=stored.announcement_id,
            sent_by=stored.sent_by,
            timestamp=m.utc_timestamp(stored.created_at),
            expires_at=m.utc_timestamp(stored.expires_at),
        )

    _handlers: dict[type, Callable[..., Awaitable[None]]] = {
        m.RegisterClient: _on_register,
        m.TicketRequest: _on_ticket_request,
        m.CallTicket: _on_call_ticket,
        m.CounterStatusChange: _on_counter_status_change,
        m.Announcement: _on_announcement,
        m.DeviceStatus: _on_device_status,
    }

    # --- state for clients ---------------------------------------------------------------------

    def _queue_update(self, counter_id: int) -> m.QueueUpdate:
        assert self.queue is not None
        view = self.queue.queue_view(counter_id)
        counter = self.site.counter(counter_id)
        return m.QueueUpdate(
            m.QueueUpdatePayload(
                counter_id=counter_id,
                current_number=view.current_number,
                waiting_count=view.waiting_count,
                next_numbers=view.next_numbers,
                average_wait_time=view.average_wait_minutes,
                counter_name=counter.name if counter else None,
                status=view.status,
            )
        )

    def snapshot(self, session: Session) -> m.Snapshot:
        assert self.queue is not None
        now = self.clock.now()
        counters = []
        for runtime in self.queue.counters.values():
            view = self.queue.queue_view(runtime.config.id)
            counters.append(
                m.CounterState(
                    counter_id=runtime.config.id,
                    counter_name=runtime.config.name,
                    status=runtime.status,
                    reason=runtime.reason,
                    changed_by=runtime.changed_by,
                    status_changed_at=m.utc_timestamp(runtime.status_changed_at) if runtime.status_changed_at else None,
                    procedures=[m.ProcedureInfo(procedure_id=p.id, procedure_name=p.name)
                                for p in runtime.config.procedures],
                    current_number=view.current_number,
                    waiting_count=view.waiting_count,
                    next_numbers=view.next_numbers,
                    average_wait_time=view.average_wait_minutes,
                    officer_connected=self._officers_at.get(runtime.config.id, 0) > 0,
                )
            )
        self._drop_expired_announcements(now)
        is_admin = session.client_type == "admin"
        if is_admin:
            announcements = list(self.announcements)
        elif session.client_type == "tv":
            announcements = [a for a in self.announcements
                             if not a.target_displays or session.client_id in a.target_displays]
        else:
            announcements = []
        return m.Snapshot(
            m.SnapshotPayload(
                site_name=self.site.site_name,
                server_time=m.utc_timestamp(now),
                service_day=self.queue.service_day.isoformat(),
                timezone=self.site.timezone,
                display_duration=self.site.display_duration,
                counters=counters,
                announcements=announcements,
                recent_calls=list(self.recent_calls)[::-1],
                clients=self._client_list() if is_admin else [],
                alerts=list(self.recent_alerts)[::-1] if is_admin else [],
                stats=self._stats_payload() if is_admin else None,
                public_url=self.site.public_url,
            )
        )

    def _client_list(self) -> list[m.ClientInfo]:
        return [
            m.ClientInfo(
                client_id=s.client_id or "",
                client_type=s.client_type or "",
                location=s.location,
                role=s.identity.role if s.identity else "",
                username=s.identity.username if s.identity else None,
                connected_since=m.utc_timestamp(s.connected_since) if s.connected_since else "",
            )
            for s in self.clients_by_id.values()
        ]

    def _drop_expired_announcements(self, now: datetime) -> None:
        stamp = m.utc_timestamp(now)
        # ISO timestamps in one format compare as strings.
        self.announcements = [a for a in self.announcements if (a.expires_at or "") > stamp]

    # --- alerts, statistics, the day ------------------------------------------------------------

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
        """Periodic work: the day turning, counters left without an officer."""
        now = self.clock.now()
        self._roll_day(now)
        self._check_counters_offline(now)
        self._drop_expired_announcements(now)

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
        self._spawn(self.store.run(lambda conn: _save(conn, rows, entry)))
        self._log_audit(entry)
        self.recent_calls.clear()
        self._high_queue_alerted.clear()
        for counter in self.site.counters:
            self._broadcast(self.registered, self._queue_update(counter.id))
        self._stats_changed()

    def _check_counters_offline(self, now: datetime) -> None:
        assert self.queue is not None
        limit = timedelta(minutes=self.site.alerts.counter_offline_minutes)
        for counter_id, since in self._officer_absent_since.items():
            runtime = self.queue.counters.get(counter_id)
            if runtime is None or runtime.status != "active" or counter_id in self._offline_alerted:
                continue
            if now - since >= limit:
                self._offline_alerted.add(counter_id)
                minutes = self.site.alerts.counter_offline_minutes
                self._alert(
                    "counter_offline",
                    counter_id,
                    f"Quầy {counter_id} ({runtime.config.name}) không có cán bộ kết nối trong {minutes:g} phút",
                    "warning",
                )

    def _check_high_queue(self, counter_id: int) -> None:
        assert self.queue is not None
        waiting = len(self.queue.counters[counter_id].waiting)
        threshold = self.site.alerts.high_queue
        if waiting > threshold and counter_id not in self._high_queue_alerted:
            self._high_queue_alerted.add(counter_id)
            name = self.queue.counters[counter_id].config.name
            self._alert("high_queue", counter_id,
                        f"Quầy {counter_id} ({name}) có {waiting} người chờ, vượt ngưỡng {threshold}", "warning")
        elif waiting <= threshold:
            self._high_queue_alerted.discard(counter_id)

    def _alert(self, alert_type: str, counter_id: int | None, text: str, severity: str) -> None:
        payload = m.SystemAlertPayload(
            alert_type=alert_type, counter_id=counter_id, message=text, severity=severity,
            timestamp=m.utc_timestamp(self.clock.now()),
        )
        self.recent_alerts.append(payload)
        log_event("alert." + alert_type, logging.WARNING, counter_id=counter_id, severity=severity, message=text)
        self._to_admins(m.SystemAlert(payload))

    def _stats_payload(self) -> m.StatsUpdatePayload:
        assert self.queue is not None
        stats = self.queue.stats()
        busiest = stats.busiest_counter
        return m.StatsUpdatePayload(
            total_tickets_today=stats.total_tickets_today,
            active_counters=stats.active_counters,
            average_wait_time=stats.average_wait_minutes,
            busiest_counter=m.BusiestCounter(id=busiest[0], name=busiest[1], queue_length=busiest[2]) if busiest else None,
            timestamp=m.utc_timestamp(self.clock.now()),
            waiting_total=stats.waiting_total,
            served_today=stats.served_today,
        )

    def _stats_changed(self) -> None:
        """Send STATS_UPDATE now, or at the end of the throttle interval (always the latest figures)."""
        if self._stats_timer is not None:
            return
        wait = self._stats_sent_at + self.site.stats_interval - time.monotonic()
        if wait <= 0:
            self._send_stats()
        else:
            self._stats_timer = asyncio.get_running_loop().call_later(wait, self._send_stats)

    def _send_stats(self) -> None:
        self._stats_timer = None
        self._stats_sent_at = time.monotonic()
        if self.audience["admin"]:
            self._to_admins(m.StatsUpdate(self._stats_payload()))

    # --- failures -------------------------------------------------------------------------------

    def _on_store_failure(self, session: Session, message: m.ClientMessage, exc: Exception) -> None:
        log_event("store.failed", logging.ERROR, actor=session.actor, type=m.message_type(message), problem=str(exc))
        self._alert("system_error", None, f"Lỗi cơ sở dữ liệu: {exc}", "critical")
        self._error(session, "INTERNAL_ERROR",
                    "Hệ thống đang gặp sự cố lưu dữ liệu, xin thử lại (the hub could not save this)", message)

    # --- sending ----------------------------------------------------------------------------------

    def _send(self, session: Session, message: Struct) -> None:
        self._deliver(((session.ws,), message))

    def _broadcast(self, connections: Iterable[ServerConnection], message: Struct) -> None:
        self._deliver((connections, message))

    def _deliver(self, *plan: tuple[Iterable[ServerConnection], Struct]) -> None:
        """Send each message to its recipients; whoever gets several gets them in one write, in plan order.

        Never waits on a slow client: one stuck socket cannot stall the hub.
        """
        payloads = [m.encode(message) for _, message in plan]
        # Split the recipients into groups that get the same messages, with set
        # operations (C speed: hundreds of TVs, a handful of distinct groups).
        groups: dict[tuple[int, ...], set[ServerConnection]] = {}
        for index, (connections, _) in enumerate(plan):
            newcomers = set(connections)
            refined: dict[tuple[int, ...], set[ServerConnection]] = {}
            for indexes, members in groups.items():
                inside = members & newcomers
                if inside:
                    refined[indexes + (index,)] = inside
                    newcomers -= inside
                    members = members - inside
                if members:
                    refined[indexes] = members
            if newcomers:
                refined[(index,)] = newcomers
            groups = refined
        frames = [fanout.text_frame(payload) for payload in payloads]
        for indexes, connections in groups.items():
            data = b"".join(frames[i] for i in indexes)
            written = fanout.write_frames(connections, data, [payloads[i] for i in indexes])
            self.metrics.frames_out += written * len(indexes)

    def _recipients(self, *client_types: str, include: Session | None = None,
                    exclude: Session | None = None) -> set[ServerConnection]:
        result: set[ServerConnection] = set()
        for client_type in client_types:
            result |= self.audience[client_type]
        if include is not None:
            result.add(include.ws)
        if exclude is not None:
            result.discard(exclude.ws)
        return result

    def _to_admins(self, message: Struct, exclude: Session | None = None) -> None:
        self._broadcast(self._recipients("admin", exclude=exclude), message)

    def _error(
        self,
        session: Session,
        code: str,
        text: str,
        failed: m.ClientMessage | str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.metrics.count_error(code)
        if isinstance(failed, Struct):
            message_type = m.message_type(failed)
            request_id = getattr(failed.payload, "request_id", None)  # type: ignore[attr-defined]
        else:
            message_type = failed
        self._send(
            session,
            m.Error(
                m.ErrorPayload(
                    error_code=code,
                    message=text,
                    timestamp=m.utc_timestamp(self.clock.now()),
                    message_type=message_type,
                    request_id=request_id,
                )
            ),
        )

    # --- audit ------------------------------------------------------------------------------------

    def _audit_entry(self, session: Session, action: str, detail: dict[str, Any]) -> db.AuditEntry:
        identity = session.identity
        return db.AuditEntry(
            at=self.clock.now(),
            actor=session.actor,
            role=identity.role if identity else None,
            client_id=session.client_id or (identity.client_id if identity else None),
            action=action,
            detail=detail,
        )

    def _log_audit(self, entry: db.AuditEntry) -> None:
        log_event(entry.action, **{**entry.detail, "actor": entry.actor, "actor_role": entry.role,
                                   "client_id": entry.client_id})

    def _audit(self, session: Session, action: str, detail: dict[str, Any]) -> None:
        """An event with no state change of its own: logged now, written to the audit table soon."""
        entry = self._audit_entry(session, action, detail)
        self._log_audit(entry)
        if self.store is not None:
            self._spawn(self.store.run(lambda conn: db.write_audit(conn, entry)))

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, ConnectionClosed):
                log.error("background task failed: %s", exc)


def _save(conn, rows: list[dict[str, Any]], entry: db.AuditEntry) -> None:
    db.save_ticket_rows(conn, rows)
    db.write_audit(conn, entry)


def _who(identity: Identity) -> tuple:
    return (identity.role, identity.client_id, identity.user_id, identity.username, identity.counter_id)


def _peer(ws: ServerConnection) -> str:
    address = ws.remote_address
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


def _disconnect_reason(ws: ServerConnection) -> str:
    code = ws.close_code
    if code in (1000, 1001):
        return "manual_disconnect"
    # When the hub's keepalive gives up, the peer sends no close frame (close_code
    # reads 1006): the hub's own close frame says it was a timeout.
    sent = ws.protocol.close_sent
    if sent is not None and sent.code == 1011 and "keepalive" in sent.reason:
        return "timeout"
    return "network_error"


def _close_text(ws: ServerConnection) -> str:
    sent = ws.protocol.close_sent
    return ws.close_reason or (sent.reason if sent is not None else "")


def _set_header(response: Response, name: str, value: str) -> None:
    del response.headers[name]
    response.headers[name] = value


def _json_response(connection: ServerConnection, body: dict[str, Any], status: int = 200) -> Response:
    response = connection.respond(HTTPStatus(status), json.dumps(body, ensure_ascii=False) + "\n")
    _set_header(response, "Content-Type", "application/json; charset=utf-8")
    return response


__all__ = ["Hub", "HubOptions", "Session"]
