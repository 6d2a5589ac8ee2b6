"""No acknowledged ticket is lost: a hub process killed with SIGKILL mid-burst, then restarted."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from support import REPO_ROOT, HallHarness, free_port, start_hub
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from hub.auth import TokenAuthority
from hub.site_config import sample_site

KIOSKS = 10
KILL_AFTER_ACKS = 200




class HubProcess:
    """``qms-hub serve`` as a real subprocess."""

    def __init__(self, data_dir: Path, port: int, log_path: Path):
        self.data_dir, self.port, self.log_path = data_dir, port, log_path
        self.proc: subprocess.Popen | None = None
        # The sample site with each kiosk's ticket allowance lifted (hub.ticket_limit): the burst is the point.
        self.site_path = log_path.with_name("burst_site.toml")
        sample = (REPO_ROOT / "hub" / "sample_site.toml").read_text(encoding="utf-8")
        lifted = re.sub(r"(?m)^tickets_per_minute = .*$", "tickets_per_minute = 1000000", sample, count=1)
        lifted = re.sub(r"(?m)^ticket_burst = .*$", "ticket_burst = 1000000", lifted, count=1)
        assert lifted.count("= 1000000") == 2, "the sample site's [rate_limit] names no ticket allowance to lift"
        self.site_path.write_text(lifted, encoding="utf-8")

    def start(self) -> None:
        with open(self.log_path, "ab") as log:  # the child has its own copy of the file
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hub.cli", "--data-dir", str(self.data_dir), "serve",
                 "--config", str(self.site_path), "--host", "127.0.0.1", "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited early: {self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as response:
                    if json.load(response)["database"] == "ok":
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("hub did not become healthy")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def hub_process(tmp_path):
    process = HubProcess(tmp_path / "data", free_port(), tmp_path / "hub.log")
    yield process
    process.stop()


async def open_kiosk(url: str, token: str, client_id: str):
    ws = await connect(url, open_timeout=5)
    await ws.send(json.dumps({"type": "AUTH", "payload": {"token": token}}))
    await ws.send(json.dumps({"type": "REGISTER_CLIENT", "payload": {"client_type": "kiosk", "client_id": client_id}}))
    while True:
        message = json.loads(await ws.recv())
        if message["type"] == "CONNECTION_ACK":
            return ws
        assert message["type"] in ("AUTH_OK",), message


async def ticket(ws, request_id: str, counter_id: int) -> dict:
    await ws.send(json.dumps({"type": "TICKET_CREATED",
                              "payload": {"counter_id": counter_id, "request_id": request_id}}))
    while True:
        message = json.loads(await ws.recv())
        if message["type"] == "TICKET_CREATED" and message["payload"].get("request_id") == request_id:
            return message["payload"]
        assert message["type"] != "ERROR", message


def rows(data_dir: Path) -> list[tuple]:
    with sqlite3.connect(data_dir / "qms.db") as conn:
        # Numbers count per queue (the counter a seed kiosk names stands for its first queue).
        return conn.execute("SELECT request_id, queue_id, number FROM tickets ORDER BY ticket_id").fetchall()


async def test_sigkill_mid_burst_loses_no_acknowledged_ticket(hub_process):
    data_dir = hub_process.data_dir
    authority = TokenAuthority.from_data_dir(data_dir)
    url = f"ws://127.0.0.1:{hub_process.port}/ws"
    tokens = {i: authority.issue("kiosk", client_id=f"kiosk-{i:03d}", ttl=timedelta(hours=1)) for i in range(KIOSKS)}
    counters = [c.id for c in sample_site().counters]
    hub_process.start()

    acknowledged: dict[str, dict] = {}
    in_flight: dict[int, tuple[str, int]] = {}
    enough = asyncio.Event()

    async def burst(i: int) -> None:
        ws = await open_kiosk(url, tokens[i], f"kiosk-{i:03d}")
        seq = 0
        try:
            while True:
                request_id = f"k{i}-{seq}"
                counter_id = counters[(i + seq) % 2]  # two counters share the burst
                in_flight[i] = (request_id, counter_id)
                acknowledged[request_id] = await ticket(ws, request_id, counter_id)
                del in_flight[i]
                seq += 1
                if len(acknowledged) >= KILL_AFTER_ACKS:
                    enough.set()
        except ConnectionClosed:
            return

    tasks = [asyncio.create_task(burst(i)) for i in range(KIOSKS)]
    await asyncio.wait_for(enough.wait(), 60)
    hub_process.kill()  # mid-burst: every kiosk has a request in flight
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert len(acknowledged) >= KILL_AFTER_ACKS

    # Every acknowledged ticket is on disk with the number the kiosk was told.
    stored = {request_id: (queue_id, number) for request_id, queue_id, number in rows(data_dir)}
    for request_id, payload in acknowledged.items():
        assert stored.get(request_id) == (payload["queue_id"], payload["ticket_number"]), request_id

    hub_process.start()
    # The kiosks come back and retry what was in flight with the same request_id.
    retried: dict[str, dict] = {}
    for i, (request_id, counter_id) in sorted(in_flight.items()):
        ws = await open_kiosk(url, tokens[i], f"kiosk-{i:03d}")
        retried[request_id] = await ticket(ws, request_id, counter_id)
        again = await ticket(ws, request_id, counter_id)
        assert again["ticket_id"] == retried[request_id]["ticket_id"]  # idempotent
        await ws.close()
    after = rows(data_dir)
    request_ids = [r[0] for r in after]
    assert len(request_ids) == len(set(request_ids)), "a retried request made a second ticket"
    assert set(request_ids) == set(acknowledged) | set(retried)
    for counter_id in counters[:2]:
        numbers = sorted(number for _, c, number in after if c == counter_id)
        start = sample_site().queue(sample_site().counter(counter_id).queue_ids[0]).start_number
        assert numbers == list(range(start, start + len(numbers))), f"gap or repeat at counter {counter_id}"

    # Numbering goes on, and a TV that connects now sees the whole queue.
    ws = await open_kiosk(url, tokens[0], "kiosk-000")
    following = await ticket(ws, "after-restart", counters[0])
    numbers_1 = [number for _, c, number in after if c == counters[0]]
    assert following["ticket_number"] == max(numbers_1) + 1
    await ws.close()
    tv_token = authority.issue("tv", client_id="tv-hall-1", ttl=timedelta(hours=1))
    async with connect(url) as tv:
        await tv.send(json.dumps({"type": "AUTH", "payload": {"token": tv_token}}))
        await tv.send(json.dumps({"type": "REGISTER_CLIENT",
                                  "payload": {"client_type": "tv", "client_id": "tv-hall-1"}}))
        snapshot = None
        while snapshot is None:
            message = json.loads(await asyncio.wait_for(tv.recv(), 5))
            if message["type"] == "SNAPSHOT":
                snapshot = message["payload"]
        waiting = {c["counter_id"]: c["waiting_count"] for c in snapshot["counters"]}
        assert waiting[counters[0]] == len(numbers_1) + 1
        # Counters may share a queue: the hall's total is the queues'.
        assert sum(q["waiting_count"] for q in snapshot["queues"]) == len(after) + 1


async def test_restart_keeps_counter_status_and_calls(tmp_path):
    """A paused counter, the number being served and a live announcement survive a restart."""

    hub = await start_hub(tmp_path / "data")
    hall = HallHarness(hub)
    admin = await hall.client("admin")
    kiosk = await hall.client("kiosk")
    for i in range(3):
        await kiosk.send("TICKET_CREATED", {"counter_id": 1, "request_id": f"r{i}"})
        await kiosk.expect("TICKET_CREATED")
    await admin.send("CALL_TICKET", {"counter_id": 1})
    await admin.expect("CALL_TICKET")
    await admin.send("COUNTER_STATUS_CHANGE", {"counter_id": 2, "status": "paused", "reason": "Hỏng máy"})
    await admin.expect("COUNTER_STATUS_UPDATE")
    await admin.send("ANNOUNCEMENT", {"message": "Bảo trì lúc 12:00", "duration": 600})
    await admin.expect("ANNOUNCEMENT")
    await hall.close_all()
    await hub.stop()

    hub = await start_hub(tmp_path / "data")
    hall = HallHarness(hub)
    tv = await hall.client("tv")
    counters = {c["counter_id"]: c for c in tv.snapshot["counters"]}
    assert counters[1]["current_number"] == 1
    assert counters[1]["next_numbers"] == [2, 3]
    assert (counters[2]["status"], counters[2]["reason"]) == ("paused", "Hỏng máy")
    assert [a["message"] for a in tv.snapshot["announcements"]] == ["Bảo trì lúc 12:00"]
    assert tv.snapshot["recent_calls"][0]["ticket_number"] == 1
    await hall.close_all()
    await hub.stop()

