"""The province's PostgreSQL with a month of 60 halls: shipping them in, against a plain COPY; a month's report.

The data: 60 halls, each a hub database made by ``bench.report_speed.generate``
(its busy centre: 20 queues, 30 counters, 40 officers; waits, services,
absences, transfers, recalls and ratings as it draws them, a seed per hall)
for the same 21 working days, with as many tickets a day as make about
``--events`` events in all (1,000,000 by default: some 130 tickets a hall a
day). PostgreSQL is ``central.scratch_server`` with fsync on (a real
server's durability), the schema of ``qms-central init``.

What is timed:

- ``ship``: each hall's real ``hub.shipping.Shipper`` (read a batch from the
  hall's SQLite, send it in one PostgreSQL transaction under the hall's own
  role, row-level security and all, move the cursor in SQLite) from its first
  event to its last, hall after hall: events per second;
- ``copy``: the same rows (exactly what the shippers sent: every event, and
  each ticket's final state), one plain ``COPY`` per table in a single
  transaction as the superuser, into an empty database of the same schema:
  the ceiling, in the same run, on the same server;
- ``report``: ``central.report.province_reports`` for the month, every hall
  (by site; by officer; all seven groupings from one read), ``--repeats``
  times, and ``GET /api/reports`` (JSON, by site) from a real
  ``qms-central serve``, wall and CPU seconds.

``python -m bench.central_speed [--events 1000000] [--repeats 3] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench.harness import LOOPBACK, REPO_ROOT, LoadMeter, _die_with_parent, cpu_seconds, free_port, progress, spread
from bench.report_speed import SEED, _row, busy_centre_site, generate, officer_names, working_days
from central import schema
from central.report import province_reports
from central.scratch_server import PostgresServer
from central.web import issue_token
from hub import store as db
from hub.clock import SystemClock
from hub.shipping import EVENT_COLUMNS, TICKET_COLUMNS, Shipper, _copy_text, read_batch
from hub.site_config import CentralConfig, SiteConfig

SITES = 60
DAYS = 21
# report_speed.generate writes about 3.65 events a ticket (issued, called, finished, rated, ...).
EVENTS_PER_TICKET = 3.65
TARGET_SECONDS = 2.0
HALL_PASSWORD = "bench-hall-password"
READER_PASSWORD = "bench-reader-password"


def site_ids(count: int) -> list[str]:
    return [f"hall-{n:02d}" for n in range(1, count + 1)]


def hall_site(site_id: str, url: str, password_file: Path) -> SiteConfig:
    import dataclasses

    return dataclasses.replace(busy_centre_site(), site_id=site_id, site_name=f"Trung tâm {site_id}",
                               central=CentralConfig(enabled=True, url=url, password_file=str(password_file)))


def make_halls(work: Path, count: int, days: list[date], per_day: int, log: Any) -> list[Path]:
    """One hub database per hall (reused when ``work`` holds them from an earlier run of the same size)."""
    note = work / "generated.json"
    wanted = {"sites": count, "days": [d.isoformat() for d in (days[0], days[-1])], "per_day": per_day,
              "seed": SEED}
    paths = [work / site_id / "qms.db" for site_id in site_ids(count)]
    if note.exists() and json.loads(note.read_text()) == wanted and all(p.exists() for p in paths):
        log(f"central_speed: reusing the halls in {work}")
        return paths
    officers = officer_names(40)
    started = time.perf_counter()
    for n, path in enumerate(paths):
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob("qms.db*"):
            stale.unlink()
        generate(path, busy_centre_site(), days, per_day, officers, seed=SEED + n)
        if n % 10 == 9:
            log(f"central_speed: {n + 1}/{count} halls generated ({time.perf_counter() - started:.0f} s)")
    note.write_text(json.dumps(wanted))
    return paths


def new_database(server: PostgresServer, name: str, sites: list[str]) -> str:
    url = server.create_database(name)
    with psycopg.connect(url, autocommit=True) as conn:
        schema.migrate(conn)
        # Partitions for the data's months, as `qms-central init` makes them from last month on.
        schema.month_partitions(conn, date.today().replace(day=1) - timedelta(days=62), 4)
        for site_id in sites:
            schema.add_site(conn, site_id, HALL_PASSWORD, f"Trung tâm {site_id}")
    return url


def _rewind(path: Path) -> None:
    """Forget what was shipped: each run ships every hall from its first event."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("DELETE FROM meta WHERE key = 'central_shipped_event_id'")
        conn.commit()


async def ship_hall(path: Path, site: SiteConfig) -> int:
    """One hall's real shipper, from its first event to its last; the events it shipped."""
    store = db.Store(path)
    store.start()
    shipper = Shipper(site, store, SystemClock(), lambda text, severity: None)
    try:
        shipper.status.cursor = 0
        while await shipper._ship_once():
            pass
        return shipper.status.shipped_events
    finally:
        await shipper.stop()
        await store.close()


