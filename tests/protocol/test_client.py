"""The reconnecting hub client (protocol.client) against a real hub on loopback.

The hub runs on the test's event loop; every ThreadedHubClient runs its own
loop in its own thread, as on a kiosk or TV. Waiting for the client is done
by polling with ``await asyncio.sleep`` in between, so the hub keeps running
while a test waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme
from support import REPO_ROOT, HubRig
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from hub.auth import TokenAuthority
from hub.server import Hub
from protocol import messages as m
from protocol.client import (
    CounterView,
    HubClientConfig,
    HubConnection,
    HubEvent,
    HubState,
    NotConnected,
    ThreadedHubClient,
    apply_message,
)

# How long a wait may take before the test fails with a message; not a speed requirement.
WAIT = 5.0
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]+$")


class Watched:
    """A ThreadedHubClient and everything its poll() has returned so far."""

    def __init__(self, client: ThreadedHubClient):
        self.client = client
        self.received: list[Any] = []

    @property
    def state(self) -> HubState:
        return self.client.state

    def messages(self, message_class: type) -> list[Any]:
        return [item for item in self.received if isinstance(item, message_class)]

    def events(self, kind: str) -> list[HubEvent]:
        return [item for item in self.received if isinstance(item, HubEvent) and item.kind == kind]

    def answers_to(self, request_id: str) -> list[m.TicketCreated]:
        return [t for t in self.messages(m.TicketCreated) if t.payload.request_id == request_id]

    async def until(self, predicate: Callable[[], Any], what: str, timeout: float = WAIT) -> None:
        """Poll until ``predicate()`` holds; fail saying ``what`` did not happen."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self.received.extend(self.client.poll())
            if predicate():
                return
            if loop.time() >= deadline:
                recent = [_summary(item) for item in self.received[-12:]]
                raise AssertionError(f"{self.client.config.client_id}: {what}: not within {timeout}s; "
                                     f"last received: {recent}")
            await asyncio.sleep(0.01)


def _summary(item: Any) -> str:
    if isinstance(item, HubEvent):
        return f"event {item.kind}: {item.message}"
    return m.message_type(item)


class Rig(HubRig):
    """Hubs on one data dir, threaded clients and raw test clients; all stopped at teardown."""

    def __init__(self, data_dir: Path):
        super().__init__(data_dir)
        self.clients: list[ThreadedHubClient] = []

    def client(self, hub: Hub | None, client_type: str, client_id: str, *, url: str | None = None,
               token: str | None = None, **config: Any) -> Watched:
        if token is None:
            assert hub is not None
            token = hub.tokens.issue(client_type, client_id=client_id, ttl=timedelta(hours=1))
        if url is None:
            assert hub is not None
            url = f"ws://127.0.0.1:{hub.port}/ws"
        config.setdefault("reconnect_delay", 0.1)
        client = ThreadedHubClient(HubClientConfig(
            url=url, token=token, client_type=client_type, client_id=client_id, location="sảnh chính", **config))
        self.clients.append(client)
        client.start()
        return Watched(client)

    async def close(self) -> None:
        for client in self.clients:
            # stop() joins the thread; off the event loop, so the hub can answer the close handshake.
            await asyncio.to_thread(client.stop)
        await self.close_hubs()


@pytest.fixture
async def rig(tmp_path):
    rig = Rig(tmp_path / "data")
    yield rig
    await rig.close()
    leftover = [c.config.client_id for c in rig.clients if c._thread is not None and c._thread.is_alive()]
    assert not leftover, f"client threads still running: {leftover}"


def tickets_in_database(data_dir: Path, request_id: str) -> int:
    with sqlite3.connect(data_dir / "qms.db") as conn:
        return conn.execute("SELECT COUNT(*) FROM tickets WHERE request_id = ?", (request_id,)).fetchone()[0]


async def ping_round_trip(watched: Watched, tag: str) -> None:
    """Everything the hub sent before answering this PING has been polled afterwards."""
    await asyncio.wrap_future(watched.client.send(m.Ping(m.PingPayload(timestamp=tag))))
    await watched.until(lambda: any(p.payload.timestamp == tag for p in watched.messages(m.Pong)), f"PONG {tag}")


