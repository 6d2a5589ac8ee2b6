"""The TV fleet: a separate process holding N TV connections, run by the benchmarks.

``python -m bench.tv_fleet --url ws://127.0.0.1:PORT/ws --count N --mode hub --data-dir D``

Against the hub (``--mode hub``) each connection authenticates with its own TV
token (made from the hub's token secret in D) and registers as a TV; against
the baseline server (``--mode bare``) it says ``tv`` and waits for ``ok``.

Speaks JSON lines on stdout: ``{"event": "ready", "connected": N}`` once every
connection is registered, then for each ticket number announced
``{"event": "round", "ticket_number": k, "first": t, "last": t, "count": N}``
as soon as all N connections have received its TICKET_ANNOUNCEMENT; ``first``
and ``last`` are ``time.monotonic()`` at the first and last receipt, which is
CLOCK_MONOTONIC and so comparable with the parent's clock. A line ``quiet``
on stdin asks for ``{"event": "quiet"}`` once nothing has arrived on any
connection for 5 ms: a round's trailing frames have all been read. On any failure it
prints ``{"event": "error", "problem": ...}`` and exits 1. EOF on stdin closes
the connections and ends the process.

Lean on purpose. Five hundred real TVs read their frames on five hundred
CPUs; here one process on the same two cores as the servers reads them all,
and with a full WebSocket client per TV (an asyncio task, a frame assembler)
its own cost per frame dominated what was measured. So: a real opening
handshake, AUTH and REGISTER_CLIENT as any client sends them, pings answered;
then one epoll loop, one ``recv`` per ready socket with the time taken right
after it, and a scan of the bytes for the announcement.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import selectors
import socket
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from websockets.frames import Close, Frame, Opcode

from bench.harness import TOKEN_TTL, raise_open_file_limit
from hub.auth import TokenAuthority

SETUP_TIMEOUT = 10.0
ANNOUNCEMENT_MARK = b'"TICKET_ANNOUNCEMENT"'
TICKET_NUMBER = re.compile(rb'"ticket_number":(\d+)')
RECEIVE_BYTES = 262144
QUIET_SECONDS = 0.005


def emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


class RoundTally:
    """Receipt times per ticket number; reports a round when every TV has it."""

    def __init__(self, expected: int):
        self.expected = expected
        self.rounds: dict[int, list[float]] = {}  # number -> [count, first, last]

    def receipt(self, number: int, at: float) -> None:
        entry = self.rounds.get(number)
        if entry is None:
            entry = self.rounds[number] = [0, at, at]
        entry[0] += 1
        entry[2] = at
        if entry[0] == self.expected:
            del self.rounds[number]
            emit({"event": "round", "ticket_number": number, "first": entry[1], "last": entry[2],
                  "count": self.expected})


class TV:
    """One TV's socket: frames out (masked, as a client must), frames in (parsed by hand, unmasked)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = bytearray()

    def send_text(self, text: str) -> None:
        self.sock.sendall(Frame(Opcode.TEXT, text.encode()).serialize(mask=True))

    def messages(self) -> list[tuple[int, bytes]]:
        """Every complete frame in the buffer, as (opcode, payload); the rest stays for later."""
        frames = []
        buffer = self.buffer
        while len(buffer) >= 2:
            first, second = buffer[0], buffer[1]
            length, start = second & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    break
                length, start = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                if len(buffer) < 10:
                    break
                length, start = int.from_bytes(buffer[2:10], "big"), 10
            if second & 0x80 or not first & 0x80:
                raise RuntimeError("a server frame was masked or fragmented: not what either server sends")
            if len(buffer) < start + length:
                break
            frames.append((first & 0x0F, bytes(buffer[start:start + length])))
            del buffer[:start + length]
        return frames

    def scan(self, marks: tuple[bytes, ...]) -> tuple[list[bytes], list[tuple[int, bytes]]]:
        """Every complete frame in the buffer, read in place: (the text payloads holding one of ``marks``,
        the control frames as (opcode, payload)); the rest stays for later.

        What the fleet and the bench's kiosks read with: :meth:`messages` copies
        and slices every frame, and at some thirty frames per ticket on five
        hundred TVs that copying was the fleet's, and so the machine's, largest
        cost. Here a frame the reader does not want costs a header read and a
        ``find`` in place.
        """
        buffer = self.buffer
        end = len(buffer)
        pos = 0
        texts: list[bytes] = []
        control: list[tuple[int, bytes]] = []
        while end - pos >= 2:
            first, length = buffer[pos], buffer[pos + 1]
            if length & 0x80 or not first & 0x80:
                raise RuntimeError("a server frame was masked or fragmented: not what either server sends")
            if length < 126:
                start = pos + 2
            elif length == 126:
                if end - pos < 4:
                    break
                length, start = (buffer[pos + 2] << 8) | buffer[pos + 3], pos + 4
            else:
                if end - pos < 10:
                    break
                length, start = int.from_bytes(buffer[pos + 2:pos + 10], "big"), pos + 10
            stop = start + length
            if stop > end:
                break
            if first & 0x0F == Opcode.TEXT:
                for mark in marks:
                    if buffer.find(mark, start, stop) >= 0:
                        texts.append(bytes(buffer[start:stop]))
                        break
            else:
                control.append((first & 0x0F, bytes(buffer[start:stop])))
            pos = stop
        if pos:
            del buffer[:pos]
        return texts, control

    def handle(self, opcode: int, payload: bytes) -> None:
        if opcode == Opcode.PING:
            self.sock.sendall(Frame(Opcode.PONG, payload).serialize(mask=True))
        elif opcode == Opcode.CLOSE:
            raise RuntimeError(f"the server closed a TV connection: {Close.parse(payload) if payload else ''}")

    def answer(self, control: list[tuple[int, bytes]]) -> None:
        """Handle the control frames :meth:`scan` found, on a socket otherwise read without blocking."""
        for opcode, payload in control:
            # Pings are answered blocking: a few bytes, into an idle socket buffer.
            self.sock.setblocking(True)
            try:
                self.handle(opcode, payload)
            finally:
                self.sock.setblocking(False)

    def receive_until(self, wanted: bytes) -> bytes:
        """Setup only (blocking): read until a text message containing ``wanted``; fail on ERROR."""
        while True:
            for opcode, payload in self.messages():
                self.handle(opcode, payload)
                if opcode == Opcode.TEXT:
                    if wanted in payload:
                        return payload
                    if b'"type":"ERROR"' in payload:
                        raise RuntimeError(f"the server answered ERROR: {payload[:300]!r}")
            data = self.sock.recv(65536)
            if not data:
                raise RuntimeError("the server closed a TV connection during setup")
            self.buffer += data


