"""Hub memory per idle connection: RSS with N idle registered TVs against none.

The hub runs as a subprocess; a warm-up fleet of a few TVs connects and
leaves first (so one-off costs of the first connection are not counted per
connection); then the hub's RSS is read once it stops moving, N TVs connect
from another process (``bench.tv_fleet``), AUTH and REGISTER_CLIENT, and sit
idle; RSS is read again once it stops moving. (rss_N - rss_0) / N is the
figure. The baseline, same run: the same for ``bench.bare_server`` (bare
websockets, no session state).

``python -m bench.idle_memory [--connections 1000]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from bench.harness import (
    ServerProcess,
    progress,
    raise_open_file_limit,
    running_bare_server,
    running_fleet,
    running_hub,
    settled_rss,
)

WARMUP_CONNECTIONS = 10


async def _per_connection(
    start: Callable[[], AbstractAsyncContextManager[ServerProcess]], connections: int
) -> dict[str, Any]:
    async with start() as server:
        async with running_fleet(server, WARMUP_CONNECTIONS, id_prefix="tv-warmup"):
            pass
        rss_idle = await settled_rss(server.pid)
        async with running_fleet(server, connections) as fleet:
            rss_loaded = await settled_rss(server.pid)
            # Still all there (a dropped TV makes the fleet report an error): the figure is for
            # connections that stayed up.
            event = await fleet.poll(timeout=0.1)
            if event is not None:
                raise RuntimeError(f"the TV fleet reported during the idle wait: {event}")
    return {
        "connections": connections,
        "rss_idle_mib": rss_idle / 2**20,
        "rss_loaded_mib": rss_loaded / 2**20,
        "kib_per_connection": (rss_loaded - rss_idle) / connections / 1024,
    }


async def measure(connections: int = 1000, log=progress) -> dict[str, Any]:
    raise_open_file_limit(connections + 1024)
    log(f"idle memory: hub, {connections} TVs ...")
    hub = await _per_connection(running_hub, connections)
    log(f"idle memory: bare websockets, {connections} TVs ...")
    baseline = await _per_connection(running_bare_server, connections)
    return {"hub": hub, "baseline": baseline, "ratio": hub["kib_per_connection"] / baseline["kib_per_connection"]}


def main() -> None:
    parser = argparse.ArgumentParser(description="Hub RSS per idle connection, against bare websockets")
    parser.add_argument("--connections", type=int, default=1000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.connections)), indent=2))


if __name__ == "__main__":
    main()
