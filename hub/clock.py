"""Where the hub reads the time: the system clock, or one a test moves by hand.

Two readings: ``now()``, the wall clock every rule about the day uses (service
days, token expiry, timestamps), and ``monotonic()``, seconds that only go
forward, for rate limits and throttles that must not jump when the wall
clock is stepped (a Pi without a real-time clock, NTP correcting it).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment, timezone-aware."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start; never goes back."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told: for the day turning at midnight, throttles and rate limits in tests.

    Its monotonic reading moves forward with every step forward of the wall
    clock and stays put when the wall clock is set back.
    """

    def __init__(self, start: datetime):
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start
        self._monotonic = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def set(self, moment: datetime) -> None:
        self._monotonic += max(0.0, (moment - self._now).total_seconds())
        self._now = moment

    def advance(self, **delta: float) -> datetime:
        """Time passes: both readings move on."""
        self.set(self._now + timedelta(**delta))
        return self._now

    def step(self, **delta: float) -> datetime:
        """The wall clock is stepped (NTP putting a Pi's clock right), forward or back; monotonic stays."""
        self._now += timedelta(**delta)
        return self._now
