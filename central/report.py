"""The province's report: the same columns, by the same definitions, as a hall's ``/api/reports``, across halls.

PostgreSQL counts, in one query, what a hall's report counts in Python: each
ticket's facts are a hall's (``hub.reports.TicketFacts``: its first caller,
its wait and service in whole milliseconds, kept with its row by the shipper
and schema 2; its transfers from the events) and each count goes where the
hall's rules put it (``hub.reports.ATTRIBUTIONS``: issued and waits with the
queue that issued the number and whoever first called it, served, absences
and service times where the ticket ended, each transfer where it was made,
a rating for whom it was given); P90s are ``percentile_cont``, the same
linear interpolation as the hall's (and Excel's PERCENTILE.INC), and the
columns are rounded by the hall's own ``hub.reports.summary_row``. So a
hall's numbers in the province's report are the numbers in its own, and a
month of 60 halls is counted where the rows are rather than sent to Python
ticket by ticket (docs/performance.md, "The province's report").

Ids are made unique across halls by their hall's site id (``hcm-q1/2``:
queue 2 of hall hcm-q1); fields, whose ids are each hall's own, are grouped
by name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import psycopg

from hub import reports
from hub.reports import SCORES, WAIT_BUCKETS, Key, Report

GROUPINGS = ("site", "field", "queue", "counter", "officer", "day", "hour")
DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"

# What a grouping counts by, as columns of ``facts`` (each ticket of the range once) and ``moves`` (each of
# their transfers): the hall's ATTRIBUTIONS, with the columns that make each key. A key within a hall is
# its own column (queue 2, counter 5, "lan") with the hall's ``site_id`` beside it, made "site/id" here in
# Python: PostgreSQL groups by the pair and never joins strings for a month of tickets.
class _Rule(NamedTuple):
    arrival: str            # issued, waits
    outcome: str            # served, absent, service times; ratings too (the ticket's last place)
    transfer: str           # a column of moves
    in_hall: bool           # keys are a hall's own ids, made unique with the site id
    columns: tuple[str, ...]  # what facts must hold for it
    name: str | None = None  # the column naming the outcome key's rows


_RULES = {
    "site": _Rule("site_id", "site_id", "site_id", False, ()),
    "field": _Rule("field_name", "field_name", "field_name", False, ("p.field_name",)),
    "day": _Rule("service_day", "service_day", "service_day", False, ("p.service_day::text AS service_day",)),
    "hour": _Rule("hour", "hour", "hour", False,
                  ("date_part('hour', p.created_at AT TIME ZONE %(timezone)s)::int AS hour",)),
    "queue": _Rule("origin_queue_id", "queue_id", "from_queue_id", True,
                   ("COALESCE(p.origin_queue_id, p.queue_id) AS origin_queue_id", "p.queue_id"), "queue_name"),
    # A ticket's first caller, as its shipper kept it; a ticket shipped without it (by a hall on older
    # software) is counted for the caller its row names, its last.
    "counter": _Rule("first_counter_id", "counter_id", "by_counter_id", True,
                     ("CASE WHEN p.first_called_at IS NOT NULL THEN COALESCE(p.first_counter_id, p.counter_id) END "
                      "AS first_counter_id", "p.counter_id"), "counter_name"),
    "officer": _Rule("first_officer", "officer", "by_officer", True,
                     ("CASE WHEN p.first_called_at IS NULL THEN NULL WHEN p.first_counter_id IS NOT NULL "
                      "THEN p.first_officer ELSE NULLIF(p.officer, '') END AS first_officer",
                      "NULLIF(p.officer, '') AS officer"), "officer_name"),
}
# Each ticket of the range, with what its groupings need. Its wait and service are kept with it in whole
# milliseconds (central/schema.py, schema 2: a hall's definitions); in minutes here (milliseconds / 1000 / 60,
# the hall's very doubles, for the P90s).
_FACTS = """
facts AS MATERIALIZED (
    SELECT p.site_id, p.ticket_id, p.status, p.rating, p.wait_ms, p.wait_ms / 1000 / 60 AS wait, p.service_ms,
           p.service_ms / 1000 / 60 AS service {columns}
    FROM tickets p
    WHERE p.service_day BETWEEN %(first)s AND %(last)s AND (%(site)s::text IS NULL OR p.site_id = %(site)s)
)"""
# Each transfer of a ticket of the range: where it was made, and its ticket's keys.
_MOVES = """
moves AS (
    SELECT f.*, e.queue_id AS from_queue_id, e.counter_id AS by_counter_id, NULLIF(e.actor, '') AS by_officer
    FROM events e JOIN facts f ON f.site_id = e.site_id AND f.ticket_id = e.ticket_id
    WHERE e.kind = 'ticket.transferred' AND e.at >= %(from_at)s AND e.at < %(to_at)s
)"""

# Every SELECT of the query gives the same columns: by, site, key, then the counts (issued, waits, their
# milliseconds and P90, served, absent, services, their milliseconds and P90, transfers, ratings of each
# score), a name, and (the total's only) how many waits fell in each bar of the wait-time distribution; each
# part fills what it counts.
_ARRIVAL = ("count(*)", "count(wait_ms)", "sum(wait_ms)", "percentile_cont(0.9) WITHIN GROUP (ORDER BY wait)")
_OUTCOME = ("count(*) FILTER (WHERE status = 'done')", "count(*) FILTER (WHERE status = 'no_show')",
            "count(service_ms)", "sum(service_ms)", "percentile_cont(0.9) WITHIN GROUP (ORDER BY service)")
_RATINGS = tuple(f"count(*) FILTER (WHERE rating = {score})" for score in SCORES)
_NOTHING = ("0", "0", "NULL::float8", "NULL::float8")
_NO_OUTCOME = ("0", "0", "0", "NULL::float8", "NULL::float8")
# A bar counts the waits from its bound up to the next one's (the hall's bisect of WAIT_BUCKETS).
_BARS = "ARRAY[" + ", ".join(
    f"count(*) FILTER (WHERE wait >= {low}" + (f" AND wait < {high})" if high is not None else ")")
    for low, high in zip(WAIT_BUCKETS, [*WAIT_BUCKETS[1:], None], strict=True)) + "]"


def _select(by: str, site: str, key: str, *, arrival: bool, outcome: bool, name: str | None = None,
            source: str = "facts", transfers: str = "0", bars: bool = False) -> str:
    measures = [*(_ARRIVAL if arrival else _NOTHING), *(_OUTCOME if outcome else _NO_OUTCOME), transfers,
                *(_RATINGS if outcome else ("0",) * len(SCORES)), f"max({name})" if name else "NULL",
                _BARS if bars else "NULL::bigint[]"]
    group = ", ".join(column for column in (site, key) if column != "NULL")
    return (f"SELECT '{by}', {site}, {key}::text, {', '.join(measures)} FROM {source}"
            + (f" GROUP BY {group}" if group else ""))


def _query(groupings: Iterable[str]) -> str:
    """The one query that counts ``groupings`` (and the total, and the wait distribution) over the range."""
    rules = {by: _RULES[by] for by in groupings}
    columns = list(dict.fromkeys(column for rule in rules.values() for column in rule.columns))
    columns += [f"p.{rule.name}" for rule in rules.values() if rule.name]
    selects = []
    for by, rule in rules.items():
        site = "site_id" if rule.in_hall else "NULL"
        if rule.arrival == rule.outcome:
            # Everything of a ticket goes by one key: one pass.
            selects.append(_select(by, site, rule.arrival, arrival=True, outcome=True))
        else:
            selects.append(_select(by, site, rule.arrival, arrival=True, outcome=False))
            selects.append(_select(by, site, rule.outcome, arrival=False, outcome=True, name=rule.name))
        selects.append(_select(by, site, rule.transfer, arrival=False, outcome=False, source="moves",
                               transfers="count(*)"))
    # The total counts every ticket once, whichever way it is grouped: a hall's total is the sum of its rows.
    selects.append(_select("", "NULL", "NULL", arrival=True, outcome=True, bars=True))
    selects.append(_select("", "NULL", "NULL", arrival=False, outcome=False, source="moves", transfers="count(*)"))
    facts = _FACTS.format(columns="".join(f", {column}" for column in columns))
    return "WITH " + ",".join((facts, _MOVES)) + "\n" + "\nUNION ALL ".join(selects)


@dataclass(slots=True)
class _Counted:
    """One group's counts as PostgreSQL gave them (its parts added up)."""

    issued: int = 0
    waits: int = 0
    wait_ms: float = 0.0
    wait_p90: float | None = None
    served: int = 0
    no_show: int = 0
    services: int = 0
    service_ms: float = 0.0
    service_p90: float | None = None
    transferred: int = 0
    scores: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0])  # index = score

    def take(self, counts: Sequence[Any]) -> None:
        (issued, waits, wait_ms, wait_p90, served, no_show, services, service_ms, service_p90, transferred,
         *scores) = counts
        self.issued += issued
        self.waits += waits
        self.wait_ms += wait_ms or 0.0
        self.wait_p90 = wait_p90 if wait_p90 is not None else self.wait_p90
        self.served += served
        self.no_show += no_show
        self.services += services
        self.service_ms += service_ms or 0.0
        self.service_p90 = service_p90 if service_p90 is not None else self.service_p90
        self.transferred += transferred
        for score, count in zip(SCORES, scores, strict=True):
            self.scores[score] += count

    def row(self, key: Key, label: str) -> reports.ReportRow:
        # Means from exact sums of whole milliseconds (integers in doubles, far below 2**53).
        return reports.summary_row(
            key, label, issued=self.issued, served=self.served, no_show=self.no_show, transferred=self.transferred,
            wait_mean=self.wait_ms / 60_000 / self.waits if self.waits else None, wait_p90=self.wait_p90,
            service_mean=self.service_ms / 60_000 / self.services if self.services else None,
            service_p90=self.service_p90, scores=self.scores)


