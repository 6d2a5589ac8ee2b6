"""Hub memory per idle connection: RSS with N idle registered TVs against none.

The hub runs as a subprocess; a warm-up fleet of a few TVs connects and
leaves first (so one-off costs of the first connection are not counted per
connection); then the hub's RSS is read once it stops moving, N TVs connect
from another process (``bench.tv_fleet``), AUTH and REGISTER_CLIENT, and sit
idle; RSS is read again once it stops moving. (rss_N - rss_0) / N is the
figure. The baseline, same run: the same for ``bench.bare_server`` (bare
websockets, no session state). The two take turns, ``--repeats`` times each.

``python -m bench.idle_memory [--connections 1000] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from bench.harness import (
    LoadMeter,
    ServerProcess,
    progress,
    raise_open_file_limit,
    running_bare_server,
    running_fleet,
    running_hub,
    settled_rss,
    spread,
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


async def measure(connections: int = 1000, repeats: int = 3, log=progress) -> dict[str, Any]:
    """The hub and the bare server in turn, ``repeats`` times each: KiB per connection as min / median / max."""
    raise_open_file_limit(connections + 1024)
    runs: dict[str, list[dict[str, Any]]] = {"hub": [], "baseline": []}
    for repeat in range(repeats):
        for key, name, start in (("hub", "hub", running_hub), ("baseline", "bare websockets", running_bare_server)):
            log(f"idle memory {repeat + 1}/{repeats}: {name}, {connections} TVs ...")
            meter = LoadMeter()
            run = await _per_connection(start, connections)
            run["load"] = meter.stop()
            runs[key].append(run)
    summary: dict[str, Any] = {"connections": connections, "repeats": repeats, "runs": runs}
    for key, rows in runs.items():
        summary[key] = {"kib_per_connection": spread([row["kib_per_connection"] for row in rows]),
                        "rss_idle_mib": spread([row["rss_idle_mib"] for row in rows]),
                        "other_cores": spread([row["load"]["other_cores"] for row in rows])}
    # A handful of connections can leave the RSS where it was: no ratio from such a run.
    ratios = [hub["kib_per_connection"] / bare["kib_per_connection"]
              for hub, bare in zip(runs["hub"], runs["baseline"], strict=True) if bare["kib_per_connection"] > 0]
    summary["ratio"] = spread(ratios) if ratios else None
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description="Hub RSS per idle connection, against bare websockets")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.connections, args.repeats)), indent=2))


if __name__ == "__main__":
    main()
