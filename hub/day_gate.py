"""The service day's gate: state changes run side by side; the day turns only between them.

Every state-changing request holds the gate open while it plans, commits and
applies its change; turning the day waits until none is in flight and keeps
new ones out until the new day is applied. So no change planned on one day
lands on the next, and a ticket never straddles midnight.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class DayGate:
    def __init__(self) -> None:
        self._active = 0
        self._turning = False
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def change(self) -> AsyncIterator[None]:
        """Hold while a state change is planned, committed and applied (many at once)."""
        async with self._changed:
            await self._changed.wait_for(lambda: not self._turning)
            self._active += 1
        try:
            yield
        finally:
            async with self._changed:
                self._active -= 1
                self._changed.notify_all()

    @asynccontextmanager
    async def turning(self) -> AsyncIterator[None]:
        """Hold while the day turns: alone."""
        async with self._changed:
            await self._changed.wait_for(lambda: not self._turning and self._active == 0)
            self._turning = True
        try:
            yield
        finally:
            async with self._changed:
                self._turning = False
                self._changed.notify_all()