# --- live hub ---------------------------------------------------------------------------------


async def test_tv_mirrors_the_hall_and_follows_a_ticket(rig):
    hub = await rig.start_hub()
    tv = rig.client(hub, "tv", "tv-hall")
    await tv.until(lambda: tv.messages(m.Snapshot) and len(tv.messages(m.QueueUpdate)) == len(hub.site.counters),
                   "registered and got the state")
    assert [e.kind for e in tv.received if isinstance(e, HubEvent)] == ["connected"]
    assert isinstance(tv.received[1], m.ConnectionAck)  # the event, then the messages in order
    state = tv.state
    assert state.connected
    assert state.site_name == hub.site.site_name
    assert state.service_day == hub.queue.service_day.isoformat()
    assert list(state.counters) == [c.id for c in hub.site.counters]
    counter = state.counters[1]
    assert counter.name == hub.site.counter(1).name
    assert [p.procedure_id for p in counter.procedures] == [p.id for p in hub.site.procedures_of(1)]
    assert all(c.status == "active" and c.waiting_count == 0 for c in state.counters.values())
    # The hub runs on this machine: its clock and ours agree to well within a minute.
    assert abs(state.server_time_offset) < 60
    assert "tv-hall" in hub.clients.by_id

    kiosk = await rig.harness(hub).client("kiosk")
    await kiosk.send("TICKET_CREATED", {"counter_id": 1, "request_id": "kiosk-test-1"})
    mine = await kiosk.expect("TICKET_CREATED")

    def queue_grew():
        return any(u.payload.counter_id == 1 and u.payload.waiting_count == 1 for u in tv.messages(m.QueueUpdate))

    await tv.until(queue_grew, "QUEUE_UPDATE with one waiting at counter 1")
    seen = [t.payload for t in tv.messages(m.TicketCreated)]
    assert [t.ticket_id for t in seen] == [mine["ticket_id"]]
    assert seen[0].request_id is None  # the kiosk's alone
    # The mirror is updated before a message is handed over.
    counter = tv.state.counters[1]
    assert counter.waiting_count == 1
    assert counter.next_numbers == (mine["ticket_number"],)


async def test_reconnects_and_resyncs_after_a_hub_restart(rig):
    hub = await rig.start_hub()
    port = hub.port
    # A slower retry than the other tests, so the new hub is usually changed before the TV is back.
    tv = rig.client(hub, "tv", "tv-hall", reconnect_delay=0.5)
    await tv.until(lambda: tv.state.connected and tv.state.counters, "registered")

    await rig.stop_hub(hub)
    await tv.until(lambda: tv.events("disconnected"), "reported the drop")
    assert not tv.state.connected
    # Last known state stays on screen while down.
    assert tv.state.counters[2].status == "active"

    new_hub = await rig.start_hub(port=port)
    admin = await rig.harness(new_hub).client("admin")
    await admin.send("COUNTER_STATUS_CHANGE", {"counter_id": 2, "status": "paused", "reason": "Nghỉ trưa"})
    await admin.expect("COUNTER_STATUS_UPDATE")
    back_before_the_pause = "tv-hall" in new_hub.clients.by_id
    received_before = len(tv.received)

    await tv.until(lambda: tv.state.connected and tv.state.counters[2].status == "paused",
                   "reconnected with counter 2 paused")
    assert tv.state.counters[2].reason == "Nghỉ trưa"
    assert [e.kind for e in tv.received if isinstance(e, HubEvent)][:3] == ["connected", "disconnected", "connected"]
    if not back_before_the_pause:
        # The pause reached the TV through the new hub's SNAPSHOT, not a live update.
        assert not [u for u in tv.received[received_before:] if isinstance(u, m.CounterStatusUpdate)]
    assert "tv-hall" in new_hub.clients.by_id