@dataclass
class ProvinceLabels:
    """Names for the province's rows: halls' names, and the names the halls shipped with their tickets."""

    sites: dict[str, str]
    timezone: str = DEFAULT_TIMEZONE
    site_name: str = "Tỉnh: mọi trung tâm"
    names: dict[tuple[str, str], str] = field(default_factory=dict)

    def label(self, by: str, key: Key) -> str:
        if by in ("day", "hour"):
            return reports.time_label(by, key)
        if key is None:
            return {"field": "Chưa xếp lĩnh vực"}.get(by, "Chưa được gọi")
        if by == "site":
            return self.sites.get(str(key), str(key))
        if by == "field":
            return str(key)
        site_id, _, own = str(key).partition("/")
        hall = self.sites.get(site_id, site_id)
        named = self.names.get((by, str(key)))
        if by == "counter":
            return f"{hall} · Quầy {own}" + (f" · {named}" if named else "")
        if by == "officer":
            return f"{hall} · {named} ({own})" if named else f"{hall} · {own}"
        return f"{hall} · {named or own}"

    def listed_keys(self, by: str, first: date, last: date) -> list[Key]:
        if by == "site":
            return list(self.sites)
        if by == "day":
            return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
        return []


def _key(by: str, site: str | None, text: str | None) -> Key:
    if text is None:
        return None
    if by == "hour":
        return int(text)
    return f"{site}/{text}" if site is not None and _RULES[by].in_hall else text


