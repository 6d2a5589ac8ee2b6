"""Delivery: every message the hub sends goes through here, to one connection or to an audience.

Sending messages to many connections with as little work per connection as possible:

* **Encoded once, addressed when sent.** :meth:`Delivery.deliver` serialises
  each message and frames it at once (the hub serves with compression off and
  a server never masks its frames, so a message's frame is the same bytes for
  every connection), and takes a copy of its recipients then: a client that
  registers a moment later does not get what was sent before it was there.
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
import time
from collections.abc import Iterable, Sequence
from typing import Protocol

from msgspec import Struct
from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from protocol import messages as m

log = logging.getLogger("qms.delivery")

# A delivery plan: each message with the connections that get it.
Plan = tuple[Iterable[ServerConnection], Struct]


def text_frame(payload: bytes) -> bytes:
    """One unmasked, unfragmented text frame carrying ``payload`` (UTF-8 JSON)."""
    return Frame(Opcode.TEXT, payload).serialize(mask=False)


def write_frames(connections: Iterable[ServerConnection], data: bytes, payloads: Sequence[bytes]) -> int:
    """Write the serialised frames ``data`` to every open connection; returns how many got them.

    ``payloads`` are the same messages unserialised, for a connection that
    negotiated an extension (none does while compression is off) and so needs
    its own framing.
    """
    written = 0
    for connection in connections:
        protocol = connection.protocol
        if protocol.state is not State.OPEN:
            continue
        if connection.send_in_progress is not None or protocol.expect_continuation_frame:
            # Never interleave with a fragmented message; the hub sends none, so this is defensive.
            log.warning("skipped a message to %s: a fragmented message is being sent", connection.id)
            continue
        try:
            if protocol.extensions:
                for payload in payloads:
                    protocol.send_text(payload)
                connection.send_data()
            else:
                connection.transport.write(data)
        except Exception as exc:  # noqa: BLE001 - one broken socket must not stop the others
            log.warning("skipped a message to %s: %s", connection.id, exc)
            continue
        written += 1
    return written


class Outgoing:
    """One message as sent: its JSON, its frame (shared by every recipient), and what may replace it."""

    __slots__ = ("payload", "frame", "state_of", "barrier", "urgent")

    def __init__(self, message: Struct):
        self.payload = m.encode(message)
        self.frame = text_frame(self.payload)
        # A QUEUE_UPDATE is a counter's whole state: a later one for the same counter makes it moot.
        self.state_of: tuple[object, ...] | None = None
        if isinstance(message, m.QueueUpdate):
            self.state_of = ("QUEUE_UPDATE", message.payload.counter_id)
        # A PONG answers "has everything before my PING arrived?": nothing moves across it.
        self.barrier = isinstance(message, m.Pong)
        # A call is shown and spoken in the hall the moment it is made: never held by the pacing below.
        self.urgent = isinstance(message, m.TicketAnnouncement)


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


# A flush that took longer than this (hundreds of sockets, a system call each) paces the next
# one for connections with nothing of their own; cheaper ones (a hall of tens of clients) never do.
PACE_AFTER = 0.001
# The share of the loop that writes to connections which only hear broadcasts (TVs: the board, the
# queues' state), under load: the rest serves the kiosks and the counters. A tenth: 500 TVs cost a
# ticket burst a tenth of its speed, and a board shows the latest state a few tens of ms later.
BROADCAST_SHARE = 0.1
# However costly the last flush, the boards are never more than this behind (2,000 TVs and more).
MAX_HOLD = 0.25


class Delivery:
    """Sends messages to connections, coalesced per loop iteration; counts the frames written (for /metrics).

    Under fan-out load the writes to connections that only hear broadcasts are
    paced: after a flush that took ``t`` seconds (more than ``PACE_AFTER``),
    those connections wait ``t`` x 9 (at most ``MAX_HOLD``), so at most
    ``BROADCAST_SHARE`` of the loop's time goes to their writes, and what is
    sent meanwhile (the next tickets, the counters' latest state) shares their
    next write. A connection with a message of its own pending (an answer, an
    ERROR, a PONG, its state after REGISTER_CLIENT) is written in the next
    iteration all the same, with everything it has pending, in order: a
    kiosk's answer never waits for 500 TVs. A call (``TICKET_ANNOUNCEMENT``)
    ends the wait: it is written to everyone in the next iteration, with what
    they have pending before it.
    """

    def __init__(self, counter: FrameCounter):
        self._counter = counter
        # What was sent and not yet written, in order: each message with a copy of its recipients
        # (from which a connection is taken once everything it had pending is written).
        self._pending: list[tuple[set[ServerConnection], Outgoing]] = []
        self._soon_scheduled = False
        self._paced: asyncio.TimerHandle | None = None
        # When connections with only broadcasts pending may be written again (time.monotonic()).
        self._paced_until = 0.0

    def send(self, ws: ServerConnection, message: Struct) -> None:
        self._queue({ws}, Outgoing(message))

    def broadcast(self, connections: Iterable[ServerConnection], message: Struct) -> None:
        self._queue(set(connections), Outgoing(message))

    def deliver(self, *plan: Plan) -> None:
        """Send each message to its recipients; whoever gets several gets them in plan order.

        Never waits on a slow client: one stuck socket cannot stall the hub.
        """
        for connections, message in plan:
            self._queue(set(connections), Outgoing(message))

    def _queue(self, recipients: set[ServerConnection], outgoing: Outgoing) -> None:
        if not recipients:
            return
        self._pending.append((recipients, outgoing))
        if outgoing.urgent:
            self._paced_until = 0.0  # the next flush writes everyone, this first in nobody's way
        if self._soon_scheduled or (self._paced is not None and len(recipients) > 1 and not outgoing.urgent):
            return  # a flush is coming (a paced one takes broadcasts: they would wait for it anyway)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a synchronous caller): nothing to wait for
            self.flush()
            return
        self._soon_scheduled = True
        loop.call_soon(self._flush_soon)

    def _flush_soon(self) -> None:
        self._soon_scheduled = False
        if time.monotonic() >= self._paced_until:
            self.flush()
            return
        self._flush_own()
        if self._pending and self._paced is None:
            loop = asyncio.get_running_loop()
            self._paced = loop.call_at(loop.time() + self._paced_until - time.monotonic(), self.flush)

    def flush(self) -> None:
        """Write everything pending, each connection once (the scheduled callbacks run this)."""
        if self._paced is not None:
            self._paced.cancel()
            self._paced = None
        pending, self._pending = self._pending, []
        if not pending:
            return
        started = time.monotonic()
        writer = _Writer(pending, self._counter)
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
        finished = time.monotonic()
        took = finished - started
        if took > PACE_AFTER:
            self._paced_until = finished + min(took * (1 / BROADCAST_SHARE - 1), MAX_HOLD)
        else:
            self._paced_until = 0.0

    def _flush_own(self) -> None:
        """Write the connections that have a message of their own pending, each everything it has pending."""
        pending = self._pending
        own: dict[ServerConnection, list[int]] = {}
        shared: list[int] = []
        for index, (recipients, _) in enumerate(pending):
            if len(recipients) == 1:
                (ws,) = recipients
                own.setdefault(ws, []).append(index)
            else:
                shared.append(index)
        if not own:
            return
        writer = _Writer(pending, self._counter)
        for ws, indexes in own.items():
            heard = [i for i in shared if ws in pending[i][0]]
            writer.write((ws,), tuple(sorted(indexes + heard)) if heard else tuple(indexes))
        # What they had pending is written: they are no longer its recipients.
        kept = []
        for recipients, outgoing in pending:
            recipients.difference_update(own)
            if recipients:
                kept.append((recipients, outgoing))
        self._pending = kept


class _Writer:
    """Writes one flush: the frames of each distinct sequence of messages joined once, shared by its recipients."""

    def __init__(self, pending: Sequence[tuple[set[ServerConnection], Outgoing]], counter: FrameCounter):
        self._outgoing = [item for _, item in pending]
        self._counter = counter
        self._prepared: dict[tuple[int, ...], tuple[bytes, list[bytes], int]] = {}

    def write(self, connections: Iterable[ServerConnection], indexes: tuple[int, ...]) -> None:
        prepared = self._prepared.get(indexes)
        if prepared is None:
            chosen = latest_states_only([self._outgoing[i] for i in indexes])
            prepared = self._prepared[indexes] = (b"".join(item.frame for item in chosen),
                                                  [item.payload for item in chosen], len(chosen))
        data, payloads, frames = prepared
        self._counter.frames_out += write_frames(connections, data, payloads) * frames


def _group(pending: Sequence[tuple[set[ServerConnection], Outgoing]]
           ) -> tuple[dict[tuple[int, ...], set[ServerConnection]], dict[ServerConnection, list[int]]]:
    """Split the recipients into groups that got the same messages (by index into ``pending``).

    Messages to several connections refine the groups with set operations;
    messages to one connection are listed apart (registrations, answers,
    errors: a connection each), so they cost no pass over the groups.
    """
    groups: dict[tuple[int, ...], set[ServerConnection]] = {}
    solo: dict[ServerConnection, list[int]] = {}
    for index, (recipients, _) in enumerate(pending):
        if len(recipients) == 1:
            (ws,) = recipients
            own = solo.get(ws)
            if own is None:
                solo[ws] = [index]
            else:
                own.append(index)
            continue
        newcomers = recipients  # a copy taken when sent: ours to consume
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
            refined[(index,)] = newcomers
        groups = refined
    return groups, solo
