"""The province's report: the same columns, by the same definitions, as a hall's ``/api/reports``, across halls.

The tickets the halls shipped are read as the hall's report reads its own
(``hub.reports.TicketFacts``: who first called a ticket and its transfers
from the events) and counted by the hall's own rules
(``hub.reports.aggregate_with``), so a hall's numbers in the province's
report are the numbers in its own. Ids are made unique across halls by
their hall's site id (``hcm-q1/2``: queue 2 of hall hcm-q1); fields, whose
ids are each hall's own, are grouped by name.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from hub import reports
from hub.reports import GroupKeys, Key, Report, TicketFacts, Transfer

GROUPINGS = ("site", "field", "queue", "counter", "officer", "day", "hour")
DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"

# One row per ticket of the range, in TicketFacts' order, ids made "site/id". A ticket's first caller and
# its transfers are the events'; durations in minutes of whole milliseconds, never below 0 (as a hall's).
_FACTS_SQL = """
WITH picked AS (
    SELECT * FROM tickets
    WHERE service_day BETWEEN %(first)s AND %(last)s AND (%(site)s::text IS NULL OR site_id = %(site)s)
), calls AS (
    SELECT DISTINCT ON (e.site_id, e.ticket_id) e.site_id, e.ticket_id, e.counter_id, NULLIF(e.actor, '') AS actor
    FROM events e JOIN picked p ON p.site_id = e.site_id AND p.ticket_id = e.ticket_id
    WHERE e.kind = 'ticket.called' AND e.at >= %(from_at)s AND e.at < %(to_at)s
    ORDER BY e.site_id, e.ticket_id, e.event_id
), moves AS (
    SELECT e.site_id, e.ticket_id,
           array_agg(ARRAY[e.queue_id::text, e.counter_id::text, NULLIF(e.actor, '')] ORDER BY e.event_id) AS moved
    FROM events e JOIN picked p ON p.site_id = e.site_id AND p.ticket_id = e.ticket_id
    WHERE e.kind = 'ticket.transferred' AND e.at >= %(from_at)s AND e.at < %(to_at)s
    GROUP BY e.site_id, e.ticket_id
)
SELECT p.ticket_id, p.service_day::text,
       to_char(p.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
       p.site_id || '/' || COALESCE(p.origin_queue_id, p.queue_id), p.site_id || '/' || p.queue_id,
       p.site_id || '/' || p.procedure_id, p.status,
       CASE WHEN p.first_called_at IS NOT NULL THEN p.site_id || '/' || COALESCE(c.counter_id, p.counter_id) END,
       CASE WHEN p.first_called_at IS NOT NULL THEN p.site_id || '/' || COALESCE(c.actor, p.officer) END,
       p.site_id || '/' || p.counter_id, p.site_id || '/' || NULLIF(p.officer, ''),
       -- GREATEST skips NULLs in PostgreSQL: a ticket never called has no wait, not a wait of 0.
       CASE WHEN p.first_called_at IS NOT NULL
            THEN GREATEST(0, round(EXTRACT(EPOCH FROM p.first_called_at - p.created_at), 3))::float8 / 60 END,
       CASE WHEN p.status IN ('done', 'no_show')
            THEN GREATEST(0, round(EXTRACT(EPOCH FROM p.closed_at - p.served_since), 3))::float8 / 60 END,
       p.rating, CASE WHEN p.rating IS NOT NULL THEN p.site_id || '/' || p.queue_id END,
       CASE WHEN p.rating IS NOT NULL THEN p.site_id || '/' || p.counter_id END,
       CASE WHEN p.rating IS NOT NULL THEN p.site_id || '/' || NULLIF(p.officer, '') END,
       m.moved, p.site_id,
       p.queue_name, p.counter_name, p.officer_name, p.field_name
FROM picked p LEFT JOIN calls c ON c.site_id = p.site_id AND c.ticket_id = p.ticket_id
LEFT JOIN moves m ON m.site_id = p.site_id AND m.ticket_id = p.ticket_id
"""
_FIELD_COUNT = len(TicketFacts._fields)


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


def _facts(rows: list[tuple[Any, ...]], labels: ProvinceLabels,
           field_names: dict[str, str | None]) -> list[TicketFacts]:
    facts = []
    for row in rows:
        queue_name, counter_name, officer_name, field_name = row[_FIELD_COUNT:]
        moved = row[_FIELD_COUNT - 2]
        site_id = row[_FIELD_COUNT - 1]
        transfers = tuple(Transfer(f"{site_id}/{q}", f"{site_id}/{c}" if c else None,  # type: ignore[arg-type]
                                   f"{site_id}/{a}" if a else None) for q, c, a in moved) if moved else None
        fact = TicketFacts._make((*row[:_FIELD_COUNT - 2], transfers, site_id))
        facts.append(fact)
        field_names[fact.procedure_id] = field_name  # type: ignore[index]
        if queue_name:
            labels.names[("queue", str(fact.final_queue_id))] = queue_name
        if counter_name and fact.final_counter_id:
            labels.names[("counter", str(fact.final_counter_id))] = counter_name
        if officer_name and fact.final_officer:
            labels.names[("officer", str(fact.final_officer))] = officer_name
    return facts


def province_keys(by: str, timezone: str, field_names: dict[str, str | None]) -> GroupKeys:
    """The province's grouping ``by``: where each count goes, as the hall's rules say, ids made unique by hall."""
    get = operator.itemgetter
    if by == "site":
        return GroupKeys(get(18), get(18), None, get(18), one_key=True)
    if by in ("queue", "counter", "officer"):
        rule = reports.ATTRIBUTIONS[by]
        index = {name: i for i, name in enumerate(TicketFacts._fields)}
        return GroupKeys(get(index[rule.arrival]), get(index[rule.outcome]),
                         operator.attrgetter(rule.transfer) if rule.transfer else None, get(index[rule.rating]))
    if by == "field":
        procedure = TicketFacts._fields.index("procedure_id")

        def field_of(ticket: TicketFacts) -> Key:
            return field_names.get(ticket[procedure])  # type: ignore[arg-type]

        return GroupKeys(field_of, field_of, None, field_of, one_key=True)
    if by == "day":
        return GroupKeys(get(1), get(1), None, get(1), one_key=True)
    if by == "hour":
        tz = ZoneInfo(timezone)

        def hour(ticket: TicketFacts) -> Key:
            return datetime.fromisoformat(ticket.created_at).astimezone(tz).hour

        return GroupKeys(hour, hour, None, hour, one_key=True)
    raise reports.ReportQueryError("bad_grouping", f"Không có cách nhóm {by!r} (by: {', '.join(GROUPINGS)})")


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
    field_names: dict[str, str | None] = {}

    def batches() -> Iterator[list[TicketFacts]]:
        # The events of a service day are stamped within a day either side of it, whatever the time zone.
        span = {"first": first, "last": last, "site": site_id,
                "from_at": datetime.combine(first - timedelta(days=1), datetime.min.time(), tzinfo=ZoneInfo("UTC")),
                "to_at": datetime.combine(last + timedelta(days=2), datetime.min.time(), tzinfo=ZoneInfo("UTC"))}
        with conn.cursor(name="province_facts") as cursor:
            cursor.itersize = 5000
            cursor.execute(_FACTS_SQL, span)
            while True:
                rows = cursor.fetchmany(5000)
                if not rows:
                    return
                yield _facts(rows, labels, field_names)

    keys = {by: province_keys(by, timezone, field_names) for by in groupings}
    with conn.transaction():
        return reports.aggregate_with(keys, batches(), labels, first, last)
