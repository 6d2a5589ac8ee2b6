"""Abuse the hub can take: floods, sockets that never authenticate, foreign web pages, and its HTTP side.

* Each connection has a token bucket (the site's ``rate_limit``): a flood is
  answered with RATE_LIMITED, then closed with 1008 (policy violation), while
  other clients are served; real use (10 messages a second) never is.
* A socket that has not authenticated within ``auth_timeout`` is closed with 1008.
* Browser handshakes are checked against an Origin allowlist (403 otherwise).
* permessage-deflate is off, whatever the client offers.
* The same port answers GET /healthz and /metrics, and 404 for anything else.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import RECEIVE_TIMEOUT, HallHarness, TestClient, round_trip, start_hub
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from hub.clock import ManualClock
from hub.rate_limit import TokenBucket
from hub.server import __version__ as HUB_VERSION
from hub.site_config import RateLimit, sample_site


@pytest.fixture
async def hall_factory(tmp_path):
    """Start hubs with a given site or options; all are stopped at the end."""
    started: list[HallHarness] = []

    async def make(site=None, **options: Any) -> HallHarness:
        hub = await start_hub(tmp_path / f"data-{len(started)}", site=site, **options)
        harness = HallHarness(hub)
        started.append(harness)
        return harness

    yield make
    for harness in started:
        await harness.close_all()
        await harness.hub.stop()


def site_with_rate_limit(**limit: Any):
    return dataclasses.replace(sample_site(), rate_limit=RateLimit(**limit))


# --- rate limit ---------------------------------------------------------------------------------


async def test_ten_messages_a_second_are_never_throttled(hall_factory):
    # The real default site config, paced like a busy console or the benchmark's clients: the
    # buckets read the hub's clock, which the test moves a tenth of a second per message.
    clock = ManualClock(datetime.now(UTC))
    hall = await hall_factory(clock=clock)
    console = await hall.client("admin")
    for i in range(25):
        await console.send("PING", {"timestamp": f"steady-{i}"})
        await console.expect("PONG", where=lambda p, i=i: p["timestamp"] == f"steady-{i}")
        clock.advance(seconds=0.1)
    heard = await round_trip(console)
    assert [msg for msg in console.received if msg["type"] == "ERROR"] == []
    assert [msg for msg in heard if msg["type"] == "ERROR"] == []
    assert console.ws.close_code is None


@pytest.mark.parametrize("pattern", ["steady", "bursty"])
def test_default_bucket_sustains_real_use_for_a_working_day(pattern):
    # The same claim over a simulated 9-hour day, which a live test cannot wait for: 10 a second
    # steadily, or in bursts of 30 (a console opening and loading its screens) every 3 seconds.
    limit = sample_site().rate_limit
    bucket = TokenBucket(rate=limit.rate, burst=limit.burst)
    start = 1_000.0
    if pattern == "steady":
        times = (start + i / 10 for i in range(9 * 3600 * 10))
    else:
        times = (start + 3.0 * (i // 30) + 0.001 * (i % 30) for i in range(9 * 3600 * 10))
    refused = sum(not bucket.take(now) for now in times)
    assert refused == 0


def test_bucket_forgives_a_client_that_slows_down():
    bucket = TokenBucket(rate=10, burst=10)
    for _ in range(15):  # a burst: 5 refused
        bucket.take(100.0)
    assert bucket.refused == 5
    assert bucket.take(101.0)  # a second later the bucket is full again: a clean slate
    assert bucket.refused == 0


async def flood(client: TestClient, count: int) -> tuple[int, list[dict[str, Any]]]:
    """Send ``count`` PINGs as fast as the socket takes them; return how many went out and all that came back.

    A reader runs alongside, so the hub's answers never back up into the flood.
    """
    received: list[dict[str, Any]] = []

    async def read() -> None:
        try:
            async for frame in client.ws:
                received.append(json.loads(frame))
        except ConnectionClosed:
            pass

    reader = asyncio.create_task(read())
    sent = 0
    try:
        for i in range(count):
            await client.ws.send(json.dumps({"type": "PING", "payload": {"timestamp": f"flood-{i}"}}))
            sent += 1
    except ConnectionClosed:
        pass
    try:
        await asyncio.wait_for(client.ws.wait_closed(), RECEIVE_TIMEOUT)
    except TimeoutError:
        raise AssertionError(f"still open after {sent} PINGs; received {len(received)} messages") from None
    finally:
        await asyncio.wait_for(reader, RECEIVE_TIMEOUT)
    return sent, received


async def test_flood_is_throttled_then_closed_while_others_are_served(hall):
    # The default site config: a flood of hundreds of PINGs.
    flooder = await hall.client("kiosk", client_id="kiosk-flood")
    admin = await hall.client("admin")
    bystander = await hall.client("tv")

    flooding = asyncio.create_task(flood(flooder, 1000))
    while not flooding.done():
        await round_trip(bystander)  # served all through the flood
    sent, received = await flooding

    assert flooder.ws.close_code == 1008
    errors = [msg["payload"]["error_code"] for msg in received if msg["type"] == "ERROR"]
    assert errors and set(errors) == {"RATE_LIMITED"}
    pongs = [msg for msg in received if msg["type"] == "PONG"]
    assert len(pongs) < sent
    # The first `burst` PINGs are answered, in order, before any refusal.
    burst = hall.hub.site.rate_limit.burst
    assert [msg["type"] for msg in received[:burst]] == ["PONG"] * burst

    # Admins hear why the kiosk went away; the rest of the hall carries on.
    gone = await admin.expect("CLIENT_DISCONNECTED", where=lambda p: p["client_id"] == "kiosk-flood")
    assert gone["reason"] == "network_error" and "rate limit" in gone["detail"]
    assert "kiosk-flood" not in hall.hub.clients.by_id
    kiosk = await hall.client("kiosk")
    await kiosk.send("TICKET_CREATED", {"counter_id": 1, "request_id": "after-flood"})
    await kiosk.expect("TICKET_CREATED")
    await bystander.expect("TICKET_CREATED")


async def test_small_rate_limit_flood(hall_factory):
    hall = await hall_factory(site=site_with_rate_limit(rate=5, burst=10, close_after=20))
    flooder = await hall.raw()  # no need to authenticate to be throttled
    bystander = await hall.client("tv")
    sent, received = await flood(flooder, 300)

    assert flooder.ws.close_code == 1008
    assert "rate limit" in (flooder.ws.close_reason or "")
    # The burst is answered in order; then refusals.
    assert [msg["payload"].get("timestamp") for msg in received[:10]] == [f"flood-{i}" for i in range(10)]
    errors = [msg["payload"]["error_code"] for msg in received if msg["type"] == "ERROR"]
    # One RATE_LIMITED a second answers the 19 refused frames before the close (well within a second
    # on loopback): answering each would amplify the flood.
    assert errors in (["RATE_LIMITED"], ["RATE_LIMITED"] * 2)
    await round_trip(bystander)


async def test_throttled_client_that_stops_is_not_closed(hall_factory):
    clock = ManualClock(datetime.now(UTC))
    hall = await hall_factory(site=site_with_rate_limit(rate=20, burst=10, close_after=50), clock=clock)
    client = await hall.raw()
    for i in range(30):  # 20 over the burst: refused, but fewer than close_after
        await client.send("PING", {"timestamp": f"burst-{i}"})
    assert (await client.expect("ERROR"))["error_code"] == "RATE_LIMITED"
    assert (await client.expect("PONG", where=lambda p: p["timestamp"] == "burst-9")), "the burst was served"
    await client.expect_nothing("PONG", within=0.2)
    clock.advance(seconds=0.6)  # the bucket refills on the hub's clock
    await round_trip(client)
    assert client.ws.close_code is None


# --- authentication timeout ---------------------------------------------------------------------


async def closed_code(client: TestClient) -> int | None:
    """Read until the hub closes the socket; the close code it sent."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(client.ws.recv(), RECEIVE_TIMEOUT)
    return closed.value.rcvd.code if closed.value.rcvd else None


