"""LOGIN under attack, on loopback with an attacker and a real officer at different 127.x addresses.

* Attempts sent at once are counted before their passwords are checked: a
  burst of guesses gets no more checks than guesses sent one by one (issue
  item 2), and at most a couple of scrypts run at once.
* Failed guesses from one address never refuse the right password from
  another; a person's own console always lets them in (item 3).
* A registered connection cannot LOGIN as someone else (item 6).
* An unknown or disabled username costs a full scrypt, like a real one (item 7).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from support import HallHarness, TestClient, start_hub

import hub.auth
from hub import store as db
from hub.auth import hash_password
from hub.clock import ManualClock
from hub.session_auth import PASSWORD_CHECKS_AT_ONCE

PASSWORD = "mật-khẩu-đúng-1"
WRONG = "wrong username or password"
THROTTLED = "too many failed logins"
_addresses = itertools.count(10)


@pytest.fixture
async def hall(tmp_path):
    # A clock that stands still: the back-off's waits last as long as the test needs them to.
    hub = await start_hub(tmp_path / "data", clock=ManualClock(datetime.now(UTC)))
    harness = HallHarness(hub)
    yield harness
    await harness.close_all()
    await hub.stop()


async def add_person(hall: HallHarness, username: str, role: str = "officer", counter_id: int | None = 1,
                     password: str = PASSWORD) -> int:
    hashed = await asyncio.to_thread(hash_password, password)
    store = hall.hub.store
    assert store is not None
    return await store.run(lambda conn: db.add_user(conn, username, hashed, role, counter_id, "Nguyễn Văn An",
                                                    datetime.now(UTC)))


def fresh_address() -> str:
    """A loopback address no other test connection used (the back-off remembers addresses)."""
    n = next(_addresses)
    return f"127.0.{n // 250}.{n % 250 + 2}"


async def login(hall: HallHarness, address: str, username: str, password: str) -> tuple[str, dict[str, Any]]:
    """LOGIN on a new connection from ``address``: ("LOGIN_OK" or "ERROR", payload)."""
    client = await hall.raw(local_addr=(address, 0))
    return await login_on(client, username, password)


async def login_on(client: TestClient, username: str, password: str) -> tuple[str, dict[str, Any]]:
    await client.send("LOGIN", {"username": username, "password": password})
    while True:
        message = await client._next(15)
        if message["type"] in ("LOGIN_OK", "ERROR"):
            return message["type"], message["payload"]


# --- item 2: a burst of guesses --------------------------------------------------------------------


async def test_guesses_sent_at_once_are_counted_before_they_are_checked(hall):
    await add_person(hall, "officer01")
    attacker = fresh_address()
    guesses = 40
    clients = [await hall.raw(local_addr=(attacker, 0)) for _ in range(guesses)]
    answers = await asyncio.gather(*(login_on(c, "officer01", f"guess-{i}") for i, c in enumerate(clients)))

    checked = [p for kind, p in answers if kind == "ERROR" and WRONG in p["message"]]
    # As many checks as three guesses one after another would get (LoginBackoff.free_failures), not forty;
    # the rest wait for the back-off, or (more than may queue for scrypt at once) for a quieter moment.
    assert len(checked) == hall.hub.session_auth.login_backoff.free_failures
    refused = [p for kind, p in answers if kind == "ERROR" and p not in checked]
    assert len(refused) == guesses - len(checked)
    assert all(THROTTLED in p["message"] or "too many logins at once" in p["message"] for p in refused)


async def test_at_most_a_few_password_checks_run_at_once(hall, monkeypatch):
    usernames = [f"officer{i:02d}" for i in range(12)]
    for name in usernames:
        await add_person(hall, name)
    running, most = 0, 0
    lock = threading.Lock()
    real_scrypt = hub.auth._scrypt

    def counted_scrypt(*args: Any) -> bytes:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            return real_scrypt(*args)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(hub.auth, "_scrypt", counted_scrypt)
    # Different people from different addresses: nothing to throttle, only scrypt's memory to bound.
    answers = await asyncio.gather(*(login(hall, fresh_address(), name, PASSWORD) for name in usernames))

    assert [kind for kind, _ in answers] == ["LOGIN_OK"] * len(usernames)
    assert 1 <= most <= PASSWORD_CHECKS_AT_ONCE


async def test_logins_past_the_waiting_room_are_refused_unchecked(hall, monkeypatch):
    # More at once than may wait for a password check: the rest are told to come back, and are not counted.
    monkeypatch.setattr("hub.session_auth.PASSWORD_CHECKS_WAITING", 3)
    await add_person(hall, "officer01")
    answers = await asyncio.gather(*(login(hall, fresh_address(), "officer01", f"guess-{i}") for i in range(12)))

    busy = [p for kind, p in answers if kind == "ERROR" and p["error_code"] == "RATE_LIMITED"]
    assert busy and all("too many logins at once" in p["message"] for p in busy)
    assert all(kind == "ERROR" and (WRONG in p["message"] or p in busy) for kind, p in answers)


# --- item 3: no lock-out ---------------------------------------------------------------------------


async def test_an_attacker_elsewhere_cannot_lock_out_the_officer_at_her_console(hall):
    await add_person(hall, "officer01")
    console = fresh_address()
    assert (await login(hall, console, "officer01", PASSWORD))[0] == "LOGIN_OK"  # her counter's PC
    attacker = fresh_address()
    for round_ in range(2):
        # One guess after another, as fast as the answers come (the attacker: about one a second).
        answers = [await login(hall, attacker, "officer01", f"guess-{round_}-{i}") for i in range(4)]
        assert THROTTLED in answers[-1][1]["message"]  # the attacker slows itself down

        kind, payload = await login(hall, console, "officer01", PASSWORD)
        assert kind == "LOGIN_OK", payload


async def test_an_attacker_does_not_slow_the_officer_at_a_new_address(hall):
    await add_person(hall, "officer01")
    attacker = fresh_address()
    answers = await asyncio.gather(*(login(hall, attacker, "officer01", f"guess-{i}") for i in range(8)))
    assert any(THROTTLED in p["message"] for _, p in answers)

    kind, payload = await login(hall, fresh_address(), "officer01", PASSWORD)
    assert kind == "LOGIN_OK", payload


async def test_an_address_guessing_many_usernames_is_slowed_down(hall):
    attacker = fresh_address()
    answers = await asyncio.gather(*(login(hall, attacker, f"someone{i:02d}", "guess") for i in range(14)))
    allowed = hall.hub.session_auth.login_backoff.address_free_failures
    assert sum(THROTTLED in p["message"] for _, p in answers) == 14 - allowed


async def guess_from_many_addresses(hall: HallHarness, username: str, addresses: int) -> None:
    """Three guesses from each of ``addresses`` new addresses, all at once: past the username's own allowance."""
    await asyncio.gather(*(login(hall, address, username, f"guess-{i}")
                           for address in [fresh_address() for _ in range(addresses)] for i in range(3)))


