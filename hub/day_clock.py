"""Telling midnight from a clock being put right: pure, from the wall clock and the monotonic clock together.

A Raspberry Pi has no real-time clock: it may boot with an old time and
jump forward when NTP answers. If that jump crosses midnight, the service
day must not turn as if the night had passed (which would expire the
morning's tickets): the wall clock moved much further than the monotonic
clock did, and that is how a step is told from time passing.
"""

from __future__ import annotations

from datetime import datetime

# A wall clock ahead of the monotonic clock by more than this since the last look was stepped.
STEP_SECONDS = 120.0


class DayClock:
    def __init__(self) -> None:
        self._wall: datetime | None = None
        self._monotonic = 0.0

    def observe(self, now: datetime, monotonic: float) -> None:
        """The hub's periodic look at both clocks."""
        self._wall, self._monotonic = now, monotonic

    def stepped_forward(self, now: datetime, monotonic: float) -> bool:
        """Whether the wall clock jumped forward since the last look (rather than time passing)."""
        if self._wall is None:
            return False
        wall_elapsed = (now - self._wall).total_seconds()
        return wall_elapsed - (monotonic - self._monotonic) > STEP_SECONDS