def shipped_rows(path: Path, site: SiteConfig) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rows the shipper sends, all at once: every event, and each ticket's final state (for the COPY)."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        batch = read_batch(conn, site, 0, 10**9)
    return batch.events, batch.tickets


def plain_copy(url: str, events: list[tuple[Any, ...]], tickets: list[tuple[Any, ...]]) -> float:
    """Seconds for one COPY per table, in one transaction: the ceiling of loading these rows."""
    with psycopg.connect(url) as conn:
        start = time.perf_counter()
        with conn.cursor() as cursor:
            with cursor.copy(f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
                copy.write(_copy_text(events))
            with cursor.copy(f"COPY tickets ({', '.join(TICKET_COLUMNS)}) FROM STDIN") as copy:
                copy.write(_copy_text(tickets))
        conn.commit()
        return time.perf_counter() - start


def time_report(url: str, first: date, last: date, groupings: list[str]) -> tuple[float, float]:
    with psycopg.connect(url) as conn:
        wall, cpu = time.perf_counter(), time.process_time()
        made = province_reports(conn, first, last, groupings)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if not made[0].total.issued:
        raise RuntimeError("the month's report counted no ticket")
    return wall, cpu


@contextlib.contextmanager
def serving(url: str, secret_file: Path):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "central.cli", "serve", "--url", url, "--secret-file", str(secret_file),
         "--host", LOOPBACK, "--port", str(port)], cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True,
        preexec_fn=_die_with_parent)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        if "serving" not in line:
            raise RuntimeError(f"qms-central serve did not start: {line}{process.stderr.read()}")
        yield port, process.pid
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def _get(port: int, path: str, token: str) -> int:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=120)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        answer = connection.getresponse()
        answer.read()
        return answer.status
    finally:
        connection.close()


async def measure(events: int = 1_000_000, repeats: int = 3, keep: Path | None = None, sites: int = SITES,
                  log: Any = progress) -> dict[str, Any]:
    days = working_days(date.today() - timedelta(days=1), DAYS)
    per_day = max(1, round(events / EVENTS_PER_TICKET / (sites * len(days))))
    first, last = days[0], days[-1]
    ids = site_ids(sites)
    with tempfile.TemporaryDirectory(prefix="qms-bench-central-") as tmp:
        work = keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        log(f"central_speed: {sites} halls x {len(days)} days x ~{per_day} tickets")
        paths = make_halls(work, sites, days, per_day, log)
        server = PostgresServer(durable=True)
        server.init()
        server.start()
        meter = LoadMeter()
        try:
            password_file = Path(tmp) / "hall.password"
            password_file.write_text(HALL_PASSWORD)
            timings: dict[str, list[float]] = {name: [] for name in (
                "ship_s", "copy_s", "report_site_s", "report_site_cpu_s", "report_officer_s",
                "report_officer_cpu_s", "report_all_s", "report_all_cpu_s", "http_json_s", "http_json_cpu_s")}
            loaded = 0
            url = ""
            for run in range(repeats):
                # Shipping: every hall's shipper in turn, into a fresh database.
                url = new_database(server, f"ship_{run}", ids)
                shipped, start = 0, time.perf_counter()
                for site_id, path in zip(ids, paths, strict=True):
                    _rewind(path)
                    role = "qms_site_" + site_id.replace("-", "_")
                    hall_url = f"postgresql://{role}@127.0.0.1:{server.port}/ship_{run}"
                    shipped += await ship_hall(path, hall_site(site_id, hall_url, password_file))
                timings["ship_s"].append(time.perf_counter() - start)
                loaded = shipped
                # The ceiling: the same rows, one plain COPY per table.
                rows = [shipped_rows(path, hall_site(site_id, "", password_file))
                        for site_id, path in zip(ids, paths, strict=True)]
                all_events = [row for hall_events, _ in rows for row in hall_events]
                all_tickets = [row for _, hall_tickets in rows for row in hall_tickets]
                if len(all_events) != shipped:
                    raise RuntimeError(f"shipped {shipped} events, the halls hold {len(all_events)}")
                copy_url = new_database(server, f"copy_{run}", ids)
                timings["copy_s"].append(plain_copy(copy_url, all_events, all_tickets))
                with psycopg.connect(url) as conn:
                    central_count = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]  # type: ignore[index]
                if central_count != shipped:
                    raise RuntimeError(f"PostgreSQL holds {central_count} events, {shipped} were shipped")
                log(f"central_speed: run {run + 1}: shipped {shipped:,} events in {timings['ship_s'][-1]:.1f} s, "
                    f"COPY {timings['copy_s'][-1]:.1f} s")
                with psycopg.connect(server.url(), autocommit=True) as conn:
                    conn.execute(f"DROP DATABASE copy_{run}")
                    if run:
                        conn.execute(f"DROP DATABASE ship_{run - 1}")
            # The reports, on the last shipped database (analysed, as autovacuum would have by then).
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
            for run in range(repeats):
                for name, groupings in (("report_site", ["site"]), ("report_officer", ["officer"]),
                                        ("report_all", ["site", "field", "queue", "counter", "officer", "day",
                                                        "hour"])):
                    wall, cpu = await asyncio.to_thread(time_report, url, first, last, groupings)
                    timings[f"{name}_s"].append(wall)
                    timings[f"{name}_cpu_s"].append(cpu)
                log(f"central_speed: report run {run + 1}: {timings['report_site_s'][-1]:.2f} s by site, "
                    f"{timings['report_all_s'][-1]:.2f} s all seven")
            secret_file = Path(tmp) / "central.secret"
            secret_file.write_text(os.urandom(32).hex())
            token = issue_token(secret_file.read_text().encode(), "bench", ttl=timedelta(hours=1))
            with serving(url, secret_file) as (port, pid):
                for _ in range(repeats):
                    cpu = cpu_seconds(pid)
                    start = time.perf_counter()
                    status = await asyncio.to_thread(
                        _get, port, f"/api/reports?from={first}&to={last}&by=site", token)
                    timings["http_json_s"].append(time.perf_counter() - start)
                    timings["http_json_cpu_s"].append(cpu_seconds(pid) - cpu)
                    if status != 200:
                        raise RuntimeError(f"/api/reports answered {status}")
            with psycopg.connect(url) as conn:
                tickets = conn.execute("SELECT COUNT(*) FROM tickets").fetchone()[0]  # type: ignore[index]
                size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
        finally:
            load = meter.stop()
            server.remove()
    return {
        "data": {"sites": sites, "days": len(days), "first_day": first.isoformat(), "last_day": last.isoformat(),
                 "events": loaded, "tickets": tickets, "database_mb": round(size / 2**20)},
        **{name: spread(values) for name, values in timings.items()},
        "ship_events_per_s": spread([loaded / s for s in timings["ship_s"]]),
        "copy_events_per_s": spread([loaded / s for s in timings["copy_s"]]),
        "ship_over_copy": spread([c / s for s, c in zip(timings["ship_s"], timings["copy_s"], strict=True)]),
        "target_s": TARGET_SECONDS, "load": load,
    }


