"""How long a month's report takes on a year of a busy centre: generated history, the real schema, the real hub.

The data (``generate``): a centre of 20 queues, 5 fields, 40 procedures, 30
counters (ten queues have a second desk) and 40 officers (30 of them on duty
each working day, at a counter drawn afresh every day), 250 working days of
about 2,000 tickets each: 500,000 tickets. Arrivals peak mid-morning and
mid-afternoon; waits are exponential (mean 14 minutes, at most 2 hours),
services log-normal (median about 6 minutes); 4% of the numbers are never
called (they expire), 6% of the called are absent, 4% are transferred to
another queue and served there, 8% are called twice; 60% of the served are
rated (60% "Rất hài lòng", 25%, 10%, 5%). Every ticket has its rows in
``tickets`` and its steps in ``events``, as the hub writes them (each
``ticket.called``, ``recalled``, ``transferred``, ... with its counter and
officer), ratings in ``ratings``; made once with a fixed seed and kept with
``--keep DIR`` (generating takes a minute or two).

What is timed, each ``--repeats`` times (3 by default), min / median / max, in seconds on the wall
clock and in CPU seconds of the process doing the work (a shared machine inflates the first far more):

- ``query``: ``hub.reports.build_reports`` for the last whole month of the
  data, on a read-only connection in this process: what the hub's route runs
  in its worker thread (one grouping, and all six from one read);
- ``http``: ``GET /api/reports`` (JSON, by officer) and ``/api/reports.xlsx``
  (every grouping, a sheet each) from a real ``qms-hub serve`` on the data,
  with a leader's token, from the request to the last byte of the answer.

``python -m bench.report_speed [--repeats 3] [--keep DIR] [--tickets 500000]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import math
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from bench.harness import LOOPBACK, LoadMeter, _die_with_parent, _hub_command, cpu_seconds, free_port, progress, spread
from hub import reports
from hub import store as db
from hub.auth import TokenAuthority
from hub.backup import backup_directory, list_backups
from hub.site_config import (
    CounterConfig,
    FieldConfig,
    Procedure,
    QueueConfig,
    SiteConfig,
    load_site_config,
    site_to_toml,
)

SEED = 20261125
TARGET_SECONDS = 1.0
START_TIMEOUT = 180.0

QUEUE_NAMES = (
    "Đất đai", "Tư pháp - Hộ tịch", "Đăng ký kinh doanh", "Bảo hiểm xã hội", "Xây dựng", "Giao thông vận tải",
    "Lao động - Thương binh và Xã hội", "Tài nguyên và Môi trường", "Công thương", "Y tế", "Giáo dục và Đào tạo",
    "Văn hóa, Thể thao và Du lịch", "Nông nghiệp", "Khoa học và Công nghệ", "Thông tin và Truyền thông", "Nội vụ",
    "Tài chính", "Kế hoạch và Đầu tư", "Thuế", "Cư trú",
)
FIELD_NAMES = ("Đất đai - Xây dựng", "Tư pháp - Nội vụ", "Kinh doanh - Đầu tư", "Xã hội - Y tế - Giáo dục",
               "Tài chính - Thuế")
FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ")
MIDDLE = ("Văn", "Thị", "Minh", "Thu", "Đức", "Ngọc", "Thanh", "Hữu")
GIVEN = ("An", "Bình", "Chi", "Dũng", "Hà", "Hải", "Hoa", "Hùng", "Lan", "Linh", "Mai", "Nam", "Phương", "Quang",
         "Sơn", "Tâm", "Thảo", "Trang", "Tuấn", "Yến")
SCORE_WEIGHTS = {4: 60, 3: 25, 2: 10, 1: 5}


def busy_centre_site() -> SiteConfig:
    """20 queues, 5 fields, 2 procedures a queue, 30 counters: one per queue and a second desk for ten of them."""
    queues = tuple(QueueConfig(i, name, start_number=i * 1000 + 1) for i, name in enumerate(QUEUE_NAMES, start=1))
    procedures = tuple(Procedure(q.id * 10 + k, f"Thủ tục {k} về {q.name.lower()}", q.id, (q.id - 1) % 5 + 1)
                       for q in queues for k in (1, 2))
    fields = tuple(FieldConfig(f, name, tuple(p.id for p in procedures if p.field_id == f))
                   for f, name in enumerate(FIELD_NAMES, start=1))
    counters = tuple(CounterConfig(i, QUEUE_NAMES[(i - 1) % 20], queue_ids=((i - 1) % 20 + 1,))
                     for i in range(1, 31))
    return SiteConfig(site_name="Trung tâm Phục vụ hành chính công (dữ liệu thử)", queues=queues, fields=fields,
                      procedures=procedures, counters=counters)


def officer_names(count: int) -> list[tuple[str, str]]:
    """(username, full name) for ``count`` officers, Vietnamese names made deterministically."""
    return [(f"canbo{i:02d}", f"{FAMILY[i % len(FAMILY)]} {MIDDLE[i % len(MIDDLE)]} {GIVEN[(i * 7) % len(GIVEN)]}")
            for i in range(1, count + 1)]


def working_days(last: date, count: int) -> list[date]:
    """``count`` weekdays ending with ``last`` (or the weekday before it), oldest first."""
    days: list[date] = []
    day = last
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= timedelta(days=1)
    return days[::-1]


@dataclass
class Generated:
    tickets: int
    events: int
    ratings: int
    first_day: date
    last_day: date


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def generate(path: Path, site: SiteConfig, days: list[date], tickets_per_day: int,
             officers: list[tuple[str, str]], seed: int = SEED) -> Generated:
    """A hub database at ``path`` (made with hub.store's schema) holding ``days`` of the centre's history."""
    rng = random.Random(seed)
    tz = site.tz
    conn = db.connect(path)
    db.migrate(conn)
    conn.execute("PRAGMA synchronous=OFF")
    db.record_site(conn, site.site_name)
    for user_id, (username, full_name) in enumerate(officers, start=1):
        conn.execute("INSERT INTO users (user_id, username, password_hash, role, counter_id, full_name, created_at) "
                     "VALUES (?, ?, 'generated: no password', 'officer', NULL, ?, ?)",
                     (user_id, username, full_name, _iso(datetime.combine(days[0], clock_time(), tzinfo=UTC))))
    user_ids = {username: user_id for user_id, (username, _) in enumerate(officers, start=1)}
    serving = {q.id: [c.id for c in site.counters_serving(q.id)] for q in site.queues}
    procedures = {q.id: [p for p in site.procedures if p.queue_id == q.id] for q in site.queues}
    queue_ids = [q.id for q in site.queues]
    # Some lines are far busier than others (Zipf-like).
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(queue_ids))]
    ticket_rows: list[tuple[Any, ...]] = []
    event_rows: list[tuple[Any, ...]] = []
    rating_rows: list[tuple[Any, ...]] = []
    ticket_id = 0
    counts = Generated(0, 0, 0, days[0], days[-1])

    def flush() -> None:
        conn.executemany(
            "INSERT INTO tickets (ticket_id, service_day, queue_id, origin_queue_id, number, procedure_id, "
            "procedure_name, code, kiosk_id, priority, priority_reason, status, counter_id, created_at, called_at, "
            "served_since, first_called_at, closed_at, called_by, officer_user_id, call_count, transfers, "
            "order_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", ticket_rows)
        conn.executemany("INSERT INTO events (at, kind, ticket_id, counter_id, queue_id, actor, detail) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)", event_rows)
        conn.executemany(
            "INSERT INTO ratings (ticket_id, score, source, client_id, request_id, service_day, queue_id, counter_id, "
            "officer_user_id, officer, rated_at) VALUES (?, ?, 'counter', ?, ?, ?, ?, ?, ?, ?, ?)", rating_rows)
        counts.tickets += len(ticket_rows)
        counts.events += len(event_rows)
        counts.ratings += len(rating_rows)
        ticket_rows.clear()
        event_rows.clear()
        rating_rows.clear()

    conn.execute("BEGIN")
    for day in days:
        on_duty = rng.sample([name for name, _ in officers], k=min(len(officers), len(site.counters)))
        officer_at = {c.id: on_duty[i % len(on_duty)] for i, c in enumerate(site.counters)}
        opens = datetime.combine(day, clock_time(7, 30), tzinfo=tz)
        expiry = datetime.combine(day + timedelta(days=1), clock_time(), tzinfo=tz).astimezone(UTC)
        arrivals = []
        for _ in range(rng.randint(int(tickets_per_day * 0.9), int(tickets_per_day * 1.1))):
            peak = 120 if rng.random() < 0.6 else 390  # 09:30 and 14:00, in minutes after opening
            arrivals.append(min(540.0, max(0.0, rng.gauss(peak, 60))))
        next_number = {q.id: q.start_number for q in site.queues}
        for minute in sorted(arrivals):
            ticket_id += 1
            created = (opens + timedelta(minutes=minute)).astimezone(UTC).replace(microsecond=0)
            queue_id = rng.choices(queue_ids, weights)[0]
            number = next_number[queue_id]
            next_number[queue_id] += 1
            procedure = rng.choice(procedures[queue_id])
            priority = rng.random() < 0.05
            event_rows.append((_iso(created), "ticket.issued", ticket_id, None, queue_id, "kiosk-01", "{}"))
            status, counter_id, officer, final_queue = "expired", None, None, queue_id
            first_called = called = served_since = closed = None
            call_count = transfers = 0
            if rng.random() < 0.04:
                closed = expiry
                event_rows.append((_iso(expiry), "ticket.expired", ticket_id, None, queue_id, "hub", "{}"))
            else:
                counter_id = rng.choice(serving[queue_id])
                officer = officer_at[counter_id]
                first_called = called = served_since = created + timedelta(
                    seconds=round(min(7200.0, rng.expovariate(1 / 840))))
                call_count = 1
                event_rows.append((_iso(first_called), "ticket.called", ticket_id, counter_id, queue_id, officer, "{}"))
                if rng.random() < 0.08:
                    called = first_called + timedelta(seconds=rng.randint(40, 120))
                    call_count = 2
                    event_rows.append((_iso(called), "ticket.recalled", ticket_id, counter_id, queue_id, officer,
                                       "{}"))
                outcome = rng.random()
                if outcome < 0.06:
                    status, closed = "no_show", called + timedelta(seconds=rng.randint(60, 240))
                    event_rows.append((_iso(closed), "ticket.no_show", ticket_id, counter_id, queue_id, officer, "{}"))
                else:
                    if outcome < 0.10:
                        moved_at = called + timedelta(seconds=rng.randint(120, 400))
                        final_queue = rng.choice([q for q in queue_ids if q != queue_id])
                        event_rows.append((_iso(moved_at), "ticket.transferred", ticket_id, counter_id, queue_id,
                                           officer, json.dumps({"from_queue_id": queue_id,
                                                                "to_queue_id": final_queue})))
                        transfers = 1
                        counter_id = rng.choice(serving[final_queue])
                        officer = officer_at[counter_id]
                        called = served_since = moved_at + timedelta(seconds=rng.randint(60, 1200))
                        call_count += 1
                        event_rows.append((_iso(called), "ticket.called", ticket_id, counter_id, final_queue, officer,
                                           "{}"))
                    assert served_since is not None
                    status = "done"
                    closed = served_since + timedelta(seconds=round(min(5400.0, rng.lognormvariate(math.log(360),
                                                                                                    0.55))))
                    event_rows.append((_iso(closed), "ticket.finished", ticket_id, counter_id, final_queue, officer,
                                       "{}"))
                    if rng.random() < 0.6:
                        score = rng.choices(list(SCORE_WEIGHTS), list(SCORE_WEIGHTS.values()))[0]
                        rated = closed + timedelta(seconds=rng.randint(5, 120))
                        rating_rows.append((ticket_id, score, f"counter-{counter_id:02d}", f"r{ticket_id}",
                                            day.isoformat(), final_queue, counter_id, user_ids[officer], officer,
                                            _iso(rated)))
                        event_rows.append((_iso(rated), "ticket.rated", ticket_id, counter_id, final_queue,
                                           f"counter-{counter_id:02d}", json.dumps({"score": score})))
            ticket_rows.append((
                ticket_id, day.isoformat(), final_queue, queue_id, number, procedure.id, procedure.name,
                f"code{ticket_id:08d}", "kiosk-01", int(priority), "elderly" if priority else None, status,
                counter_id, _iso(created), _iso(called) if called else None,
                _iso(served_since) if served_since else None, _iso(first_called) if first_called else None,
                _iso(closed) if closed else None, officer, user_ids[officer] if officer else None, call_count,
                transfers, ticket_id))
        if len(ticket_rows) > 20_000:
            flush()
    flush()
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return counts


# --- timing --------------------------------------------------------------------------------------------


def last_whole_month(last_day: date) -> tuple[date, date]:
    """The last calendar month the data covers entirely."""
    end = last_day.replace(day=1) - timedelta(days=1)
    if (last_day + timedelta(days=1)).day == 1:
        end = last_day
    return end.replace(day=1), end


def _timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def time_query(path: Path, site: SiteConfig, first: date, last: date,
               groupings: tuple[str, ...]) -> tuple[float, float]:
    """One read of the range and its reports on a fresh read-only connection: (wall, CPU) seconds."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        conn.execute("BEGIN")
        cpu = time.process_time()
        seconds, _ = _timed(lambda: reports.build_reports(conn, site, first, last, groupings))
        return seconds, time.process_time() - cpu


def _get(port: int, path: str, token: str) -> tuple[int, int]:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=60)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        return response.status, len(response.read())
    finally:
        connection.close()


