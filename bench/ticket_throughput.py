"""Durable ticket throughput: kiosks asking back to back, with and without TVs connected, against one fsync per ticket.

The hub runs as a subprocess. Kiosk connections (here, on asyncio) each send
TICKET_CREATED and wait for their own answer before the next, for a fixed
time; the hub answers only after the ticket's transaction is committed with
synchronous=FULL, so every answer is a durable ticket. Meanwhile the TVs of
the variant (``bench.tv_fleet``, another process) sit connected and
registered, reading everything the hub sends them: each ticket is a
TICKET_CREATED and a QUEUE_UPDATE on every screen. At the end the hub is
killed with SIGKILL (no clean shutdown) and the tickets table of its qms.db
is counted: it must hold exactly the tickets that were answered.

The variants (``VARIANTS``): 10 kiosks with no TV and with 500, 50 kiosks
with 500 TVs, and the first two again with the hub pinned to one core
(``taskset``), standing in for a Raspberry Pi hub's slower cores.

The baseline, same run, same disk: the hub's own SQL for a ticket
(``hub.server.persist_change``: the ticket row, its "issued" event, its
audit row) written straight to a fresh database, one transaction per
ticket, no network, no event loop. That is what a hub
without group commit could do at best; the ratio shows what group commit buys.

Each repetition runs the baseline's first half, every variant once, then the
baseline's second half; ``--repeats`` repetitions (3 by default) give each
figure as min / median / max.

``python -m bench.ticket_throughput [--seconds 5] [--repeats 3] [--variants 10x0 10x500 ...]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import secrets
import selectors
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psutil

from bench.harness import (
    LoadMeter,
    http_get,
    kiosk_token,
    percentiles,
    progress,
    raise_open_file_limit,
    running_fleet,
    running_hub,
    spread,
)
from bench.tv_fleet import RECEIVE_BYTES, TV, open_socket
from hub import store as db
from hub.auth import TokenAuthority
from hub.queue_state import HallQueue
from hub.server import persist_change
from hub.site_config import sample_site

COUNTERS = (1, 2, 3, 4)
REPLY_TIMEOUT = 10.0
# What a kiosk looks at in what it hears: its answers, and an ERROR.
KIOSK_MARKS = (b'"type":"TICKET_CREATED"', b'"type":"ERROR"')
# The core a pinned hub gets: the other one is left to the kiosks and the TV fleet.
PINNED_CORE = "1"


@dataclass(frozen=True)
class Variant:
    kiosks: int
    tvs: int
    pinned: bool = False

    @property
    def name(self) -> str:
        return f"{self.kiosks}x{self.tvs}" + ("-1core" if self.pinned else "")

    @classmethod
    def parse(cls, text: str) -> Variant:
        """``10x500`` (kiosks x TVs), ``10x500-1core`` pinned."""
        found = re.fullmatch(r"(\d+)x(\d+)(-1core)?", text)
        if found is None:
            raise argparse.ArgumentTypeError(f"expected KIOSKSxTVS[-1core], e.g. 10x500, not {text!r}")
        return cls(int(found.group(1)), int(found.group(2)), found.group(3) is not None)


VARIANTS = (Variant(10, 0), Variant(10, 500), Variant(50, 500), Variant(10, 0, pinned=True),
            Variant(10, 500, pinned=True))


def _store_commits(metrics_text: str) -> int:
    found = re.search(r"^qms_store_commits_total (\S+)$", metrics_text, re.M)
    if found is None:
        raise RuntimeError("the hub's /metrics has no qms_store_commits_total")
    return int(float(found.group(1)))


def open_kiosks(url: str, tokens: TokenAuthority, count: int) -> list[TV]:
    """``count`` kiosk connections, authenticated and registered (blocking sockets, for :func:`lean_kiosks`)."""
    kiosks: list[TV] = []
    try:
        for index in range(count):
            client_id = f"kiosk-{index:03d}"
            kiosk = open_socket(url)
            kiosks.append(kiosk)
            token = kiosk_token(tokens, client_id)
            kiosk.send_text(json.dumps({"type": "AUTH", "payload": {"token": f"Bearer {token}"}}))
            kiosk.receive_until(b'"AUTH_OK"')
            kiosk.send_text(json.dumps({"type": "REGISTER_CLIENT", "payload": {
                "client_type": "kiosk", "client_id": client_id, "location": "bench"}}))
            kiosk.receive_until(b'"CONNECTION_ACK"')
    except BaseException:
        for kiosk in kiosks:
            kiosk.sock.close()
        raise
    return kiosks


def lean_kiosks(kiosks: list[TV], seconds: float) -> tuple[int, list[float], float]:
    """The kiosks ask for tickets back to back for ``seconds``: (tickets answered, answer times, seconds taken).

    Lean, like ``bench.tv_fleet`` and for the same reason: ten real kiosks parse
    what they hear (their answers, and every counter's QUEUE_UPDATE: some
    thirty frames per ticket here) on ten CPUs; here one thread on the same
    two cores as the hub does, and a full WebSocket client per kiosk made its
    own cost the larger part of what was measured (70% of a core at 600
    tickets a second). So: real handshakes, AUTH and REGISTER_CLIENT; then
    one ``select`` loop, frames read in place (``TV.scan``) and the answers
    looked at for the kiosk's own ``request_id``.
    """
    try:
        latencies: list[float] = []
        selector = selectors.DefaultSelector()
        asked: dict[int, tuple[bytes, float]] = {}  # kiosk -> (its request's mark in the answer, when sent)
        sent_count = [0] * len(kiosks)
        start = time.monotonic()
        deadline = start + seconds

        def ask(index: int) -> None:
            request_id = f"k{index}-{sent_count[index]}"
            sent_count[index] += 1
            asked[index] = (f'"request_id":"{request_id}"'.encode(), time.monotonic())
            kiosks[index].send_text(json.dumps({"type": "TICKET_CREATED", "payload": {
                "counter_id": COUNTERS[index % len(COUNTERS)], "request_id": request_id}}))

        for index, kiosk in enumerate(kiosks):
            kiosk.sock.setblocking(False)
            selector.register(kiosk.sock, selectors.EVENT_READ, index)
            ask(index)
        received = bytearray(RECEIVE_BYTES)
        view = memoryview(received)
        while asked:
            ready = selector.select(REPLY_TIMEOUT)
            if not ready:
                raise RuntimeError(f"no answer within {REPLY_TIMEOUT} s")
            for key, _ in ready:
                index = key.data
                kiosk = kiosks[index]
                try:
                    count = kiosk.sock.recv_into(received)
                except BlockingIOError:
                    continue
                if not count:
                    raise RuntimeError("the hub closed a kiosk connection")
                kiosk.buffer += view[:count]
                # Every counter's QUEUE_UPDATE is read and skipped; answers and errors are looked at.
                texts, control = kiosk.scan(KIOSK_MARKS)
                kiosk.answer(control)
                for payload in texts:
                    if b'"type":"ERROR"' in payload:
                        raise RuntimeError(f"the hub refused a ticket: {payload[:300]!r}")
                    waiting = asked.get(index)
                    if waiting is not None and waiting[0] in payload and b'"type":"TICKET_CREATED"' in payload:
                        latencies.append(time.monotonic() - waiting[1])
                        del asked[index]
                        if time.monotonic() < deadline:
                            ask(index)
        return len(latencies), latencies, time.monotonic() - start
    finally:
        for kiosk in kiosks:
            kiosk.sock.close()


async def measure_hub(seconds: float, variant: Variant,
                      site: Callable[[Path], tuple[str, str]] | None = None) -> dict[str, Any]:
    """One run of ``variant``; ``site``: what to add to the bench site (``running_hub``)."""
    async with running_hub(cores=PINNED_CORE if variant.pinned else None, site=site) as hub:
        tokens = hub.tokens()
        async with contextlib.AsyncExitStack() as stack:
            fleet = await stack.enter_async_context(running_fleet(hub, variant.tvs)) if variant.tvs else None
            kiosks = await asyncio.to_thread(open_kiosks, hub.url, tokens, variant.kiosks)
            commits_before = _store_commits((await http_get(hub.port, "/metrics"))[1])
            cpu = CpuMeter(hub=hub.pid, fleet=fleet.process.pid if fleet else None)
            # In a thread: the kiosks' loop blocks on select, this one keeps the fleet's pipes read.
            acknowledged, latencies, elapsed = await asyncio.to_thread(lean_kiosks, kiosks, seconds)
            cpu_seconds = cpu.stop()
            commits = _store_commits((await http_get(hub.port, "/metrics"))[1]) - commits_before
            # A crash, not a shutdown: what was answered must already be on disk.
            hub.kill_now()
            await hub.process.wait()
        assert hub.data_dir is not None
        with sqlite3.connect(hub.data_dir / "qms.db") as conn:
            stored = conn.execute("SELECT COUNT(*) FROM tickets").fetchone()[0]
    if stored != acknowledged:
        raise RuntimeError(f"{acknowledged} tickets were answered but {stored} are in qms.db after SIGKILL")
    return {
        "variant": variant.name,
        "kiosks": variant.kiosks,
        "tvs": variant.tvs,
        "pinned": variant.pinned,
        "seconds": elapsed,
        "tickets": acknowledged,
        "tickets_per_s": acknowledged / elapsed,
        "stored_after_sigkill": stored,
        "lost_after_sigkill": acknowledged - stored,
        "commits": commits,
        "tickets_per_commit": acknowledged / commits if commits else None,
        "latency": percentiles(latencies),
        # Where the CPU went, in ms per ticket: the hub, the TV fleet, this process (the kiosks).
        "cpu_ms_per_ticket": {part: used * 1000 / acknowledged for part, used in cpu_seconds.items()},
    }


class CpuMeter:
    """CPU seconds (user, system) used over a span by the hub, the TV fleet, and this process (the kiosks)."""

    def __init__(self, *, hub: int, fleet: int | None):
        self._processes = {"hub": psutil.Process(hub), "bench": psutil.Process()}
        if fleet is not None:
            self._processes["fleet"] = psutil.Process(fleet)
        self._start = self._sample()

    def _sample(self) -> dict[str, float]:
        used: dict[str, float] = {}
        for part, process in self._processes.items():
            times = process.cpu_times()
            used[f"{part}_user"], used[f"{part}_system"] = times.user, times.system
        return used

    def stop(self) -> dict[str, float]:
        end = self._sample()
        return {part: end[part] - self._start[part] for part in end}


def measure_sqlite_baseline(seconds: float) -> dict[str, Any]:
    """One ticket per transaction with the hub's own SQL, pragmas and schema, on the same disk."""
    # The same temporary directory as the hub's data dir: the same file system and disk.
    with tempfile.TemporaryDirectory(prefix="qms-bench-sqlite-") as tmp:
        conn = db.connect(Path(tmp) / "qms.db")
        try:
            db.migrate(conn)
            queue = HallQueue(sample_site(), date.today())
            written = 0
            start = time.monotonic()
            deadline = start + seconds
            while time.monotonic() < deadline:
                now = datetime.now(UTC)
                counter_id = COUNTERS[written % len(COUNTERS)]
                # The hub's own plan for the ticket (pure, microseconds) and its own transaction.
                change = queue.plan_issue(now, code=secrets.token_urlsafe(12), counter_id=counter_id,
                                          request_id=f"base-{written}", kiosk_id="kiosk-000", actor="kiosk-000")
                entry = db.AuditEntry(now, "kiosk-000", "kiosk", "kiosk-000", "ticket.issued", {
                    "ticket_id": change.ticket.ticket_id, "queue_id": change.ticket.queue_id,
                    "number": change.ticket.number, "request_id": change.ticket.request_id, "priority": False,
                })
                conn.execute("BEGIN IMMEDIATE")
                persist_change(conn, change, entry, counter_status=False)
                conn.execute("COMMIT")
                queue.apply(change)
                written += 1
            elapsed = time.monotonic() - start
        finally:
            conn.close()
    return {"seconds": elapsed, "tickets": written, "tickets_per_s": written / elapsed}