async def test_socket_that_never_authenticates_is_closed(hall_factory):
    hall = await hall_factory(auth_timeout=0.3)
    # Connected first, so its own deadline passes before the silent socket's does.
    authenticated = await hall.raw()
    await authenticated.send("AUTH", {"token": hall.token("admin")})
    await authenticated.expect("AUTH_OK")
    registered = await hall.client("tv")
    silent = await hall.raw()

    assert await closed_code(silent) == 1008
    assert silent.ws.close_reason == "authentication timeout"
    # The earlier sockets' deadlines have passed too, and they are still served.
    await round_trip(authenticated)
    await round_trip(registered)
    assert authenticated.ws.close_code is None and registered.ws.close_code is None


async def test_pinging_or_failing_auth_does_not_count_as_authenticating(hall_factory):
    hall = await hall_factory(auth_timeout=0.3)
    pinger = await hall.raw()
    guesser = await hall.raw()
    await guesser.send("AUTH", {"token": "Bearer not-a-token"})
    assert (await guesser.expect("ERROR"))["error_code"] == "AUTH_FAILED"

    async def keep_pinging() -> None:
        try:
            while True:
                await round_trip(pinger)
                await asyncio.sleep(0.05)
        except (ConnectionClosed, AssertionError):
            pass

    pinging = asyncio.create_task(keep_pinging())
    assert await closed_code(guesser) == 1008
    await asyncio.wait_for(pinging, RECEIVE_TIMEOUT)
    assert pinger.ws.close_code == 1008


