"""Delivery: every message the hub sends goes through here, to one connection or to an audience.

Sending messages to many connections with as little work per connection as possible:

The hub serves with compression off, and a server never masks its frames, so
a message's frame is the same bytes for every connection: it is serialised
once and the same bytes are written to each socket. The several messages one
event sends a connection (a call: CALL_TICKET, TICKET_ANNOUNCEMENT,
QUEUE_UPDATE) go out in one write, so a TV costs one system call per call,
as a single ``websockets.broadcast`` would.

Like ``websockets.broadcast`` (whose checks this follows), writing never
waits for a slow client; the keepalive timeout ends a client that stops
reading.
"""

from __future__ import annotations

import logging
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


class FrameCounter(Protocol):
    frames_out: int


class Delivery:
    """Sends messages to connections; counts the frames written (for /metrics)."""

    def __init__(self, counter: FrameCounter):
        self._counter = counter

    def send(self, ws: ServerConnection, message: Struct) -> None:
        self.deliver(((ws,), message))

    def broadcast(self, connections: Iterable[ServerConnection], message: Struct) -> None:
        self.deliver((connections, message))

    def deliver(self, *plan: Plan) -> None:
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
        frames = [text_frame(payload) for payload in payloads]
        for indexes, members in groups.items():
            data = b"".join(frames[i] for i in indexes)
            written = write_frames(members, data, [payloads[i] for i in indexes])
            self._counter.frames_out += written * len(indexes)
