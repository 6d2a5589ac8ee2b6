"""The province's PostgreSQL database: every hall's events and tickets, and who may write what.

Versioned migrations (``qms_schema.version``), run by ``qms-central init``.
Halls write through their own role, one per hall (``qms-central site add``),
member of ``qms_hall``: row-level security lets a hall's role read and write
its own site's rows only. ``qms_reader`` reads everything (reports, the
province page).

``events`` is partitioned by month of ``at``; its primary key is
``(site_id, event_id, at)``: a hall sends an event again after a lost
answer (at-least-once) with the same three values, and the copy is
dropped, so an event is stored once. ``tickets`` holds each ticket's latest
state as the hall last shipped it (``version``: the hall's highest event id
for that ticket then), for the reports, with what they count kept ready:
its first caller, its wait and its service time (schema 2).
"""

from __future__ import annotations

from datetime import date

import psycopg
from psycopg import sql

HALL_GROUP = "qms_hall"
READER_GROUP = "qms_reader"
# What a site id may look like: also part of its role's name.
SITE_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"

MIGRATIONS: list[str] = [
    # 1: sites, events by month, tickets, the two group roles and their row-level security.
    f"""
    DO $$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{HALL_GROUP}') THEN
            CREATE ROLE {HALL_GROUP} NOLOGIN;
        END IF;
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{READER_GROUP}') THEN
            CREATE ROLE {READER_GROUP} NOLOGIN;
        END IF;
    END $$;

    CREATE TABLE sites (
        site_id    text PRIMARY KEY CHECK (site_id ~ '{SITE_ID_PATTERN}'),
        site_name  text NOT NULL DEFAULT '',
        role_name  text NOT NULL UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now()
    );

    -- The site a login role writes for (NULL for any other role).
    CREATE FUNCTION qms_site_of(role_name text) RETURNS text
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
        AS 'SELECT site_id FROM sites WHERE sites.role_name = qms_site_of.role_name';

    CREATE TABLE events (
        site_id     text NOT NULL REFERENCES sites,
        event_id    bigint NOT NULL,
        at          timestamptz NOT NULL,
        kind        text NOT NULL,
        ticket_id   bigint,
        counter_id  integer,
        queue_id    integer,
        actor       text NOT NULL DEFAULT '',
        detail      jsonb NOT NULL DEFAULT '{{}}',
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (site_id, event_id, at)
    ) PARTITION BY RANGE (at);
    CREATE TABLE events_default PARTITION OF events DEFAULT;
    CREATE INDEX events_by_kind_time ON events (kind, at);

    CREATE TABLE tickets (
        site_id         text NOT NULL REFERENCES sites,
        ticket_id       bigint NOT NULL,
        version         bigint NOT NULL,
        service_day     date NOT NULL,
        queue_id        integer NOT NULL,
        origin_queue_id integer,
        queue_name      text NOT NULL DEFAULT '',
        field_id        integer,
        field_name      text,
        procedure_id    integer,
        number          integer NOT NULL,
        priority        boolean NOT NULL DEFAULT false,
        priority_reason text,
        status          text NOT NULL,
        counter_id      integer,
        counter_name    text,
        officer         text,
        officer_name    text,
        created_at      timestamptz NOT NULL,
        first_called_at timestamptz,
        served_since    timestamptz,
        closed_at       timestamptz,
        transfers       integer NOT NULL DEFAULT 0,
        rating          smallint CHECK (rating BETWEEN 1 AND 4),
        PRIMARY KEY (site_id, ticket_id)
    );
    CREATE INDEX tickets_by_day ON tickets (service_day, site_id);

    ALTER TABLE events ENABLE ROW LEVEL SECURITY;
    ALTER TABLE tickets ENABLE ROW LEVEL SECURITY;
    CREATE POLICY hall_own_events ON events TO {HALL_GROUP}
        USING (site_id = qms_site_of(current_user)) WITH CHECK (site_id = qms_site_of(current_user));
    CREATE POLICY hall_own_tickets ON tickets TO {HALL_GROUP}
        USING (site_id = qms_site_of(current_user)) WITH CHECK (site_id = qms_site_of(current_user));
    CREATE POLICY readers_read_events ON events FOR SELECT TO {READER_GROUP} USING (true);
    CREATE POLICY readers_read_tickets ON tickets FOR SELECT TO {READER_GROUP} USING (true);

    GRANT SELECT ON sites TO {HALL_GROUP}, {READER_GROUP};
    GRANT SELECT, INSERT ON events TO {HALL_GROUP};
    GRANT SELECT, INSERT, UPDATE ON tickets TO {HALL_GROUP};
    GRANT SELECT ON events, tickets TO {READER_GROUP};
    """,
    # 2: what the reports count, kept with each ticket rather than worked out for every report: its first
    # caller (a recalled or transferred ticket's row names its last; the shipper sets the first from the
    # ticket's first ``ticket.called`` event, here from the events already shipped) and its wait and
    # service in whole milliseconds, never below 0 (a hall's definitions, hub/reports.py).
    """
    ALTER TABLE tickets
        ADD COLUMN first_counter_id integer,
        ADD COLUMN first_officer text,
        ADD COLUMN wait_ms double precision GENERATED ALWAYS AS (
            CASE WHEN first_called_at IS NOT NULL
                 THEN GREATEST(0, round(date_part('epoch', first_called_at - created_at) * 1000)) END) STORED,
        ADD COLUMN service_ms double precision GENERATED ALWAYS AS (
            CASE WHEN status IN ('done', 'no_show')
                 THEN GREATEST(0, round(date_part('epoch', closed_at - served_since) * 1000)) END) STORED;
    UPDATE tickets t SET first_counter_id = c.counter_id, first_officer = c.actor
    FROM (SELECT DISTINCT ON (site_id, ticket_id) site_id, ticket_id, counter_id, NULLIF(actor, '') AS actor
          FROM events WHERE kind = 'ticket.called' ORDER BY site_id, ticket_id, event_id) c
    WHERE c.site_id = t.site_id AND c.ticket_id = t.ticket_id;
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: psycopg.Connection) -> tuple[int, int]:
    """Bring the schema to SCHEMA_VERSION (each step in its own transaction); (version found, version now)."""
    with conn.transaction():
        conn.execute("CREATE TABLE IF NOT EXISTS qms_schema (version integer NOT NULL)")
        row = conn.execute("SELECT version FROM qms_schema").fetchone()
        if row is None:
            conn.execute("INSERT INTO qms_schema (version) VALUES (0)")
        found = row[0] if row else 0
    if found > SCHEMA_VERSION:
        raise RuntimeError(f"the database is at schema {found}, newer than this program's {SCHEMA_VERSION}: "
                           "install the newer qms-central")
    for version in range(found, SCHEMA_VERSION):
        with conn.transaction():
            conn.execute(MIGRATIONS[version])
            conn.execute("UPDATE qms_schema SET version = %s", (version + 1,))
    return found, SCHEMA_VERSION


def month_partitions(conn: psycopg.Connection, first: date, months: int) -> list[str]:
    """Make sure ``events`` has a partition for each of ``months`` months from ``first``; the ones made.

    Rows already in the default partition for such a month are moved into it.
    """
    made = []
    year, month = first.year, first.month
    for _ in range(months):
        start = date(year, month, 1)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        end = date(year, month, 1)
        name = f"events_{start:%Y_%m}"
        exists = conn.execute("SELECT 1 FROM pg_class WHERE relname = %s", (name,)).fetchone()
        if exists:
            continue
        with conn.transaction():
            # A partition cannot be added while the default holds rows of its range: move them aside.
            conn.execute("CREATE TEMP TABLE moving ON COMMIT DROP AS SELECT * FROM events_default "
                         "WHERE at >= %s AND at < %s", (start, end))
            conn.execute("DELETE FROM events_default WHERE at >= %s AND at < %s", (start, end))
            conn.execute(sql.SQL("CREATE TABLE {} PARTITION OF events FOR VALUES FROM ({}) TO ({})").format(
                sql.Identifier(name), sql.Literal(start), sql.Literal(end)))
            conn.execute("INSERT INTO events SELECT * FROM moving")
        made.append(name)
    return made


def add_site(conn: psycopg.Connection, site_id: str, password: str, site_name: str = "") -> str:
    """A hall's login role (``qms_site_<id>``), member of qms_hall; its name. Again: a new password."""
    import re

    if not re.match(SITE_ID_PATTERN, site_id):
        raise ValueError(f"site id {site_id!r}: lower-case letters, digits, - and _, at most 40 characters")
    role = "qms_site_" + site_id.replace("-", "_")
    with conn.transaction():
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
            sql.SQL(verb), sql.Identifier(role), sql.Literal(password)))
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(HALL_GROUP), sql.Identifier(role)))
        conn.execute("INSERT INTO sites (site_id, site_name, role_name) VALUES (%s, %s, %s) "
                     "ON CONFLICT (site_id) DO UPDATE SET site_name = EXCLUDED.site_name", (site_id, site_name, role))
    return role


def add_reader(conn: psycopg.Connection, role: str, password: str) -> None:
    """A login role that reads every hall's rows (the province page, reports from another machine)."""
    with conn.transaction():
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
            sql.SQL(verb), sql.Identifier(role), sql.Literal(password)))
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(READER_GROUP), sql.Identifier(role)))
