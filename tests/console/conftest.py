"""The console tests' fixture: a headless Chromium that closes its windows at the end of a test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from support.browser import Browser, require_chromium


@pytest.fixture
async def browser(tmp_path) -> AsyncIterator[Browser]:
    require_chromium()
    opened = Browser(tmp_path)
    try:
        yield opened
    finally:
        await asyncio.to_thread(opened.close)
