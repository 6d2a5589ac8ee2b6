"""hub.delivery: frames serialised once and written whole, read back by real websockets clients."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

from hub import delivery as fanout

MESSAGES = [json.dumps({"type": t, "payload": {"n": i, "text": "Mời khách hàng số 105"}}, ensure_ascii=False).encode()
            for i, t in enumerate(["CALL_TICKET", "TICKET_ANNOUNCEMENT", "QUEUE_UPDATE"])]


@pytest.mark.parametrize("compression", [None, "deflate"])
async def test_several_messages_in_one_write_arrive_as_separate_messages(compression):
    """Without extensions the shared bytes are written; with deflate each connection frames its own."""
    connections = []
    ready = asyncio.Event()

    async def handler(ws):
        connections.append(ws)
        if len(connections) == 3:
            ready.set()
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, compression=compression) as server:
        port = server.sockets[0].getsockname()[1]
        clients = [await connect(f"ws://127.0.0.1:{port}", compression=compression) for _ in range(3)]
        await asyncio.wait_for(ready.wait(), 5)
        data = b"".join(fanout.text_frame(p) for p in MESSAGES)
        assert fanout.write_frames(connections, data, MESSAGES) == 3
        for client in clients:
            received = [await asyncio.wait_for(client.recv(), 5) for _ in MESSAGES]
            assert [r.encode() for r in received] == MESSAGES
        # A closed connection is skipped, the others still get theirs.
        await clients[0].close()
        await asyncio.wait_for(connections[0].wait_closed(), 5)
        assert fanout.write_frames(connections, data, MESSAGES) == 2
        for client in clients[1:]:
            assert (await asyncio.wait_for(client.recv(), 5)).encode() == MESSAGES[0]
            await client.close()
