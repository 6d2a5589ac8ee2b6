"""hub.day_gate: changes side by side, the day's turn alone and between them."""

from __future__ import annotations

import asyncio

import pytest

from hub.day_gate import DayGate


async def test_changes_run_side_by_side_and_the_turn_waits_for_them_and_holds_new_ones_back():
    gate = DayGate()
    events: list[str] = []
    release_changes = asyncio.Event()
    release_turn = asyncio.Event()

    async def change(name: str, until: asyncio.Event | None = None) -> None:
        async with gate.change():
            events.append(f"{name} in")
            if until is not None:
                await until.wait()
            events.append(f"{name} out")

    async def turn() -> None:
        async with gate.turning():
            events.append("turn in")
            await release_turn.wait()
            events.append("turn out")

    first = asyncio.create_task(change("a", release_changes))
    second = asyncio.create_task(change("b", release_changes))
    await asyncio.sleep(0)
    assert events == ["a in", "b in"]  # side by side

    turning = asyncio.create_task(turn())
    await asyncio.sleep(0.01)
    assert "turn in" not in events  # two changes in flight

    release_changes.set()
    await asyncio.gather(first, second)
    await asyncio.sleep(0.01)
    assert events[-1] == "turn in"  # once both were out

    late = asyncio.create_task(change("c"))
    await asyncio.sleep(0.01)
    assert "c in" not in events  # held back while the day turns
    release_turn.set()
    await asyncio.gather(turning, late)
    assert events[-4:] == ["turn in", "turn out", "c in", "c out"]


async def test_a_change_that_fails_still_lets_the_day_turn():
    gate = DayGate()
    with pytest.raises(RuntimeError):
        async with gate.change():
            raise RuntimeError("injected")

    started = asyncio.Event()

    async def in_flight() -> None:
        async with gate.change():
            started.set()
            await asyncio.sleep(0.01)
            raise ValueError("injected")

    failing = asyncio.create_task(in_flight())
    await started.wait()
    async with asyncio.timeout(2):
        async with gate.turning():
            assert failing.done()  # the turn began only once the failing change had left
    with pytest.raises(ValueError):
        await failing
    async with asyncio.timeout(2), gate.change():  # and changes go on after the turn
        pass


async def test_turns_wait_for_each_other():
    gate = DayGate()
    order: list[str] = []

    async def turn(name: str) -> None:
        async with gate.turning():
            order.append(f"{name} in")
            await asyncio.sleep(0.01)
            order.append(f"{name} out")

    await asyncio.gather(turn("first"), turn("second"))
    assert order == ["first in", "first out", "second in", "second out"]
