"""What the tests share: a real hub on loopback with a real SQLite file, real WebSocket clients.

Test files import from here (``from support import ...``), never from each other
or from conftest; ``conftest.py`` only turns these into fixtures.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from hub.auth import TokenAuthority
from hub.clock import Clock
from hub.server import Hub, HubOptions
from hub.site_config import SiteConfig, sample_site

RECEIVE_TIMEOUT = 5.0
# The repository's top folder: scripts, bench/ and docs/ are found from here.
REPO_ROOT = Path(__file__).resolve().parents[2]


class TestClient:
    """A raw protocol client for tests: send dicts, wait for messages by type."""

    __test__ = False  # not a test class

    def __init__(self, ws: ClientConnection):
        self.ws = ws
        self.received: list[dict[str, Any]] = []
        self._unread: list[dict[str, Any]] = []

    async def send(self, message_type: str, payload: dict[str, Any] | None = None) -> None:
        await self.ws.send(json.dumps({"type": message_type, "payload": payload or {}}, ensure_ascii=False))

    async def send_raw(self, frame: str | bytes) -> None:
        await self.ws.send(frame)

    async def _next(self, timeout: float) -> dict[str, Any]:
        frame = await asyncio.wait_for(self.ws.recv(), timeout)
        message = json.loads(frame)
        self.received.append(message)
        return message

    async def expect(self, message_type: str, timeout: float = RECEIVE_TIMEOUT,
                     where: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
        """The next message of this type (others are kept for later expects); its payload."""
        for i, message in enumerate(self._unread):
            if message["type"] == message_type and (where is None or where(message["payload"])):
                del self._unread[i]
                return message["payload"]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no {message_type} within {timeout}s; unread: {self._unread}")
            try:
                message = await self._next(remaining)
            except TimeoutError:
                raise AssertionError(f"no {message_type} within {timeout}s; unread: {self._unread}") from None
            if message["type"] == message_type and (where is None or where(message["payload"])):
                return message["payload"]
            self._unread.append(message)

    async def expect_nothing(self, message_type: str | None = None, within: float = 0.3) -> None:
        """No message (of this type) arrives within ``within`` seconds."""
        try:
            while True:
                message = await self._next(within)
                if message_type is None or message["type"] == message_type:
                    raise AssertionError(f"unexpected {message['type']}: {message}")
                self._unread.append(message)
        except TimeoutError:
            pass

    def drain(self) -> list[dict[str, Any]]:
        """Forget what has been received so far but not expected."""
        unread, self._unread = self._unread, []
        return unread

    async def settle(self, within: float = 0.2) -> None:
        """Read until quiet, keeping everything unread."""
        try:
            while True:
                self._unread.append(await self._next(within))
        except TimeoutError:
            pass

    async def close(self) -> None:
        await self.ws.close()


class HallHarness:
    """A running hub and the means to connect as any role."""

    def __init__(self, hub: Hub):
        self.hub = hub
        self._ids = itertools.count(1)
        self.clients: list[TestClient] = []

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.hub.port}/ws"

    @property
    def tokens(self) -> TokenAuthority:
        return self.hub.tokens

    def token(self, role: str, **claims: Any) -> str:
        if role in ("kiosk", "tv", "counter"):
            claims.setdefault("client_id", f"{role}-{next(self._ids):03d}")
        else:
            claims.setdefault("username", f"{role}{next(self._ids):02d}")
            claims.setdefault("user_id", next(self._ids))
        if role in ("officer", "counter"):
            claims.setdefault("counter_id", 1)
        return self.tokens.issue(role, ttl=timedelta(hours=1), **claims)

    async def raw(self, **kw: Any) -> TestClient:
        ws = await connect(self.url, **kw)
        client = TestClient(ws)
        self.clients.append(client)
        return client

    async def client(self, role: str, client_type: str | None = None, client_id: str | None = None,
                     location: str = "main-hall", settle: bool = True, **claims: Any) -> TestClient:
        """Connect, AUTH and REGISTER_CLIENT as ``role``; the state messages are consumed."""
        if role in ("kiosk", "tv", "counter") and client_id is not None:
            claims.setdefault("client_id", client_id)
        token = self.token(role, **claims)
        identity = self.tokens.verify(token)
        client = await self.raw()
        await client.send("AUTH", {"token": f"Bearer {token}"})
        await client.expect("AUTH_OK")
        client_type = client_type or {"leader": "admin"}.get(role, role)
        client_id = client_id or identity.client_id or f"{client_type}-{identity.username}"
        await client.send("REGISTER_CLIENT", {"client_type": client_type, "client_id": client_id, "location": location})
        client.ack = await client.expect("CONNECTION_ACK")  # type: ignore[attr-defined]
        client.snapshot = await client.expect("SNAPSHOT")  # type: ignore[attr-defined]
        for _ in self.hub.site.counters:
            await client.expect("QUEUE_UPDATE")
        if settle:
            await client.settle(0.05)
            client.drain()
        return client

    async def close_all(self) -> None:
        for client in self.clients:
            try:
                # Unread frames stall the closing handshake (flow control): read them first.
                await client.settle(0.01)
                await client.close()
            except Exception:  # noqa: BLE001 - already closed by the test
                pass


class HubRig:
    """Hubs started one after another on one data dir (a restart is a new Hub on the same files).

    Node tests build on it; ``close_hubs`` stops what is still running at teardown.
    """

    def __init__(self, data_dir):
        self.data_dir = data_dir
        self.hubs: list[Hub] = []
        self.harnesses: list[HallHarness] = []

    async def start_hub(self, **options: Any) -> Hub:
        hub = await start_hub(self.data_dir, **options)
        self.hubs.append(hub)
        return hub

    async def stop_hub(self, hub: Hub) -> None:
        self.hubs.remove(hub)
        await hub.stop()

    def harness(self, hub: Hub) -> HallHarness:
        harness = HallHarness(hub)
        self.harnesses.append(harness)
        return harness

    async def close_hubs(self) -> None:
        for harness in self.harnesses:
            await harness.close_all()
        for hub in self.hubs:
            await hub.stop()


async def start_hub(data_dir, site: SiteConfig | None = None, clock: Clock | None = None,
                    **options: Any) -> Hub:
    options.setdefault("port", 0)
    options.setdefault("tick_interval", 0.05)
    hub = Hub(site or sample_site(), data_dir, options=HubOptions(**options), clock=clock)
    await hub.start()
    return hub


_probe_numbers = itertools.count(1)


async def round_trip(client: TestClient) -> list[dict[str, Any]]:
    """PING and wait for its PONG; return what arrived before it (and clear it).

    Frames of one connection are answered in order, and a broadcast is written
    to every recipient before the hub handles its sender's next frame. So once
    a probe's PONG is back, everything the hub sent this client earlier has
    arrived: no waiting for silence needed.
    """
    marker = f"probe-{next(_probe_numbers)}"
    await client.send("PING", {"timestamp": marker})
    await client.expect("PONG", where=lambda p: p["timestamp"] == marker)
    return client.drain()


def hub_fingerprint(hub) -> dict[str, Any]:
    """Everything a bad message could have changed: queues, counter statuses, and what is on disk.

    The SQLite file is read through a connection of its own, so this sees what
    the hub committed, not what it holds in memory.
    """
    queue = hub.queue
    with closing(sqlite3.connect(hub.data_dir / "qms.db")) as conn:
        on_disk = {
            "tickets": conn.execute("SELECT count(*) FROM tickets").fetchone()[0],
            "ticket_states": conn.execute(
                "SELECT ticket_id, status FROM tickets ORDER BY ticket_id").fetchall(),
            "counters": conn.execute(
                "SELECT counter_id, status, reason FROM counters ORDER BY counter_id").fetchall(),
            "announcements": conn.execute("SELECT count(*) FROM announcements").fetchone()[0],
            "ratings": conn.execute("SELECT count(*) FROM ratings").fetchone()[0],
        }
    return {
        "queues": [queue.queue_view(counter.id) for counter in hub.site.counters],
        "lines": [queue.line_view(q.id) for q in hub.site.queues],
        "tickets": sorted(
            (t.ticket_id, t.status, t.queue_id, t.counter_id, t.call_count) for t in queue.tickets.values()
        ),
        "numbering": (queue.next_ticket_id, [(q.config.id, q.next_number) for q in queue.queues.values()]),
        "in_flight": sorted(queue._reserved),
        "statuses": [(r.config.id, r.status, r.reason, r.changed_by) for r in queue.counters.values()],
        "announcements": [a.announcement_id for a in hub.board.showing],
        "registered": sorted(s.client_id for s in hub.clients.sessions.values() if s.client_id),
        "disk": on_disk,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
