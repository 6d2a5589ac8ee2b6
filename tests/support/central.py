"""Helpers for the province tests: a province database with halls, halls that ship to it, waiting for it."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import psycopg

from central import schema
from hub.site_config import CentralConfig, RateLimit, sample_site
from support import REPO_ROOT, HallHarness, start_hub
from support.postgres import PostgresServer

HALL_PASSWORD = "mật-khẩu-của-trung-tâm"
WAIT = 30.0


def init_central(url: str, *site_ids: str) -> None:
    done = subprocess.run([sys.executable, "-m", "central.cli", "init", "--url", url], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    with psycopg.connect(url, autocommit=True) as conn:
        for site_id in site_ids:
            schema.add_site(conn, site_id, HALL_PASSWORD, f"Trung tâm {site_id}")


def hall_site(postgres: PostgresServer, database: str, site_id: str, tmp_path: Path):
    password_file = tmp_path / f"{site_id}.password"
    password_file.write_text(HALL_PASSWORD, encoding="utf-8")
    role = "qms_site_" + site_id.replace("-", "_")
    url = f"postgresql://{role}@127.0.0.1:{postgres.port}/{database}"
    # A busy morning comes faster than any real kiosk: the per-kiosk ticket limit is lifted.
    return dataclasses.replace(sample_site(), site_id=site_id, central=CentralConfig(
        enabled=True, url=url, password_file=str(password_file), batch_size=50),
        rate_limit=RateLimit(tickets_per_minute=100_000, ticket_burst=1000))


async def start_hall(tmp_path: Path, site, name: str) -> HallHarness:
    hub = await start_hub(tmp_path / name, site=site, shipping_poll=0.05, shipping_retry=(0.1, 0.2))
    return HallHarness(hub)


def hall_events(hub) -> set[int]:
    with closing(sqlite3.connect(hub.data_dir / "qms.db")) as conn:
        return {row[0] for row in conn.execute("SELECT event_id FROM events")}


def central_events(url: str, site_id: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute("SELECT event_id FROM events WHERE site_id = %s ORDER BY 1",
                                               (site_id,))]


async def until(predicate, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not within {WAIT}s")
        await asyncio.sleep(0.05)
