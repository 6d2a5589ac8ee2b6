"""Fixtures over the shared test helpers in ``support``: a real hub on loopback and its clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from support import HallHarness, start_hub
from support.browser import Browser, require_chromium


@pytest.fixture
async def hall(tmp_path) -> AsyncIterator[HallHarness]:
    hub = await start_hub(tmp_path / "data")
    harness = HallHarness(hub)
    yield harness
    await harness.close_all()
    await hub.stop()


@pytest.fixture
async def browser(tmp_path) -> AsyncIterator[Browser]:
    """A headless Chromium (the console's and the province's pages) that closes its windows at the end."""
    require_chromium()
    opened = Browser(tmp_path)
    try:
        yield opened
    finally:
        await asyncio.to_thread(opened.close)
