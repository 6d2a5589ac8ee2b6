"""Halls ship their history to a real PostgreSQL: nothing lost or doubled across a stopped server, two halls
side by side, and no hall able to write another's rows.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import UTC, datetime

import psycopg
import pytest
from support import REPO_ROOT, HallHarness, free_port, start_hub
from support.central import HALL_PASSWORD, WAIT, central_events, hall_events, hall_site, init_central, start_hall, until
from support.postgres import PostgresServer

from hub.clock import ManualClock


async def busy_morning(hall: HallHarness, tag: str, tickets: int = 12, counter_id: int = 1) -> None:
    """Tickets for the counter's queue, three of them called, the last one finished."""
    queue_id = hall.hub.site.counter(counter_id).queue_ids[0]
    kiosk = await hall.client("kiosk")
    for i in range(tickets):
        await kiosk.send("TICKET_CREATED", {"queue_id": queue_id, "request_id": f"{tag}-{i}"})
        await kiosk.expect("TICKET_CREATED")
    officer = await hall.client("officer", counter_id=counter_id, username=f"canbo-{tag}")
    for _ in range(3):
        await officer.send("CALL_TICKET", {"counter_id": counter_id})
        await officer.expect("CALL_TICKET")
    await officer.send("TICKET_ACTION", {"counter_id": counter_id, "action": "finish"})
    await officer.expect("TICKET_UPDATED")


async def test_two_halls_ship_to_one_database_each_under_its_own_role(postgres, tmp_path):
    url = postgres.create_database("province_two_halls")
    init_central(url, "hall-a", "hall-b")
    a = await start_hall(tmp_path, hall_site(postgres, "province_two_halls", "hall-a", tmp_path), "a")
    b = await start_hall(tmp_path, hall_site(postgres, "province_two_halls", "hall-b", tmp_path), "b")
    try:
        await asyncio.gather(busy_morning(a, "a"), busy_morning(b, "b", tickets=5))
        for hall, site_id in ((a, "hall-a"), (b, "hall-b")):
            await until(lambda h=hall, s=site_id: central_events(url, s) == sorted(hall_events(h.hub)),
                        f"{site_id}'s events in PostgreSQL")
            await until(lambda h=hall: h.hub.shipper.status.pending_events == 0, "no lag")
        with psycopg.connect(url) as conn:
            rows = dict(conn.execute("SELECT site_id, count(*) FROM tickets GROUP BY site_id").fetchall())
            assert rows == {"hall-a": 12, "hall-b": 5}
            done = conn.execute("SELECT status, counter_id, officer, queue_name FROM tickets "
                                "WHERE site_id = 'hall-a' AND number = 1").fetchone()
            assert done == ("done", 1, "canbo-a", "Đất đai")
        health = a.hub.http.health()
        assert health["central"]["enabled"] and health["central"]["pending_events"] == 0
        assert "qms_central_pending_events 0.0" in a.hub.metrics.render()
        admin = await a.client("admin")
        assert admin.snapshot["stats"]["central_pending_events"] == 0
        assert admin.snapshot["stats"]["central_lag_seconds"] == 0
    finally:
        for hall in (a, b):
            await hall.close_all()
            await hall.hub.stop()


def test_a_hall_cannot_write_another_halls_rows(postgres):
    url = postgres.create_database("province_roles")
    init_central(url, "hall-a", "hall-b")
    as_a = postgres.url("province_roles", user="qms_site_hall_a", password=HALL_PASSWORD)
    with psycopg.connect(as_a, autocommit=True) as conn:
        conn.execute("INSERT INTO events (site_id, event_id, at, kind) VALUES ('hall-a', 1, now(), 'ticket.issued')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO events (site_id, event_id, at, kind) VALUES ('hall-b', 1, now(), 'x')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO events_default (site_id, event_id, at, kind) VALUES ('hall-b', 2, now(), 'x')")
        # It sees its own rows only.
        assert conn.execute("SELECT DISTINCT site_id FROM events").fetchall() == [("hall-a",)]
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM events WHERE site_id = 'hall-b'").fetchone() == (0,)


