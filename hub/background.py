"""Fire-and-forget work the hub starts and must not lose track of (closing sockets, audit rows).

Every task is kept until it ends, so it is not garbage-collected half way,
its failure is logged, and the hub can wait for what is still running when
it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Any

from websockets.exceptions import ConnectionClosed

log = logging.getLogger("qms.hub")


class BackgroundTasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Future[Any]] = set()

    def spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and not isinstance(exc, ConnectionClosed):
            log.error("background task failed: %s", exc)

    async def drain(self) -> None:
        """Wait for every task still running (their failures are already logged)."""
        for task in list(self._tasks):
            with contextlib.suppress(Exception):  # already logged where it failed
                await task