# --- Origin --------------------------------------------------------------------------------------


async def handshake(hall: HallHarness, origin: str | None) -> int:
    """HTTP status of a WebSocket handshake with this Origin header (101 when accepted)."""
    try:
        ws = await connect(hall.url, origin=origin, proxy=None)
    except InvalidStatus as refused:
        return refused.response.status_code
    await ws.close()
    return 101


@pytest.mark.parametrize("origin", [
    "http://evil.example",
    "null",
    "http://127.0.0.1",  # the hub's host on another port
    "https://portal.example.gov.vn",  # allowed only where the site file says so
], ids=["foreign", "null", "other-port", "unlisted"])
async def test_foreign_origin_is_refused(hall, origin):
    before = hall.hub.metrics.connections_total
    assert await handshake(hall, origin) == 403
    assert hall.hub.metrics.connections_total == before  # refused before any session exists


async def test_own_origin_and_no_origin_are_accepted(hall):
    assert await handshake(hall, f"http://127.0.0.1:{hall.hub.port}") == 101  # the console pages the hub serves
    assert await handshake(hall, None) == 101  # kiosks and TVs are not browsers
    assert await handshake(hall, f"http://127.0.0.1:{hall.hub.port}.evil.example") == 403


async def test_origin_in_the_site_allowlist_is_accepted(hall_factory):
    site = dataclasses.replace(sample_site(), allowed_origins=("https://portal.example.gov.vn",))
    hall = await hall_factory(site=site)
    assert await handshake(hall, "https://portal.example.gov.vn") == 101
    assert await handshake(hall, "https://portal.example.gov.vn.evil.example") == 403
    assert await handshake(hall, "http://portal.example.gov.vn") == 403
    assert await handshake(hall, "http://evil.example") == 403


async def test_compression_is_off_even_when_offered(hall):
    ws = await connect(hall.url, compression="deflate", proxy=None)
    try:
        assert "permessage-deflate" in ws.request.headers["Sec-WebSocket-Extensions"]
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
    finally:
        await ws.close()


# --- HTTP on the same port -------------------------------------------------------------------------


def http_get(hall: HallHarness, path: str) -> tuple[int, str, str]:
    """Status, Content-Type and body of a plain GET on the hub's port (run in a thread)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only, never a proxy
    try:
        with opener.open(f"http://127.0.0.1:{hall.hub.port}{path}", timeout=RECEIVE_TIMEOUT) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


async def test_healthz(hall):
    await hall.client("tv")
    await hall.client("kiosk")
    await hall.raw()  # connected but not registered: not a client yet
    status, content_type, body = await asyncio.to_thread(http_get, hall, "/healthz")
    assert status == 200 and content_type.startswith("application/json")
    health = json.loads(body)
    assert health["status"] == "ok"
    assert health["version"] == HUB_VERSION
    assert health["connected_clients"] == 2
    assert health["database"] == "ok"


async def test_metrics(hall):
    await hall.client("tv")
    status, content_type, body = await asyncio.to_thread(http_get, hall, "/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    assert "qms_connected_clients" in body
    samples = {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
               for family in text_string_to_metric_families(body) for sample in family.samples}
    assert samples[("qms_connected_clients", (("client_type", "tv"),))] == 1
    assert samples[("qms_connected_clients", (("client_type", "kiosk"),))] == 0


@pytest.mark.parametrize("path", ["/nope", "/healthz/../etc/passwd", "/ws/extra", "/metricsx"])
async def test_unknown_path_is_404(hall, path):
    status, _, _ = await asyncio.to_thread(http_get, hall, path)
    assert status == 404


async def test_websocket_on_an_unknown_path_is_404(hall):
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"ws://127.0.0.1:{hall.hub.port}/admin", proxy=None)
    assert refused.value.response.status_code == 404
