"""Connections from a hostile host (issue item 4): capped per address, per token and before authentication.

An attacker at 127.0.0.3 (and a few more addresses) opens sockets by the
hundred; a TV at 127.0.0.2 must still connect and register, ``/healthz``
must still answer, and the hub must not write a log line per failed accept.
The file-descriptor tests run ``qms-hub serve`` as a real subprocess with a
small descriptor limit, so running out of them is quick and harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import json
import logging
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from support import REPO_ROOT, HallHarness, free_port, round_trip, start_hub
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from bench.harness import BENCH_LIMIT, write_bench_site
from hub.accept_log import ACCEPT_FAILURE, AcceptFailureFilter
from hub.auth import TokenAuthority
from hub.session_auth import TOO_MANY_CLOSE_TEXT
from hub.site_config import load_site_config, sample_site

ATTACKER = "127.0.0.3"
TV_ADDRESS = "127.0.0.2"
# The subprocess hub's descriptors: the default limit of a unit without LimitNOFILE, as in the issue.
# Enough for the hub, one address's cap (128) and the few hundred sockets asyncio accepts in a row
# before the first of them is checked; far fewer than the attacker's 2,000.
HUB_FILE_LIMIT = 1024
ATTACKER_SOCKETS = 2000


def site_with_limits(**limits: int):
    site = sample_site()
    return dataclasses.replace(site, rate_limit=dataclasses.replace(site.rate_limit, **limits))


@contextlib.contextmanager
def raw_sockets(port: int, addresses: list[str], each: int) -> Iterator[list[socket.socket]]:
    """``each`` TCP connections from every address, opened without waiting for the hub; closed at the end."""
    opened: list[socket.socket] = []
    try:
        for address in addresses:
            for _ in range(each):
                sock = socket.socket()
                sock.setblocking(False)
                sock.bind((address, 0))
                if sock.connect_ex(("127.0.0.1", port)) not in (0, errno.EINPROGRESS):
                    sock.close()
                    continue
                opened.append(sock)
        yield opened
    finally:
        for sock in opened:
            sock.close()


def _alive(sock: socket.socket) -> bool:
    """Whether a socket is connected and the hub has neither closed nor reset it."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
    except BlockingIOError:
        return True  # connected, nothing to read: held open
    except OSError:
        return False  # not connected yet, or reset


@contextlib.asynccontextmanager
async def attacker_holding(port: int, wanted: int, most: int, within: float) -> AsyncIterator[int]:
    """An attacker that opens sockets until ``wanted`` are held open (or ``most`` were tried): how many are."""
    opened: list[socket.socket] = []
    try:
        deadline = time.monotonic() + within
        held = 0
        while held < wanted and len(opened) < most and time.monotonic() < deadline:
            with raw_sockets(port, [ATTACKER], 200) as batch:
                opened += batch
                batch.clear()  # kept open: closed with the rest at the end
            await asyncio.sleep(0.2)
            held = sum(_alive(sock) for sock in opened)
        yield held
    finally:
        for sock in opened:
            sock.close()


class HubProcess:
    """``qms-hub serve`` with at most ``file_limit`` file descriptors."""

    def __init__(self, tmp_path: Path, file_limit: int):
        self.file_limit = file_limit
        self.data_dir = tmp_path / "data"
        self.port = free_port()
        self.log_path = tmp_path / "hub.log"
        self.tokens = TokenAuthority.from_data_dir(self.data_dir)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        def few_descriptors() -> None:
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.file_limit, hard))

        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hub.cli", "--data-dir", str(self.data_dir), "serve",
                 "--host", "127.0.0.1", "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, preexec_fn=few_descriptors)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def open_descriptors(self) -> int:
        assert self.proc is not None
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def accept_failure_lines(self) -> int:
        return self.log_path.read_text(errors="replace").count(ACCEPT_FAILURE)


@pytest.fixture
async def hub_process(tmp_path, request):
    process = HubProcess(tmp_path, getattr(request, "param", HUB_FILE_LIMIT))
    process.start()
    try:
        deadline = time.monotonic() + 60
        while await healthz(process.port, timeout=1.0) != 200:
            assert process.proc is not None and process.proc.poll() is None, process.log_path.read_text()
            assert time.monotonic() < deadline, process.log_path.read_text()
            await asyncio.sleep(0.1)
        yield process
    finally:
        process.stop()