def report(results: dict[str, Any]) -> str:
    data = results["data"]
    ship, copy, ratio = results["ship_events_per_s"], results["copy_events_per_s"], results["ship_over_copy"]
    lines = [
        f"{data['events']:,} events and {data['tickets']:,} tickets of {data['sites']} halls, {data['days']} working "
        f"days ({data['first_day']} to {data['last_day']}); {data['database_mb']} MB in PostgreSQL.",
        "",
        "| loading the rows | events/s, min / median / max |",
        "| --- | --- |",
        f"| the halls' shippers, one after another | {ship['min']:,.0f} / {ship['median']:,.0f} / "
        f"{ship['max']:,.0f} |",
        f"| one plain COPY of the same rows | {copy['min']:,.0f} / {copy['median']:,.0f} / {copy['max']:,.0f} |",
        f"| shipping ÷ COPY | {ratio['min']:.2f} / {ratio['median']:.2f} / {ratio['max']:.2f} |",
        "",
        "| the month's province report | seconds, min / median / max | CPU seconds, min / median / max |",
        "| --- | --- | --- |",
        *(_row(text, results[f"{name}_s"], results[f"{name}_cpu_s"]) for name, text in (
            ("report_site", "query, by site"),
            ("report_officer", "query, by officer"),
            ("report_all", "query, all seven groupings from one read"),
            ("http_json", "HTTP `/api/reports` JSON, by site"))),
        "",
        f"Other processes used {results['load']['other_cores']:.2f} cores on average meanwhile "
        f"(load average {results['load']['loadavg_1min']:.1f}).",
        "",
        f"Target: a month's province report under {results['target_s']:.0f} s (median, HTTP JSON): "
        + ("met." if results["http_json_s"]["median"] < results["target_s"] else "NOT met."),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="60 halls' month in the province's PostgreSQL")
    parser.add_argument("--events", type=int, default=1_000_000, help="events in all, about (default 1000000)")
    parser.add_argument("--sites", type=int, default=SITES)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="generate the halls into (or reuse them from) this folder")
    args = parser.parse_args()
    results = asyncio.run(measure(args.events, args.repeats, args.keep, args.sites))
    print(report(results))
    print(json.dumps(results, indent=2), file=sys.stderr)


if __name__ == "__main__":
    main()