@contextlib.asynccontextmanager
async def serving(data_dir: Path, site_path: Path) -> AsyncIterator[tuple[int, int]]:
    """``qms-hub serve`` on the generated data (its start-up check reads the whole file: allow for it).

    A hub with no backup yet makes one at once: the timings wait until it is done, not to measure the copy.
    """
    backups = backup_directory(load_site_config(site_path).backup, data_dir)
    backing_up = not (backups.is_dir() and list_backups(backups))
    port = free_port()
    log_path = data_dir.parent / "hub.log"
    with open(log_path, "wb") as log:  # noqa: ASYNC230 - opened once before the hub starts
        process = await asyncio.create_subprocess_exec(
            *_hub_command(), "--data-dir", str(data_dir), "serve", "--config", str(site_path), "--host", LOOPBACK,
            "--port", str(port), stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=asyncio.subprocess.STDOUT,
            preexec_fn=_die_with_parent)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"the hub exited: {log_path.read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                status, _ = await asyncio.to_thread(_get, port, "/healthz", "")
                if status == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the hub did not answer /healthz within {START_TIMEOUT}s")
            await asyncio.sleep(0.2)
        while backing_up and "backup." not in log_path.read_text(errors="replace"):
            if time.monotonic() > deadline + START_TIMEOUT:
                raise RuntimeError("the hub's first backup did not end")
            await asyncio.sleep(0.5)
        yield port, process.pid
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()


