"""What the hub keeps per connection: the handshake's headers are let go, sessions have no __dict__."""

from __future__ import annotations

import gc

from support import round_trip
from websockets.datastructures import Headers

from hub.sessions import Session


async def test_an_open_connection_keeps_no_handshake_headers_and_still_works(hall):
    tv = await hall.client("tv")
    kiosk = await hall.client("kiosk")
    (session,) = [s for s in hall.hub.clients.sessions.values() if s.client_type == "tv"]
    ws = session.ws
    assert ws.response is None
    assert ws.request is not None and ws.request.path == "/ws" and len(ws.request.headers) == 0
    # Nor anywhere else in the hub (websockets' frame parser held the request too): the only handshake
    # headers left in this process are the test clients' own.
    clients_own = {id(headers) for client in hall.clients
                   for headers in (client.ws.request.headers, client.ws.response.headers)}
    gc.collect()
    left = [h for h in gc.get_objects() if isinstance(h, Headers) and id(h) not in clients_own
            and ("Sec-WebSocket-Key" in h or "Sec-WebSocket-Accept" in h)]
    assert left == []

    # The connection works as before: frames both ways, broadcasts included.
    await kiosk.send("TICKET_CREATED", {"queue_id": 1, "request_id": "after-handshake"})
    await kiosk.expect("TICKET_CREATED")
    seen = await round_trip(tv)
    assert "QUEUE_UPDATE" in [message["type"] for message in seen]


async def test_a_session_has_slots_not_a_dict(hall):
    await hall.client("tv")
    session = next(iter(hall.hub.clients.sessions.values()))
    assert isinstance(session, Session)
    assert not hasattr(session, "__dict__")