async def test_ticket_requested_while_the_hub_is_down_is_issued_once(rig):
    hub = await rig.start_hub()
    port = hub.port
    kiosk = rig.client(hub, "kiosk", "kiosk-entrance")
    await kiosk.until(lambda: kiosk.state.connected, "registered")
    await rig.stop_hub(hub)
    await kiosk.until(lambda: kiosk.events("disconnected"), "reported the drop")

    request_id = kiosk.client.request_ticket(counter_id=1)
    assert REQUEST_ID.match(request_id) and len(request_id) <= 64
    assert request_id.startswith("kiosk-entrance-")
    await kiosk.until(lambda: request_id in kiosk.client.pending_request_ids, "request recorded as pending")
    failed = kiosk.client.send(m.Ping())
    with pytest.raises(NotConnected):
        await asyncio.wrap_future(failed)

    new_hub = await rig.start_hub(port=port)
    await kiosk.until(lambda: kiosk.answers_to(request_id), "TICKET_CREATED for the pending request")
    await ping_round_trip(kiosk, "after-ticket")

    answers = kiosk.answers_to(request_id)
    assert len(answers) == 1
    ticket = new_hub.queue.find_request("kiosk-entrance", request_id)
    assert answers[0].payload.ticket_id == ticket.ticket_id
    assert tickets_in_database(rig.data_dir, request_id) == 1
    assert kiosk.client.pending_request_ids == ()


async def test_ticket_request_cut_off_by_a_hub_restart_is_issued_once(rig):
    hub = await rig.start_hub()
    port = hub.port
    kiosk = rig.client(hub, "kiosk", "kiosk-entrance")
    await kiosk.until(lambda: kiosk.state.connected, "registered")

    request_id = kiosk.client.request_ticket(procedure_id=201)
    # The request may or may not reach the hub, and its answer may be lost in the shutdown.
    await rig.stop_hub(hub)
    new_hub = await rig.start_hub(port=port)

    await kiosk.until(lambda: kiosk.answers_to(request_id) and kiosk.state.connected, "the ticket, once back")
    await ping_round_trip(kiosk, "after-ticket")
    answers = kiosk.answers_to(request_id)
    assert len(answers) == 1
    assert answers[0].payload.counter_id == 2
    assert list(new_hub.queue.tickets_by_request) == [("kiosk-entrance", request_id)]
    assert tickets_in_database(rig.data_dir, request_id) == 1
    assert kiosk.client.pending_request_ids == ()


async def test_refused_ticket_request_completes_with_the_error(rig):
    hub = await rig.start_hub()
    admin = await rig.harness(hub).client("admin")
    await admin.send("COUNTER_STATUS_CHANGE", {"counter_id": 1, "status": "paused"})
    await admin.expect("COUNTER_STATUS_UPDATE")
    kiosk = rig.client(hub, "kiosk", "kiosk-entrance")
    await kiosk.until(lambda: kiosk.state.connected, "registered")
    assert not kiosk.state.counters[1].is_active

    request_id = kiosk.client.request_ticket(counter_id=1)

    def refused():
        return [e for e in kiosk.messages(m.Error) if e.payload.request_id == request_id]

    await kiosk.until(refused, "ERROR for the request")
    assert refused()[0].payload.error_code == "COUNTER_PAUSED"
    assert kiosk.client.pending_request_ids == ()
    assert hub.queue.find_request("kiosk-entrance", request_id) is None


async def test_a_repeated_answer_is_delivered_once(rig):
    hub = await rig.start_hub()
    kiosk = rig.client(hub, "kiosk", "kiosk-entrance")
    await kiosk.until(lambda: kiosk.state.connected, "registered")
    request_id = kiosk.client.request_ticket(counter_id=1)
    # The same request again, as a retry whose first answer was still on its way: the hub answers both.
    retry = m.TicketRequest(m.TicketRequestPayload(counter_id=1, request_id=request_id))
    await asyncio.wrap_future(kiosk.client.send(retry))
    await ping_round_trip(kiosk, "after-both")
    assert hub.metrics.messages["TICKET_CREATED"] == 2
    assert len(kiosk.answers_to(request_id)) == 1
    assert list(hub.queue.tickets_by_request) == [("kiosk-entrance", request_id)]


