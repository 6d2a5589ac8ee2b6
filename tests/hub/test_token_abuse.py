"""A device token used as an attacker would (issue item 5), and tokens that stop counting.

* Between AUTH and REGISTER_CLIENT only PING and REGISTER_CLIENT are served.
* Tickets are limited per token and per kiosk across connections; a retry of
  an answered request is not counted.
* A client that repeats AUTH writes one audit row, not one per AUTH.
* ``qms-hub token revoke`` (another process, same database) and changes to an
  account (disabled, new password, deleted) end the tokens concerned, on open
  connections too: the hub closes them within a few seconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import http.client
import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from support import REPO_ROOT, HallHarness, TestClient, round_trip, start_hub

from hub import store as db
from hub.auth import hash_password
from hub.clock import ManualClock
from hub.site_config import sample_site
from hub.token_registry import REFRESH_INTERVAL, REVOKED_CLOSE_TEXT

# How long the hub may take to notice a revocation made by another process: a few of its readings.
NOTICE_WITHIN = 4 * REFRESH_INTERVAL + 5


@pytest.fixture
async def hall(tmp_path):
    # The wall clock stands still (no ticket allowance refills); the real one is not needed for anything here.
    hub = await start_hub(tmp_path / "data", clock=ManualClock(datetime.now(UTC)))
    harness = HallHarness(hub)
    yield harness
    await harness.close_all()
    await hub.stop()


@pytest.fixture
async def live_hall(tmp_path):
    """A hub on the system clock: revocations made by other processes are timed by the real one."""
    hub = await start_hub(tmp_path / "data")
    harness = HallHarness(hub)
    yield harness
    await harness.close_all()
    await hub.stop()


def qms_hub(data_dir, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hub.cli", "--data-dir", str(data_dir), *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60, check=False)


async def authed(hall: HallHarness, token: str) -> TestClient:
    client = await hall.raw()
    await client.send("AUTH", {"token": token})
    await client.expect("AUTH_OK")
    return client


async def registered(hall: HallHarness, token: str, client_type: str, client_id: str) -> TestClient:
    client = await authed(hall, token)
    await client.send("REGISTER_CLIENT", {"client_type": client_type, "client_id": client_id})
    await client.expect("CONNECTION_ACK")
    await round_trip(client)
    return client


def tickets_on_disk(hub) -> int:
    with closing(sqlite3.connect(hub.data_dir / "qms.db")) as conn:
        return conn.execute("SELECT count(*) FROM tickets").fetchone()[0]


async def ticket_answer(client: TestClient, request_id: str) -> dict[str, Any]:
    """TICKET_CREATED or ERROR for this request: the message's type and payload in one dict."""
    await client.send("TICKET_CREATED", {"counter_id": 1, "request_id": request_id})
    while True:
        message = await client._next(10)
        payload = message["payload"]
        if message["type"] in ("TICKET_CREATED", "ERROR") and payload.get("request_id") == request_id:
            return {"type": message["type"], **payload}


async def ticket_answers(client: TestClient, request_ids: list[str]) -> list[dict[str, Any]]:
    """All the requests sent at once, then their answers (in the order the requests were sent)."""
    for request_id in request_ids:
        await client.send("TICKET_CREATED", {"counter_id": 1, "request_id": request_id})
    answers: dict[str, dict[str, Any]] = {}
    while len(answers) < len(request_ids):
        message = await client._next(10)
        payload = message["payload"]
        if message["type"] in ("TICKET_CREATED", "ERROR") and payload.get("request_id") in request_ids:
            answers[payload["request_id"]] = {"type": message["type"], **payload}
    return [answers[r] for r in request_ids]


async def closed_with(client: TestClient, within: float) -> tuple[int | None, str]:
    await asyncio.wait_for(client.ws.wait_closed(), within)
    return client.ws.close_code, client.ws.close_reason or ""


# --- nothing but PING and REGISTER_CLIENT before registering ------------------------------------------


async def test_an_authenticated_connection_that_has_not_registered_gets_no_ticket(hall):
    token = hall.token("kiosk", client_id="kiosk-001")
    client = await authed(hall, token)
    answer = await ticket_answer(client, "before-register")
    assert (answer["type"], answer["error_code"]) == ("ERROR", "FORBIDDEN")
    assert "REGISTER_CLIENT" in answer["message"]
    await client.send("PING", {"timestamp": "still-here"})
    assert (await client.expect("PONG"))["timestamp"] == "still-here"
    assert tickets_on_disk(hall.hub) == 0 and not hall.hub.queue.tickets