def open_socket(url: str) -> TV:
    """A WebSocket opening handshake on a plain socket."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    sock = socket.create_connection((host, port), timeout=SETUP_TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    received = b""
    while b"\r\n\r\n" not in received:
        data = sock.recv(4096)
        if not data:
            raise RuntimeError("the server closed the connection during the handshake")
        received += data
    head, _, rest = received.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(f"the handshake was refused: {head.splitlines()[0]!r}")
    tv = TV(sock)
    tv.buffer += rest
    return tv


def open_tv(args: argparse.Namespace, tokens: TokenAuthority | None, index: int) -> TV:
    tv = open_socket(args.url)
    if args.mode == "hub":
        assert tokens is not None
        client_id = f"{args.id_prefix}-{index:04d}"
        token = tokens.issue("tv", client_id=client_id, ttl=TOKEN_TTL)
        tv.send_text(json.dumps({"type": "AUTH", "payload": {"token": f"Bearer {token}"}}))
        tv.receive_until(b'"AUTH_OK"')
        tv.send_text(json.dumps({"type": "REGISTER_CLIENT", "payload": {
            "client_type": "tv", "client_id": client_id, "location": "bench"}}))
        tv.receive_until(b'"CONNECTION_ACK"')
    else:
        tv.send_text("tv")
        tv.receive_until(b"ok")
    tv.sock.setblocking(False)
    return tv


def serve_rounds(tvs: list[TV], tally: RoundTally) -> None:
    """Until EOF on stdin: read whatever arrives, note when each announcement reached each TV."""
    selector = selectors.DefaultSelector()
    for tv in tvs:
        selector.register(tv.sock, selectors.EVENT_READ, tv)
    selector.register(sys.stdin, selectors.EVENT_READ, None)
    # One receive buffer for every socket: a fresh 256 KiB per recv() would be an mmap and a munmap each.
    received = bytearray(RECEIVE_BYTES)
    view = memoryview(received)
    marks = (ANNOUNCEMENT_MARK,)
    settling = False
    while True:
        ready = selector.select(QUIET_SECONDS if settling else None)
        if not ready and settling:
            emit({"event": "quiet"})
            settling = False
        for key, _ in ready:
            tv = key.data
            if tv is None:
                command = os.read(sys.stdin.fileno(), 4096)
                if not command:
                    return
                # "quiet": report once nothing has arrived for QUIET_SECONDS (what a round sent has all come).
                settling = settling or b"quiet" in command
                continue
            try:
                count = tv.sock.recv_into(received)
            except BlockingIOError:
                continue
            # Time first, parse after: the receipt is when the bytes reached this TV.
            at = time.monotonic()
            if not count:
                raise RuntimeError("the server closed a TV connection")
            tv.buffer += view[:count]
            # The hub's other messages (tickets, queue states) are read and skipped: nothing to answer.
            announcements, control = tv.scan(marks)
            for payload in announcements:
                found = TICKET_NUMBER.search(payload)
                if found is None:
                    raise RuntimeError(f"an announcement without a ticket number: {payload[:300]!r}")
                tally.receipt(int(found.group(1)), at)
            tv.answer(control)


def run(args: argparse.Namespace) -> None:
    raise_open_file_limit(args.count + 256)
    tokens = TokenAuthority.from_data_dir(args.data_dir) if args.mode == "hub" else None
    tvs: list[TV] = []
    try:
        # One at a time: simple, and never more than one handshake in the server's listen backlog.
        for index in range(args.count):
            tvs.append(open_tv(args, tokens, index))
        emit({"event": "ready", "connected": len(tvs)})
        serve_rounds(tvs, RoundTally(args.count))
    finally:
        goodbye = Frame(Opcode.CLOSE, Close(1000, "bench done").serialize()).serialize(mask=True)
        for tv in tvs:
            with contextlib.suppress(OSError):
                tv.sock.send(goodbye)
            tv.sock.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--mode", choices=("hub", "bare"), required=True)
    parser.add_argument("--data-dir", help="the hub's data dir, for its token secret (hub mode)")
    parser.add_argument("--id-prefix", default="tv-bench")
    args = parser.parse_args()
    if args.mode == "hub" and not args.data_dir:
        parser.error("--mode hub needs --data-dir")
    try:
        run(args)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the run
        emit({"event": "error", "problem": f"{type(exc).__name__}: {exc}"})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