async def test_bad_token_is_reported_and_not_retried_in_a_tight_loop(rig, tmp_path):
    hub = await rig.start_hub()
    foreign_token = TokenAuthority.from_data_dir(tmp_path / "another-hub").issue(
        "tv", client_id="tv-hall", ttl=timedelta(hours=1))
    tv = rig.client(hub, "tv", "tv-hall", token=foreign_token, reconnect_delay=0.1)
    await tv.until(lambda: tv.events("auth_failed"), "reported auth_failed")
    assert "AUTH_FAILED" in tv.events("auth_failed")[0].message

    before = hub.metrics.connections_total
    await asyncio.sleep(1.0)
    tv.received.extend(tv.client.poll())
    # At the 0.1 s reconnect delay a client that ignored the refusal would open ~10 connections
    # in this second; waiting AUTH_FAILURE_BACKOFF delays (0.6 s) leaves room for one or two.
    assert hub.metrics.connections_total - before <= 2
    assert not tv.state.connected
    assert not tv.messages(m.ConnectionAck)
    assert "tv-hall" not in hub.clients.by_id


async def test_tls_hub_is_verified_against_the_configured_ca(rig, tmp_path):
    hall_ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    hall_ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    hall_ca_file = tmp_path / "hall-ca.pem"
    hall_ca.cert_pem.write_to_path(str(hall_ca_file))
    other_ca_file = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca_file))

    hub = await rig.start_hub(ssl_context=server_context)
    url = f"wss://localhost:{hub.port}/ws"
    trusted = rig.client(hub, "tv", "tv-tls", url=url, ca_file=str(hall_ca_file))
    stranger = rig.client(hub, "tv", "tv-wrong-ca", url=url, ca_file=str(other_ca_file))

    await trusted.until(lambda: trusted.state.connected and trusted.state.counters, "registered over TLS")
    assert "tv-tls" in hub.clients.by_id

    await stranger.until(lambda: len(stranger.events("connect_failed")) >= 2, "refused the hub's certificate twice")
    assert "CERTIFICATE_VERIFY_FAILED" in stranger.events("connect_failed")[0].message
    assert not stranger.messages(m.ConnectionAck)
    assert not stranger.state.connected
    assert "tv-wrong-ca" not in hub.clients.by_id


class HeldBeforeItsLoop(ThreadedHubClient):
    """A client whose thread waits for ``let_go`` before it makes its loop: as on a Pi, importing asyncio and
    websockets there takes a while after start()."""

    def __init__(self, config: HubClientConfig):
        super().__init__(config)
        self.let_go = threading.Event()

    def _thread_main(self) -> None:
        self.let_go.wait(WAIT)
        super()._thread_main()


def held_client(rig: Rig, hub: Hub, client_id: str) -> HeldBeforeItsLoop:
    token = hub.tokens.issue("kiosk", client_id=client_id, ttl=timedelta(hours=1))
    client = HeldBeforeItsLoop(HubClientConfig(url=f"ws://127.0.0.1:{hub.port}/ws", token=token,
                                               client_type="kiosk", client_id=client_id, reconnect_delay=0.1))
    rig.clients.append(client)
    return client


async def test_a_ticket_requested_before_the_client_thread_has_its_loop_is_issued_once(rig):
    hub = await rig.start_hub()
    client = held_client(rig, hub, "kiosk-early")
    assert client.poll() == [] and not client.connected  # a frame may be drawn before start()
    client.start()
    request_id = client.request_ticket(counter_id=1)
    assert client._loop is None, "the request was made before the client thread had its loop"
    with pytest.raises(NotConnected):
        await asyncio.wrap_future(client.send(m.Ping()))

    client.let_go.set()
    kiosk = Watched(client)
    await kiosk.until(lambda: kiosk.answers_to(request_id), "TICKET_CREATED for the request made early")
    await ping_round_trip(kiosk, "after-early-ticket")
    assert len(kiosk.answers_to(request_id)) == 1
    assert tickets_in_database(rig.data_dir, request_id) == 1


async def test_a_client_stopped_before_its_thread_has_its_loop_never_connects(rig):
    hub = await rig.start_hub()
    client = held_client(rig, hub, "kiosk-stopped-early")
    client.start()
    threading.Timer(0.2, client.let_go.set).start()
    await asyncio.to_thread(client.stop)
    assert client._thread is not None and not client._thread.is_alive()
    assert client._connection.attempts == 0
    assert "kiosk-stopped-early" not in hub.clients.by_id