async def healthz(port: int, timeout: float, address: str = TV_ADDRESS) -> int | None:
    """GET /healthz from ``address``: the status, or None if no answer came within ``timeout``."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(address, 0))
            try:
                writer.write(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
                await writer.drain()
                status_line = await reader.readline()
            finally:
                writer.close()
        return int(status_line.split()[1])
    except (OSError, TimeoutError, IndexError, ValueError):
        return None


async def tv_registers(port: int, tokens: TokenAuthority, timeout: float) -> bool:
    """Whether a TV at TV_ADDRESS connects, authenticates and registers within ``timeout``."""
    token = tokens.issue("tv", client_id="tv-lobby", ttl=timedelta(hours=1))
    try:
        async with asyncio.timeout(timeout):
            async with connect(f"ws://127.0.0.1:{port}/ws", local_addr=(TV_ADDRESS, 0), open_timeout=None) as ws:
                await ws.send(json.dumps({"type": "AUTH", "payload": {"token": token}}))
                await ws.send(json.dumps({"type": "REGISTER_CLIENT",
                                          "payload": {"client_type": "tv", "client_id": "tv-lobby"}}))
                while json.loads(await ws.recv())["type"] != "CONNECTION_ACK":
                    pass
        return True
    except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake):
        return False


# --- the attack: thousands of idle sockets from one host --------------------------------------------


async def test_a_host_opening_hundreds_of_sockets_does_not_keep_a_tv_out(hub_process):
    port = hub_process.port
    # The attacker opens sockets until it holds more than the hub has descriptors, or gives up.
    async with attacker_holding(port, wanted=HUB_FILE_LIMIT + 50, most=ATTACKER_SOCKETS, within=8):
        # The hub kept its cap's worth (128 and its own files), not a descriptor for every socket.
        assert hub_process.open_descriptors() < hub_process.file_limit // 2
        assert await tv_registers(port, hub_process.tokens, timeout=5.0)
        assert await healthz(port, timeout=5.0) == 200
    assert hub_process.accept_failure_lines() == 0  # the descriptors never ran out


# Fewer descriptors than one address's cap: accept() fails for a while (as on a hub without LimitNOFILE).
@pytest.mark.parametrize("hub_process", [150], indirect=True)
async def test_running_out_of_descriptors_is_logged_once_a_minute(hub_process):
    port = hub_process.port
    with raw_sockets(port, [ATTACKER], 300):
        deadline = time.monotonic() + 10
        while hub_process.accept_failure_lines() == 0:
            assert time.monotonic() < deadline, "the hub never ran out of descriptors"
            await asyncio.sleep(0.1)
        await asyncio.sleep(3.0)  # asyncio retries accept() every second, a hundred tries each time
        assert hub_process.accept_failure_lines() == 1
    # Once the sockets are gone the hall is served again.
    assert await tv_registers(port, hub_process.tokens, timeout=15.0)


def test_the_accept_failure_filter_lets_one_line_through_a_minute():
    now = [0.0]
    thinning = AcceptFailureFilter(interval=60.0, monotonic=lambda: now[0])

    def record(text: str) -> logging.LogRecord:
        return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, text, None, None)

    passed = [thinning.filter(record(f"{ACCEPT_FAILURE}\nexception: [Errno 24]")) for _ in range(250)]
    assert passed.count(True) == 1
    assert thinning.filter(record("Task exception was never retrieved"))  # everything else passes
    now[0] = 61.0
    summary = record(f"{ACCEPT_FAILURE}\nexception: [Errno 24]")
    assert thinning.filter(summary) and "249 more" in summary.getMessage()


# --- the caps, one by one -------------------------------------------------------------------------


@pytest.fixture
async def hall_with(tmp_path):
    started: list[HallHarness] = []

    async def make(**limits: int) -> HallHarness:
        hall = HallHarness(await start_hub(tmp_path / f"data-{len(started)}", site=site_with_limits(**limits)))
        started.append(hall)
        return hall

    yield make
    for hall in started:
        await hall.close_all()
        await hall.hub.stop()


async def test_connections_from_one_address_are_capped(hall_with):
    hall = await hall_with(connections_per_address=5)
    kept, refused = [], 0
    for _ in range(8):
        try:
            kept.append(await connect(hall.url, local_addr=(ATTACKER, 0), open_timeout=5))
        except (OSError, InvalidHandshake, TimeoutError):
            refused += 1
    try:
        assert (len(kept), refused) == (5, 3)
        tv = await hall.raw(local_addr=(TV_ADDRESS, 0))  # another address is not affected
        await round_trip(tv)
    finally:
        for ws in kept:
            await ws.close()


async def test_sockets_waiting_to_authenticate_make_room_for_a_newcomer_from_elsewhere(hall_with):
    hall = await hall_with(unauthenticated_connections=8)
    idle = [await connect(hall.url, local_addr=(ATTACKER, 0)) for _ in range(8)]
    try:
        # Every place is taken by the attacker: a TV from elsewhere gets the place of its oldest socket...
        tv = await hall.raw(local_addr=(TV_ADDRESS, 0))
        await asyncio.wait_for(idle[0].wait_closed(), 5)
        # ...while the attacker, holding the most places, cannot take one from anyone.
        with pytest.raises((OSError, InvalidHandshake, ConnectionClosed)):
            await connect(hall.url, local_addr=(ATTACKER, 0), open_timeout=5)
        await tv.send("AUTH", {"token": hall.token("tv", client_id="tv-lobby")})
        await tv.expect("AUTH_OK")
    finally:
        for ws in idle:
            await ws.close()


async def test_a_token_on_too_many_connections_loses_the_oldest(hall_with):
    hall = await hall_with(connections_per_token=3)
    token = hall.token("kiosk", client_id="kiosk-001")
    clients = []
    for _ in range(5):
        client = await hall.raw()
        await client.send("AUTH", {"token": token})
        await client.expect("AUTH_OK")
        clients.append(client)
    for oldest in clients[:2]:
        await asyncio.wait_for(oldest.ws.wait_closed(), 5)
        assert (oldest.ws.close_code, oldest.ws.close_reason) == (1008, TOO_MANY_CLOSE_TEXT)
    for newer in clients[2:]:
        await round_trip(newer)
    assert len(TOO_MANY_CLOSE_TEXT.encode()) <= 123  # a close reason's limit


def test_the_bench_lifts_every_connection_cap(tmp_path):
    # bench/ opens hundreds of TV connections from 127.0.0.1 and takes tickets by the thousand.
    limits = load_site_config(write_bench_site(tmp_path)).rate_limit
    assert (limits.connections_per_address, limits.unauthenticated_connections, limits.connections_per_token,
            limits.tickets_per_minute) == (BENCH_LIMIT,) * 4
