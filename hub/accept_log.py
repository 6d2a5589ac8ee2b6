"""asyncio's "socket.accept() out of system resource" log, thinned to one line a minute.

When the hub runs out of file descriptors, asyncio logs every failed accept
(up to a hundred each time the listening socket is ready, each with its
traceback) through the ``asyncio`` logger: under a connection flood that was
190,000 lines, 41 MB of journal, in two minutes. :func:`install` puts a filter
on that logger which lets one such line through a minute, saying how many
it held back; every other asyncio message passes untouched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

ACCEPT_FAILURE = "socket.accept() out of system resource"
LOG_INTERVAL = 60.0


class AcceptFailureFilter(logging.Filter):
    def __init__(self, interval: float = LOG_INTERVAL, monotonic: Callable[[], float] = time.monotonic):
        super().__init__()
        self.interval = interval
        self._monotonic = monotonic
        self._last: float | None = None
        self.held_back = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.getMessage().startswith(ACCEPT_FAILURE):
            return True
        now = self._monotonic()
        if self._last is not None and now - self._last < self.interval:
            self.held_back += 1
            return False
        if self.held_back:
            record.msg = (f"{record.getMessage()}\n({self.held_back} more like this in the last "
                          f"{self.interval:g} s were not logged)")
            record.args = None
        self._last = now
        self.held_back = 0
        return True


_installed: AcceptFailureFilter | None = None


def install() -> AcceptFailureFilter:
    """Put the filter on the ``asyncio`` logger (once per process, however many hubs start)."""
    global _installed
    if _installed is None:
        _installed = AcceptFailureFilter()
        logging.getLogger("asyncio").addFilter(_installed)
    return _installed
