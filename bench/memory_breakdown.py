"""Where the hub's memory per idle connection goes: a tracemalloc diagnosis, not a benchmark.

``python -m bench.memory_breakdown [--connections 1000]``

The hub runs in this process (tracemalloc must see its heap); the TVs
connect from a ``bench.tv_fleet`` process as in ``bench.idle_memory``. The
Python heap growth from no TVs to N idle registered TVs is printed per
connection, grouped by source file and by line. Kernel socket buffers and
allocator slack are not in it; RSS (``bench.idle_memory``) is the figure
that counts.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import re
import tempfile
import tracemalloc
from pathlib import Path

from bench.harness import REPO_ROOT, ServerProcess, raise_open_file_limit, running_fleet, write_bench_site
from hub.server import Hub, HubOptions
from hub.site_config import load_site_config

SETTLE_SECONDS = 3.0


def _short(filename: str) -> str:
    """``websockets/http11.py``, ``asyncio/events.py``, ``hub/server.py``: the part that names the module."""
    for pattern in (r".*/site-packages/", r".*/lib/python3\.\d+/", re.escape(f"{REPO_ROOT}/")):
        shortened, found = re.subn("^" + pattern, "", filename)
        if found:
            return shortened
    return filename


async def breakdown(connections: int, top: int) -> None:
    raise_open_file_limit(connections + 1024)
    with tempfile.TemporaryDirectory(prefix="qms-bench-trace-") as tmp:
        site = load_site_config(write_bench_site(Path(tmp)))
        hub = Hub(site, Path(tmp) / "data", options=HubOptions(port=0))
        await hub.start()
        try:
            # running_fleet needs only the address and the data dir of the server.
            target = ServerProcess("hub", None, hub.port, "/ws", None, Path(tmp) / "data")  # type: ignore[arg-type]
            async with running_fleet(target, 10, id_prefix="tv-warmup"):
                pass
            await asyncio.sleep(SETTLE_SECONDS)
            gc.collect()
            tracemalloc.start(1)
            before = tracemalloc.take_snapshot()
            async with running_fleet(target, connections):
                await asyncio.sleep(SETTLE_SECONDS)
                gc.collect()
                after = tracemalloc.take_snapshot()
            tracemalloc.stop()
        finally:
            await hub.stop()
    by_file = after.compare_to(before, "filename")
    total = sum(stat.size_diff for stat in by_file)
    print(f"Python heap growth: {total / connections / 1024:.2f} KiB per idle registered connection "
          f"({connections} connections)\n")
    print("bytes/conn  blocks/conn  file")
    for stat in by_file[:top]:
        print(f"{stat.size_diff / connections:10.0f}  {stat.count_diff / connections:11.1f}  "
              f"{_short(stat.traceback[0].filename)}")
    print("\nbytes/conn  line")
    for stat in after.compare_to(before, "lineno")[:top]:
        frame = stat.traceback[0]
        print(f"{stat.size_diff / connections:10.0f}  {_short(frame.filename)}:{frame.lineno}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Where the hub's memory per idle connection goes")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    asyncio.run(breakdown(args.connections, args.top))


if __name__ == "__main__":
    main()