async def test_guessing_from_many_addresses_is_slowed_down_too(hall):
    await add_person(hall, "officer01")
    await guess_from_many_addresses(hall, "officer01", 4)
    kind, payload = await login(hall, fresh_address(), "officer01", "one more guess")
    assert kind == "ERROR" and THROTTLED in payload["message"]


async def test_the_officers_own_console_gets_in_after_a_restart_whatever_the_attack(tmp_path):
    # The addresses a person logged in from are on disk (login_addresses), not only in memory.
    clock = ManualClock(datetime.now(UTC))
    first = HallHarness(await start_hub(tmp_path / "data", clock=clock))
    console = fresh_address()
    try:
        await add_person(first, "officer01")
        assert (await login(first, console, "officer01", PASSWORD))[0] == "LOGIN_OK"
    finally:
        await first.close_all()
        await first.hub.stop()
    second = HallHarness(await start_hub(tmp_path / "data", clock=clock))
    try:
        await guess_from_many_addresses(second, "officer01", 4)
        assert (await login(second, fresh_address(), "officer01", PASSWORD))[0] == "ERROR"  # new address: waits
        kind, payload = await login(second, console, "officer01", PASSWORD)
        assert kind == "LOGIN_OK", payload
    finally:
        await second.close_all()
        await second.hub.stop()


