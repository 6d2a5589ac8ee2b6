"""The same bytes to hundreds of sockets, from two threads at once.

A call's fan-out to 500 TVs is 500 ``send`` system calls, and the kernel's
work in them is most of it: profiled with py-spy during the call bench, 83%
of the hub's time was in writing the boards and 72% inside
``transport.write``'s ``send`` (TCP, and on the bench's loopback the
receiving side's work too). A system call lets go of the GIL, so a second
thread sending meanwhile, on a second core, shortens the pass: a Raspberry Pi
has four.

Why this is safe with asyncio, whose transports belong to the loop's thread:

* Only sockets whose transport has nothing buffered and is not closing are
  written here. For those, ``transport.write`` would call ``send`` at once
  and be done, so writing the socket directly is what it would do.
* Only plain TCP transports: a TLS transport's socket carries the
  encrypted stream, never these bytes.
* The loop's thread is inside :meth:`ParallelSender.send` the whole time
  and waits for the helper before returning, so nothing else writes to any
  of these sockets meanwhile.
* What a socket did not take whole (its buffer full, or an error) is handed
  to ``transport.write`` afterwards, on the loop's thread, which buffers the
  rest in order or closes the connection, as it does for any write.

Both threads take the next socket from one shared iterator (``next`` on a
list iterator is atomic under the GIL), so neither waits for the other to
finish its half. If the helper has not woken by the time the loop's thread
has written every socket, the loop's thread takes the job back and does not
wait for it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
from collections.abc import Iterator, Sequence

log = logging.getLogger("qms.parallel_send")

_UNKNOWN = -1

# Below this many sockets the hand-over (a thread woken, its wait ended) costs more than the half it saves.
PARALLEL_FROM = 32


def plain_socket(transport: asyncio.BaseTransport) -> int | None:
    """The file descriptor under ``transport`` if the bytes written to it go to that socket as they are."""
    if transport.get_extra_info("sslcontext") is not None:
        return None
    sock = transport.get_extra_info("socket")
    return None if sock is None else sock.fileno()


def write_to(transport: asyncio.WriteTransport, data: bytes) -> bool:
    try:
        transport.write(data)
    except Exception as exc:  # noqa: BLE001 - one broken socket must not stop the others
        log.warning("skipped a write to a connection: %s", exc)
        return False
    return True


class _Share:
    """One pass: the sockets left to write, the bytes, and what a socket did not take whole."""

    __slots__ = ("sockets", "data", "leftovers", "claimed", "finished")

    def __init__(self, sockets: Iterator[tuple[int, asyncio.WriteTransport]], data: bytes):
        self.sockets = sockets
        self.data = data
        self.leftovers: list[tuple[asyncio.WriteTransport, bytes]] = []
        # Taken by the helper when it starts on the pass, or by the loop's thread to call the helper off.
        self.claimed = threading.Lock()
        self.finished = threading.Lock()
        self.finished.acquire()  # released by the helper when it has written its last socket


def _write_each(share: _Share) -> None:
    write, data, leftovers = os.write, share.data, share.leftovers
    for fd, transport in share.sockets:
        try:
            sent = write(fd, data)
        except Exception:  # noqa: BLE001 - full (EAGAIN) or gone: transport.write buffers it or closes it
            leftovers.append((transport, data))
            continue
        if sent < len(data):
            leftovers.append((transport, data[sent:]))


class ParallelSender:
    """Writes the same bytes to many transports, the loop's thread and a helper thread sharing the sockets.

    Only where the process may run on more than one core (a hub pinned to one
    by ``taskset`` writes alone, as two threads would only take turns). The
    helper thread starts with the first pass large enough to share, and
    :meth:`close` ends it.
    """

    def __init__(self, parallel: bool | None = None) -> None:
        """``parallel``: share the writes with a helper thread; by default, if this process may use two cores."""
        self.enabled = len(os.sched_getaffinity(0)) > 1 if parallel is None else parallel
        # Each connection's socket (None: not a plain one), and how many were kept at the last pruning.
        self._fds: dict[asyncio.WriteTransport, int | None] = {}
        self._kept = 0
        self._jobs: queue.SimpleQueue[_Share | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def send(self, transports: Sequence[asyncio.WriteTransport], data: bytes) -> int:
        """``transport.write(data)`` for each of ``transports``, called on the loop's thread; returns how many
        took it (a transport that refused is logged and skipped, as one broken socket must not stop the rest)."""
        if not self.enabled or len(transports) < PARALLEL_FROM:
            return sum(write_to(transport, data) for transport in transports)
        written = 0
        sockets: list[tuple[int, asyncio.WriteTransport]] = []
        fds = self._fds
        if len(fds) > self._kept + PARALLEL_FROM:  # connections come and go all day: forget those gone
            for gone in [transport for transport in fds if transport.is_closing()]:
                del fds[gone]
            self._kept = len(fds)
        for transport in transports:
            fd = None
            if not transport.get_write_buffer_size() and not transport.is_closing():
                # Looked up once per connection: a socket's descriptor is its own until it closes, and a
                # closing transport is never written here.
                fd = fds.get(transport, _UNKNOWN)
                if fd == _UNKNOWN:
                    fd = fds[transport] = plain_socket(transport)
            if fd is None:  # something already waits to be written, or not a plain socket
                written += write_to(transport, data)
            else:
                sockets.append((fd, transport))
        share = _Share(iter(sockets), data)
        self._start()
        self._jobs.put(share)
        try:
            _write_each(share)
        finally:
            if not share.claimed.acquire(blocking=False):
                share.finished.acquire()  # the helper is writing its last socket: wait for it
        written += len(sockets)
        for transport, rest in share.leftovers:
            if not write_to(transport, rest):
                written -= 1
        return written

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._help, name="qms-parallel-send", daemon=True)
            self._thread.start()

    def _help(self) -> None:
        while True:
            share = self._jobs.get()
            if share is None:
                return
            if not share.claimed.acquire(blocking=False):
                continue  # the loop's thread finished the pass alone
            try:
                _write_each(share)
            except BaseException:  # noqa: BLE001 - never leave the loop's thread waiting
                log.exception("the parallel send helper failed")
            finally:
                share.finished.release()

    def close(self) -> None:
        """End the helper thread (the hub is stopping); later passes start it again."""
        thread, self._thread = self._thread, None
        if thread is not None and thread.is_alive():
            self._jobs.put(None)
            thread.join()