@pytest.mark.parametrize("role,message_type,payload", [
    ("officer", "CALL_TICKET", {"counter_id": 1}),
    ("admin", "ANNOUNCEMENT", {"message": "Thông báo"}),
    ("admin", "COUNTER_STATUS_CHANGE", {"counter_id": 1, "status": "paused"}),
    ("tv", "DEVICE_STATUS", {"component": "display", "status": "fault", "code": "hdmi_lost"}),
])
async def test_no_request_is_served_before_registering(hall, role, message_type, payload):
    before = await asyncio.to_thread(lambda: tickets_on_disk(hall.hub))
    client = await authed(hall, hall.token(role))
    await client.send(message_type, payload)
    error = await client.expect("ERROR")
    assert (error["error_code"], error["message_type"]) == ("FORBIDDEN", message_type)
    assert [s.status for s in hall.hub.queue.counters.values()] == ["active"] * len(hall.hub.queue.counters)
    assert hall.hub.board.showing == [] and tickets_on_disk(hall.hub) == before


# --- tickets across connections -------------------------------------------------------------------


async def test_one_kiosk_token_on_many_connections_gets_only_its_allowance(hall):
    token = hall.token("kiosk", client_id="kiosk-001")
    burst = hall.hub.site.rate_limit.ticket_burst
    issued = refused = 0
    # Reconnecting resets each connection's own bucket; twenty connections, five requests each.
    for connection in range(20):
        client = await registered(hall, token, "kiosk", "kiosk-001")
        answers = await ticket_answers(client, [f"c{connection}-r{i}" for i in range(5)])
        issued += sum(a["type"] == "TICKET_CREATED" for a in answers)
        refused += sum(a.get("error_code") == "RATE_LIMITED" for a in answers)
        await client.close()
    assert (issued, refused) == (burst, 100 - burst)
    assert tickets_on_disk(hall.hub) == burst


async def test_the_allowance_is_per_kiosk_and_comes_back_with_time(hall):
    burst = hall.hub.site.rate_limit.ticket_burst
    first = await registered(hall, hall.token("kiosk", client_id="kiosk-001"), "kiosk", "kiosk-001")
    other = await registered(hall, hall.token("kiosk", client_id="kiosk-002"), "kiosk", "kiosk-002")
    answers = [await ticket_answer(first, f"a-{i}") for i in range(burst + 1)]
    assert answers[-1]["error_code"] == "RATE_LIMITED"
    assert (await ticket_answer(other, "b-0"))["type"] == "TICKET_CREATED"  # another kiosk is not slowed
    # A real kiosk's pace: a few tickets a minute, refilled as the minutes pass.
    hall.hub.clock.advance(seconds=60 / hall.hub.site.rate_limit.tickets_per_minute)
    assert (await ticket_answer(first, "a-later"))["type"] == "TICKET_CREATED"


async def test_a_new_token_for_the_same_kiosk_shares_its_allowance(hall):
    burst = hall.hub.site.rate_limit.ticket_burst
    first = await registered(hall, hall.token("kiosk", client_id="kiosk-001"), "kiosk", "kiosk-001")
    assert all([(await ticket_answer(first, f"a-{i}"))["type"] == "TICKET_CREATED" for i in range(burst)])
    second = await registered(hall, hall.token("kiosk", client_id="kiosk-001"), "kiosk", "kiosk-001")
    assert (await ticket_answer(second, "b-0"))["error_code"] == "RATE_LIMITED"


async def test_a_retry_of_an_answered_request_is_not_counted(hall):
    burst = hall.hub.site.rate_limit.ticket_burst
    token = hall.token("kiosk", client_id="kiosk-001")
    kiosk = await registered(hall, token, "kiosk", "kiosk-001")
    first = [await ticket_answer(kiosk, f"r-{i}") for i in range(burst)]
    assert (await ticket_answer(kiosk, "one-too-many"))["error_code"] == "RATE_LIMITED"
    # The kiosk lost its connection and asks again for what it was answered: the same tickets, never refused.
    await kiosk.close()
    again = await registered(hall, token, "kiosk", "kiosk-001")
    for i, earlier in enumerate(first):
        retried = await ticket_answer(again, f"r-{i}")
        assert (retried["type"], retried["ticket_number"]) == ("TICKET_CREATED", earlier["ticket_number"])


