"""Console logins: repeated wrong passwords are slowed down across reconnects, per username and address.

The hub's clock is a ManualClock, so "wait 2 seconds" is decided by moving it,
not by sleeping.
"""

from __future__ import annotations

from datetime import UTC, datetime

from support import TestClient, start_hub
from websockets.asyncio.client import connect

from hub import store as db
from hub.auth import hash_password
from hub.clock import ManualClock
from hub.rate_limit import LoginAttempt, LoginBackoff

PASSWORD = "mật-khẩu-đúng-1"


async def _hub_with_people(tmp_path, clock):
    hub = await start_hub(tmp_path / "data", clock=clock)
    hashed = hash_password(PASSWORD)
    for name, counter_id in (("canbo1", 1), ("canbo2", 2)):
        await hub.store.run(lambda conn, n=name, c=counter_id: db.add_user(conn, n, hashed, "officer", c, None,
                                                                           clock.now()))
    return hub


async def _login_from(hub, address: str, username: str, password: str) -> dict:
    """One LOGIN on a fresh connection from this loopback address, as a console that reconnects would."""
    async with connect(f"ws://127.0.0.1:{hub.port}/ws", local_addr=(address, 0)) as ws:
        client = TestClient(ws)
        await client.send("LOGIN", {"username": username, "password": password})
        while True:
            message = await client._next(10)
            if message["type"] in ("LOGIN_OK", "ERROR"):
                return message


async def test_wrong_passwords_slow_down_logins_across_reconnects(tmp_path):
    clock = ManualClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    hub = await _hub_with_people(tmp_path, clock)
    try:
        # Three guesses, each on a new connection (which resets the per-connection delay).
        for guess in ("123456", "password", "canbo1"):
            answer = await _login_from(hub, "127.0.0.2", "canbo1", guess)
            assert answer["payload"]["error_code"] == "AUTH_FAILED"
            assert "Sai tên đăng nhập hoặc mật khẩu" in answer["payload"]["message"]

        # The fourth attempt is refused unchecked, even with the right password, and says when to come back.
        answer = await _login_from(hub, "127.0.0.2", "canbo1", PASSWORD)
        assert answer["type"] == "ERROR" and answer["payload"]["error_code"] == "AUTH_FAILED"
        assert "thử lại sau 2 giây" in answer["payload"]["message"]
        # The guesses slow down only the address they came from: the officer logs in from her own PC...
        assert (await _login_from(hub, "127.0.0.3", "canbo1", PASSWORD))["type"] == "LOGIN_OK"
        # ...and another person at the guessing address too (an address is held back after ten failures).
        assert (await _login_from(hub, "127.0.0.2", "canbo2", PASSWORD))["type"] == "LOGIN_OK"

        # Once the wait is over the right password works, and clears the slate.
        clock.advance(seconds=3)
        assert (await _login_from(hub, "127.0.0.2", "canbo1", PASSWORD))["type"] == "LOGIN_OK"
        answer = await _login_from(hub, "127.0.0.2", "canbo1", "sai")
        assert "Sai tên đăng nhập" in answer["payload"]["message"]
    finally:
        await hub.stop()


def test_backoff_doubles_up_to_a_limit_and_forgets():
    backoff = LoginBackoff(free_failures=3, max_wait=60, forget_after=900)
    for _ in range(3):
        assert isinstance(backoff.begin("a", "1.2.3.4", 100.0), LoginAttempt)
    waits = []
    now = 100.0
    for _ in range(8):
        wait = backoff.begin("a", "1.2.3.4", now)
        assert not isinstance(wait, LoginAttempt)
        waits.append(wait)
        now += wait  # the attacker comes back exactly when told
        assert isinstance(backoff.begin("a", "1.2.3.4", now), LoginAttempt)
    assert waits == [2, 4, 8, 16, 32, 60, 60, 60]
    # A quarter of an hour without an attempt: forgotten, counting starts again.
    assert isinstance(backoff.begin("a", "1.2.3.4", now + 900), LoginAttempt)
    attempt = backoff.begin("a", "1.2.3.4", now + 900)
    assert isinstance(attempt, LoginAttempt)
    backoff.succeeded(attempt)
    assert all(isinstance(backoff.begin("a", "1.2.3.4", now + 900), LoginAttempt) for _ in range(3))


def test_backoff_memory_is_bounded():
    backoff = LoginBackoff(max_keys=100)
    for i in range(1000):
        backoff.begin(f"user{i}", f"10.0.{i // 250}.{i % 250}", float(i))
    assert len(backoff._attempts) == 100
    assert "user:user999" in backoff._attempts and "user:user0" not in backoff._attempts
