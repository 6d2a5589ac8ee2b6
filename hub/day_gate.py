"""The service day's gate: state changes run side by side; the day turns only between them.

Every state-changing request holds the gate open while it plans, commits and
applies its change; turning the day waits until none is in flight and keeps
new ones out until the new day is applied. So no change planned on one day
lands on the next, and a ticket never straddles midnight.

Every ticket and every call passes the gate, and the day turns once a day:
holding it open is two counter updates while the day is not turning (no lock,
no generator), and the condition is used only by whoever has to wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType


class DayGate:
    def __init__(self) -> None:
        self._active = 0
        self._turning = False
        self._turns_waiting = 0
        self._changed = asyncio.Condition()
        self._hold = _ChangeHold(self)

    def change(self) -> _ChangeHold:
        """Hold while a state change is planned, committed and applied (many at once): ``async with``."""
        return self._hold

    @asynccontextmanager
    async def turning(self) -> AsyncIterator[None]:
        """Hold while the day turns: alone."""
        async with self._changed:
            self._turns_waiting += 1
            try:
                await self._changed.wait_for(lambda: not self._turning and self._active == 0)
            finally:
                self._turns_waiting -= 1
            self._turning = True
        try:
            yield
        finally:
            async with self._changed:
                self._turning = False
                self._changed.notify_all()


class _ChangeHold:
    """``async with gate.change()``: one object for every change (it keeps nothing of its own)."""

    __slots__ = ("_gate",)

    def __init__(self, gate: DayGate):
        self._gate = gate

    async def __aenter__(self) -> None:
        gate = self._gate
        if gate._turning:
            async with gate._changed:
                await gate._changed.wait_for(lambda: not gate._turning)
        gate._active += 1  # no await since the check: the day cannot have started turning meanwhile

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        gate = self._gate
        gate._active -= 1
        if gate._active == 0 and gate._turns_waiting:
            async with gate._changed:
                gate._changed.notify_all()
