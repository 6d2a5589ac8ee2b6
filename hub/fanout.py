"""Sending messages to many connections with as little work per connection as possible.

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
from typing import Iterable, Sequence

from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import State

log = logging.getLogger("qms.fanout")


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