async def test_tickets_made_while_postgresql_is_stopped_arrive_once_after_it_starts(tmp_path):
    server = PostgresServer()  # a server of its own: this test stops it
    server.init()
    server.start()
    try:
        url = server.create_database("province_outage")
        init_central(url, "hall-a")
        hall = await start_hall(tmp_path, hall_site(server, "province_outage", "hall-a", tmp_path), "a")
        try:
            await busy_morning(hall, "before", tickets=3)
            await until(lambda: central_events(url, "hall-a") == sorted(hall_events(hall.hub)), "first events")
            server.stop()
            await busy_morning(hall, "during", tickets=8, counter_id=2)
            await until(lambda: hall.hub.shipper.status.problem != "", "the failure noticed")
            assert hall.hub.shipper.status.pending_events > 0
            # The hall goes on serving with PostgreSQL down.
            kiosk = await hall.client("kiosk")
            await kiosk.send("TICKET_CREATED", {"queue_id": 4, "request_id": "still-served"})
            assert (await kiosk.expect("TICKET_CREATED"))["ticket_number"] == 4001
            server.start()
            await until(lambda: central_events(url, "hall-a") == sorted(hall_events(hall.hub)), "every event, once")
            await until(lambda: hall.hub.shipper.status.pending_events == 0, "no lag")
        finally:
            await hall.close_all()
            await hall.hub.stop()
    finally:
        server.remove()


