"""What a connection keeps of its opening handshake: as little as websockets allows, once it is open.

websockets keeps the upgrade request and the response on every
``ServerConnection`` (``request``, ``response``, with all their headers) for
the life of the connection. The hub has read what it needs from them by
then (the Origin and Host checks happen in ``process_request``), and with
hundreds of TVs connected for days they were some 3 KiB of each connection's
heap (``bench/memory_breakdown.py``). :func:`forget_handshake` drops them
when the handler starts.

``request`` itself must stay set (websockets takes the first event of a
connection whose ``request`` is None for the upgrade request), and the same
object is also held by the frame parser's generator, which parsed it: so
the request is emptied in place (its path stays, its headers go) rather than
replaced. The response is held by nothing else.
"""

from __future__ import annotations

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers

# One empty header set for every connection: nothing writes to a request once it is answered.
_NO_HEADERS = Headers()


def forget_handshake(ws: ServerConnection) -> None:
    """Release the handshake's request and response headers of an open connection."""
    if ws.request is not None:
        ws.request.headers = _NO_HEADERS
    ws.response = None