def test_importing_the_client_loads_neither_asyncio_nor_websockets():
    # A node draws its first frame from the client's mirror; the connection loads these on the client's thread.
    code = ("import sys, protocol.client\n"
            "print(sorted(n for n in ('asyncio', 'websockets', 'ssl') if n in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


async def test_asyncio_core_sends_and_stops(rig):
    hub = await rig.start_hub()
    token = hub.tokens.issue("tv", client_id="tv-core", ttl=timedelta(hours=1))
    config = HubClientConfig(url=f"ws://127.0.0.1:{hub.port}/ws", token=token, client_type="tv",
                             client_id="tv-core", reconnect_delay=0.1)
    received: list[m.ServerMessage] = []
    events: list[HubEvent] = []
    connection = HubConnection(config, on_message=received.append, on_event=events.append)
    with pytest.raises(NotConnected):
        await connection.send(m.Ping())

    running = asyncio.create_task(connection.run())
    try:
        await _wait(lambda: any(isinstance(x, m.Snapshot) for x in received), "SNAPSHOT")
        assert connection.connected and connection.identity.client_id == "tv-core"
        await connection.send(m.Ping(m.PingPayload(timestamp="core")))
        await _wait(lambda: any(isinstance(x, m.Pong) and x.payload.timestamp == "core" for x in received), "PONG")
    finally:
        connection.stop()
        await asyncio.wait_for(running, WAIT)
    assert running.result() is None  # stop() ends run() normally
    assert not connection.connected and not connection.state.connected
    assert [e.kind for e in events] == ["connected", "disconnected"]
    await _wait(lambda: "tv-core" not in hub.clients.by_id, "hub saw the client leave")


async def _wait(predicate: Callable[[], Any], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not predicate():
        if loop.time() >= deadline:
            raise AssertionError(f"{what}: not within {WAIT}s")
        await asyncio.sleep(0.01)


# --- a hub that misbehaves ------------------------------------------------------------------------


async def registered_by_hand(ws: ServerConnection, client_id: str, server_time: str) -> None:
    """Play the hub's part of AUTH and REGISTER_CLIENT for a TV, up to its CONNECTION_ACK."""
    assert json.loads(await ws.recv())["type"] == "AUTH"
    await ws.send(json.dumps({"type": "AUTH_OK", "payload": {
        "role": "tv", "client_id": client_id, "user_id": None, "username": None, "full_name": None,
        "counter_id": None, "expires_at": "2030-01-01T00:00:00.000Z"}}))
    assert json.loads(await ws.recv())["type"] == "REGISTER_CLIENT"
    await ws.send(json.dumps({"type": "CONNECTION_ACK", "payload": {
        "client_id": client_id, "server_time": server_time, "connected_clients": 1}}))


async def test_frames_that_are_not_messages_are_skipped(rig):
    async def odd_hub(ws: ServerConnection) -> None:
        await registered_by_hand(ws, "tv-odd", "2030-01-01T00:00:00.000Z")
        await ws.send("not json at all")  # even between the CONNECTION_ACK and the SNAPSHOT
        await ws.send(m.encode(_snapshot("2030-01-01T00:00:00.000Z", [])))
        await ws.send(json.dumps({"type": "SOMETHING_NEWER", "payload": {"x": 1}}))
        await ws.send(json.dumps({"type": "QUEUE_UPDATE", "payload": {"counter_id": "one"}}))
        await ws.send(b"\xff\xfe\x00")
        await ws.send(json.dumps({"type": "QUEUE_UPDATE", "payload": {
            "counter_id": 3, "current_number": 7, "waiting_count": 2, "next_numbers": [8, 9],
            "average_wait_time": 4, "counter_name": "Quầy 3", "status": "active", "field_from_the_future": True}}))
        await ws.wait_closed()

    async with serve(odd_hub, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        tv = rig.client(None, "tv", "tv-odd", url=f"ws://127.0.0.1:{port}/ws", token="any")
        await tv.until(lambda: tv.messages(m.QueueUpdate), "the good QUEUE_UPDATE after the bad frames")
        assert [type(x) for x in tv.received] == [HubEvent, m.ConnectionAck, m.Snapshot, m.QueueUpdate]
        assert tv.state.connected
        assert tv.state.counters[3] == CounterView(counter_id=3, name="Quầy 3", current_number=7, waiting_count=2,
                                                   next_numbers=(8, 9), average_wait_time=4)
        await asyncio.to_thread(tv.client.stop)


async def test_the_mirror_is_connected_only_with_the_halls_state():
    """Never "connected" with an empty hall: a node draws from the mirror whenever it likes.

    The hub sends CONNECTION_ACK and, separately here, the SNAPSHOT, with a broadcast between them; the
    mirror must go from "not connected" straight to "connected, with the SNAPSHOT's counters", and the
    broadcast must still be delivered, in order.
    """
    snapshot_may_go = asyncio.Event()
    hub_time = "2030-01-01T00:00:00.000Z"

    async def slow_hub(ws: ServerConnection) -> None:
        await registered_by_hand(ws, "tv-slow", hub_time)
        await ws.send(json.dumps({"type": "COUNTER_STATUS_UPDATE", "payload": {
            "counter_id": 9, "counter_name": "Quầy 9", "status": "paused", "reason": "Họp", "changed_by": "admin",
            "timestamp": hub_time, "affected_tickets": 0}}))
        await snapshot_may_go.wait()
        with contextlib.suppress(ConnectionClosed):  # a failing test has closed it already
            await ws.send(m.encode(_snapshot(hub_time, [_counter_state(1, waiting_count=3), _counter_state(2)])))
        await ws.wait_closed()

    seen: list[HubState] = []
    received: list[m.ServerMessage] = []
    events: list[tuple[str, HubState]] = []
    async with serve(slow_hub, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        connection = HubConnection(
            HubClientConfig(url=f"ws://127.0.0.1:{port}/ws", token="any", client_type="tv", client_id="tv-slow",
                            reconnect_delay=0.1),
            on_message=received.append, on_event=lambda e: events.append((e.kind, connection.state)))
        running = asyncio.create_task(connection.run())

        async def watch() -> None:
            while True:
                seen.append(connection.state)
                await asyncio.sleep(0)

        watcher = asyncio.create_task(watch())
        try:
            await _wait(lambda: connection.identity is not None and len(seen) > 50, "AUTH_OK, the ACK awaited")
            await asyncio.sleep(0.05)  # the ACK and the broadcast are in; the SNAPSHOT is not
            assert not connection.state.connected and not connection.connected
            assert not events and not received
            snapshot_may_go.set()
            await _wait(lambda: connection.state.connected, "connected")
        finally:
            snapshot_may_go.set()  # the handler ends, and the server with it, whatever failed
            watcher.cancel()
            connection.stop()
            await asyncio.wait_for(running, WAIT)
    assert [kind for kind, _ in events][:1] == ["connected"]
    at_connected = events[0][1]
    assert at_connected.connected and list(at_connected.counters) == [1, 2]
    assert at_connected.counters[1].waiting_count == 3
    assert all(list(state.counters) == [1, 2] for state in seen if state.connected)
    assert [type(x) for x in received] == [m.ConnectionAck, m.CounterStatusUpdate, m.Snapshot]


# --- the mirror, without a network ---------------------------------------------------------------


def _counter_state(counter_id: int, **fields: Any) -> m.CounterState:
    values = dict(counter_id=counter_id, counter_name=f"Quầy {counter_id}", status="active", reason="", changed_by="",
                  status_changed_at=None, procedures=[], current_number=None, waiting_count=0, next_numbers=[],
                  average_wait_time=0)
    values.update(fields)
    return m.CounterState(**values)


def _snapshot(server_time: str, counters: list[m.CounterState]) -> m.Snapshot:
    return m.Snapshot(m.SnapshotPayload(
        site_name="Trung tâm", server_time=server_time, service_day="2030-01-01", timezone="Asia/Ho_Chi_Minh",
        display_duration=10, counters=counters, announcements=[], recent_calls=[]))


def test_snapshot_replaces_the_mirror_and_sets_the_hub_clock():
    hub_time = "2030-01-01T03:00:00.000Z"
    hub_epoch = m.parse_timestamp(hub_time).timestamp()
    state = apply_message(HubState(), _snapshot(hub_time, [_counter_state(1, waiting_count=5), _counter_state(2)]),
                          local_time=hub_epoch - 90.0)
    assert state.server_time_offset == pytest.approx(90.0)
    assert list(state.counters) == [1, 2] and state.counters[1].waiting_count == 5

    again = apply_message(state, _snapshot(hub_time, [_counter_state(2, status="paused", reason="Họp")]),
                          local_time=hub_epoch)
    assert list(again.counters) == [2]  # wholesale: counter 1 is gone, nothing stale
    assert again.counters[2].status == "paused" and again.counters[2].reason == "Họp"
    assert again.server_time_offset == pytest.approx(0.0)
    assert state.counters[1].waiting_count == 5  # the earlier snapshot is untouched
    with pytest.raises(TypeError):
        again.counters[5] = CounterView(counter_id=5, name="x")  # type: ignore[index]


def test_status_and_queue_updates_change_one_counter():
    state = apply_message(HubState(), _snapshot("2030-01-01T03:00:00.000Z", [_counter_state(1), _counter_state(2)]))
    paused = apply_message(state, m.CounterStatusUpdate(m.CounterStatusUpdatePayload(
        counter_id=2, counter_name="Quầy 2", status="paused", reason="Nghỉ trưa", changed_by="admin",
        timestamp="2030-01-01T03:01:00.000Z", affected_tickets=0)))
    assert paused.counters[2].status == "paused" and paused.counters[2].reason == "Nghỉ trưa"
    assert paused.counters[1] == state.counters[1]
    queued = apply_message(paused, m.QueueUpdate(m.QueueUpdatePayload(
        counter_id=1, current_number=3, waiting_count=2, next_numbers=[4, 5], average_wait_time=6)))
    assert queued.counters[1].current_number == 3 and queued.counters[1].next_numbers == (4, 5)
    assert queued.counters[1].name == "Quầy 1" and queued.counters[2].status == "paused"


def test_a_call_and_its_announcement_make_one_recent_call():
    state = HubState()
    called = apply_message(state, m.CallTicketOut(m.CallTicketOutPayload(
        ticket_number=12, counter_id=1, counter_name="Quầy 1",
        called_by=m.CalledBy(user_id=1, username="cb", full_name=None), timestamp="2030-01-01T03:00:00.000Z")))
    announced = apply_message(called, m.TicketAnnouncement(m.TicketAnnouncementPayload(
        ticket_number=12, counter_id=1, counter_name="Quầy 1",
        announcement_text="Mời khách hàng số 12 đến quầy Quầy 1", audio_url=None, display_duration=10)))
    assert len(announced.recent_calls) == 1
    call = announced.recent_calls[0]
    assert (call.ticket_number, call.timestamp) == (12, "2030-01-01T03:00:00.000Z")
    assert call.announcement_text == "Mời khách hàng số 12 đến quầy Quầy 1"


def test_config_refuses_a_ca_file_without_tls():
    with pytest.raises(ValueError, match="wss://"):
        HubClientConfig(url="ws://hub.local:3001/ws", token="t", client_type="tv", client_id="tv-1",
                        ca_file="/etc/qms/ca.pem")
    with pytest.raises(ValueError):
        HubClientConfig(url="http://hub.local:3001/ws", token="t", client_type="tv", client_id="tv-1")
    assert HubClientConfig(url="ws://hub.local:3001/ws", token="t", client_type="tv",
                           client_id="tv-1").ssl_context() is None


def test_request_ids_are_safe_and_short():
    config = HubClientConfig(url="ws://127.0.0.1:1/ws", token="t", client_type="kiosk",
                             client_id="kiosk@sảnh-" + "x" * 80)
    connection = HubConnection(config)
    ids = {connection.new_request_id() for _ in range(50)}
    assert len(ids) == 50
    for request_id in ids:
        assert REQUEST_ID.match(request_id) and len(request_id) <= 64
        assert request_id.startswith("kiosk_s")
    # A request made while not connected is only recorded.
    request_id = connection.request_ticket(counter_id=1)
    assert connection.pending_request_ids == (request_id,)
    assert connection.forget_request(request_id) and connection.pending_request_ids == ()
    with pytest.raises(ValueError):
        connection.request_ticket()
