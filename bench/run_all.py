"""Run every benchmark; print a Markdown report and write bench/results/latest.json.

``make bench`` or ``.venv/bin/python -m bench.run_all`` for the full run (a few
minutes); ``--quick`` for a smoke run (fewer rounds, 10 and 100 TVs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import call_fanout, idle_memory, ticket_throughput
from bench.harness import REPO_ROOT, LoadMeter, machine, percentiles, progress, raise_open_file_limit

RESULTS = REPO_ROOT / "bench" / "results" / "latest.json"

# Targets from the issue.
FANOUT_P99_RATIO_TARGET = 1.5  # at 500 TVs, hub against bare websockets.broadcast
TICKETS_PER_S_TARGET = 500
KIB_PER_CONNECTION_TARGET = 20

FULL = {"sizes": [10, 100, 500], "rounds": 300, "warmup": 10, "seconds": 5.0, "connections": 1000}
QUICK = {"sizes": [10, 100], "rounds": 30, "warmup": 3, "seconds": 1.5, "connections": 200}


def fsync_latency(samples: int = 200) -> dict[str, float]:
    """What one fsync of a small write costs on the disk the databases use: sets the bare-SQLite ceiling."""
    times = []
    with tempfile.NamedTemporaryFile(prefix="qms-bench-fsync-") as probe:
        for _ in range(samples):
            probe.write(b"x" * 512)
            probe.flush()
            start = time.monotonic()
            os.fsync(probe.fileno())
            times.append(time.monotonic() - start)
    return percentiles(times)


async def run(config: dict[str, Any], log=progress) -> dict[str, Any]:
    raise_open_file_limit(config["connections"] + 2048)
    started = datetime.now(UTC)
    results: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "config": config,
        "fsync": fsync_latency(),
    }
    load = results["load"] = {}
    meter = LoadMeter()
    results["call_fanout"] = await call_fanout.measure(config["sizes"], config["rounds"], config["warmup"], log=log)
    load["call_fanout"] = meter.stop()
    meter = LoadMeter()
    results["ticket_throughput"] = await ticket_throughput.measure(config["seconds"], log=log)
    load["ticket_throughput"] = meter.stop()
    meter = LoadMeter()
    results["idle_memory"] = await idle_memory.measure(config["connections"], log=log)
    load["idle_memory"] = meter.stop()
    results["seconds_taken"] = (datetime.now(UTC) - started).total_seconds()
    return results


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(results: dict[str, Any]) -> str:
    mach = results["machine"]
    lines = [
        f"Run {results['started_at']} on {mach['cpus']} x {mach['cpu_model']}, Linux {mach['kernel']}, "
        f"Python {mach['python']}, websockets {mach['websockets']}, SQLite {mach['sqlite']}; "
        f"fsync p50 {results['fsync']['p50_ms']:.2f} ms.",
        "CPU used by other processes on the machine meanwhile (cores, average): "
        + ", ".join(f"{name} {span['other_cores']:.2f}" for name, span in results["load"].items()) + ".",
        "",
        "### Call fan-out: CALL_TICKET to the last TV's TICKET_ANNOUNCEMENT (ms)",
        "",
        "| TVs | system | rounds | p50 | p95 | p99 | max | first TV p50 |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    systems = (("hub", "hub"), ("baseline", "bare broadcast, 1 message"),
               ("baseline_3", "bare broadcast, the hub's 3 messages"))
    for row in results["call_fanout"]:
        for key, name in systems:
            last, first = row[key]["last"], row[key]["first"]
            lines.append(f"| {row['tvs']} | {name} | {last['n']} | {last['p50_ms']:.2f} | {last['p95_ms']:.2f} "
                         f"| {last['p99_ms']:.2f} | {last['max_ms']:.2f} | {first['p50_ms']:.2f} |")
    lines += [
        "",
        "| TVs | hub / bare p50 | hub / bare p99 | hub / bare x3 p50 | hub / bare x3 p99 |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in results["call_fanout"]:
        lines.append(f"| {row['tvs']} | {row['ratio_p50']:.2f}x | {row['ratio_p99']:.2f}x "
                     f"| {row['ratio_p50_3']:.2f}x | {row['ratio_p99_3']:.2f}x |")
    largest = max(results["call_fanout"], key=lambda r: r["tvs"])
    lines += ["", f"Target p99 <= {FANOUT_P99_RATIO_TARGET}x bare at 500 TVs: "
              + (f"{largest['ratio_p99']:.2f}x, {_met(largest['ratio_p99'] <= FANOUT_P99_RATIO_TARGET)}"
                 if largest["tvs"] >= 500 else f"not measured (largest fleet {largest['tvs']} TVs)")]

    tp = results["ticket_throughput"]
    hub, base = tp["hub"], tp["baseline"]
    lines += [
        "",
        "### Durable tickets from kiosks",
        "",
        "| what | tickets | seconds | tickets/s | tickets per commit | answer p50 ms | answer p99 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| hub, {hub['kiosks']} kiosks (all {hub['stored_after_sigkill']} in qms.db after SIGKILL) "
        f"| {hub['tickets']} | {hub['seconds']:.2f} | {hub['tickets_per_s']:.0f} "
        f"| {hub['tickets_per_commit']:.2f} | {hub['latency']['p50_ms']:.2f} | {hub['latency']['p99_ms']:.2f} |",
        f"| bare SQLite, one transaction per ticket | {base['tickets']} | {base['seconds']:.2f} "
        f"| {base['tickets_per_s']:.0f} | 1 | | |",
        "",
        f"Ratio hub / bare SQLite: {tp['ratio']:.2f}x. Target >= {TICKETS_PER_S_TARGET} tickets/s: "
        f"{_met(hub['tickets_per_s'] >= TICKETS_PER_S_TARGET)}.",
    ]

    mem = results["idle_memory"]
    lines += [
        "",
        "### Memory per idle registered connection",
        "",
        "| server | connections | RSS idle MiB | RSS with connections MiB | KiB per connection |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, key in (("hub", "hub"), ("bare websockets", "baseline")):
        row = mem[key]
        lines.append(f"| {name} | {row['connections']} | {row['rss_idle_mib']:.1f} | {row['rss_loaded_mib']:.1f} "
                     f"| {row['kib_per_connection']:.1f} |")
    lines += ["", f"Ratio hub / bare: {mem['ratio']:.2f}x. Target <= {KIB_PER_CONNECTION_TARGET} KiB: "
              f"{_met(mem['hub']['kib_per_connection'] <= KIB_PER_CONNECTION_TARGET)}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the hub's benchmarks")
    parser.add_argument("--quick", action="store_true", help="smoke run: fewer rounds, 10 and 100 TVs")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    args = parser.parse_args(argv)
    config = dict(QUICK if args.quick else FULL, quick=args.quick)

    results = asyncio.run(run(config, log=progress))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(report(results))
    progress(f"results written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
