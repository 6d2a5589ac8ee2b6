"""hub.parallel_send: the same frames written to many real websockets connections by two threads at once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import ssl
import threading
from collections.abc import AsyncIterator

import pytest
import trustme
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve

from hub import delivery as fanout
from hub import parallel_send
from hub.parallel_send import PARALLEL_FROM, ParallelSender

COUNT = PARALLEL_FROM + 8


def frames(*texts: str) -> tuple[bytes, list[bytes]]:
    payloads = [json.dumps({"type": "QUEUE_UPDATE", "payload": {"text": t}}, ensure_ascii=False).encode()
                for t in texts]
    return b"".join(fanout.text_frame(p) for p in payloads), payloads


@contextlib.asynccontextmanager
async def connections(count: int, tls: trustme.CA | None = None
                      ) -> AsyncIterator[tuple[list[ServerConnection], list[ClientConnection]]]:
    arrived: asyncio.Queue[ServerConnection] = asyncio.Queue()

    async def handler(ws):
        await arrived.put(ws)
        await ws.wait_closed()

    server_context = client_context = None
    if tls is not None:
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.issue_cert("localhost").configure_cert(server_context)
        client_context = ssl.create_default_context()
        tls.configure_trust(client_context)
    async with serve(handler, "127.0.0.1", 0, compression=None, ssl=server_context) as server:
        port = server.sockets[0].getsockname()[1]
        scheme = "wss://localhost" if tls else "ws://127.0.0.1"
        servers, clients = [], []
        for _ in range(count):
            # One at a time: servers[i] is the server side of clients[i].
            clients.append(await connect(f"{scheme}:{port}", compression=None, ssl=client_context))
            servers.append(await asyncio.wait_for(arrived.get(), 5))
        try:
            yield servers, clients
        finally:
            for client in clients:
                await client.close()


async def received(client: ClientConnection, count: int) -> list[str]:
    return [json.loads(await asyncio.wait_for(client.recv(), 10))["payload"]["text"] for _ in range(count)]


@pytest.fixture
def sender():
    sender = ParallelSender(parallel=True)  # whatever cores this machine lets the tests use
    yield sender
    sender.close()


async def test_both_threads_write_and_every_connection_gets_every_frame_in_order(sender, monkeypatch):
    writers: set[int] = set()
    real_write = os.write

    def write(fd: int, data: bytes) -> int:
        writers.add(threading.get_ident())
        return real_write(fd, data)

    monkeypatch.setattr(parallel_send.os, "write", write)
    async with connections(COUNT) as (servers, clients):
        sent: list[str] = []
        # The helper joins a pass once it has woken: within a few passes it has written some of the sockets.
        for n in range(200):
            data, payloads = frames(f"Quầy {n}: số {n}", f"Mời công dân số {n}")
            assert fanout.write_frames(servers, data, payloads, sender) == COUNT
            sent += [f"Quầy {n}: số {n}", f"Mời công dân số {n}"]
            if len(writers) > 1:
                break
            await asyncio.sleep(0.001)
        assert writers - {threading.get_ident()}, "the helper thread never wrote a socket"
        for client in clients:
            assert await received(client, len(sent)) == sent


async def test_what_a_full_socket_did_not_take_follows_in_order(sender):
    async with connections(COUNT) as (servers, clients):
        # One TV stops reading, its buffers made small: a large write fills them.
        slow_server, slow_client = servers[0], clients[0]
        slow_server.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        slow_client.transport.pause_reading()
        big = "Mời công dân có số thứ tự " * 4000
        first, first_payloads = frames(big, "một")
        assert fanout.write_frames(servers, first, first_payloads, sender) == COUNT
        assert slow_server.transport.get_write_buffer_size() > 0, "the slow socket took it all: nothing tested"
        # The next pass finds it still buffered: it is queued behind the rest, not written beside it.
        second, second_payloads = frames("hai")
        assert fanout.write_frames(servers, second, second_payloads, sender) == COUNT
        slow_client.transport.resume_reading()
        for client in clients:
            assert await received(client, 3) == [big, "một", "hai"]


async def test_a_tls_connection_is_written_through_its_transport(sender):
    """A TLS socket carries the encrypted stream: the frames must go through the transport, never raw."""
    async with connections(COUNT, tls=trustme.CA()) as (servers, clients):
        data, payloads = frames("Quầy 1", "Quầy 2")
        assert fanout.write_frames(servers, data, payloads, sender) == COUNT
        for client in clients:
            assert await received(client, 2) == ["Quầy 1", "Quầy 2"]


async def test_a_connection_that_went_away_costs_only_itself(sender):
    async with connections(COUNT) as (servers, clients):
        clients[3].transport.abort()  # gone without a closing handshake: the server side does not know yet
        for n in range(3):
            data, payloads = frames(f"số {n}")
            fanout.write_frames(servers, data, payloads, sender)
            await asyncio.sleep(0.01)
        for client in clients[:3] + clients[4:]:
            assert await received(client, 3) == ["số 0", "số 1", "số 2"]
        await asyncio.wait_for(servers[3].wait_closed(), 5)


def test_a_process_on_one_core_writes_alone(monkeypatch):
    monkeypatch.setattr(parallel_send.os, "sched_getaffinity", lambda pid: {0})
    assert not ParallelSender().enabled
    monkeypatch.setattr(parallel_send.os, "sched_getaffinity", lambda pid: {0, 1})
    assert ParallelSender().enabled


async def test_the_helper_thread_ends_with_close(sender):
    async with connections(COUNT) as (servers, _clients):
        data, payloads = frames("Quầy 1")
        fanout.write_frames(servers, data, payloads, sender)
        helpers = [t for t in threading.enumerate() if t.name == "qms-parallel-send"]
        assert helpers
        sender.close()
        assert not any(t.is_alive() for t in helpers)


async def test_connections_that_come_and_go_between_passes_get_their_own_frames(sender):
    """A socket's descriptor is remembered per connection: a new connection (often given the number of one
    that closed) is looked up afresh, and those that closed are forgotten."""
    async with connections(COUNT) as (servers, clients):
        data, payloads = frames("trước")
        fanout.write_frames(servers, data, payloads, sender)
        for client in clients:
            assert await received(client, 1) == ["trước"]
        for server in servers[:PARALLEL_FROM + 1]:
            await server.close()
        async with connections(COUNT) as (newcomers, their_clients):
            data, payloads = frames("sau")
            assert fanout.write_frames(servers + newcomers, data, payloads, sender) == 2 * COUNT - PARALLEL_FROM - 1
            for client in clients[PARALLEL_FROM + 1:] + their_clients:
                assert await received(client, 1) == ["sau"]
            # The ones that closed were let go of before the pass (no leak over a day of reconnections).
            assert not any(transport.is_closing() for transport in sender._fds)
            assert len(sender._fds) == 2 * COUNT - PARALLEL_FROM - 1
