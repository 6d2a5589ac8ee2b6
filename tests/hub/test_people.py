"""Admins manage the people who log in, over the WebSocket: USER_LIST and USER_UPDATE (hub/people.py).

Real hub, real SQLite file, real connections. People log in with LOGIN as the
console does; a change that ends someone's sessions is seen by that person's
connection closing, their old token and password being refused, and the
change's audit row on disk.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from support import HallHarness, TestClient, round_trip, start_hub
from websockets.exceptions import ConnectionClosed

from hub import store as db
from hub.auth import hash_password
from hub.clock import ManualClock

OFFICER_PASSWORD = "mật-khẩu-quầy-1"
ADMIN_PASSWORD = "mật-khẩu-quản-trị"


@pytest.fixture
async def hall(tmp_path) -> AsyncIterator[HallHarness]:
    # A ManualClock: the token registry re-reads revocations every 2 s of its monotonic time, advanced by the test.
    hub = await start_hub(tmp_path / "data", clock=ManualClock(datetime(2025, 7, 21, 9, 0,
                                                                         tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))))
    harness = HallHarness(hub)
    yield harness
    await harness.close_all()
    await hub.stop()


async def add_person(hall: HallHarness, username: str, password: str, role: str, counter_id: int | None = None,
                     full_name: str | None = None) -> int:
    hashed = await asyncio.to_thread(hash_password, password)
    assert hall.hub.store is not None
    return await hall.hub.store.run(lambda conn: db.add_user(conn, username, hashed, role, counter_id, full_name,
                                                             datetime.now(UTC)))


async def log_in(hall: HallHarness, username: str, password: str) -> tuple[TestClient, dict]:
    client = await hall.raw()
    await client.send("LOGIN", {"username": username, "password": password})
    login = await client.expect("LOGIN_OK")
    client_type = "officer" if login["role"] == "officer" else "admin"
    await client.send("REGISTER_CLIENT", {"client_type": client_type, "client_id": f"{client_type}-{username}",
                                          "location": f"counter-{login['counter_id']}" if login["counter_id"] else ""})
    await client.expect("CONNECTION_ACK")
    await client.settle(0.05)
    client.drain()
    return client, login


async def login_refused(hall: HallHarness, username: str, password: str) -> str:
    client = await hall.raw()
    await client.send("LOGIN", {"username": username, "password": password})
    return (await client.expect("ERROR", timeout=15))["error_code"]


async def closed(client: TestClient) -> int:
    """Wait for the hub to close this connection; its close code."""
    with pytest.raises(ConnectionClosed) as ended:
        while True:
            await client.ws.recv()
    assert ended.value.rcvd is not None
    return ended.value.rcvd.code


def users_on_disk(hall: HallHarness) -> list[tuple]:
    with closing(sqlite3.connect(hall.hub.data_dir / "qms.db")) as conn:
        return conn.execute("SELECT user_id, username, password_hash, role, counter_id, disabled FROM users "
                            "ORDER BY user_id").fetchall()


def audit_on_disk(hall: HallHarness) -> list[tuple[str, str, dict]]:
    with closing(sqlite3.connect(hall.hub.data_dir / "qms.db")) as conn:
        rows = conn.execute("SELECT actor, action, detail FROM audit WHERE action LIKE 'user.%' "
                            "ORDER BY audit_id").fetchall()
    return [(actor, action, json.loads(detail)) for actor, action, detail in rows]


async def token_refused_soon(hall: HallHarness, token: str) -> str:
    """AUTH with ``token`` once the hub has re-read the revocations (its next reading, 2 s of its clock on)."""
    clock = hall.hub.clock
    assert isinstance(clock, ManualClock)
    clock.advance(seconds=3)
    identity = hall.hub.tokens.verify(token)
    for _ in range(500):
        if hall.hub.token_registry.problem(identity) is not None:
            break
        await asyncio.sleep(0.01)
    client = await hall.raw()
    await client.send("AUTH", {"token": token})
    return (await client.expect("ERROR"))["error_code"]


async def update(admin: TestClient, **payload) -> dict:
    await admin.send("USER_UPDATE", payload)
    answers = await round_trip(admin)
    (answer,) = [m for m in answers if m["type"] in ("USER_UPDATED", "ERROR")]
    return answer


async def test_an_admin_lists_the_accounts_and_never_their_hashes(hall):
    await add_person(hall, "canbo1", OFFICER_PASSWORD, "officer", 1, "Nguyễn Thị Lan")
    await add_person(hall, "lanhdao", ADMIN_PASSWORD, "leader", None, "Phạm Quốc Việt")
    await add_person(hall, "quantri", ADMIN_PASSWORD, "admin", None, "Trần Văn Minh")
    admin, _ = await log_in(hall, "quantri", ADMIN_PASSWORD)
    await admin.send("USER_LIST", {"request_id": "users-1"})
    listing = await admin.expect("USERS")
    assert listing["request_id"] == "users-1"
    assert [(u["username"], u["full_name"], u["role"], u["counter_id"], u["disabled"]) for u in listing["users"]] == [
        ("canbo1", "Nguyễn Thị Lan", "officer", 1, False),
        ("lanhdao", "Phạm Quốc Việt", "leader", None, False),
        ("quantri", "Trần Văn Minh", "admin", None, False),
    ]
    assert set(listing["users"][0]) == {"user_id", "username", "full_name", "role", "counter_id", "disabled"}


async def test_leaders_and_officers_may_not_manage_accounts(hall):
    officer_id = await add_person(hall, "canbo1", OFFICER_PASSWORD, "officer", 1)
    before = users_on_disk(hall)
    leader = await hall.client("leader")
    await leader.send("USER_LIST")
    refused = await leader.expect("ERROR")
    assert refused["error_code"] == "FORBIDDEN" and "ask an admin" in refused["message"]
    officer, _ = await log_in(hall, "canbo1", OFFICER_PASSWORD)
    await officer.send("USER_UPDATE", {"user_id": officer_id, "action": "set_counter", "counter_id": 2})
    assert (await officer.expect("ERROR"))["error_code"] == "FORBIDDEN"
    assert users_on_disk(hall) == before


async def test_disabling_an_officer_ends_their_session_and_their_logins_until_enabled(hall):
    officer_id = await add_person(hall, "canbo1", OFFICER_PASSWORD, "officer", 1, "Nguyễn Thị Lan")
    await add_person(hall, "quantri", ADMIN_PASSWORD, "admin", None, "Trần Văn Minh")
    admin, _ = await log_in(hall, "quantri", ADMIN_PASSWORD)
    other_admin = await hall.client("admin")
    officer, login = await log_in(hall, "canbo1", OFFICER_PASSWORD)

    answer = await update(admin, user_id=officer_id, action="disable", request_id="users-2")
    assert answer["type"] == "USER_UPDATED", answer
    done = answer["payload"]
    assert (done["action"], done["username"], done["user"]["disabled"], done["sessions_ended"]) == \
        ("disable", "canbo1", True, 1)
    assert (await other_admin.expect("USER_UPDATED"))["request_id"] == "users-2"
    assert await closed(officer) == 1008
    assert await login_refused(hall, "canbo1", OFFICER_PASSWORD) == "AUTH_FAILED"
    assert await token_refused_soon(hall, login["token"]) == "AUTH_FAILED"

    answer = await update(admin, user_id=officer_id, action="enable")
    assert answer["payload"]["user"]["disabled"] is False and answer["payload"]["sessions_ended"] == 0
    await log_in(hall, "canbo1", OFFICER_PASSWORD)
    assert [(action, detail["username"]) for _, action, detail in audit_on_disk(hall)] == [
        ("user.disabled", "canbo1"), ("user.enabled", "canbo1")]
    assert all(actor == "quantri" for actor, _, _ in audit_on_disk(hall))


async def test_a_new_password_and_a_new_counter_take_effect_at_the_next_login(hall):
    officer_id = await add_person(hall, "canbo1", OFFICER_PASSWORD, "officer", 1)
    admin_id = await add_person(hall, "quantri", ADMIN_PASSWORD, "admin")
    admin, _ = await log_in(hall, "quantri", ADMIN_PASSWORD)
    officer, _ = await log_in(hall, "canbo1", OFFICER_PASSWORD)
    before = users_on_disk(hall)

    short = await update(admin, user_id=officer_id, action="set_password", password="ngắn")
    assert short["payload"]["error_code"] == "INVALID_MESSAGE" and "ít nhất 8 ký tự" in short["payload"]["message"]
    nowhere = await update(admin, user_id=officer_id, action="set_counter", counter_id=99)
    assert nowhere["payload"]["error_code"] == "COUNTER_NOT_FOUND"
    not_officer = await update(admin, user_id=admin_id, action="set_counter", counter_id=2)
    assert not_officer["payload"]["error_code"] == "INVALID_MESSAGE"
    missing = await update(admin, user_id=9999, action="enable")
    assert missing["payload"]["error_code"] == "INVALID_MESSAGE"
    assert users_on_disk(hall) == before and audit_on_disk(hall) == []

    new_password = "mật-khẩu-mới-2025"
    answer = await update(admin, user_id=officer_id, action="set_password", password=new_password)
    assert answer["payload"]["sessions_ended"] == 1
    assert await closed(officer) == 1008
    assert await login_refused(hall, "canbo1", OFFICER_PASSWORD) == "AUTH_FAILED"
    officer, login = await log_in(hall, "canbo1", new_password)

    answer = await update(admin, user_id=officer_id, action="set_counter", counter_id=2)
    assert answer["payload"]["user"]["counter_id"] == 2 and answer["payload"]["sessions_ended"] == 1
    assert await closed(officer) == 1008
    # The old token still says counter 1: it no longer counts.
    assert await token_refused_soon(hall, login["token"]) == "AUTH_FAILED"
    _, login = await log_in(hall, "canbo1", new_password)
    assert login["counter_id"] == 2
    details = [detail for _, _, detail in audit_on_disk(hall)]
    assert [d["counter_id"] for d in details] == [None, 2]
    assert not any(new_password in json.dumps(d, ensure_ascii=False) for d in details)


async def test_delete_asks_for_the_username_and_an_id_is_never_given_again(hall):
    officer_id = await add_person(hall, "canbo9", OFFICER_PASSWORD, "officer", 1)
    admin = await hall.client("admin")
    wrong = await update(admin, user_id=officer_id, action="delete", confirm_username="canbo1")
    assert wrong["payload"]["error_code"] == "INVALID_MESSAGE" and "canbo9" in wrong["payload"]["message"]
    assert [u[1] for u in users_on_disk(hall)] == ["canbo9"]

    done = await update(admin, user_id=officer_id, action="delete", confirm_username="canbo9")
    assert done["payload"]["user"] is None and done["payload"]["username"] == "canbo9"
    assert users_on_disk(hall) == []
    assert await login_refused(hall, "canbo9", OFFICER_PASSWORD) == "AUTH_FAILED"
    # The next account gets a new id: a token or a ticket naming the old one never means someone else.
    assert await add_person(hall, "canbo10", OFFICER_PASSWORD, "officer", 1) == officer_id + 1


async def test_nobody_locks_the_hall_out_of_its_administration(hall):
    first = await add_person(hall, "quantri", ADMIN_PASSWORD, "admin", None, "Trần Văn Minh")
    admin, _ = await log_in(hall, "quantri", ADMIN_PASSWORD)
    for action in ("disable", "delete"):
        own = await update(admin, user_id=first, action=action, confirm_username="quantri")
        assert own["payload"]["error_code"] == "FORBIDDEN" and "chính mình" in own["payload"]["message"]
    # An admin whose token names no account (made with qms-hub token) cannot take the last admin away either.
    token_admin = await hall.client("admin")
    last = await update(token_admin, user_id=first, action="disable")
    assert last["payload"]["error_code"] == "FORBIDDEN" and "cuối cùng" in last["payload"]["message"]
    assert users_on_disk(hall)[0][5] == 0


async def outcome(client: TestClient, request_id: str) -> str:
    """What became of a USER_UPDATE: its USER_UPDATED, an ERROR's code, or the connection closed under it."""
    try:
        while True:
            message = json.loads(await asyncio.wait_for(client.ws.recv(), 15))
            if message["type"] == "USER_UPDATED" and message["payload"]["request_id"] == request_id:
                return "updated"
            if message["type"] == "ERROR":
                return message["payload"]["error_code"]
    except ConnectionClosed:
        return "closed"


async def test_two_admins_disabling_each_other_at_once_leave_one(hall):
    a = await add_person(hall, "quantri1", ADMIN_PASSWORD, "admin")
    b = await add_person(hall, "quantri2", ADMIN_PASSWORD, "admin")
    first, _ = await log_in(hall, "quantri1", ADMIN_PASSWORD)
    second, _ = await log_in(hall, "quantri2", ADMIN_PASSWORD)
    await asyncio.gather(first.send("USER_UPDATE", {"user_id": b, "action": "disable", "request_id": "r1"}),
                         second.send("USER_UPDATE", {"user_id": a, "action": "disable", "request_id": "r2"}))
    outcomes = sorted(await asyncio.gather(outcome(first, "r1"), outcome(second, "r2")))
    # The rule is checked in the change's own transaction: the second change sees the first.
    assert outcomes in (["FORBIDDEN", "updated"], ["closed", "updated"]), outcomes
    assert sum(row[5] for row in users_on_disk(hall)) == 1
    assert [action for _, action, _ in audit_on_disk(hall)] == ["user.disabled"]
