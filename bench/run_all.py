"""Run every hub and node-boot benchmark; print a Markdown report and write bench/results/latest.json.

``make bench`` or ``.venv/bin/python -m bench.run_all`` for the full run (some
20 minutes: each part three times); ``--quick`` for a smoke run (small
fleets, one repetition, a minute or two), whose figures mean nothing.

Every figure is min / median / max over the repetitions, each repetition
with fresh processes, the hub's turns and its baseline's interleaved. Beside
each part: the CPU that processes other than the benchmark's own used
meanwhile (cores, from psutil), since two shared cores make any single run
noise.
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

from bench import call_fanout, idle_memory, node_imports, ticket_throughput
from bench.harness import REPO_ROOT, LoadMeter, machine, percentiles, progress, raise_open_file_limit

RESULTS = REPO_ROOT / "bench" / "results" / "latest.json"

# Targets from the issue (medians of 3).
FANOUT_TARGET_TVS = 500
FANOUT_P95_RATIO_TARGET = 1.3  # hub against a bare one-frame broadcast, same run
FANOUT_P95_RATIO_3_TARGET = 1.0  # hub against a bare server sending the same frames
TICKETS_TARGET_VARIANT = "10x500"
TICKETS_PER_S_TARGET = 1000
KIB_PER_TV_TARGET = 14.5
IMPORT_MS_TARGET = {"tv": 350, "kiosk": 300}

FULL: dict[str, Any] = {"sizes": [200, 500, 1000, 2000], "pinned": [500], "rounds": 300, "warmup": 10,
                        "seconds": 5.0, "variants": [v.name for v in ticket_throughput.VARIANTS],
                        "connections": 1000, "repeats": 3}
QUICK: dict[str, Any] = {"sizes": [10, 50], "pinned": [10], "rounds": 20, "warmup": 2, "seconds": 1.5,
                         "variants": ["10x0", "10x50", "10x50-1core"], "connections": 100, "repeats": 1}


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


async def run(config: dict[str, Any], log=progress, save=None) -> dict[str, Any]:
    """Every part in turn; ``save(results)`` after each, so a run cut short keeps what it measured."""
    save = save or (lambda _results: None)
    raise_open_file_limit(max([*config["sizes"], config["connections"]]) * 3 + 2048)
    started = datetime.now(UTC)
    results: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "config": config,
        "fsync": fsync_latency(),
    }
    load = results["load"] = {}
    repeats = config["repeats"]
    meter = LoadMeter()
    results["call_fanout"] = await call_fanout.measure(config["sizes"], config["rounds"], config["warmup"],
                                                       repeats, config["pinned"], log=log)
    load["call_fanout"] = meter.stop()
    save(results)
    meter = LoadMeter()
    variants = tuple(ticket_throughput.Variant.parse(name) for name in config["variants"])
    results["ticket_throughput"] = await ticket_throughput.measure(config["seconds"], variants, repeats, log=log)
    load["ticket_throughput"] = meter.stop()
    save(results)
    meter = LoadMeter()
    results["idle_memory"] = await idle_memory.measure(config["connections"], repeats, log=log)
    load["idle_memory"] = meter.stop()
    save(results)
    meter = LoadMeter()
    results["node_imports"] = await node_imports.measure(max(repeats, 1), log=log)
    load["node_imports"] = meter.stop()
    save(results)
    results["seconds_taken"] = (datetime.now(UTC) - started).total_seconds()
    save(results)
    return results


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _s(figure: dict[str, float], digits: int = 2) -> str:
    """min / median / max"""
    return f"{figure['min']:.{digits}f} / **{figure['median']:.{digits}f}** / {figure['max']:.{digits}f}"


def _load(figure: dict[str, float]) -> str:
    return f"{figure['min']:.2f}-{figure['max']:.2f}"


def report(results: dict[str, Any]) -> str:
    mach = results["machine"]
    repeats = results["config"]["repeats"]
    lines = [
        f"Run {results['started_at']} on {mach['cpus']} x {mach['cpu_model']}, Linux {mach['kernel']}, "
        f"Python {mach['python']}, websockets {mach['websockets']}, SQLite {mach['sqlite']}; "
        f"fsync p50 {results['fsync']['p50_ms']:.2f} ms. Each figure: min / **median** / max of {repeats} "
        "repetitions.",
        "CPU used by other processes on the machine meanwhile (cores, average over each part): "
        + ", ".join(f"{name} {span['other_cores']:.2f}" for name, span in results["load"].items()) + ".",
        "",
        "### Call fan-out: CALL_TICKET to the last TV's TICKET_ANNOUNCEMENT (ms)",
        "",
        "| TVs | system | p50 | p95 | p99 | first TV p50 |",
        "| ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    fanout = results["call_fanout"]["sizes"]
    names = (("hub", "hub"), ("baseline", "bare broadcast, 1 frame"),
             ("baseline_3", "bare, the same frames"))
    for row in fanout:
        size = f"{row['tvs']}{' (1 core)' if row['pinned'] else ''}"
        for key, name in names:
            system = row[key]
            lines.append(f"| {size} | {name} | {_s(system['p50_ms'])} | {_s(system['p95_ms'])} "
                         f"| {_s(system['p99_ms'])} | {_s(system['first_p50_ms'])} |")
    lines += [
        "",
        "| TVs | frames per call | hub / bare 1 frame, p95 | hub / bare same frames, p95 | hub / bare 1 frame, p50 "
        "| other cores |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in fanout:
        size = f"{row['tvs']}{' (1 core)' if row['pinned'] else ''}"
        lines.append(f"| {size} | {row['frames_per_call']} | {_s(row['ratio_p95'])} | {_s(row['ratio_p95_3'])} "
                     f"| {_s(row['ratio_p50'])} | {_load(row['other_cores'])} |")
    target = next((r for r in fanout if r["tvs"] == FANOUT_TARGET_TVS and not r["pinned"]), None)
    if target is None:
        lines += ["", f"Fan-out targets: not measured (no run with {FANOUT_TARGET_TVS} TVs)."]
    else:
        one, same = target["ratio_p95"]["median"], target["ratio_p95_3"]["median"]
        lines += ["", f"Target, {FANOUT_TARGET_TVS} TVs, p95 <= {FANOUT_P95_RATIO_TARGET}x a bare one-frame "
                  f"broadcast: {one:.2f}x, {_met(one <= FANOUT_P95_RATIO_TARGET)}; no slower than a bare server "
                  f"sending the same frames: {same:.2f}x, {_met(same <= FANOUT_P95_RATIO_3_TARGET)}."]

    tp = results["ticket_throughput"]
    lines += [
        "",
        "### Durable tickets from kiosks",
        "",
        "| kiosks | TVs | hub | tickets/s | answer p50 ms | answer p99 ms | tickets per commit | lost after SIGKILL "
        "| hub CPU ms/ticket | TV fleet CPU ms/ticket | other cores |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for variant in tp["variants"]:
        row = tp["hub"][variant["name"]]
        lines.append(f"| {variant['kiosks']} | {variant['tvs']} | {'1 core' if variant['pinned'] else '2 cores'} "
                     f"| {_s(row['tickets_per_s'], 0)} | {_s(row['answer_p50_ms'], 1)} "
                     f"| {_s(row['answer_p99_ms'], 1)} | {_s(row['tickets_per_commit'], 1)} "
                     f"| {row['lost_after_sigkill']} | {_s(row['hub_cpu_ms_per_ticket'], 2)} "
                     f"| {_s(row['fleet_cpu_ms_per_ticket'], 2) if variant['tvs'] else ''} "
                     f"| {_load(row['other_cores'])} |")
    lines.append(f"| bare SQLite, one transaction per ticket | | | {_s(tp['baseline']['tickets_per_s'], 0)} "
                 f"| | | 1 | | | | {_load(tp['baseline']['other_cores'])} |")
    lost = sum(row["lost_after_sigkill"] for row in tp["hub"].values())
    goal = tp["hub"].get(TICKETS_TARGET_VARIANT)
    rate = goal["tickets_per_s"]["median"] if goal else None
    lines += ["", (f"Target >= {TICKETS_PER_S_TARGET} tickets/s, 10 kiosks with 500 idle TVs: "
                   f"{rate:.0f}, {_met(rate >= TICKETS_PER_S_TARGET)}"
                   if rate is not None else f"Tickets target: not measured (no {TICKETS_TARGET_VARIANT} variant)")
              + f"; acknowledged tickets lost after SIGKILL: {lost}, {_met(lost == 0)}."]

    mem = results["idle_memory"]
    lines += [
        "",
        "### Memory per idle registered TV",
        "",
        "| server | connections | KiB per connection | RSS before MiB | other cores |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, key in (("hub", "hub"), ("bare websockets", "baseline")):
        row = mem[key]
        lines.append(f"| {name} | {mem['connections']} | {_s(row['kib_per_connection'])} "
                     f"| {_s(row['rss_idle_mib'], 1)} | {_load(row['other_cores'])} |")
    hub_kib = mem["hub"]["kib_per_connection"]["median"]
    ratio = _s(mem["ratio"]) if mem["ratio"] is not None else "not measured"
    lines += ["", f"Hub / bare: {ratio}. Target <= {KIB_PER_TV_TARGET} KiB: {hub_kib:.2f}, "
              f"{_met(hub_kib <= KIB_PER_TV_TARGET)}."]

    boot = results["node_imports"]
    lines += [
        "",
        "### Node boot: imports up to the first frame (`-X importtime`)",
        "",
        "| program | imports ms | process start to first frame ms | modules | imports pkg_resources / numpy |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for node in node_imports.NODES:
        row = boot[node]
        imported = " / ".join("yes" if row["imported"][name] else "no" for name in ("pkg_resources", "numpy"))
        lines.append(f"| qms-{node} | {_s(row['import_ms'], 0)} | {_s(row['first_frame_ms'], 0)} "
                     f"| {row['module_count']} | {imported} |")
    for node in node_imports.NODES:
        row = boot.get(f"{node}_plain")
        if row is not None:
            imported = " / ".join("yes" if row["imported"][name] else "no" for name in ("pkg_resources", "numpy"))
            lines.append(f"| qms-{node}, pygame imported as it imports itself (baseline) | {_s(row['import_ms'], 0)} "
                         f"| {_s(row['first_frame_ms'], 0)} | {row['module_count']} | {imported} |")
    bare = boot["bare_pygame"]
    lines.append(f"| `import pygame` alone (baseline) | {_s(bare['import_ms'], 0)} | | {bare['module_count']} "
                 "| yes / yes |")
    lines += ["", "Targets: " + "; ".join(
        f"qms-{node} <= {IMPORT_MS_TARGET[node]} ms: {boot[node]['import_ms']['median']:.0f}, "
        f"{_met(boot[node]['import_ms']['median'] <= IMPORT_MS_TARGET[node])}" for node in node_imports.NODES)
        + f". Other cores meanwhile: {boot['load']['other_cores']:.2f}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the hub's and the nodes' benchmarks")
    parser.add_argument("--quick", action="store_true", help="smoke run: small fleets, one repetition")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    parser.add_argument("--rounds", type=int, help=f"call fan-out rounds per size and repetition "
                                                   f"(default {FULL['rounds']})")
    parser.add_argument("--report", action="store_true", help="only print the report of --output's results")
    args = parser.parse_args(argv)
    if args.report:
        print(report(json.loads(args.output.read_text())))
        return 0
    config = dict(QUICK if args.quick else FULL, quick=args.quick)
    if args.rounds:
        config["rounds"] = args.rounds

    def save(results: dict[str, Any]) -> None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2) + "\n")

    results = asyncio.run(run(config, log=progress, save=save))
    print(report(results))
    progress(f"results written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
