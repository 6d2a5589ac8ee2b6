"""appliance.sd_notify and the hub's use of it, against a real AF_UNIX datagram socket.

The socket stands where systemd's would: bound by the test, named in $NOTIFY_SOCKET.
It is opened with SO_PASSCRED so each datagram carries the sender's pid, as systemd
sees it; with NotifyAccess=main systemd accepts only the main process's messages.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from support.deploy import REPO

from appliance import sd_notify

RECEIVE_TIMEOUT = 20.0
_CREDENTIALS = struct.Struct("iII")  # struct ucred: pid, uid, gid


class Supervisor:
    """The receiving end of sd_notify: what systemd would read."""

    def __init__(self, address: str):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(address)
        self.sock.settimeout(RECEIVE_TIMEOUT)

    def receive(self) -> tuple[str, int]:
        """(message, sender pid)."""
        data, ancillary, _flags, _addr = self.sock.recvmsg(4096, socket.CMSG_SPACE(_CREDENTIALS.size))
        pid = -1
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = _CREDENTIALS.unpack(payload[:_CREDENTIALS.size])[0]
        return data.decode("utf-8"), pid

    def receive_until(self, wanted: str) -> list[tuple[str, int]]:
        """Messages up to and including the first that holds the line ``wanted``."""
        seen = []
        while True:
            try:
                message, pid = self.receive()
            except TimeoutError:
                raise AssertionError(f"no {wanted!r} within {RECEIVE_TIMEOUT}s; got {seen}") from None
            seen.append((message, pid))
            if wanted in message.splitlines():
                return seen

    def pending(self) -> list[str]:
        """Whatever is queued now, without waiting."""
        found = []
        self.sock.setblocking(False)
        try:
            while True:
                found.append(self.sock.recv(4096).decode())
        except BlockingIOError:
            return found
        finally:
            self.sock.settimeout(RECEIVE_TIMEOUT)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def socket_dir():
    # AF_UNIX paths are limited to 108 bytes; pytest's tmp_path can be longer.
    with tempfile.TemporaryDirectory(prefix="qms-notify-") as folder:
        yield Path(folder)


@pytest.fixture
def supervisor(socket_dir, monkeypatch):
    path = socket_dir / "notify.sock"
    receiver = Supervisor(str(path))
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield receiver
    receiver.close()


def test_nothing_is_sent_outside_systemd(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert sd_notify.ready("up") is False
    assert sd_notify.watchdog_ping() is False
    assert sd_notify.stopping() is False
    assert sd_notify.watchdog_interval() is None


def test_messages_reach_a_path_socket(supervisor):
    assert sd_notify.ready("serving Trung tâm\non port 3001") is True
    assert supervisor.receive() == ("READY=1\nSTATUS=serving Trung tâm on port 3001", os.getpid())
    sd_notify.watchdog_ping()
    assert supervisor.receive() == ("WATCHDOG=1", os.getpid())
    sd_notify.status("2 devices")
    assert supervisor.receive() == ("STATUS=2 devices", os.getpid())
    sd_notify.stopping()
    assert supervisor.receive() == ("STOPPING=1", os.getpid())


def test_messages_reach_an_abstract_socket(monkeypatch):
    name = f"qms-test-{os.getpid()}-{secrets.token_hex(6)}"
    receiver = Supervisor("\0" + name)
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sd_notify.ready() is True
        assert receiver.receive() == ("READY=1", os.getpid())
    finally:
        receiver.close()


def test_a_vanished_supervisor_is_not_an_error(socket_dir, monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", str(socket_dir / "gone.sock"))
    assert sd_notify.watchdog_ping() is False
    monkeypatch.setenv("NOTIFY_SOCKET", "vsock:2:1234")
    assert sd_notify.ready() is False


@pytest.mark.parametrize("usec, pid, expected", [
    ("30000000", None, 15.0),
    ("30000000", "self", 15.0),
    ("30000000", "other", None),
    ("0", None, None),
    ("soon", None, None),
    (None, None, None),
])
def test_watchdog_interval_is_half_of_watchdog_usec(monkeypatch, usec, pid, expected):
    for name, value in (("WATCHDOG_USEC", usec),
                        ("WATCHDOG_PID", {None: None, "self": str(os.getpid()), "other": str(os.getpid() + 1)}[pid])):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert sd_notify.watchdog_interval() == expected


def test_the_hub_process_talks_to_systemd(socket_dir, tmp_path):
    """qms-hub serve as systemd runs it: READY=1 once it listens, watchdog pings, STOPPING=1 on SIGTERM."""
    path = socket_dir / "notify.sock"
    receiver = Supervisor(str(path))
    env = {**os.environ, "NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "30000000"}
    hub = subprocess.Popen([sys.executable, "-m", "hub.cli", "--data-dir", str(tmp_path / "data"), "serve",
                            "--host", "127.0.0.1", "--port", "0"],
                           cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        (ready, ready_pid), = receiver.receive_until("READY=1")
        assert ready_pid == hub.pid, "NotifyAccess=main: systemd takes messages from the main process only"
        status = dict(line.split("=", 1) for line in ready.splitlines())["STATUS"]
        port = int(re.search(r"port (\d+)", status).group(1))
        # READY=1 came after the hub listens: it answers at once.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
            assert json.loads(response.read())["status"] == "ok"
        pings = receiver.receive_until("WATCHDOG=1")
        assert pings[-1][1] == hub.pid
        hub.send_signal(signal.SIGTERM)
        stopping = receiver.receive_until("STOPPING=1")
        assert stopping[-1][1] == hub.pid
        output, _ = hub.communicate(timeout=30)
        assert hub.returncode == 0, output
    finally:
        if hub.poll() is None:
            hub.kill()
            hub.communicate()
        receiver.close()


async def test_the_watchdog_ping_comes_from_the_event_loop(supervisor, tmp_path):
    """While the loop is blocked no ping can be sent; once it runs again the pings resume."""
    from support import start_hub

    hub = await start_hub(tmp_path / "data", tick_interval=0.02)
    try:
        assert supervisor.receive()[0].startswith("READY=1\nSTATUS=serving ")
        # Waiting happens in a thread: the loop must stay free to tick.
        await asyncio.to_thread(supervisor.receive_until, "WATCHDOG=1")
        # Hold the event loop, as a hung handler would; no other thread may ping for it.
        supervisor.pending()
        time.sleep(0.3)  # noqa: ASYNC251 - blocking the loop is what this test is about
        assert supervisor.pending() == []
        await asyncio.to_thread(supervisor.receive_until, "WATCHDOG=1")
    finally:
        await hub.stop()
    assert "STOPPING=1" in supervisor.pending()
