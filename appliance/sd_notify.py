"""Tell systemd how a service is doing: ``sd_notify(3)`` in a few lines of stdlib.

The hub, the kiosk and the TV run as ``Type=notify`` units with
``WatchdogSec=``: systemd counts a unit as started only after ``READY=1`` and
restarts it when the ``WATCHDOG=1`` pings stop. Each message is one datagram
to the AF_UNIX socket named by ``$NOTIFY_SOCKET`` (a path, or an abstract
name written with a leading ``@``). Without that variable — a developer's
shell, the tests — every call does nothing and returns False, so callers
never need to ask whether they run under systemd.

Where to call what:

- ``ready(status)`` once the service does its job (the hub: listening; a node:
  its screen is up, whether or not the hub answers yet).
- ``watchdog_ping()`` from the code whose stall should count as a hang: the
  hub's periodic tick, a node's frame loop. A ping from a helper thread would
  keep a hung event loop alive, which is the one thing the watchdog is for.
- ``stopping()`` when shutdown begins, so ``systemctl`` shows "deactivating".
- ``watchdog_interval()``: how often to ping (half of ``WatchdogSec=``), or
  None when systemd expects no pings; a loop's :class:`Watchdog` pings that often.
"""

from __future__ import annotations

import os
import socket
import time

__all__ = ["notify", "ready", "status", "watchdog_ping", "stopping", "watchdog_interval", "Watchdog"]


def _address(name: str) -> str | None:
    if name.startswith("@"):
        # An abstract socket: the kernel's name starts with a NUL byte.
        return "\0" + name[1:]
    if name.startswith("/"):
        return name
    # systemd 253+ may also offer vsock:CID:PORT (virtual machines); an appliance never sees it.
    return None


def notify(state: str) -> bool:
    """Send ``state`` (newline-separated ``KEY=VALUE`` lines); True if it was sent.

    Never raises: a service must not fail because its supervisor went away.
    """
    name = os.environ.get("NOTIFY_SOCKET", "")
    address = _address(name) if name else None
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(state.encode("utf-8"), address)
    except OSError:
        return False
    return True


def _one_line(text: str) -> str:
    # A newline would start a new KEY=VALUE assignment.
    return " ".join(text.split())


def ready(status_text: str | None = None) -> bool:
    """The service is up; optionally with a STATUS= line for ``systemctl status``."""
    state = "READY=1"
    if status_text:
        state += "\nSTATUS=" + _one_line(status_text)
    return notify(state)


def status(text: str) -> bool:
    return notify("STATUS=" + _one_line(text))


def watchdog_ping() -> bool:
    return notify("WATCHDOG=1")


def stopping() -> bool:
    return notify("STOPPING=1")


def watchdog_interval() -> float | None:
    """Seconds between pings (half of ``$WATCHDOG_USEC``), or None if no watchdog is set.

    ``$WATCHDOG_PID``, when present, names the process the watchdog is meant
    for; a child that inherited the environment gets None.
    """
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if pid:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            return None
    try:
        micros = int(usec)
    except ValueError:
        return None
    if micros <= 0:
        return None
    return micros / 1_000_000 / 2


class Watchdog:
    """Pings every :func:`watchdog_interval` seconds from the loop that calls :meth:`ping_if_due` (a frame loop)."""

    def __init__(self) -> None:
        self.every = watchdog_interval()
        self._pinged = time.monotonic()

    def ping_if_due(self) -> None:
        if self.every is not None and time.monotonic() - self._pinged >= self.every:
            watchdog_ping()
            self._pinged = time.monotonic()