async def measure(tickets: int = 500_000, repeats: int = 3, keep: Path | None = None,
                  tickets_per_day: int = 2000, log: Any = progress) -> dict[str, Any]:
    site = busy_centre_site()
    officers = officer_names(40)
    with tempfile.TemporaryDirectory(prefix="qms-bench-reports-") as tmp:
        work = keep or Path(tmp)
        data_dir = work / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        database = data_dir / "qms.db"
        days = working_days(date.today() - timedelta(days=1), max(1, math.ceil(tickets / tickets_per_day)))
        made_note = work / "generated.json"
        wanted = {"tickets": tickets, "per_day": tickets_per_day, "seed": SEED, "last_day": days[-1].isoformat()}
        if database.exists() and made_note.exists() and json.loads(made_note.read_text())["wanted"] == wanted:
            made = json.loads(made_note.read_text())["made"]
            generated = Generated(made["tickets"], made["events"], made["ratings"],
                                  date.fromisoformat(made["first_day"]), date.fromisoformat(made["last_day"]))
            log(f"report_speed: reusing {database}")
        else:
            for stale in data_dir.glob("qms.db*"):
                stale.unlink()
            log(f"report_speed: generating {len(days)} days x ~{tickets_per_day} tickets into {database} ...")
            seconds, generated = _timed(lambda: generate(database, site, days, tickets_per_day, officers))
            log(f"report_speed: {generated.tickets} tickets, {generated.events} events, {generated.ratings} ratings "
                f"in {seconds:.0f} s")
            made_note.write_text(json.dumps({"wanted": wanted, "made": {
                k: (v.isoformat() if isinstance(v, date) else v) for k, v in generated.__dict__.items()}}))
        site_path = work / "site.toml"
        site_path.write_text(site_to_toml(site), encoding="utf-8")
        first, last = last_whole_month(generated.last_day)
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
            in_month = conn.execute("SELECT COUNT(*) FROM tickets WHERE service_day BETWEEN ? AND ?",
                                    (first.isoformat(), last.isoformat())).fetchone()[0]
        meter = LoadMeter()
        # Each figure twice: seconds on the wall clock, and CPU seconds of the process doing the work (this
        # one for the query, the hub's for HTTP), which a busy shared machine inflates far less.
        timings: dict[str, list[float]] = {name: [] for name in (
            "query_one_s", "query_one_cpu_s", "query_all_s", "query_all_cpu_s", "http_json_s", "http_json_cpu_s",
            "http_xlsx_s", "http_xlsx_cpu_s")}
        for run in range(repeats):
            for name, groupings in (("query_one", ("officer",)), ("query_all", reports.GROUPINGS)):
                wall, cpu = time_query(database, site, first, last, groupings)
                timings[f"{name}_s"].append(wall)
                timings[f"{name}_cpu_s"].append(cpu)
            log(f"report_speed: query run {run + 1}: {timings['query_one_s'][-1]:.3f} s one grouping, "
                f"{timings['query_all_s'][-1]:.3f} s all six")
        sizes: dict[str, int] = {}
        token = TokenAuthority.from_data_dir(data_dir).issue(
            "leader", user_id=999, username="bench-leader", full_name="Lãnh đạo đo hiệu năng",
            ttl=timedelta(hours=1))
        span = f"from={first.isoformat()}&to={last.isoformat()}"
        async with serving(data_dir, site_path) as (port, pid):
            for run in range(repeats):
                for path, name in ((f"/api/reports?{span}&by=officer", "http_json"),
                                   (f"/api/reports.xlsx?{span}&by=all", "http_xlsx")):
                    cpu = cpu_seconds(pid)
                    start = time.perf_counter()
                    status, size = await asyncio.to_thread(_get, port, path, token)
                    timings[f"{name}_s"].append(time.perf_counter() - start)
                    timings[f"{name}_cpu_s"].append(cpu_seconds(pid) - cpu)
                    if status != 200:
                        raise RuntimeError(f"{path} answered {status}")
                    sizes[path.split("?")[0]] = size
                log(f"report_speed: http run {run + 1}: {timings['http_json_s'][-1]:.3f} s JSON, "
                    f"{timings['http_xlsx_s'][-1]:.3f} s Excel")
        load = meter.stop()
    return {
        "data": {**generated.__dict__, "first_day": generated.first_day.isoformat(),
                 "last_day": generated.last_day.isoformat(), "queues": len(site.queues),
                 "counters": len(site.counters), "officers": len(officers)},
        "month": {"from": first.isoformat(), "to": last.isoformat(), "tickets": in_month},
        **{name: spread(values) for name, values in timings.items()}, "sizes": sizes,
        "target_s": TARGET_SECONDS, "load": load,
    }