async def test_a_hub_killed_mid_shipment_loses_and_doubles_nothing(postgres, tmp_path):
    import json
    import os
    import signal
    import urllib.request

    from support import free_port
    from websockets.asyncio.client import connect

    url = postgres.create_database("province_sigkill")
    init_central(url, "hall-k")
    password_file = tmp_path / "central.password"
    password_file.write_text(HALL_PASSWORD, encoding="utf-8")
    site_file = tmp_path / "site.toml"
    sample = (REPO_ROOT / "hub" / "sample_site.toml").read_text(encoding="utf-8")
    site_file.write_text(sample.replace('site_name = "Trung tâm Phục vụ hành chính công tỉnh"',
                                        'site_name = "Trung tâm Phục vụ hành chính công tỉnh"\nsite_id = "hall-k"')
                         # The burst is 400 tickets as fast as the hub answers: no limit of a real kiosk's applies.
                         .replace("\nrate = 20 ", "\nrate = 100000 ").replace("\nburst = 40\n", "\nburst = 100000\n")
                         .replace("\ntickets_per_minute = 20 ", "\ntickets_per_minute = 100000 ")
                         .replace("\nticket_burst = 10\n", "\nticket_burst = 1000\n")
                         + f'\n[central]\nenabled = true\nurl = "postgresql://qms_site_hall_k@127.0.0.1:{postgres.port}'
                           f'/province_sigkill"\npassword_file = "{password_file}"\nbatch_size = 7\n',
                         encoding="utf-8")
    assert site_file.read_text(encoding="utf-8").count("= 100000") == 3, "the sample site's limits were not lifted"
    data = tmp_path / "data"
    port = free_port()

    def start() -> subprocess.Popen:
        log = (tmp_path / "hub.log").open("ab")
        process = subprocess.Popen([sys.executable, "-m", "hub.cli", "--data-dir", str(data), "serve", "--config",
                                    str(site_file), "--host", "127.0.0.1", "--port", str(port)],
                                   cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        return process

    def health() -> dict | None:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            return json.load(opener.open(f"http://127.0.0.1:{port}/healthz", timeout=2))
        except OSError:
            return None

    async def until_healthy() -> dict:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while loop.time() < deadline:
            found = await asyncio.to_thread(health)
            if found is not None:
                return found
            await asyncio.sleep(0.1)
        raise AssertionError("the hub did not start: " + (tmp_path / "hub.log").read_text(errors="replace"))

    def device_token() -> str:
        made = subprocess.run([sys.executable, "-m", "hub.cli", "--data-dir", str(data), "token", "--role", "kiosk",
                               "--client-id", "kiosk-k"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
        return made.stdout.strip()

    async def tickets(count: int, tag: str) -> None:
        token = await asyncio.to_thread(device_token)
        try:
            async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
                await ws.send(json.dumps({"type": "AUTH", "payload": {"token": token}}))
                await ws.send(json.dumps({"type": "REGISTER_CLIENT",
                                          "payload": {"client_type": "kiosk", "client_id": "kiosk-k"}}))
                for i in range(count):
                    await ws.send(json.dumps({"type": "TICKET_CREATED",
                                              "payload": {"queue_id": 1 + i % 4, "request_id": f"{tag}-{i}"}}))
                    while json.loads(await ws.recv())["type"] != "TICKET_CREATED":
                        pass
        except Exception:  # noqa: BLE001 - the kill cuts the connection: that is the point
            pass

    process = start()
    try:
        await until_healthy()
        load = asyncio.create_task(tickets(400, "burst"))
        # Kill it while it ships: some events confirmed by PostgreSQL, others not yet.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        def recorded() -> int:
            with closing(sqlite3.connect(data / "qms.db")) as conn:
                return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])

        while not (10 < len(central_events(url, "hall-k")) < recorded() - 20):
            assert loop.time() < deadline, "never caught with some shipped and some not"
            await asyncio.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        await load
        assert recorded() > len(central_events(url, "hall-k")), "killed with events not yet shipped"
        process = start()
        await until_healthy()
        await tickets(5, "after")

        def caught_up() -> bool:
            with closing(sqlite3.connect(data / "qms.db")) as conn:
                local = [row[0] for row in conn.execute("SELECT event_id FROM events ORDER BY 1")]
            return central_events(url, "hall-k") == local

        await until(caught_up, "every event in PostgreSQL exactly once")
        with psycopg.connect(url) as conn, closing(sqlite3.connect(data / "qms.db")) as local:
            assert conn.execute("SELECT count(*) FROM tickets").fetchone()[0] == \
                local.execute("SELECT count(*) FROM tickets").fetchone()[0]
    finally:
        process.kill()
        process.wait(10)


async def test_a_lag_over_the_threshold_alerts_the_admins_and_shows_on_their_page(postgres, tmp_path):
    # A province server that is not there (a port nobody listens on): the events wait, the lag grows.
    clock = ManualClock(datetime(2026, 11, 25, 2, 0, tzinfo=UTC))
    site = hall_site(postgres, "nowhere", "hall-l", tmp_path)
    site = dataclasses.replace(site, central=dataclasses.replace(
        site.central, url=f"postgresql://qms_site_hall_l@127.0.0.1:{free_port()}/nowhere", lag_alert_minutes=10))
    hub = await start_hub(tmp_path / "lagging", site=site, clock=clock, shipping_poll=0.05, shipping_retry=(0.1,))
    hall = HallHarness(hub)
    try:
        admin = await hall.client("admin")
        await busy_morning(hall, "cut-off", tickets=4)
        await until(lambda: hub.shipper.status.problem != "" and hub.shipper.status.pending_events > 0,
                    "the failure noticed")
        await admin.expect_nothing("SYSTEM_ALERT", within=0.5)  # waiting, but not for long yet
        # The figures the tickets changed go out first (held back by the throttle until the clock moves).
        clock.advance(seconds=2)
        await admin.expect("STATS_UPDATE", where=lambda p: p["central_problem"] != "")
        clock.advance(minutes=10, seconds=30)
        alert = await admin.expect("SYSTEM_ALERT", where=lambda p: "máy chủ tỉnh" in p["message"])
        assert alert["severity"] == "warning"
        assert f"{hub.shipper.status.pending_events} sự kiện chờ gửi" in alert["message"]
        assert "lâu nhất 10 phút" in alert["message"]
        # Its page shows the lag without any ticket moving (the shipper tells the figures changed).
        stats = await admin.expect("STATS_UPDATE", where=lambda p: p["central_lag_seconds"] >= 600)
        assert stats["central_problem"]
        health = hub.http.health()
        assert health["central"]["lag_seconds"] >= 600 and health["central"]["problem"]
        assert "qms_central_lag_seconds" in hub.metrics.render()
        await asyncio.sleep(0.5)  # the shipper tries again and again meanwhile: still one alert for the episode
        await admin.settle()
        again = [m for m in admin.drain() if m["type"] == "SYSTEM_ALERT" and "máy chủ tỉnh" in m["payload"]["message"]]
        assert again == []
    finally:
        await hall.close_all()
        await hub.stop()


async def test_a_failure_is_shown_with_what_is_waiting_never_with_nothing(postgres, tmp_path):
    """The problem and the events waiting go out together: /healthz, the admin page and the alerts never tell
    of a failure with nothing waiting while the count is being read."""
    site = hall_site(postgres, "nowhere", "hall-w", tmp_path)
    site = dataclasses.replace(site, central=dataclasses.replace(
        site.central, url=f"postgresql://qms_site_hall_w@127.0.0.1:{free_port()}/nowhere"))
    hub = await start_hub(tmp_path / "waiting", site=site, shipping_poll=0.05, shipping_retry=(0.2,))
    hall = HallHarness(hub)
    read = hub.store.read

    async def slow_read(fn):
        result = await read(fn)
        await asyncio.sleep(0.05)  # a busy disk: the count of what waits takes a while
        return result

    hub.store.read = slow_read  # type: ignore[method-assign]
    seen: list[tuple[str, int]] = []
    try:
        await busy_morning(hall, "cut-off", tickets=3)

        async def watch() -> None:
            while True:
                status = hub.shipper.status
                seen.append((status.problem, status.pending_events))
                await asyncio.sleep(0.002)

        watcher = asyncio.create_task(watch())
        await until(lambda: hub.shipper.status.failures >= 3, "three failed tries")
        watcher.cancel()
        failing = [(problem, waiting) for problem, waiting in seen if problem]
        assert failing and all(waiting > 0 for _, waiting in failing), failing[:3]
    finally:
        hub.store.read = read  # type: ignore[method-assign]
        await hall.close_all()
        await hub.stop()
