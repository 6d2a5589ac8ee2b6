"""STATS_UPDATE for admins: sent when the figures change, at most once per interval, always the latest.

The interval is measured on the hub's clock (its monotonic reading), so a test
moves a manual clock instead of sleeping. A change inside the interval is
held and sent when the interval is over: by a timer, or by the hub's
periodic tick when the clock is moved by hand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from hub.clock import Clock


class StatsThrottle:
    def __init__(self, interval: float, clock: Clock, send: Callable[[], None]):
        self.interval = interval
        self._clock = clock
        self._send = send
        self._sent_at: float | None = None
        self._pending = False
        self._timer: asyncio.TimerHandle | None = None

    def changed(self) -> None:
        """The figures changed: send them now, or when the interval since the last send is over."""
        if self._pending:
            return
        wait = self._wait()
        if wait <= 0:
            self._flush()
            return
        self._pending = True
        self._timer = asyncio.get_running_loop().call_later(wait, self.flush_if_due)

    def flush_if_due(self) -> None:
        """Send figures held back, if the interval is over (the hub's tick calls this too)."""
        if self._pending and self._wait() <= 0:
            self._flush()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending = False

    def _wait(self) -> float:
        if self._sent_at is None:
            return 0.0
        return self._sent_at + self.interval - self._clock.monotonic()

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending = False
        self._sent_at = self._clock.monotonic()
        self._send()
