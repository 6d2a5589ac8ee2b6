"""Durable ticket throughput: 10 kiosks asking back to back, against one fsync per ticket.

The hub runs as a subprocess. Ten kiosk connections (here, on asyncio) each
send TICKET_CREATED and wait for their own answer before the next, for a
fixed time; the hub answers only after the ticket's transaction is committed
with synchronous=FULL, so every answer is a durable ticket. At the end the
hub is killed with SIGKILL (no clean shutdown) and the tickets table of its
qms.db is counted: it must hold exactly the tickets that were answered.

The baseline, same run, same disk (half before the hub's turn, half after):
the hub's own SQL (``hub.store``: the
ticket row and its audit row) written straight to a fresh database, one
transaction per ticket, no network, no event loop. That is what a hub
without group commit could do at best; the ratio shows what group commit buys.

``python -m bench.ticket_throughput [--seconds 5] [--kiosks 10]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import sqlite3
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bench.harness import (
    http_get,
    kiosk_token,
    percentiles,
    progress,
    registered_client,
    running_hub,
    send,
)
from hub import store as db
from hub.queue_state import Ticket

COUNTERS = (1, 2, 3, 4)
REPLY_TIMEOUT = 10.0


def _store_commits(metrics_text: str) -> int:
    found = re.search(r"^qms_store_commits_total (\S+)$", metrics_text, re.M)
    if found is None:
        raise RuntimeError("the hub's /metrics has no qms_store_commits_total")
    return int(float(found.group(1)))


async def measure_hub(seconds: float, kiosks: int) -> dict[str, Any]:
    async with running_hub() as hub:
        tokens = hub.tokens()
        clients = [
            await registered_client(hub.url, kiosk_token(tokens, f"kiosk-{k:03d}"), "kiosk", f"kiosk-{k:03d}")
            for k in range(kiosks)
        ]
        latencies: list[float] = []
        acknowledged = 0
        try:
            commits_before = _store_commits((await http_get(hub.port, "/metrics"))[1])
            start = time.monotonic()
            deadline = start + seconds

            async def kiosk(index: int) -> None:
                nonlocal acknowledged
                ws = clients[index]
                counter_id = COUNTERS[index % len(COUNTERS)]
                n = 0
                while time.monotonic() < deadline:
                    request_id = f"k{index}-{n}"
                    sent = time.monotonic()
                    await send(ws, "TICKET_CREATED", {"counter_id": counter_id, "request_id": request_id})
                    while True:
                        frame = await asyncio.wait_for(ws.recv(), REPLY_TIMEOUT)
                        # Every kiosk hears every QUEUE_UPDATE: only its own answers are parsed.
                        if request_id in frame or '"ERROR"' in frame:
                            message = json.loads(frame)
                            if message["type"] == "ERROR":
                                raise RuntimeError(f"the hub refused a ticket: {message['payload']}")
                            if message["type"] == "TICKET_CREATED" and message["payload"]["request_id"] == request_id:
                                break
                    latencies.append(time.monotonic() - sent)
                    acknowledged += 1
                    n += 1

            await asyncio.gather(*(kiosk(i) for i in range(kiosks)))
            elapsed = time.monotonic() - start
            commits = _store_commits((await http_get(hub.port, "/metrics"))[1]) - commits_before
            # A crash, not a shutdown: what was answered must already be on disk.
            hub.kill_now()
            await hub.process.wait()
        finally:
            for ws in clients:
                await ws.close()
        assert hub.data_dir is not None
        with sqlite3.connect(hub.data_dir / "qms.db") as conn:
            stored = conn.execute("SELECT COUNT(*) FROM tickets").fetchone()[0]
    if stored != acknowledged:
        raise RuntimeError(f"{acknowledged} tickets were answered but {stored} are in qms.db after SIGKILL")
    return {
        "kiosks": kiosks,
        "seconds": elapsed,
        "tickets": acknowledged,
        "tickets_per_s": acknowledged / elapsed,
        "stored_after_sigkill": stored,
        "commits": commits,
        "tickets_per_commit": acknowledged / commits if commits else None,
        "latency": percentiles(latencies),
    }


def measure_sqlite_baseline(seconds: float) -> dict[str, Any]:
    """One ticket per transaction with the hub's own SQL, pragmas and schema, on the same disk."""
    # The same temporary directory as the hub's data dir: the same file system and disk.
    with tempfile.TemporaryDirectory(prefix="qms-bench-sqlite-") as tmp:
        conn = db.connect(Path(tmp) / "qms.db")
        try:
            db.migrate(conn)
            today = date.today()
            written = 0
            start = time.monotonic()
            deadline = start + seconds
            while time.monotonic() < deadline:
                now = datetime.now(UTC)
                counter_id = COUNTERS[written % len(COUNTERS)]
                ticket = Ticket(
                    ticket_id=written + 1, service_day=today, counter_id=counter_id, number=written + 1,
                    procedure_id=None, procedure_name="Đăng ký đất đai, tài sản gắn liền với đất",
                    code=secrets.token_urlsafe(12), request_id=f"base-{written}", kiosk_id="kiosk-000",
                    created_at=now,
                )
                entry = db.AuditEntry(now, "kiosk-000", "kiosk", "kiosk-000", "ticket.issued", {
                    "ticket_id": ticket.ticket_id, "counter_id": counter_id, "number": ticket.number,
                    "request_id": ticket.request_id,
                })
                conn.execute("BEGIN IMMEDIATE")
                db.save_ticket_rows(conn, [db.ticket_row(ticket)])
                db.write_audit(conn, entry)
                conn.execute("COMMIT")
                written += 1
            elapsed = time.monotonic() - start
        finally:
            conn.close()
    return {"seconds": elapsed, "tickets": written, "tickets_per_s": written / elapsed}


async def measure(seconds: float = 5.0, kiosks: int = 10, log=progress) -> dict[str, Any]:
    # Half the baseline before the hub, half after: a change in the machine's load during the
    # run weighs on both.
    log(f"ticket throughput: bare SQLite, one transaction per ticket, {seconds / 2:g} s ...")
    before = await asyncio.to_thread(measure_sqlite_baseline, seconds / 2)
    log(f"ticket throughput: hub, {kiosks} kiosks, {seconds:g} s ...")
    hub = await measure_hub(seconds, kiosks)
    log(f"ticket throughput: bare SQLite again, {seconds / 2:g} s ...")
    after = await asyncio.to_thread(measure_sqlite_baseline, seconds / 2)
    written, elapsed = before["tickets"] + after["tickets"], before["seconds"] + after["seconds"]
    baseline = {"seconds": elapsed, "tickets": written, "tickets_per_s": written / elapsed,
                "tickets_per_s_before": before["tickets_per_s"], "tickets_per_s_after": after["tickets_per_s"]}
    return {"hub": hub, "baseline": baseline, "ratio": hub["tickets_per_s"] / baseline["tickets_per_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description="Durable tickets per second, hub against bare SQLite")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--kiosks", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.seconds, args.kiosks)), indent=2))


if __name__ == "__main__":
    main()
