"""What the province's reports count is kept with each ticket (schema 2): its first caller, its wait, its service.

A recalled or transferred ticket's row names its last caller; the report
counts its issue and wait for the first. The shipper keeps the first call it
ships, whatever comes after and however often a batch is sent again, and
the migration works it out from the events a province already holds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.types.json import Jsonb

from central import report, schema
from hub import reports
from hub.shipping import EVENT_COLUMNS, TICKET_COLUMNS, Batch, send_batch

SITE = "hall-a"
MORNING = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def event(event_id: int, minutes: float, kind: str, counter_id: int | None = None, actor: str = "",
          queue_id: int = 1) -> tuple:
    return (SITE, event_id, MORNING + timedelta(minutes=minutes), kind, 7, counter_id, queue_id, actor, "{}")


def ticket(version: int, status: str, counter_id: int | None, officer: str | None, *, called: float | None,
           closed: float | None = None, transfers: int = 0) -> tuple:
    at = {name: MORNING + timedelta(minutes=value) if value is not None else None
          for name, value in (("created", 0.0), ("called", called), ("closed", closed))}
    values = {
        "site_id": SITE, "ticket_id": 7, "version": version, "service_day": "2026-11-24", "queue_id": 1,
        "origin_queue_id": 1, "queue_name": "Đất đai", "field_id": None, "field_name": None, "procedure_id": None,
        "number": 1007, "priority": False, "priority_reason": None, "status": status, "counter_id": counter_id,
        "counter_name": None, "officer": officer, "officer_name": None, "created_at": at["created"],
        "first_called_at": at["called"], "served_since": at["called"], "closed_at": at["closed"],
        "transfers": transfers, "rating": None,
    }
    return tuple(values[column] for column in TICKET_COLUMNS)


def first_caller(url: str) -> tuple:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT first_counter_id, first_officer, counter_id, officer, wait_ms, service_ms "
                            "FROM tickets WHERE site_id = %s AND ticket_id = 7", (SITE,)).fetchone()


async def test_the_shipper_keeps_a_tickets_first_caller_across_recalls_and_batches_sent_again(central_url):
    with psycopg.connect(central_url, autocommit=True) as conn:
        schema.migrate(conn)
        schema.add_site(conn, SITE, "mật-khẩu")
    issued = Batch([event(1, 0, "ticket.issued")], [ticket(1, "waiting", None, None, called=None)], 1)
    # Called at counter 1 by lan after 4.5 minutes, recalled there, then transferred and served at counter 3.
    called = Batch([event(2, 4.5, "ticket.called", 1, "lan"), event(3, 5, "ticket.called", 1, "lan")],
                   [ticket(3, "serving", 1, "lan", called=4.5)], 3)
    moved = Batch([event(4, 6, "ticket.transferred", 1, "lan"), event(5, 8, "ticket.called", 3, "minh", 2)],
                  [ticket(5, "serving", 3, "minh", called=4.5, transfers=1)], 5)
    finished = Batch([event(6, 12.25, "ticket.finished", 3, "minh", 2)],
                     [ticket(6, "done", 3, "minh", called=4.5, closed=12.25, transfers=1)], 6)
    async with await psycopg.AsyncConnection.connect(central_url) as conn:
        await send_batch(conn, issued)
        assert first_caller(central_url)[:2] == (None, None)
        for batch in (called, moved, moved, called, finished, moved):
            await send_batch(conn, batch)
    # Milliseconds: 4.5 minutes of wait; 12.25 - 4.5 minutes of service (served_since is the first call here).
    assert first_caller(central_url) == (1, "lan", 3, "minh", 270_000.0, 465_000.0)


def test_the_migration_finds_the_first_callers_of_the_tickets_already_shipped(central_url):
    with psycopg.connect(central_url, autocommit=True) as conn:
        # A province database made before schema 2, holding a recalled ticket.
        conn.execute("CREATE TABLE qms_schema (version integer NOT NULL)")
        conn.execute("INSERT INTO qms_schema VALUES (1)")
        conn.execute(schema.MIGRATIONS[0])
        schema.add_site(conn, SITE, "mật-khẩu")
        with conn.cursor() as cursor:
            cursor.executemany(f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES "
                               f"({', '.join(['%s'] * len(EVENT_COLUMNS))})",
                               [(*row[:-1], Jsonb({})) for row in (
                                   event(1, 0, "ticket.issued"), event(2, 3, "ticket.called", 2, "lan"),
                                   event(3, 9, "ticket.called", 4, "minh"), event(4, 10, "ticket.no_show", 4, "minh"))])
            cursor.execute(f"INSERT INTO tickets ({', '.join(TICKET_COLUMNS)}) VALUES "
                           f"({', '.join(['%s'] * len(TICKET_COLUMNS))})",
                           ticket(4, "no_show", 4, "minh", called=3, closed=10))
        assert schema.migrate(conn) == (1, schema.SCHEMA_VERSION)
    assert first_caller(central_url) == (2, "lan", 4, "minh", 180_000.0, 420_000.0)


def test_the_province_counts_each_fact_where_the_halls_rules_put_it():
    # The province's grouping columns name the hall's ATTRIBUTIONS' facts: a hall's report and the province's
    # count a ticket in the same place.
    columns = {"origin_queue_id": "origin_queue_id", "final_queue_id": "queue_id", "first_counter_id":
               "first_counter_id", "final_counter_id": "counter_id", "first_officer": "first_officer",
               "final_officer": "officer", "field_id": "field_name", "service_day": "service_day",
               "issued_hour": "hour"}
    ratings = {"rating_queue_id": "queue_id", "rating_counter_id": "counter_id", "rating_officer": "officer"}
    transfers = {"from_queue_id": "from_queue_id", "counter_id": "by_counter_id", "officer": "by_officer"}
    for by, hall in reports.ATTRIBUTIONS.items():
        rule = report._RULES[by]
        assert (rule.arrival, rule.outcome) == (columns[hall.arrival], columns[hall.outcome]), by
        assert rule.transfer == (transfers[hall.transfer] if hall.transfer else rule.arrival), by
        # A rating is for the ticket's last place: the province counts it with the outcome.
        assert rule.outcome == ratings.get(hall.rating, columns.get(hall.rating)), by
    assert set(report.GROUPINGS) == {*reports.ATTRIBUTIONS, "site"}
