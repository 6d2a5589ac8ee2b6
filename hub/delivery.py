"""Delivery: every message the hub sends goes through here, to one connection or to an audience.

Sending messages to many connections with as little work per connection as possible:

* **Encoded once, addressed when sent.** :meth:`Delivery.deliver` serialises
  each message at once and frames it once (the hub serves with compression
  off and a server never masks its frames, so a message's frame is the same
  bytes for every connection), and takes a copy of its recipients then: a
  client that registers a moment later does not get what was sent before it
  was there. A counter's QUEUE_UPDATE may be sent as a :class:`CounterState`,
  built only if and when it is written (below).
* **Each connection written at most once per event-loop iteration.** What
  was sent during one iteration waits for one callback scheduled with
  ``call_soon``, which runs in the next iteration and writes each connection
  everything it has pending in one ``transport.write``, in the order it was
  sent. With 500 TVs a burst of ten tickets (one group commit wakes all their
  handlers in the same iteration) costs 500 writes, not 5,000.
* **Shared bytes.** Connections that get the same messages are found with
  set operations (C speed: hundreds of TVs, a handful of distinct groups), and
  each group's frames are joined once and the same bytes written to each of
  its sockets.
* **Two threads at the sockets.** A write to hundreds of connections is
  shared between the loop's thread and a helper (:mod:`hub.parallel_send`):
  the kernel's work in each ``send`` is most of a fan-out, and a system call
  lets go of the GIL.
* **The state, not every step.** ``QUEUE_UPDATE`` is the whole state of one
  counter (PROTOCOL.md), so of several for the same counter pending for a
  connection only the last is written, where it was sent (after whatever
  led to it). Never across a ``PONG``: a PONG promises that everything sent to
  the connection before the PING was answered has arrived.

Order per connection is kept, so a ``PONG`` still arrives after everything
sent to that connection before it (``round_trip`` in the tests relies on it),
and the messages of one plan arrive in plan order.

Like ``websockets.broadcast`` (whose checks this follows), writing never
waits for a slow client, and a connection that closed meanwhile is skipped;
the keepalive timeout ends a client that stops reading.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from msgspec import Struct
from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

from hub.parallel_send import ParallelSender
from protocol import messages as m

log = logging.getLogger("qms.delivery")

class EveryBoard:
    """Recipients: every board (registered TV) when the message is sent, and ``others`` besides.

    What most of the hall's news goes to. Given so, the hundreds of boards
    are neither copied nor split out of a set for each message: they share
    one snapshot, taken again only when a board comes or goes.
    """

    __slots__ = ("others",)

    def __init__(self, others: Iterable[ServerConnection] = ()):
        self.others = others


# A delivery plan: each message with the connections that get it.
Plan = tuple["Iterable[ServerConnection] | EveryBoard", "Struct | CounterState"]


def text_frame(payload: bytes) -> bytes:
    """One unmasked, unfragmented text frame carrying ``payload`` (UTF-8 JSON).

    The header of RFC 6455 section 5.2 (FIN and TEXT, then the length in 7,
    7+16 or 7+64 bits) written here: websockets' ``Frame.serialize``, general
    (masks, extensions, checks), took a fifth of what encoding a message cost,
    and every message the hub sends is framed once (``tests/hub/test_delivery.py``
    checks these bytes against it).
    """
    length = len(payload)
    if length < 126:
        return bytes((0x81, length)) + payload
    if length < 65536:
        return _MEDIUM_HEADER.pack(0x81, 126, length) + payload
    return _LONG_HEADER.pack(0x81, 127, length) + payload


_MEDIUM_HEADER = struct.Struct("!BBH")
_LONG_HEADER = struct.Struct("!BBQ")

# For a caller with no sender of its own (a one-off write): every socket written by the loop's thread.
_WRITING_ALONE = ParallelSender(parallel=False)


def write_frames(connections: Iterable[ServerConnection], data: bytes, payloads: Sequence[bytes],
                 sender: ParallelSender | None = None) -> int:
    """Write the serialised frames ``data`` to every open connection; returns how many got them.

    ``payloads`` are the same messages unserialised, for a connection that
    negotiated an extension (none does while compression is off) and so needs
    its own framing. ``sender`` may share the writes between two threads
    (:mod:`hub.parallel_send`); without one, the loop's thread writes them all.
    """
    written = 0
    plain: list[asyncio.WriteTransport] = []
    for connection in connections:
        protocol = connection.protocol
        if protocol.state is not State.OPEN:
            continue
        if connection.send_in_progress is not None or protocol.expect_continuation_frame:
            # Never interleave with a fragmented message; the hub sends none, so this is defensive.
            log.warning("skipped a message to %s: a fragmented message is being sent", connection.id)
            continue
        if not protocol.extensions:
            plain.append(connection.transport)
            continue
        try:
            for payload in payloads:
                protocol.send_text(payload)
            connection.send_data()
        except Exception as exc:  # noqa: BLE001 - one broken socket must not stop the others
            log.warning("skipped a message to %s: %s", connection.id, exc)
            continue
        written += 1
    return written + (sender or _WRITING_ALONE).send(plain, data)


class CounterState:
    """A counter's QUEUE_UPDATE, built when it is written rather than when it is sent.

    A QUEUE_UPDATE is the counter's whole state, and of several sent for one
    counter before a flush only the last is written (:func:`latest_states_only`):
    only that one is ever built, from the state as it is then. A burst of ten
    tickets for a counter builds its QUEUE_UPDATE once, not ten times.
    """

    __slots__ = ("counter_id", "build")

    def __init__(self, counter_id: int, build: Callable[[], m.QueueUpdate]):
        self.counter_id, self.build = counter_id, build


class Outgoing:
    """One message as sent: its JSON and its frame (shared by every recipient, made once), and what may
    replace it."""

    __slots__ = ("_message", "_payload", "_frame", "state_of", "barrier", "urgent")

    def __init__(self, message: Struct | CounterState):
        self._message = message
        self._payload: bytes | None = None
        self._frame: bytes | None = None
        # A QUEUE_UPDATE is a counter's whole state: a later one for the same counter makes it moot.
        self.state_of: tuple[object, ...] | None = None
        if isinstance(message, CounterState):
            self.state_of = ("QUEUE_UPDATE", message.counter_id)
        elif isinstance(message, m.QueueUpdate):
            self.state_of = ("QUEUE_UPDATE", message.payload.counter_id)
        # A PONG answers "has everything before my PING arrived?": nothing moves across it.
        self.barrier = isinstance(message, m.Pong)
        # A call is shown and spoken in the hall the moment it is made: never held by the pacing below.
        self.urgent = isinstance(message, m.TicketAnnouncement)
        if not isinstance(message, CounterState):
            self._payload = m.encode(message)  # now: a bad message fails its sender, not a later flush

    def ready(self) -> bool:
        """Build the message if it is built when written; False (logged) if that failed: it is not sent."""
        if self._payload is None:
            message = self._message
            assert isinstance(message, CounterState)
            try:
                self._payload = m.encode(message.build())
            except Exception:  # noqa: BLE001 - one state that cannot be built must not stop the flush
                log.exception("could not build the QUEUE_UPDATE of counter %s", message.counter_id)
                return False
        return True

    @property
    def payload(self) -> bytes:
        assert self._payload is not None, "ready() first"
        return self._payload

    @property
    def frame(self) -> bytes:
        if self._frame is None:
            self._frame = text_frame(self.payload)
        return self._frame


def latest_states_only(outgoing: Sequence[Outgoing]) -> list[Outgoing]:
    """``outgoing`` without each message that a later one of the same state replaces (not across a PONG)."""
    if not any(item.state_of is not None for item in outgoing):
        return list(outgoing)
    kept: list[Outgoing] = []
    later: set[tuple[object, ...]] = set()
    for item in reversed(outgoing):
        if item.barrier:
            later.clear()
        elif item.state_of is not None:
            if item.state_of in later:
                continue
            later.add(item.state_of)
        kept.append(item)
    kept.reverse()
    return kept


class FrameCounter(Protocol):
    frames_out: int


# A flush of the boards that took longer than this (hundreds of sockets, a system call each) paces the
# next one; cheaper ones (a hall of tens of TVs) never do.
PACE_AFTER = 0.001
# The share of the loop that writes to the boards (the TVs: tickets, the queues' state), under load: the
# rest serves the kiosks and the counters. A tenth: 500 TVs cost a ticket burst a tenth of its speed, and
# a board shows the latest state a few tens of ms later.
BROADCAST_SHARE = 0.1
# However costly the last flush, the boards are never more than this behind (2,000 TVs and more).
MAX_HOLD = 0.25
# Everyone else hears what is broadcast at most this often under load (seconds), unless they have a message
# of their own: in a burst of tickets from ten kiosks, each kiosk had been written every iteration with the
# queues' latest state, a write per kiosk per ticket, a fifth of the hub's time; no screen shows 50 states a
# second. A flush longer than this after the last one (a hall at its usual pace) is not delayed.
OTHERS_EVERY = 0.02

# Messages not yet written, in order, each with its recipients: a set of its own, or (held for the boards)
# the boards' shared snapshot, copied before anything is taken out of it.
Pending = list[tuple["set[ServerConnection] | frozenset[ServerConnection]", Outgoing]]


class Delivery:
    """Sends messages to connections, coalesced per loop iteration; counts the frames written (for /metrics).

    Connections are in one of two tiers. The *boards* (the TVs, :meth:`pace`)
    hear what is broadcast; under fan-out load their writes are paced: after
    a flush of the boards that took ``t`` seconds (more than ``PACE_AFTER``),
    the next waits ``t`` x 9 (at most ``MAX_HOLD``), so at most
    ``BROADCAST_SHARE`` of the loop's time goes to them, and what is sent
    meanwhile (the next tickets, the counters' latest state) shares their next
    write. Everyone else (kiosks, officers, admins, counter displays: a few
    tens) is written in the next iteration: a kiosk's answer never waits for
    500 TVs. Under load their broadcasts wait too, briefly: a flush of theirs
    sooner than ``OTHERS_EVERY`` after the last writes only those with a
    message of their own (everything they have pending, in order) and the
    rest at the end of the interval; a call writes everyone at once. A
    board with a message of its own (a PONG, an ERROR, its state after
    REGISTER_CLIENT) is written in the next iteration too, with
    everything it has pending, in order; and a call (``TICKET_ANNOUNCEMENT``)
    ends the wait: it is written to every board in the next iteration, after
    what they have pending, in a write that ends with it (what was sent with
    it follows in a second write). A connection that changes tier has what
    it had pending written at once, so its messages never overtake each
    other.
    """

    def __init__(self, counter: FrameCounter):
        self._counter = counter
        # Hundreds of boards written from two threads at once (hub.parallel_send).
        self._sender = ParallelSender()
        # What was sent and not yet written, in order, each message with a copy of its recipients: for
        # the next iteration (everyone but the boards), and held for the boards.
        self._pending: Pending = []
        self._held: Pending = []
        self._boards: set[ServerConnection] = set()
        self._boards_now: frozenset[ServerConnection] | None = None  # a snapshot of _boards, shared
        # Boards with a message of their own held: written in the next iteration all the same.
        self._boards_asked: set[ServerConnection] = set()
        # The same for everyone else, and when their broadcasts may be written again (time.monotonic()).
        self._others_asked: set[ServerConnection] = set()
        self._others_until = 0.0
        self._others_paced: asyncio.TimerHandle | None = None
        self._soon_scheduled = False
        # A call (an urgent message) is held for the boards: the next flush writes them first.
        self._call_held = False
        self._paced: asyncio.TimerHandle | None = None
        # When the boards may be written again (time.monotonic()).
        self._paced_until = 0.0

    def close(self) -> None:
        """The hub is stopping: end the thread that helps write to many connections at once."""
        self._sender.close()

    def pace(self, ws: ServerConnection) -> None:
        """``ws`` is a board (a registered TV) from now on: what it hears may wait its turn."""
        if ws not in self._boards:
            self._write_now(ws, self._pending)
            self._boards.add(ws)
            self._boards_now = None

    def unpace(self, ws: ServerConnection) -> None:
        """``ws`` is no longer a board (it left, or registers as something else)."""
        if ws in self._boards:
            self._boards.discard(ws)
            self._boards_now = None
            self._boards_asked.discard(ws)
            if ws.protocol.state is State.OPEN:  # a closed one is skipped when written: no need to look
                self._write_now(ws, self._held)

    def send(self, ws: ServerConnection, message: Struct | CounterState) -> None:
        self._queue({ws}, Outgoing(message))

    def broadcast(self, connections: Iterable[ServerConnection] | EveryBoard, message: Struct | CounterState) -> None:
        self.deliver((connections, message))

    def deliver(self, *plan: Plan) -> None:
        """Send each message to its recipients; whoever gets several gets them in plan order.

        Never waits on a slow client: one stuck socket cannot stall the hub.
        """
        for connections, message in plan:
            if isinstance(connections, EveryBoard):
                boards = self._boards_now
                if boards is None:
                    boards = self._boards_now = frozenset(self._boards)
                self._queue({ws for ws in connections.others if ws not in boards}, Outgoing(message), boards)
            else:
                self._queue(set(connections), Outgoing(message))

    def _queue(self, recipients: set[ServerConnection], outgoing: Outgoing,
               boards: frozenset[ServerConnection] | set[ServerConnection] | None = None) -> None:
        """``boards``: the boards among the recipients, if the caller knows; else they are found here."""
        wake = False
        if outgoing.urgent:
            self._others_until = 0.0  # a call: everyone else at once too (the caller among them)
        if boards is None and self._boards:
            boards = recipients & self._boards  # C speed: the smaller set is walked
            recipients -= boards
        if boards:
            self._held.append((boards, outgoing))
            if len(boards) == 1 and not recipients:
                self._boards_asked.update(boards)  # a message of its own
                wake = True
            if outgoing.urgent:
                self._paced_until = 0.0  # the next flush writes every board, this after what they had
                self._call_held = True
                wake = True
            wake = wake or self._paced is None
        if recipients:
            self._pending.append((recipients, outgoing))
            if len(recipients) == 1:
                self._others_asked.update(recipients)  # a message of its own
            wake = True
        if not wake or self._soon_scheduled:
            return  # a flush is coming (a paced one takes what is held: it would wait for it anyway)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a synchronous caller): nothing to wait for
            self.flush()
            return
        self._soon_scheduled = True
        loop.call_soon(self._flush_soon)

    def _flush_soon(self) -> None:
        self._soon_scheduled = False
        if self._held and self._call_held:
            # A call: the hall's screens first (they announce it), then the few others, the caller among them.
            self._flush_boards()
        if self._pending:
            self._flush_others()
        if not self._held:
            return
        if time.monotonic() >= self._paced_until:
            self._flush_boards()
            return
        self._write_asked(self._boards_asked, self._held)
        if self._held and self._paced is None:
            loop = asyncio.get_running_loop()
            self._paced = loop.call_at(loop.time() + self._paced_until - time.monotonic(), self._flush_boards)

    def flush(self) -> None:
        """Write everything pending and held now, each connection once."""
        self._flush_others(at_once=True)
        self._flush_boards()

    def _flush_others(self, at_once: bool = False) -> None:
        """Everyone's but the boards': all of it, or (sooner than ``OTHERS_EVERY`` after the last time) only
        to those with a message of their own, the rest at the end of the interval."""
        now = time.monotonic()
        if at_once or now >= self._others_until:
            if self._others_paced is not None:
                self._others_paced.cancel()
                self._others_paced = None
            pending, self._pending = self._pending, []
            self._others_asked.clear()
            if pending:
                self._write(pending)
                self._others_until = now + OTHERS_EVERY
            return
        self._write_asked(self._others_asked, self._pending)
        if self._pending and self._others_paced is None:
            loop = asyncio.get_running_loop()
            self._others_paced = loop.call_at(loop.time() + self._others_until - now, self._flush_others_paced)

    def _flush_others_paced(self) -> None:
        self._others_paced = None
        self._flush_others(at_once=True)

    def _write_asked(self, asked: set[ServerConnection], pending: Pending) -> None:
        """Those with a message of their own get everything they have in ``pending`` now; the rest waits."""
        for ws in asked:
            self._write_now(ws, pending)
        asked.clear()

    def _flush_boards(self) -> None:
        if self._paced is not None:
            self._paced.cancel()
            self._paced = None
        held, self._held = self._held, []
        self._boards_asked.clear()
        call_held, self._call_held = self._call_held, False
        if not held:
            return
        started = time.monotonic()
        calls = [index for index, (_, outgoing) in enumerate(held) if outgoing.urgent] if call_held else []
        if calls and calls[-1] < len(held) - 1:
            # The call's announcement ends a write of its own, after what the boards were holding; what came
            # with it (the call itself, the counter's state) goes in a second. A TV speaks the number from
            # the announcement: every screen has it before any has the rest, for a second write per board
            # per call (calls are a few a minute per counter, tickets hundreds).
            self._write(held[:calls[-1] + 1])
            self._write(held[calls[-1] + 1:])
        else:
            self._write(held)
        finished = time.monotonic()
        took = finished - started
        if took > PACE_AFTER:
            self._paced_until = finished + min(took * (1 / BROADCAST_SHARE - 1), MAX_HOLD)
        else:
            self._paced_until = 0.0

    def _write(self, pending: Pending) -> None:
        """Write ``pending``, each connection once: those that got the same messages the same bytes."""
        if not pending:
            return
        writer = _Writer(pending, self._counter, self._sender)
        groups, solo = _group(pending)
        # A connection that also got messages of its own: its broadcasts are its group's key.
        for ws, own in solo.items():
            shared: tuple[int, ...] = ()
            for indexes, members in groups.items():
                if ws in members:
                    members.discard(ws)
                    shared = indexes
                    break
            writer.write((ws,), tuple(sorted(shared + tuple(own))))
        for indexes, members in groups.items():
            if members:
                writer.write(members, indexes)

    def _write_now(self, ws: ServerConnection, pending: Pending) -> None:
        """Write ``ws`` what it has in ``pending`` now, and take it out of those messages' recipients."""
        indexes = tuple(i for i, (recipients, _) in enumerate(pending) if ws in recipients)
        if not indexes:
            return
        _Writer(pending, self._counter, self._sender).write((ws,), indexes)
        for i in indexes:
            recipients, outgoing = pending[i]
            if isinstance(recipients, frozenset):
                pending[i] = (recipients - {ws}, outgoing)
            else:
                recipients.discard(ws)
        pending[:] = [item for item in pending if item[0]]


class _Writer:
    """Writes one flush: the frames of each distinct sequence of messages joined once, shared by its recipients."""

    def __init__(self, pending: Pending, counter: FrameCounter, sender: ParallelSender):
        self._outgoing = [item for _, item in pending]
        self._counter = counter
        self._sender = sender
        self._prepared: dict[tuple[int, ...], tuple[bytes, list[bytes], int]] = {}

    def write(self, connections: Iterable[ServerConnection], indexes: tuple[int, ...]) -> None:
        prepared = self._prepared.get(indexes)
        if prepared is None:
            chosen = [item for item in latest_states_only([self._outgoing[i] for i in indexes]) if item.ready()]
            prepared = self._prepared[indexes] = (b"".join(item.frame for item in chosen),
                                                  [item.payload for item in chosen], len(chosen))
        data, payloads, frames = prepared
        self._counter.frames_out += write_frames(connections, data, payloads, self._sender) * frames


def _group(pending: Pending
           ) -> tuple[dict[tuple[int, ...], set[ServerConnection]], dict[ServerConnection, list[int]]]:
    """Split the recipients into groups that got the same messages (by index into ``pending``).

    Messages to several connections refine the groups with set operations;
    messages to one connection are listed apart (registrations, answers,
    errors: a connection each), so they cost no pass over the groups.
    """
    groups: dict[tuple[int, ...], set[ServerConnection]] = {}
    solo: dict[ServerConnection, list[int]] = {}
    last: tuple[int, object] | None = None  # the last message to several connections, and its recipients
    for index, (recipients, _) in enumerate(pending):
        if len(recipients) == 1:
            (ws,) = recipients
            own = solo.get(ws)
            if own is None:
                solo[ws] = [index]
            else:
                own.append(index)
            continue
        if last is not None and recipients is last[1]:
            # The boards' shared snapshot again (EveryBoard): exactly the groups that got the last one.
            previous = last[0]
            groups = {indexes + (index,) if indexes[-1] == previous else indexes: members
                      for indexes, members in groups.items()}
            last = (index, recipients)
            continue
        last = (index, recipients)
        # A copy taken when sent, ours to consume, or the boards' snapshot, which ``-=`` does not change.
        newcomers = recipients
        refined: dict[tuple[int, ...], set[ServerConnection]] = {}
        for indexes, members in groups.items():
            if not newcomers or members.isdisjoint(newcomers):
                refined[indexes] = members
            elif members <= newcomers:
                refined[indexes + (index,)] = members
                newcomers -= members
            else:
                inside = members & newcomers
                refined[indexes + (index,)] = inside
                newcomers -= inside
                refined[indexes] = members - inside
        if newcomers:
            refined[(index,)] = newcomers if isinstance(newcomers, set) else set(newcomers)
        groups = refined
    return groups, solo
