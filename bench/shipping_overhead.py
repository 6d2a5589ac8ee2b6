"""Shipping to the province must not slow the hall: tickets and call fan-out with [central] on, PostgreSQL down.

The hall's promise (docs/central.md): with the WAN or PostgreSQL down the hub
serves as fast as without shipping. Two hubs of the bench site take turns,
the same in every way but one: ``off`` has no ``[central]`` table; ``down``
has ``[central] enabled = true`` with a ``url`` whose port nobody listens on,
so the shipper keeps trying (and failing) to connect, with its back-off,
while every ticket and call writes its events to the outbox for later.

Each repetition runs, for each mode in turn (the order alternating), the
ticket benchmark's 10 kiosks with 500 idle TVs (``bench.ticket_throughput``,
SIGKILL and the count of ``qms.db`` included) and the call benchmark's
fan-out to 500 TVs (``bench.call_fanout``'s rounds, the hub's side only).
The figure to read is ``down`` against ``off`` in the same repetition.

``python -m bench.shipping_overhead [--repeats 3] [--seconds 5] [--rounds 100] [--tvs 500]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

from bench import call_fanout, ticket_throughput
from bench.harness import (
    LoadMeter,
    free_port,
    http_get,
    percentiles,
    progress,
    raise_open_file_limit,
    running_fleet,
    running_hub,
    spread,
)
from hub.shipping import IDLE_POLL_SECONDS

MODES = ("off", "down")
# Seconds the "down" hub's shipper gets to make its first try (hub.shipping polls every IDLE_POLL_SECONDS).
SHIPPER_FIRST_TRY = IDLE_POLL_SECONDS + 5


def central_down_site(folder: Path) -> tuple[str, str]:
    """Site settings that ship to a PostgreSQL that is not there (a closed loopback port)."""
    password = folder / "central.password"
    password.write_text("not-needed-nobody-answers\n", encoding="utf-8")
    password.chmod(0o600)
    top = 'site_id = "bench-hall"\n'
    tables = (f'\n[central]\nenabled = true\nurl = "postgresql://hall_bench@127.0.0.1:{free_port()}/qms"\n'
              f'password_file = "{password}"\n')
    return top, tables


def _site(mode: str):
    return central_down_site if mode == "down" else None


async def tickets(mode: str, seconds: float, tvs: int) -> dict[str, Any]:
    variant = ticket_throughput.Variant(kiosks=10, tvs=tvs, pinned=False)
    return await ticket_throughput.measure_hub(seconds, variant, site=_site(mode))


async def fanout(mode: str, rounds: int, tvs: int, warmup: int = 10) -> dict[str, Any]:
    total = rounds + warmup
    async with contextlib.AsyncExitStack() as stack:
        hub = await stack.enter_async_context(running_hub(site=_site(mode)))
        await call_fanout.make_tickets(hub, total)
        fleet = await stack.enter_async_context(running_fleet(hub, tvs))
        caller = await stack.enter_async_context(call_fanout.hub_caller(hub, fleet))
        for index in range(total):
            await caller.round([], None, index >= warmup)
            await asyncio.sleep(random.uniform(*call_fanout.PAUSE_RANGE))
        # What the hub says of its shipping: with PostgreSQL down, events waiting and the reason (the
        # shipper looks for events every few seconds: a short run may end before its first try).
        deadline = time.monotonic() + SHIPPER_FIRST_TRY
        while True:
            central = json.loads((await http_get(hub.port, "/healthz"))[1])["central"]
            if mode == "off" or central["problem"] or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
    return {"last": percentiles(caller.last), "first": percentiles(caller.first), "central": central}


async def measure(repeats: int = 3, seconds: float = 5.0, rounds: int = 100, tvs: int = 500,
                  log=progress) -> dict[str, Any]:
    raise_open_file_limit(4 * tvs + 512)
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    meter = LoadMeter()
    for index in range(repeats):
        order = MODES if index % 2 == 0 else tuple(reversed(MODES))
        for mode in order:
            turn = f"shipping overhead {index + 1}/{repeats}: [central] {mode}"
            log(f"{turn}, 10 kiosks and {tvs} TVs, {seconds:g} s ...")
            made = await tickets(mode, seconds, tvs)
            log(f"{turn}, call fan-out to {tvs} TVs ...")
            calls = await fanout(mode, rounds, tvs)
            runs[mode].append({"tickets": made, "fanout": calls})
    load = meter.stop()
    summary: dict[str, Any] = {}
    for mode in MODES:
        summary[mode] = {
            "tickets_per_s": spread([r["tickets"]["tickets_per_s"] for r in runs[mode]]),
            "lost_after_sigkill": sum(r["tickets"]["lost_after_sigkill"] for r in runs[mode]),
            "fanout_p50_ms": spread([r["fanout"]["last"]["p50_ms"] for r in runs[mode]]),
            "fanout_p95_ms": spread([r["fanout"]["last"]["p95_ms"] for r in runs[mode]]),
        }
    ratios = {
        "tickets_per_s": spread([d["tickets"]["tickets_per_s"] / o["tickets"]["tickets_per_s"]
                                  for o, d in zip(runs["off"], runs["down"], strict=True)]),
        "fanout_p95": spread([d["fanout"]["last"]["p95_ms"] / o["fanout"]["last"]["p95_ms"]
                               for o, d in zip(runs["off"], runs["down"], strict=True)]),
    }
    return {"repeats": repeats, "seconds": seconds, "rounds": rounds, "tvs": tvs, "runs": runs,
            "summary": summary, "down_over_off": ratios, "load": load}


def report(result: dict[str, Any]) -> str:
    def cell(spread: dict[str, float], digits: int = 0) -> str:
        return f"{spread['min']:.{digits}f} / **{spread['median']:.{digits}f}** / {spread['max']:.{digits}f}"

    lines = [
        f"| [central] | tickets/s, 10 kiosks, {result['tvs']} TVs | lost after SIGKILL | call to the last of "
        f"{result['tvs']} TVs, p50 ms | p95 ms |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for mode, name in (("off", "off (no [central])"), ("down", "on, PostgreSQL down")):
        s = result["summary"][mode]
        lines.append(f"| {name} | {cell(s['tickets_per_s'])} | {s['lost_after_sigkill']} | "
                     f"{cell(s['fanout_p50_ms'], 2)} | {cell(s['fanout_p95_ms'], 2)} |")
    r = result["down_over_off"]
    lines.append("")
    lines.append(f"On / off in the same repetition: tickets a second {cell(r['tickets_per_s'], 2)}, "
                 f"call p95 {cell(r['fanout_p95'], 2)}. Other cores meanwhile: {result['load']['other_cores']:.2f}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--tvs", type=int, default=500)
    args = parser.parse_args()
    result = asyncio.run(measure(args.repeats, args.seconds, args.rounds, args.tvs))
    print(report(result))
    json.dump(result, sys.stderr, indent=2)


if __name__ == "__main__":
    main()
