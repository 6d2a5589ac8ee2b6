"""The reconnecting hub client the kiosk and TV nodes (and tools) use.

Three layers:

* :func:`apply_message` -- pure: folds one server message into an immutable
  :class:`HubState` (the node's mirror of the hall: counters, queues, calls,
  announcements, and the hub's clock).
* :class:`HubConnection` -- the asyncio core. ``run()`` loops until ``stop()``:
  connect, ``AUTH``, ``REGISTER_CLIENT``, then hand every decoded server
  message to ``on_message``; after a drop, wait ``reconnect_delay`` (5 s by
  default, as PROTOCOL.md says) and start again. The hub answers every
  registration with ``CONNECTION_ACK`` and a ``SNAPSHOT`` that replaces the
  mirror wholesale, so nothing from before the drop stays stale. The mirror
  takes both in one step: a node never sees it connected without the hall's
  state (the idle screen of a counter display without its officer's name). A refused
  token is retried only after ``AUTH_FAILURE_BACKOFF`` reconnect delays: a
  wrong token is not fixed by hammering the hub.
* :class:`ThreadedHubClient` -- for pygame nodes whose frame loop owns the main
  thread: the connection runs on its own event loop in a daemon thread;
  ``poll()`` hands over what arrived without ever blocking, ``send()`` and
  ``request_ticket()`` may be called from any thread.

Heartbeat: websockets' own keepalive. The client pings the hub every
``ping_interval`` seconds and drops the connection when no pong comes within
``ping_timeout`` (the hub pings too); a dead hub or a pulled cable is noticed
that way, reported as ``disconnected``, and the reconnect loop takes over. No
application-level ``PING`` is needed.

Ticket requests survive drops: :meth:`HubConnection.request_ticket` records the
request as pending under a fresh ``request_id`` and sends it if connected;
after every (re)registration every pending request is sent again with the
same ``request_id``. The hub returns the same ticket for a repeated
``request_id``, so a hub restart in the middle of a request still gives
exactly one ticket; the client delivers that ``TICKET_CREATED`` once (a
duplicate answer to a retry is dropped).

Importing this module is cheap: the mirror, the events and the configuration
need neither asyncio nor websockets (nor ssl), and those (some 100 ms on a
kiosk, more on a Pi) are imported by the connection itself, on the client's
own thread once :meth:`ThreadedHubClient.start` is called. A node can draw its
first frame from a :class:`HubState` and start the client afterwards, as the
kiosk does.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import queue
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from msgspec import Struct

from protocol import messages as m

if TYPE_CHECKING:
    # Imported where the connection runs (see the module's docstring), not with the module.
    import asyncio
    import concurrent.futures
    import ssl

    from websockets.asyncio.client import ClientConnection

log = logging.getLogger("qms.client")

# What the hub sends may exceed the 64 KiB a client may send: a SNAPSHOT of a
# large hall with many announcements.
MAX_INBOUND_BYTES = 1024 * 1024
# A refused token or registration waits this many reconnect delays before the next try.
AUTH_FAILURE_BACKOFF = 6
# Closing must not hold up stop() for long when the hub is gone.
CLOSE_TIMEOUT = 2.0
RECENT_CALLS_KEPT = 20
# TICKET_UPDATEDs remembered, newest first: enough for a TV to show what just happened at each counter.
TICKET_UPDATES_KEPT = 20
# Answered request ids remembered, to drop the second answer when a retry crossed the first.
ANSWERED_REQUESTS_KEPT = 256

_REQUEST_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._:-]")
_UUID_HEX_LENGTH = 32
_REQUEST_ID_MAX = 64


# --- configuration ----------------------------------------------------------------------


@dataclass(frozen=True)
class HubClientConfig:
    """Where the hub is and who this node is.

    ``ca_file`` applies to ``wss://`` URLs: the hub's certificate is then
    verified against that CA file alone (a hall's own CA); with ``wss://`` and
    no ``ca_file`` the system's default trust store is used.
    """

    url: str
    token: str
    client_type: m.ClientType
    client_id: str
    location: str = ""
    ca_file: str | None = None
    reconnect_delay: float = 5.0
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    open_timeout: float = 10.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("ws://", "wss://")):
            raise ValueError(f"hub url must start with ws:// or wss://: {self.url!r}")
        if self.ca_file is not None and not self.url.startswith("wss://"):
            # A CA file says the operator expects TLS; silently talking plain text would be worse.
            raise ValueError(f"ca_file is set but the hub url is not wss://: {self.url!r}")
        if not self.client_id:
            raise ValueError("client_id must not be empty")
        if self.reconnect_delay <= 0:
            raise ValueError("reconnect_delay must be positive")

    @property
    def secure(self) -> bool:
        return self.url.startswith("wss://")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for this hub, or None for ``ws://``.

        Built per connection attempt, so a CA file provisioned after start-up is picked up.
        """
        if not self.secure:
            return None
        import ssl

        if self.ca_file is None:
            return ssl.create_default_context()
        # With cafile given, create_default_context loads that file and not the system store.
        return ssl.create_default_context(cafile=self.ca_file)


# --- events -----------------------------------------------------------------------------

EventKind = Literal["connected", "disconnected", "connect_failed", "auth_failed"]


@dataclass(frozen=True)
class HubEvent:
    """Something about the connection itself, for the UI (e.g. to show "Mất kết nối").

    * ``connected`` -- registered with the hub: CONNECTION_ACK and the SNAPSHOT after it are in the mirror.
    * ``disconnected`` -- a registered connection dropped; a reconnect follows.
    * ``connect_failed`` -- an attempt failed before registering (refused, TLS, timeout).
    * ``auth_failed`` -- the hub refused the token or the registration; retried slowly.
    """

    kind: EventKind
    message: str = ""
    at: float = field(default_factory=time.time)


# --- the mirror -------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcedureView:
    procedure_id: int
    procedure_name: str
    queue_id: int | None = None
    field_id: int | None = None


@dataclass(frozen=True)
class QueueView:
    """One line of citizens (PROTOCOL.md Version 2) as the hub last described it."""

    queue_id: int
    name: str
    counter_ids: tuple[int, ...] = ()
    backup_counter_ids: tuple[int, ...] = ()
    waiting_count: int = 0
    priority_waiting_count: int = 0
    next_numbers: tuple[int, ...] = ()
    average_wait_time: int = 0
    prefix: str = ""


@dataclass(frozen=True)
class FieldView:
    """A group of procedures (lĩnh vực) for the kiosk's first menu."""

    field_id: int
    name: str
    procedure_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class CounterView:
    """One counter as the hub last described it."""

    counter_id: int
    name: str
    status: str = "active"
    reason: str = ""
    current_number: int | None = None
    waiting_count: int = 0
    next_numbers: tuple[int, ...] = ()
    average_wait_time: int = 0
    procedures: tuple[ProcedureView, ...] = ()
    officer_connected: bool = False
    # PROTOCOL.md Version 2 (a hub of the first version sends none of these: the counter is its own queue).
    number: int | None = None
    queue_ids: tuple[int, ...] = ()
    backup_queue_ids: tuple[int, ...] = ()
    current_ticket: m.CurrentTicket | None = None
    officer_name: str | None = None

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    @property
    def shown_number(self) -> int:
        """The number painted above the desk (the id when the hub sends none)."""
        return self.number if self.number is not None else self.counter_id


@dataclass(frozen=True)
class CallView:
    """One call as the hall saw it: the CALL_TICKET and TICKET_ANNOUNCEMENT of one call joined into one.

    The hub sends both for every call (a Version 2 hub the announcement first, the
    first version the other way round); ``called`` and ``announced`` say which have
    arrived, so the second one completes this call instead of making another. A
    call from a SNAPSHOT's ``recent_calls`` counts as both, and knows only what a
    ``CallRecord`` carries (its priority and label come from the counter's
    ``current_ticket`` while it is still being served).
    """

    ticket_number: int
    counter_id: int
    counter_name: str
    timestamp: str
    announcement_text: str = ""
    ticket_label: str = ""
    priority: bool = False
    queue_id: int | None = None
    queue_name: str | None = None
    counter_number: int | None = None
    recall: bool = False
    called: bool = True
    announced: bool = True

    @property
    def label(self) -> str:
        """The number as printed and shown ("A12"; the bare number when the hub sent no label)."""
        return self.ticket_label or str(self.ticket_number)

    def record(self) -> m.CallRecord:
        return m.CallRecord(ticket_number=self.ticket_number, counter_id=self.counter_id,
                            counter_name=self.counter_name, announcement_text=self.announcement_text,
                            timestamp=self.timestamp)


def _empty_counters() -> Mapping[int, CounterView]:
    return MappingProxyType({})


@dataclass(frozen=True)
class HubState:
    """An immutable snapshot of the hall as this node knows it.

    Every update makes a new ``HubState``, so a reference handed to another
    thread never changes under it. The message structs kept in
    ``announcements`` and ``recent_calls`` are shared, not copied: read them,
    do not modify them.
    """

    connected: bool = False
    site_name: str = ""
    service_day: str = ""
    timezone: str = ""
    display_duration: int = 10
    # Seconds the hub's clock is ahead of ours. The Pi nodes have no RTC: show hub_now().
    server_time_offset: float = 0.0
    # In the hub's order (the SNAPSHOT's).
    counters: Mapping[int, CounterView] = field(default_factory=_empty_counters)
    announcements: tuple[m.AnnouncementOutPayload, ...] = ()
    # Newest first, as in the SNAPSHOT.
    recent_calls: tuple[m.CallRecord, ...] = ()
    # PROTOCOL.md Version 2: the lines of citizens, the kiosk's fields, the site's texts and rules.
    queues: Mapping[int, QueueView] = field(default_factory=lambda: MappingProxyType({}))
    fields: tuple[FieldView, ...] = ()
    announcement_template: str = m.DEFAULT_ANNOUNCEMENT_TEMPLATE
    public_url: str | None = None
    # The latest TICKET_UPDATED (a finish, no-show, transfer or return), for screens that show it.
    last_ticket_update: m.TicketUpdatedPayload | None = None
    # The calls with everything the hub said of them, newest first (``recent_calls`` is the same, as records).
    calls: tuple[CallView, ...] = ()
    # The latest TICKET_UPDATEDs, newest first (TICKET_UPDATES_KEPT of them).
    ticket_updates: tuple[m.TicketUpdatedPayload, ...] = ()
    # The counters this TV shows (the site file's [[displays]] for its location); empty: every counter.
    display_counters: tuple[int, ...] = ()

    def hub_now(self) -> datetime:
        """The hub's idea of the current time (UTC)."""
        return datetime.now(UTC) + timedelta(seconds=self.server_time_offset)

    def active_announcements(self) -> tuple[m.AnnouncementOutPayload, ...]:
        """Announcements not yet expired by the hub's clock."""
        now = m.utc_timestamp(self.hub_now())
        # Timestamps in the protocol's one format compare as strings.
        return tuple(a for a in self.announcements if a.expires_at is None or a.expires_at > now)


def _clock_offset(server_time: str, local_time: float, previous: float) -> float:
    try:
        return m.parse_timestamp(server_time).timestamp() - local_time
    except ValueError:
        log.warning("hub sent an unreadable server_time %r; keeping the previous clock offset", server_time)
        return previous


def _counter_view(counter: m.CounterState) -> CounterView:
    return CounterView(
        counter_id=counter.counter_id,
        name=counter.counter_name,
        status=counter.status,
        reason=counter.reason,
        current_number=counter.current_number,
        waiting_count=counter.waiting_count,
        next_numbers=tuple(counter.next_numbers),
        average_wait_time=counter.average_wait_time,
        procedures=tuple(ProcedureView(p.procedure_id, p.procedure_name, p.queue_id, p.field_id)
                         for p in counter.procedures),
        officer_connected=counter.officer_connected,
        number=counter.counter_number,
        queue_ids=tuple(counter.queue_ids),
        backup_queue_ids=tuple(counter.backup_queue_ids),
        current_ticket=counter.current_ticket,
        officer_name=counter.officer_name,
    )


def _queue_view(queue: m.QueueInfo) -> QueueView:
    return QueueView(queue_id=queue.queue_id, name=queue.queue_name, counter_ids=tuple(queue.counter_ids),
                     backup_counter_ids=tuple(queue.backup_counter_ids), waiting_count=queue.waiting_count,
                     priority_waiting_count=queue.priority_waiting_count, next_numbers=tuple(queue.next_numbers),
                     average_wait_time=queue.average_wait_time, prefix=queue.prefix)


def _with_counter(counters: Mapping[int, CounterView], counter: CounterView) -> Mapping[int, CounterView]:
    updated = dict(counters)
    updated[counter.counter_id] = counter
    return MappingProxyType(updated)


def _known_counter(state: HubState, counter_id: int, name: str | None) -> CounterView:
    known = state.counters.get(counter_id)
    if known is None:
        # Only before the first SNAPSHOT, or a counter the hub added since: start from what we are told.
        return CounterView(counter_id=counter_id, name=name or f"Quầy {counter_id}")
    return known


def _snapshot_calls(snapshot: m.SnapshotPayload) -> tuple[CallView, ...]:
    counters = {c.counter_id: c for c in snapshot.counters}
    calls = []
    for record in snapshot.recent_calls[:RECENT_CALLS_KEPT]:
        counter = counters.get(record.counter_id)
        current = counter.current_ticket if counter is not None else None
        # A CallRecord says nothing of priority or label; the counter's current ticket does, while it is this one.
        serving = current if current is not None and current.ticket_number == record.ticket_number else None
        calls.append(CallView(
            ticket_number=record.ticket_number, counter_id=record.counter_id, counter_name=record.counter_name,
            timestamp=record.timestamp, announcement_text=record.announcement_text,
            ticket_label=serving.ticket_label if serving is not None else "",
            priority=serving.priority if serving is not None else False,
            queue_id=serving.queue_id if serving is not None else None,
            counter_number=counter.counter_number if counter is not None else None))
    return tuple(calls)


def _with_calls(state: HubState, calls: tuple[CallView, ...]) -> HubState:
    kept = calls[:RECENT_CALLS_KEPT]
    return replace(state, calls=kept, recent_calls=tuple(call.record() for call in kept))


def _same_call(head: CallView | None, counter_id: int, ticket_number: int) -> bool:
    return head is not None and head.counter_id == counter_id and head.ticket_number == ticket_number


def _called(state: HubState, call: m.CallTicketOutPayload) -> HubState:
    head = state.calls[0] if state.calls else None
    joining = head is not None and not head.called and _same_call(head, call.counter_id, call.ticket_number)
    # When its TICKET_ANNOUNCEMENT came first, this completes the same call, with the hub's own timestamp.
    base = head if joining and head is not None else CallView(
        ticket_number=call.ticket_number, counter_id=call.counter_id, counter_name=call.counter_name,
        timestamp=call.timestamp, announced=False)
    view = replace(base, called=True, counter_name=call.counter_name, timestamp=call.timestamp,
                   ticket_label=call.ticket_label, priority=call.priority, queue_id=call.queue_id,
                   queue_name=call.queue_name, counter_number=call.counter_number, recall=call.recall)
    return _with_calls(state, (view,) + (state.calls[1:] if joining else state.calls))


def _announced(state: HubState, spoken: m.TicketAnnouncementPayload, received: float) -> HubState:
    head = state.calls[0] if state.calls else None
    if head is not None and not head.announced and _same_call(head, spoken.counter_id, spoken.ticket_number):
        joined = replace(head, announced=True, announcement_text=spoken.announcement_text,
                         ticket_label=head.ticket_label or spoken.ticket_label,
                         priority=head.priority or spoken.priority,
                         queue_id=head.queue_id if head.queue_id is not None else spoken.queue_id,
                         queue_name=head.queue_name or spoken.queue_name,
                         counter_number=head.counter_number if head.counter_number is not None
                         else spoken.counter_number)
        return _with_calls(state, (joined,) + state.calls[1:])
    # Until its CALL_TICKET brings the hub's timestamp: when it arrived, by the hub's clock.
    arrived = datetime.fromtimestamp(received, UTC) + timedelta(seconds=state.server_time_offset)
    fresh = CallView(ticket_number=spoken.ticket_number, counter_id=spoken.counter_id,
                     counter_name=spoken.counter_name, timestamp=m.utc_timestamp(arrived),
                     announcement_text=spoken.announcement_text, ticket_label=spoken.ticket_label,
                     priority=spoken.priority, queue_id=spoken.queue_id, queue_name=spoken.queue_name,
                     counter_number=spoken.counter_number, called=False)
    return _with_calls(state, (fresh,) + state.calls)


def _ticket_updated(state: HubState, update: m.TicketUpdatedPayload) -> HubState:
    """Remember the update; a ticket that is no longer called leaves the counter that was serving it.

    The QUEUE_UPDATEs that follow say the same; a screen drawn in between is already right.
    """
    counters = state.counters
    if update.status != "called":
        for counter_id in dict.fromkeys((update.from_counter_id, update.counter_id)):
            known = counters.get(counter_id) if counter_id is not None else None
            if known is None:
                continue
            current = known.current_ticket
            serving = current.ticket_id == update.ticket_id if current is not None \
                else known.current_number == update.ticket_number
            if serving:
                counters = _with_counter(counters, replace(known, current_number=None, current_ticket=None))
    return replace(state, counters=counters, last_ticket_update=update,
                   ticket_updates=((update,) + state.ticket_updates)[:TICKET_UPDATES_KEPT])


def apply_message(state: HubState, message: m.ServerMessage, *, local_time: float | None = None) -> HubState:
    """The state after ``message`` (``state`` itself when the message changes nothing it mirrors).

    ``local_time`` is when the message arrived (``time.time()``), for the hub clock offset.
    """
    received = time.time() if local_time is None else local_time
    if isinstance(message, m.Snapshot):
        p = message.payload
        return replace(
            state,
            site_name=p.site_name,
            service_day=p.service_day,
            timezone=p.timezone,
            display_duration=p.display_duration,
            server_time_offset=_clock_offset(p.server_time, received, state.server_time_offset),
            counters=MappingProxyType({c.counter_id: _counter_view(c) for c in p.counters}),
            announcements=tuple(p.announcements),
            recent_calls=tuple(p.recent_calls[:RECENT_CALLS_KEPT]),
            queues=MappingProxyType({q.queue_id: _queue_view(q) for q in p.queues}),
            fields=tuple(FieldView(f.field_id, f.field_name, tuple(f.procedure_ids)) for f in p.fields),
            announcement_template=p.announcement_template,
            public_url=p.public_url,
            calls=_snapshot_calls(p),
            ticket_updates=(),
            display_counters=tuple(p.display_counters),
        )
    if isinstance(message, m.ConnectionAck):
        offset = _clock_offset(message.payload.server_time, received, state.server_time_offset)
        return replace(state, connected=True, server_time_offset=offset)
    if isinstance(message, m.QueueUpdate):
        update = message.payload
        known = _known_counter(state, update.counter_id, update.counter_name)
        counter = replace(
            known,
            name=update.counter_name or known.name,
            status=update.status or known.status,
            current_number=update.current_number,
            waiting_count=update.waiting_count,
            next_numbers=tuple(update.next_numbers),
            average_wait_time=update.average_wait_time,
            # QUEUE_UPDATE lists the backup queues with the counter's own; the SNAPSHOT told them apart.
            queue_ids=known.queue_ids or tuple(q for q in update.queue_ids if q not in known.backup_queue_ids),
            current_ticket=update.current_ticket,
        )
        queues = state.queues
        if update.queues:
            lines = dict(queues)
            for line in update.queues:
                old = lines.get(line.queue_id) or QueueView(line.queue_id, f"Hàng {line.queue_id}")
                lines[line.queue_id] = replace(old, waiting_count=line.waiting_count,
                                               priority_waiting_count=line.priority_waiting_count,
                                               next_numbers=tuple(line.next_numbers),
                                               average_wait_time=line.average_wait_time)
            queues = MappingProxyType(lines)
        return replace(state, counters=_with_counter(state.counters, counter), queues=queues)
    if isinstance(message, m.TicketUpdated):
        return _ticket_updated(state, message.payload)
    if isinstance(message, m.CounterStatusUpdate):
        change = message.payload
        known = _known_counter(state, change.counter_id, change.counter_name)
        counter = replace(known, name=change.counter_name or known.name, status=change.status, reason=change.reason)
        return replace(state, counters=_with_counter(state.counters, counter))
    if isinstance(message, m.AnnouncementOut):
        still_shown = replace(state, announcements=state.active_announcements())
        return replace(still_shown, announcements=still_shown.announcements + (message.payload,))
    if isinstance(message, m.CallTicketOut):
        return _called(state, message.payload)
    if isinstance(message, m.TicketAnnouncement):
        return _announced(state, message.payload, received)
    return state


# --- the asyncio core ----------------------------------------------------------------------


class NotConnected(ConnectionError):
    """The hub connection is down (or not registered yet): the message was not sent."""


class HubRefused(Exception):
    """The hub answered AUTH or REGISTER_CLIENT with an ERROR."""


MessageCallback = Callable[[m.ServerMessage], None]
EventCallback = Callable[[HubEvent], None]
_Wanted = TypeVar("_Wanted", bound=Struct)


class HubConnection:
    """One node's link to the hub, kept up until :meth:`stop`.

    All methods run on the event loop that runs :meth:`run`; callbacks are
    called there too and must not block. :class:`ThreadedHubClient` wraps this
    for code on other threads.
    """

    def __init__(self, config: HubClientConfig, on_message: MessageCallback | None = None,
                 on_event: EventCallback | None = None):
        self.config = config
        self._on_message = on_message
        self._on_event = on_event
        # Replaced, never mutated: other threads may read it at any time.
        self.state = HubState()
        self.identity: m.AuthOkPayload | None = None
        # Connection attempts made so far (diagnostics).
        self.attempts = 0
        self._ws: ClientConnection | None = None  # set only while registered
        self._pending: dict[str, m.TicketRequest] = {}
        self._answered: deque[str] = deque(maxlen=ANSWERED_REQUESTS_KEPT)
        self._run_task: asyncio.Task | None = None
        self._stopped = False
        self._tasks: set[asyncio.Task] = set()

    @property
    def connected(self) -> bool:
        """Registered with the hub right now."""
        return self._ws is not None

    @property
    def pending_request_ids(self) -> tuple[str, ...]:
        """Ticket requests not yet answered, oldest first."""
        return tuple(self._pending)

    # --- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, register and serve; reconnect after every drop; return after :meth:`stop`."""
        import asyncio

        if self._run_task is not None:
            raise RuntimeError("HubConnection.run() is already running")
        self._run_task = asyncio.current_task()
        try:
            while not self._stopped:
                delay = await self._session()
                if not self._stopped:
                    await asyncio.sleep(delay)
        except asyncio.CancelledError:
            if not self._stopped:
                raise
        finally:
            self._run_task = None
            self._ws = None
            self.state = replace(self.state, connected=False)

    def stop(self) -> None:
        """Make :meth:`run` close the connection and return (call on the loop's thread)."""
        self._stopped = True
        if self._run_task is not None:
            self._run_task.cancel()

    async def _session(self) -> float:
        """One connection, from opening to drop; the delay before the next attempt."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        config = self.config
        self.attempts += 1
        try:
            # The TLS context only for wss://; for ws:// no ssl argument at all.
            options: dict[str, Any] = {"ssl": config.ssl_context()} if config.secure else {}
            ws = await connect(
                config.url,
                compression=None,  # the protocol turns permessage-deflate off
                max_size=MAX_INBOUND_BYTES,
                open_timeout=config.open_timeout,
                ping_interval=config.ping_interval,
                ping_timeout=config.ping_timeout,
                close_timeout=CLOSE_TIMEOUT,
                # The hub is on the hall's LAN: never route to it through a proxy from the environment.
                proxy=None,
                user_agent_header=f"qms-{config.client_type}/{m.PROTOCOL_VERSION}",
                **options,
            )
        except Exception as exc:  # noqa: BLE001 - any failure to connect means: report, wait, retry
            log.info("connecting to %s failed: %s", config.url, _describe(exc))
            self._emit(HubEvent("connect_failed", _describe(exc)))
            return config.reconnect_delay
        try:
            try:
                registered = await self._handshake(ws)
            except HubRefused as exc:
                log.warning("the hub refused %s: %s", config.client_id, exc)
                self._emit(HubEvent("auth_failed", str(exc)))
                return config.reconnect_delay * AUTH_FAILURE_BACKOFF
            except (ConnectionClosed, TimeoutError, OSError) as exc:
                log.info("registering with %s failed: %s", config.url, _describe(exc))
                self._emit(HubEvent("connect_failed", _describe(exc)))
                return config.reconnect_delay
            await self._serve(ws, registered)
            return config.reconnect_delay
        finally:
            await ws.close()

    async def _handshake(self, ws: ClientConnection) -> list[m.ServerMessage]:
        """AUTH and REGISTER_CLIENT; the CONNECTION_ACK and what followed it up to and including the SNAPSHOT."""
        import asyncio

        config = self.config
        async with asyncio.timeout(config.open_timeout):
            await ws.send(m.encode(m.Auth(m.AuthPayload(token=config.token))), text=True)
            auth_ok = await self._expect(ws, m.AuthOk, "AUTH")
            self.identity = auth_ok.payload
            register = m.RegisterClient(m.RegisterClientPayload(
                client_type=config.client_type, client_id=config.client_id, location=config.location))
            await ws.send(m.encode(register), text=True)
            registered: list[m.ServerMessage] = [await self._expect(ws, m.ConnectionAck, "REGISTER_CLIENT")]
            # The hub sends the SNAPSHOT right after; anything before it is kept, in order, not dropped.
            while not isinstance(registered[-1], m.Snapshot):
                message = self._decode(await ws.recv())
                if message is not None:
                    registered.append(message)
            return registered

    async def _expect(self, ws: ClientConnection, wanted: type[_Wanted], request: str) -> _Wanted:
        while True:
            message = self._decode(await ws.recv())
            if isinstance(message, wanted):
                return message
            if isinstance(message, m.Error):
                p = message.payload
                raise HubRefused(f"{request}: {p.error_code}: {p.message}")
            if message is not None:
                log.debug("ignoring %s while waiting for %s", m.message_type(message), m.message_type(wanted))

    async def _serve(self, ws: ClientConnection, registered: list[m.ServerMessage]) -> None:
        from websockets.exceptions import ConnectionClosed

        config = self.config
        # One assignment: whoever reads the mirror sees it connected and with the hall's state, or neither.
        state = self.state
        for message in registered:
            state = self._applied(state, message)
        self.state = state
        self._ws = ws
        log.info("registered with %s as %s", config.url, config.client_id)
        self._emit(HubEvent("connected", f"registered as {config.client_id} at {config.url}"))
        for message in registered:
            self._deliver(message)
        try:
            # Requests from before the drop go again, same request_id: the hub answers with the same ticket.
            for request in list(self._pending.values()):
                await ws.send(m.encode(request), text=True)
            async for frame in ws:
                self._on_frame(frame)
        except ConnectionClosed:
            pass
        finally:
            self._ws = None
            self.state = replace(self.state, connected=False)
            why = _close_description(ws)
            log.info("connection to %s dropped: %s", config.url, why)
            self._emit(HubEvent("disconnected", why))

    # --- inbound ------------------------------------------------------------------------------

    def _decode(self, frame: str | bytes) -> m.ServerMessage | None:
        try:
            return m.decode_server_message(frame)
        except Exception as exc:  # noqa: BLE001 - a frame we cannot read is skipped, never fatal
            log.warning("skipping a frame from the hub that is not a known message: %s (%.120r)", exc, frame)
            return None

    def _on_frame(self, frame: str | bytes) -> None:
        message = self._decode(frame)
        if message is None:
            return
        if isinstance(message, (m.TicketCreated, m.Error)):
            request_id = message.payload.request_id
            if request_id is not None:
                if request_id in self._pending:
                    del self._pending[request_id]
                    self._answered.append(request_id)
                elif isinstance(message, m.TicketCreated) and request_id in self._answered:
                    log.info("dropping a repeated answer to request %s", request_id)
                    return
        self._apply(message)
        self._deliver(message)

    def _apply(self, message: m.ServerMessage) -> None:
        self.state = self._applied(self.state, message)

    @staticmethod
    def _applied(state: HubState, message: m.ServerMessage) -> HubState:
        try:
            return apply_message(state, message, local_time=time.time())
        except Exception:  # noqa: BLE001 - odd data must not cost the connection; the next SNAPSHOT repairs
            log.exception("could not apply %s to the mirror", m.message_type(message))
            return state

    def _deliver(self, message: m.ServerMessage) -> None:
        if self._on_message is None:
            return
        try:
            self._on_message(message)
        except Exception:  # noqa: BLE001 - a UI bug must not drop the hub connection
            log.exception("on_message callback failed for %s", m.message_type(message))

    def _emit(self, event: HubEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:  # noqa: BLE001 - as above
            log.exception("on_event callback failed for %s", event.kind)

    # --- outbound -----------------------------------------------------------------------------

    async def send(self, message: Struct) -> None:
        """Send one client message; :class:`NotConnected` if not registered with the hub."""
        from websockets.exceptions import ConnectionClosed

        ws = self._ws
        if ws is None:
            raise NotConnected("not connected to the hub")
        try:
            await ws.send(m.encode(message), text=True)
        except ConnectionClosed as exc:
            raise NotConnected(f"the hub connection dropped: {exc}") from exc

    def new_request_id(self) -> str:
        """A fresh request id: this node's client_id (made safe, shortened) and a uuid4."""
        prefix = _REQUEST_ID_UNSAFE.sub("_", self.config.client_id)[: _REQUEST_ID_MAX - _UUID_HEX_LENGTH - 1]
        return f"{prefix}-{uuid.uuid4().hex}"

    def request_ticket(self, counter_id: int | None = None, procedure_id: int | None = None, *,
                       request_id: str | None = None, queue_id: int | None = None, priority: bool = False,
                       priority_reason: m.PriorityReason | None = None) -> str:
        """Ask for a ticket; its request_id. Answered by TICKET_CREATED or ERROR with that request_id.

        The request stays pending until answered, across any number of reconnects.
        """
        if counter_id is None and procedure_id is None and queue_id is None:
            raise ValueError("a ticket request needs procedure_id, queue_id or counter_id")
        request_id = request_id or self.new_request_id()
        request = m.TicketRequest(m.TicketRequestPayload(
            counter_id=counter_id, procedure_id=procedure_id, queue_id=queue_id, request_id=request_id,
            priority=priority, priority_reason=priority_reason if priority else None))
        self._pending[request_id] = request
        if self._ws is not None:
            self._spawn(self._send_request(self._ws, request))
        return request_id

    def forget_request(self, request_id: str) -> bool:
        """Stop retrying a pending request (the hub may already have issued it); whether it was pending."""
        return self._pending.pop(request_id, None) is not None

    async def _send_request(self, ws: ClientConnection, request: m.TicketRequest) -> None:
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(ConnectionClosed):  # still pending: sent again after the reconnect
            await ws.send(m.encode(request), text=True)

    def _spawn(self, coroutine) -> None:
        import asyncio

        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _close_description(ws: ClientConnection) -> str:
    code, reason = ws.close_code, ws.close_reason
    if code is None:
        return "connection lost"
    return f"closed with code {code}" + (f": {reason}" if reason else "")


# --- for a frame loop on another thread ----------------------------------------------------------

Received = m.ServerMessage | HubEvent


class ThreadedHubClient:
    """A :class:`HubConnection` on its own event loop in a daemon thread.

    Made for a pygame frame loop: nothing here blocks the caller except
    :meth:`stop`, which joins the thread. Each frame, call :meth:`poll` and
    draw from :attr:`state`; both work before :meth:`start` too (nothing
    received, not connected).

    :meth:`start` returns at once: the thread imports asyncio and websockets
    and makes its event loop first. A ticket request or :meth:`stop` made
    meanwhile is carried out as soon as that loop is there; :meth:`send`
    meanwhile fails with :class:`NotConnected`, as it does until the hub has
    registered the node.
    """

    def __init__(self, config: HubClientConfig):
        self.config = config
        self._inbox: queue.SimpleQueue[Received] = queue.SimpleQueue()
        self._connection = HubConnection(config, on_message=self._inbox.put, on_event=self._inbox.put)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        # Calls for the loop made after start() but before the thread has made its loop; guarded by _loop_lock.
        self._calls_before_loop: list[Callable[[], object]] = []
        self._loop_lock = threading.Lock()

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("ThreadedHubClient.start() called twice")
        self._thread = threading.Thread(
            target=self._thread_main, name=f"hub-client:{self.config.client_id}", daemon=True)
        self._thread.start()

    def _thread_main(self) -> None:
        # Here, not in start(): the caller's frames go on while asyncio (and, in run(), websockets) load.
        import asyncio

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        with self._loop_lock:
            self._loop = loop
            waiting, self._calls_before_loop = self._calls_before_loop, []
        for call in waiting:
            # Ahead of run()'s first step: a stop() that came first makes run() return at once.
            loop.call_soon(call)
        try:
            loop.run_until_complete(self._connection.run())
        except Exception:  # noqa: BLE001 - reported; the thread ends and the UI shows disconnected
            log.exception("the hub client thread failed")
        finally:
            try:
                leftovers = asyncio.all_tasks(loop)
                for task in leftovers:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Close the connection and join the thread (at most ``timeout`` seconds)."""
        thread = self._thread
        if thread is None:
            return
        with contextlib.suppress(NotConnected, RuntimeError):  # the loop is closed: the thread has already finished
            self._on_loop(self._connection.stop)
        thread.join(timeout)
        if thread.is_alive():
            log.warning("the hub client thread did not stop within %.1f s", timeout)

    def __enter__(self) -> ThreadedHubClient:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- for the frame loop ---------------------------------------------------------------------

    def poll(self) -> list[Received]:
        """Every message and event received since the last poll, oldest first; never blocks."""
        received: list[Received] = []
        while True:
            try:
                received.append(self._inbox.get_nowait())
            except queue.Empty:
                return received

    @property
    def state(self) -> HubState:
        """The mirror as of now: an immutable snapshot, safe to keep and read on any thread."""
        return self._connection.state

    @property
    def connected(self) -> bool:
        return self._connection.state.connected

    @property
    def pending_request_ids(self) -> tuple[str, ...]:
        return self._connection.pending_request_ids

    def send(self, message: Struct) -> concurrent.futures.Future[None]:
        """Send a client message from any thread; the future fails with :class:`NotConnected` when down."""
        import concurrent.futures

        coroutine = self._connection.send(message)
        try:
            loop = self._running_loop()
            import asyncio  # the client's thread has imported it: its loop is running

            return asyncio.run_coroutine_threadsafe(coroutine, loop)
        except (RuntimeError, NotConnected) as exc:
            coroutine.close()
            failed: concurrent.futures.Future[None] = concurrent.futures.Future()
            failed.set_exception(exc if isinstance(exc, NotConnected) else NotConnected(str(exc)))
            return failed

    def request_ticket(self, counter_id: int | None = None, procedure_id: int | None = None, *,
                       queue_id: int | None = None, priority: bool = False,
                       priority_reason: m.PriorityReason | None = None) -> str:
        """Ask for a ticket from any thread; its request_id (see :meth:`HubConnection.request_ticket`).

        The answer comes through :meth:`poll` as TICKET_CREATED or ERROR carrying that request_id.
        """
        if counter_id is None and procedure_id is None and queue_id is None:
            raise ValueError("a ticket request needs procedure_id, queue_id or counter_id")
        request_id = self._connection.new_request_id()
        self._on_loop(functools.partial(
            self._connection.request_ticket, counter_id, procedure_id, request_id=request_id, queue_id=queue_id,
            priority=priority, priority_reason=priority_reason))
        return request_id

    def new_request_id(self) -> str:
        """A fresh request id as the connection makes them (this node's client_id and a uuid4), from any thread.

        For requests the node keeps itself, such as the counter display's RATINGs waiting for the hub.
        """
        return self._connection.new_request_id()

    def forget_request(self, request_id: str) -> None:
        """Stop retrying a pending ticket request (from any thread)."""
        self._on_loop(functools.partial(self._connection.forget_request, request_id))

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None or loop.is_closed():
            raise NotConnected("the hub client is not running: call start()")
        return loop

    def _on_loop(self, call: Callable[[], object]) -> None:
        """Have the client's loop run ``call``: now, or once the thread start() began has made the loop.

        :class:`NotConnected` before start() and after the thread has ended, as :meth:`_running_loop`.
        """
        with self._loop_lock:
            if self._loop is None and self._thread is not None:
                self._calls_before_loop.append(call)
                return
        self._running_loop().call_soon_threadsafe(call)


__all__ = [
    "AUTH_FAILURE_BACKOFF",
    "CallView",
    "CounterView",
    "HubClientConfig",
    "HubConnection",
    "HubEvent",
    "HubRefused",
    "HubState",
    "NotConnected",
    "ProcedureView",
    "ThreadedHubClient",
    "apply_message",
]