def _cpu(run: dict[str, Any], part: str) -> float:
    """CPU ms per ticket, user and system, of ``part`` in one run (0 for a fleet the variant did not have)."""
    used = run["cpu_ms_per_ticket"]
    return used.get(f"{part}_user", 0.0) + used.get(f"{part}_system", 0.0)


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "runs": runs,
        "tickets_per_s": spread([run["tickets_per_s"] for run in runs]),
        "answer_p50_ms": spread([run["latency"]["p50_ms"] for run in runs]),
        "answer_p99_ms": spread([run["latency"]["p99_ms"] for run in runs]),
        "tickets_per_commit": spread([run["tickets_per_commit"] or 0.0 for run in runs]),
        "hub_cpu_ms_per_ticket": spread([_cpu(run, "hub") for run in runs]),
        "fleet_cpu_ms_per_ticket": spread([_cpu(run, "fleet") for run in runs]),
        "lost_after_sigkill": sum(run["lost_after_sigkill"] for run in runs),
        "other_cores": spread([run["load"]["other_cores"] for run in runs]),
    }


async def measure(seconds: float = 5.0, variants: tuple[Variant, ...] = VARIANTS, repeats: int = 3,
                  log=progress) -> dict[str, Any]:
    raise_open_file_limit(max((v.tvs for v in variants), default=0) + 2048)
    hub_runs: dict[str, list[dict[str, Any]]] = {variant.name: [] for variant in variants}
    baseline_runs: list[dict[str, Any]] = []
    for repeat in range(repeats):
        # Half the baseline before the hub's turns, half after: a change in the machine's load during
        # the repetition weighs on both.
        log(f"ticket throughput {repeat + 1}/{repeats}: bare SQLite, one transaction per ticket, "
            f"{seconds / 2:g} s ...")
        meter = LoadMeter()
        before = await asyncio.to_thread(measure_sqlite_baseline, seconds / 2)
        for variant in variants:
            log(f"ticket throughput {repeat + 1}/{repeats}: hub, {variant.kiosks} kiosks, {variant.tvs} TVs"
                f"{', hub on one core' if variant.pinned else ''}, {seconds:g} s ...")
            run_meter = LoadMeter()
            run = await measure_hub(seconds, variant)
            run["load"] = run_meter.stop()
            hub_runs[variant.name].append(run)
        log(f"ticket throughput {repeat + 1}/{repeats}: bare SQLite again, {seconds / 2:g} s ...")
        after = await asyncio.to_thread(measure_sqlite_baseline, seconds / 2)
        written, elapsed = before["tickets"] + after["tickets"], before["seconds"] + after["seconds"]
        baseline_runs.append({"seconds": elapsed, "tickets": written, "tickets_per_s": written / elapsed,
                              "tickets_per_s_before": before["tickets_per_s"],
                              "tickets_per_s_after": after["tickets_per_s"], "load": meter.stop()})
    return {
        "seconds": seconds,
        "repeats": repeats,
        "hub": {name: _summary(runs) for name, runs in hub_runs.items()},
        "variants": [{"name": v.name, "kiosks": v.kiosks, "tvs": v.tvs, "pinned": v.pinned} for v in variants],
        "baseline": {"runs": baseline_runs,
                     "tickets_per_s": spread([run["tickets_per_s"] for run in baseline_runs]),
                     "other_cores": spread([run["load"]["other_cores"] for run in baseline_runs])},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Durable tickets per second, hub against bare SQLite")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", type=Variant.parse, nargs="+", default=list(VARIANTS),
                        help="KIOSKSxTVS, -1core for the hub pinned to one core (default: "
                             + " ".join(v.name for v in VARIANTS) + ")")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.seconds, tuple(args.variants), args.repeats)), indent=2))


if __name__ == "__main__":
    main()
