"""Choosing the next ticket: calls a second with thousands waiting, shared queues against the old per-counter queue.

The hub's queue (``hub.queue_state``) keeps each queue's waiting line sorted
(priority and normal apart), so a call reads the heads of the counter's
queues and removes one ticket: O(log n). Before queues were shared, each
counter had its own deque (``git show 82e29ff:hub/queue_state.py``); that
queue, loaded from git into a package of its own, is the baseline. Both
are driven the same way in the same process, interleaved round by round:
fill the hall (N tickets across 20 queues, one counter each plus a second
counter sharing its neighbour's queue in the new one), then time calls
until the lines are empty. Only the pure queues are timed: no sockets, no
database.

``python -m bench.queue_choice [--sizes 500 5000 50000] [--rounds 3] [--baseline-rev 82e29ff]``
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.harness import spread
from hub.queue_state import HallQueue
from hub.site_config import CounterConfig, Procedure, QueueConfig, sample_site

QUEUES = 20
BASELINE_REV = "82e29ff"
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def shared_hall(queues: int = QUEUES) -> HallQueue:
    """20 queues; counter c serves queue c and, as its second own queue, queue c+1 (queues shared by two)."""
    site = dataclasses.replace(
        sample_site(), fields=(),
        queues=tuple(QueueConfig(q, f"Hàng {q}", q * 10_000) for q in range(1, queues + 1)),
        procedures=tuple(Procedure(q, f"Thủ tục {q}", q) for q in range(1, queues + 1)),
        counters=tuple(CounterConfig(c, f"Quầy {c}", queue_ids=(c, c % queues + 1)) for c in range(1, queues + 1)),
    )
    return HallQueue(site, NOW.date())


def time_shared(waiting: int) -> dict[str, float]:
    queue = shared_hall()
    for i in range(waiting):
        queue.apply(queue.plan_issue(NOW, code=f"c{i:08d}", queue_id=i % QUEUES + 1, priority=i % 9 == 0))
    start = time.perf_counter()
    calls = 0
    counter = 0
    while True:
        change = queue.plan_call(NOW, counter % QUEUES + 1, actor="bench")
        queue.apply(change)
        counter += 1
        if change.kind == "queue_empty":
            if all(q.waiting_count == 0 for q in queue.queues.values()):
                break
            continue
        calls += 1
    elapsed = time.perf_counter() - start
    return {"calls": calls, "seconds": elapsed, "calls_per_s": calls / elapsed}


def load_baseline(rev: str, into: Path) -> ModuleType:
    """The per-counter queue as it was at ``rev``, importable as ``qms_baseline.queue_state``."""
    package = into / "qms_baseline"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in ("site_config", "queue_state"):
        source = subprocess.run(["git", "show", f"{rev}:hub/{name}.py"], capture_output=True, text=True,
                                check=True, cwd=Path(__file__).resolve().parents[1]).stdout
        (package / f"{name}.py").write_text(source.replace("from hub.", "from qms_baseline."))
    sys.path.insert(0, str(into))
    return importlib.import_module("qms_baseline.queue_state")


def time_baseline(module: ModuleType, waiting: int) -> dict[str, float]:
    site_config = importlib.import_module("qms_baseline.site_config")
    counters = tuple(
        site_config.CounterConfig(c, f"Quầy {c}", c * 10_000, (site_config.Procedure(c, f"Thủ tục {c}", c),))
        for c in range(1, QUEUES + 1))
    site = site_config.SiteConfig(site_name="bench", counters=counters)
    queue = module.HallQueue(site, NOW.date())
    for i in range(waiting):
        queue.issue_ticket(NOW, code=f"c{i:08d}", counter_id=i % QUEUES + 1)
    start = time.perf_counter()
    calls = 0
    for counter_id in range(1, QUEUES + 1):
        while queue.counters[counter_id].waiting:
            queue.call(NOW, counter_id, None, called_by="bench")
            calls += 1
    elapsed = time.perf_counter() - start
    return {"calls": calls, "seconds": elapsed, "calls_per_s": calls / elapsed}


def measure(sizes: list[int], rounds: int, baseline_rev: str | None = BASELINE_REV,
            log=print) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="qms-bench-queue-") as tmp:
        baseline = load_baseline(baseline_rev, Path(tmp)) if baseline_rev else None
        for size in sizes:
            shared, old = [], []
            for _ in range(rounds):
                shared.append(time_shared(size)["calls_per_s"])
                if baseline is not None:
                    old.append(time_baseline(baseline, size)["calls_per_s"])
            row: dict[str, Any] = {"waiting": size, "queues": QUEUES,
                                   "shared_calls_per_s": spread(shared)}
            if old:
                row["per_counter_calls_per_s"] = spread(old)
                row["ratio_median"] = statistics.median(shared) / statistics.median(old)
            log(f"{size} waiting: shared {row['shared_calls_per_s']}"
                + (f", per-counter {row['per_counter_calls_per_s']}" if old else ""))
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="Next-ticket choice: shared queues against the per-counter queue")
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 5000, 50_000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-rev", default=BASELINE_REV, help="git revision of the per-counter queue")
    args = parser.parse_args()
    print(json.dumps(measure(args.sizes, args.rounds, args.baseline_rev, log=lambda t: print(t, file=sys.stderr)),
                     indent=2))


if __name__ == "__main__":
    main()