def province_reports(conn: psycopg.Connection, first: date, last: date, groupings: list[str], *,
                     site_id: str | None = None, timezone: str = DEFAULT_TIMEZONE) -> list[Report]:
    """The reports of every hall (or one, ``site_id``) over the service days ``first``..``last``."""
    for by in groupings:
        if by not in GROUPINGS:
            raise reports.ReportQueryError("bad_grouping", f"Không có cách nhóm {by!r} (by: {', '.join(GROUPINGS)})")
    sites: dict[str, str] = dict(conn.execute("SELECT site_id, COALESCE(NULLIF(site_name, ''), site_id) FROM sites "
                              "WHERE %s::text IS NULL OR site_id = %s ORDER BY site_id", (site_id, site_id)).fetchall())
    labels = ProvinceLabels(sites, timezone)
    if site_id is not None:
        labels.site_name = sites.get(site_id, site_id)
    # The events of a service day are stamped within a day either side of it, whatever the time zone.
    span = {"first": first, "last": last, "site": site_id, "timezone": timezone,
            "from_at": datetime.combine(first - timedelta(days=1), datetime.min.time(), tzinfo=ZoneInfo("UTC")),
            "to_at": datetime.combine(last + timedelta(days=2), datetime.min.time(), tzinfo=ZoneInfo("UTC"))}
    counted: dict[str, dict[Key, _Counted]] = {by: {} for by in ("", *groupings)}
    buckets = [0] * len(WAIT_BUCKETS)
    with conn.transaction():
        # A month of a province is a few hundred thousand waits sorted for their P90s: in memory, not on disk;
        # and a query run once gains nothing from JIT compilation (a few hundred ms of it for this one).
        conn.execute("SET LOCAL work_mem = '64MB'")
        conn.execute("SET LOCAL jit = off")
        rows = conn.execute(_query(groupings), span).fetchall()
    for by, site, text, *counts, name, bars in rows:
        key = _key(by, site, text)
        if name:
            labels.names[(by, str(key))] = name
        if bars:
            buckets = bars
        group = counted[by].get(key)
        if group is None:
            group = counted[by][key] = _Counted()
        group.take(counts)
    total = counted[""].get(None) or _Counted()
    made = []
    for by in groupings:
        groups = counted[by]
        keys = reports.ordered_keys(by, labels.listed_keys(by, first, last), groups, labels)
        made.append(Report(
            first=first, last=last, by=by,
            rows=[(groups.get(key) or _Counted()).row(key, labels.label(by, key)) for key in keys],
            total=total.row(None, "Tổng cộng"), wait_distribution=reports.wait_bars(buckets),
            site_name=labels.site_name, timezone=labels.timezone))
    return made