def _row(name: str, wall: dict[str, float], cpu: dict[str, float]) -> str:
    return (f"| {name} | {wall['min']:.2f} / {wall['median']:.2f} / {wall['max']:.2f} "
            f"| {cpu['min']:.2f} / {cpu['median']:.2f} / {cpu['max']:.2f} |")


def report(results: dict[str, Any]) -> str:
    data, month = results["data"], results["month"]
    lines = [
        f"{data['tickets']:,} tickets ({data['first_day']} to {data['last_day']}, {data['events']:,} events, "
        f"{data['ratings']:,} ratings; {data['queues']} queues, {data['counters']} counters, "
        f"{data['officers']} officers). Month {month['from']} to {month['to']}: {month['tickets']:,} tickets.",
        "",
        "| a month's report | seconds, min / median / max | CPU seconds, min / median / max |",
        "| --- | --- | --- |",
        *(_row(text, results[f"{name}_s"], results[f"{name}_cpu_s"]) for name, text in (
            ("query_one", "query, one grouping (officer)"),
            ("query_all", "query, all six groupings from one read"),
            ("http_json", "HTTP `/api/reports` JSON, by officer"),
            ("http_xlsx", "HTTP `/api/reports.xlsx`, every grouping"))),
        "",
        f"Other processes used {results['load']['other_cores']:.2f} cores on average meanwhile "
        f"(load average {results['load']['loadavg_1min']:.1f}).",
        "",
        f"Target: a month's JSON report under {results['target_s']:.0f} s (median): "
        + ("met." if results["http_json_s"]["median"] < results["target_s"] else "NOT met."),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="A month's report on a year of generated history")
    parser.add_argument("--tickets", type=int, default=500_000, help="tickets in all (default 500000)")
    parser.add_argument("--per-day", type=int, default=2000, help="tickets a working day (default 2000)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="generate into (or reuse) this folder instead of a temporary one")
    args = parser.parse_args()
    results = asyncio.run(measure(args.tickets, args.repeats, args.keep, args.per_day))
    print(report(results))
    print(json.dumps(results, indent=2), file=sys.stderr)


if __name__ == "__main__":
    main()