# --- item 6: a registered connection keeps who it is -------------------------------------------------


async def test_login_on_a_registered_connection_cannot_become_someone_else(hall):
    await add_person(hall, "admin01", role="admin", counter_id=None)
    officer = await hall.client("officer", counter_id=1)
    address = officer.ws.local_address[0]

    kind, payload = await login_on(officer, "admin01", PASSWORD)
    assert (kind, payload["error_code"]) == ("ERROR", "AUTH_FAILED")
    assert "registered as someone else" in payload["message"]
    # Still the officer: an announcement (admins only) is forbidden.
    await officer.send("ANNOUNCEMENT", {"message": "Thông báo thử"})
    assert (await officer.expect("ERROR"))["error_code"] == "FORBIDDEN"
    (session,) = [s for s in hall.hub.clients.sessions.values() if s.client_type == "officer"]
    assert session.identity is not None and session.identity.role == "officer"
    # The refusal came before any password check: nothing was counted against the address.
    assert (await login(hall, address, "admin01", PASSWORD))[0] == "LOGIN_OK"


async def test_the_same_person_may_log_in_again_on_a_registered_connection(hall):
    user_id = await add_person(hall, "officer01")
    first = await hall.raw(local_addr=(fresh_address(), 0))
    assert (await login_on(first, "officer01", PASSWORD))[0] == "LOGIN_OK"
    await first.send("REGISTER_CLIENT", {"client_type": "officer", "client_id": "officer-console-1"})
    await first.expect("CONNECTION_ACK")
    kind, payload = await login_on(first, "officer01", PASSWORD)
    assert kind == "LOGIN_OK" and payload["user_id"] == user_id


# --- item 7: usernames cannot be told by timing -----------------------------------------------------


@pytest.mark.parametrize("who", ["unknown", "disabled"])
async def test_a_username_that_cannot_log_in_costs_a_full_password_check(hall, monkeypatch, who):
    await add_person(hall, "officer01")
    if who == "disabled":
        store = hall.hub.store
        assert store is not None
        await store.run(lambda conn: conn.execute("UPDATE users SET disabled = 1 WHERE username = 'officer01'"))
    checks: list[tuple[Any, ...]] = []
    real_scrypt = hub.auth._scrypt

    def counted_scrypt(*args: Any) -> bytes:
        checks.append(args[2:])  # n, r, p, length: the work done
        return real_scrypt(*args)

    monkeypatch.setattr(hub.auth, "_scrypt", counted_scrypt)
    name = "nobody-here" if who == "unknown" else "officer01"
    kind, payload = await login(hall, fresh_address(), name, PASSWORD)
    # The answer a wrong password gets, after the scrypt a real account's check costs (its cost parameters).
    assert (kind, payload["message"]) == ("ERROR", "Sai tên đăng nhập hoặc mật khẩu (wrong username or password)")
    params = (hub.auth.SCRYPT_N, hub.auth.SCRYPT_R, hub.auth.SCRYPT_P, hub.auth.PASSWORD_HASH_BYTES)
    assert checks[-1:] == [params]


async def test_a_wrong_password_is_audited_and_the_right_one_recorded_as_a_token(hall):
    user_id = await add_person(hall, "officer01")
    assert (await login(hall, fresh_address(), "officer01", "sai"))[0] == "ERROR"
    kind, payload = await login(hall, fresh_address(), "officer01", PASSWORD)
    assert kind == "LOGIN_OK"
    identity = hall.hub.tokens.verify(payload["token"])
    store = hall.hub.store
    assert store is not None
    listed = await store.read(lambda conn: db.list_tokens(conn, datetime.now(UTC)))
    assert [(t.token_id, t.user_id, t.issued_by) for t in listed] == [(identity.token_id, user_id, "login")]
    assert identity.generation == 0
    await store.run(lambda conn: None)  # the audit rows queued before this are written now
    failed = await store.read(lambda conn: conn.execute(
        "SELECT count(*) FROM audit WHERE action = 'login.failed'").fetchone()[0])
    assert failed == 1