async def test_an_admin_token_is_limited_across_its_consoles_too(tmp_path):
    site = sample_site()
    site = dataclasses.replace(site, rate_limit=dataclasses.replace(site.rate_limit, ticket_burst=3))
    hall = HallHarness(await start_hub(tmp_path / "data", site=site, clock=ManualClock(datetime.now(UTC))))
    try:
        token = hall.token("admin")
        consoles = [await registered(hall, token, "admin", f"admin-console-{i}") for i in range(3)]
        answers = [await ticket_answer(console, f"{i}-{j}") for i, console in enumerate(consoles) for j in range(2)]
        assert [a["type"] for a in answers].count("TICKET_CREATED") == 3
    finally:
        await hall.close_all()
        await hall.hub.stop()


# --- one audit row per connection -----------------------------------------------------------------


async def test_repeating_auth_writes_one_audit_row(hall):
    token = hall.token("kiosk", client_id="kiosk-001")
    client = await authed(hall, token)
    for _ in range(30):
        await client.send("AUTH", {"token": token})
        await client.expect("AUTH_OK")
    store = hall.hub.store
    await store.run(lambda conn: None)  # the audit rows queued before this are written now
    rows = await store.read(lambda conn: conn.execute(
        "SELECT count(*) FROM audit WHERE action = 'auth.ok'").fetchone()[0])
    assert rows == 1


# --- revocation ------------------------------------------------------------------------------------


async def test_revoking_a_token_by_id_closes_its_connection_and_refuses_it(live_hall):
    hall = live_hall
    data_dir = hall.hub.data_dir
    made = await asyncio.to_thread(qms_hub, data_dir, "token", "--role", "tv", "--client-id", "tv-lobby")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    token_id = hall.hub.tokens.verify(token).token_id
    listed = await asyncio.to_thread(qms_hub, data_dir, "token", "list")
    assert token_id in listed.stdout and "in force" in listed.stdout
    tv = await registered(hall, token, "tv", "tv-lobby")
    bystander = await registered(hall, hall.token("tv", client_id="tv-hall"), "tv", "tv-hall")

    revoked = await asyncio.to_thread(qms_hub, data_dir, "token", "revoke", "--id", token_id)
    assert revoked.returncode == 0, revoked.stderr
    assert await closed_with(tv, NOTICE_WITHIN) == (1008, REVOKED_CLOSE_TEXT)
    again = await hall.raw()
    await again.send("AUTH", {"token": token})
    assert "revoked" in (await again.expect("ERROR"))["message"]
    await round_trip(bystander)  # everyone else is still served
    assert "revoked" in (await asyncio.to_thread(qms_hub, data_dir, "token", "list")).stdout


async def test_revoking_a_device_ends_every_token_it_holds(live_hall):
    hall = live_hall
    # A token the command line never listed (made with the secret directly, as before tokens had ids).
    unlisted = hall.token("kiosk", client_id="kiosk-009")
    kiosk = await registered(hall, unlisted, "kiosk", "kiosk-009")
    revoked = await asyncio.to_thread(qms_hub, hall.hub.data_dir, "token", "revoke", "--client-id", "kiosk-009")
    assert revoked.returncode == 0, revoked.stderr
    assert (await closed_with(kiosk, NOTICE_WITHIN))[0] == 1008
    # A token issued afterwards works (the cut-off is by the time a token was issued).
    await asyncio.sleep(1.0)  # the next whole second: tokens carry their issue time in seconds
    fresh = await asyncio.to_thread(qms_hub, hall.hub.data_dir, "token", "--role", "kiosk", "--client-id",
                                    "kiosk-009")
    await registered(hall, fresh.stdout.strip(), "kiosk", "kiosk-009")


async def add_person(hall: HallHarness, username: str) -> int:
    hashed = await asyncio.to_thread(hash_password, "mật-khẩu-đúng-1")
    return await hall.hub.store.run(lambda conn: db.add_user(conn, username, hashed, "officer", 1, "Trần Thị Bình",
                                                             datetime.now(UTC)))


