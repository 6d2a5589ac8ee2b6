"""The baseline: a bare websockets server that only broadcasts, run as a subprocess.

``python -m bench.bare_server`` listens on a free loopback port and prints
``{"port": P}``. A connection whose first frame is ``tv`` is answered ``ok``
and joins the audience; a connection whose first frame is ``caller`` is
answered ``ok`` and every frame it sends after that goes, unchanged, to every
TV with one ``websockets.broadcast`` call; a frame holding a JSON list of
strings has each of them broadcast in turn, one call each. No authentication, no validation,
no database, no other messages: the floor the hub's fan-out is measured
against. EOF on stdin or SIGTERM stops it.

Options as the hub's where they change the work per frame (no compression,
the same 64 KiB frame limit); websockets' defaults otherwise.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

from bench.harness import LOOPBACK, raise_open_file_limit
from protocol.messages import MAX_MESSAGE_BYTES


async def run() -> None:
    raise_open_file_limit(8192)
    tvs: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        try:
            role = await ws.recv()
            if role == "tv":
                tvs.add(ws)
                await ws.send("ok")
                async for _ in ws:
                    pass
            elif role == "caller":
                await ws.send("ok")
                async for frame in ws:
                    text = frame if isinstance(frame, str) else frame.decode()
                    # A JSON list (no hub message is one) holds several messages for one turn.
                    for message in json.loads(text) if text.startswith("[") else (text,):
                        # As the hub does: UTF-8 bytes sent as a text frame.
                        broadcast(tvs, message.encode(), text=True)
        except ConnectionClosed:
            pass
        finally:
            tvs.discard(ws)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def stdin_closed() -> None:
        while await reader.readline():
            pass
        stop.set()

    async with serve(handler, LOOPBACK, 0, compression=None, max_size=MAX_MESSAGE_BYTES) as server:
        port = server.sockets[0].getsockname()[1]
        sys.stdout.write(json.dumps({"port": port}) + "\n")
        sys.stdout.flush()
        watcher = asyncio.create_task(stdin_closed())
        await stop.wait()
        watcher.cancel()


if __name__ == "__main__":
    asyncio.run(run())
