"""Fixtures over the shared test helpers in ``support``: a real hub on loopback and its clients."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from support import HallHarness, start_hub


@pytest.fixture
async def hall(tmp_path) -> AsyncIterator[HallHarness]:
    hub = await start_hub(tmp_path / "data")
    harness = HallHarness(hub)
    yield harness
    await harness.close_all()
    await hub.stop()