async def logged_in_officer(hall: HallHarness) -> tuple[TestClient, str]:
    client = await hall.raw()
    await client.send("LOGIN", {"username": "officer01", "password": "mật-khẩu-đúng-1"})
    token = (await client.expect("LOGIN_OK"))["token"]
    await client.send("REGISTER_CLIENT", {"client_type": "officer", "client_id": "officer-console-1"})
    await client.expect("CONNECTION_ACK")
    return client, token


@pytest.mark.parametrize("change", [
    "UPDATE users SET disabled = 1 WHERE username = 'officer01'",
    "UPDATE users SET password_hash = 'scrypt$16384$8$1$AAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' "
    "WHERE username = 'officer01'",
    "UPDATE users SET counter_id = 2 WHERE username = 'officer01'",
    "DELETE FROM users WHERE username = 'officer01'",
], ids=["disabled", "new-password", "other-counter", "deleted"])
async def test_a_change_to_the_account_ends_its_login_tokens(live_hall, change):
    hall = live_hall
    await add_person(hall, "officer01")
    officer, token = await logged_in_officer(hall)
    assert (await asyncio.to_thread(counter_tickets, hall, token))[0] == 200
    # Another process changes the account: the database's own triggers move its token generation on.
    with closing(sqlite3.connect(hall.hub.data_dir / "qms.db")) as conn:
        conn.execute(change)
        conn.commit()
    assert (await closed_with(officer, NOTICE_WITHIN))[0] == 1008
    again = await hall.raw()
    await again.send("AUTH", {"token": token})
    assert (await again.expect("ERROR"))["error_code"] == "AUTH_FAILED"
    # The console's HTTP listings refuse it as well.
    status, body = await asyncio.to_thread(counter_tickets, hall, token)
    assert status == 401 and "không còn hiệu lực" in json.loads(body)["message"]


def counter_tickets(hall: HallHarness, token: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", hall.hub.port, timeout=10)
    try:
        connection.request("GET", "/api/counter-tickets", headers={"Authorization": f"Bearer {token}"})
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


async def test_revoking_a_person_ends_their_tokens_and_the_next_login_works(live_hall):
    hall = live_hall
    await add_person(hall, "officer01")
    officer, _ = await logged_in_officer(hall)
    revoked = await asyncio.to_thread(qms_hub, hall.hub.data_dir, "token", "revoke", "--username", "officer01")
    assert revoked.returncode == 0 and "1 listed token" in revoked.stdout, revoked
    assert (await closed_with(officer, NOTICE_WITHIN))[0] == 1008
    await logged_in_officer(hall)


async def test_a_token_issued_for_a_person_carries_the_account_generation(tmp_path):
    data_dir = tmp_path / "data"
    hub = await start_hub(data_dir)
    try:
        await add_person(HallHarness(hub), "admin01")
        user_id = (await hub.store.read(lambda conn: db.find_user(conn, "admin01"))).user_id
    finally:
        await hub.stop()
    made = await asyncio.to_thread(qms_hub, data_dir, "token", "--role", "admin", "--username", "admin01")
    assert made.returncode == 0, made.stderr
    identity = hub.tokens.verify(made.stdout.strip())
    assert (identity.user_id, identity.generation) == (user_id, 0)


def test_revoke_needs_exactly_one_target(tmp_path):
    done = qms_hub(tmp_path, "token", "revoke")
    assert done.returncode == 2 and "--id, --client-id" in done.stderr
    done = qms_hub(tmp_path, "token", "revoke", "--id", "x", "--client-id", "kiosk-1")
    assert done.returncode == 2
    done = qms_hub(tmp_path, "token", "revoke", "--id", "no-such-token")
    assert done.returncode == 2 and "no token in force" in done.stderr


async def test_an_expired_revocation_is_forgotten(tmp_path):
    # The hub keeps only revocations of tokens that could still be used.
    clock = ManualClock(datetime.now(UTC))
    hub = await start_hub(tmp_path / "data", clock=clock)
    try:
        now = clock.now()
        record = db.TokenRecord("old-token", "tv", "tv-1", None, None, None, now - timedelta(days=2),
                                now - timedelta(days=1), "cli", now - timedelta(days=1, hours=1), "cli")
        await hub.store.run(lambda conn: db.record_token(conn, record))
        rules = await hub.store.read(lambda conn: db.token_rules(conn, now))
        assert rules.revoked_ids == frozenset()
    finally:
        await hub.stop()
