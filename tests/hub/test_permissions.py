"""PROTOCOL.md's "Who may do what", every role against every client message, on a real hub and in hub.permissions.

The table is written out below from PROTOCOL.md, independently of
hub/permissions.py, so a change to either that breaks the contract fails here.
Allowed requests must not be refused as FORBIDDEN (they are carried out, or
meet a business error); refused ones get ERROR FORBIDDEN and change nothing:
same queues, statuses, registrations and database rows, and nothing reaches
the TV watching the hall.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from support import hub_fingerprint, round_trip
from websockets.exceptions import ConnectionClosed

from hub import store as db
from hub.auth import Identity
from hub.permissions import check
from protocol import messages as m

ROLES = ("admin", "leader", "officer", "kiosk", "tv", "counter")
CLIENT_TYPES = ("kiosk", "tv", "counter", "officer", "admin")

# PROTOCOL.md, "Who may do what" (DEVICE_STATUS: docs/protocol.md). Officers: their own counter only (1 here).
MAY_SEND = {
    "TICKET_CREATED": {"kiosk", "leader", "admin"},
    "CALL_TICKET": {"officer", "leader", "admin"},
    "TICKET_ACTION": {"officer", "leader", "admin"},
    "COUNTER_STATUS_CHANGE": {"officer", "leader", "admin"},
    "ANNOUNCEMENT": {"leader", "admin"},
    "DEVICE_STATUS": {"kiosk", "tv", "counter"},
    # PROTOCOL.md Version 2: the counter display of the counter that served the ticket (or its page's code).
    "RATING": {"counter"},
    "PING": set(ROLES),
    # Accounts: admins only (a leader runs the queues, not the accounts).
    "USER_LIST": {"admin"},
    "USER_UPDATE": {"admin"},
}
# Anyone may send these; REGISTER_CLIENT is then checked against REGISTERS_AS.
SESSION_MESSAGES = ("AUTH", "LOGIN", "REGISTER_CLIENT")
# REGISTER_CLIENT.client_type must fit the role.
REGISTERS_AS = {"kiosk": "kiosk", "tv": "tv", "counter": "counter", "officer": "officer", "admin": "admin",
                "leader": "admin"}

OFFICERS_COUNTER = 1
OTHER_COUNTER = 2
# The account USER_UPDATE names (busy_hall makes it).
PERSON_ID = 1


def request(message_type: str, role: str) -> dict[str, Any]:
    """A well-formed request of this type, about the officer's own counter where it names one."""
    return {
        "TICKET_CREATED": {"counter_id": OFFICERS_COUNTER, "request_id": f"perm-{role}"},
        "CALL_TICKET": {"counter_id": OFFICERS_COUNTER},
        "TICKET_ACTION": {"counter_id": OFFICERS_COUNTER, "action": "transfer", "to_queue_id": OTHER_COUNTER},
        "COUNTER_STATUS_CHANGE": {"counter_id": OFFICERS_COUNTER, "status": "paused", "reason": "Kiểm tra quyền"},
        "ANNOUNCEMENT": {"message": "Kiểm tra quyền", "duration": 60},
        "DEVICE_STATUS": {"component": "printer", "status": "warning", "code": "paper_low",
                          "message": "Máy in sắp hết giấy"},
        "PING": {"timestamp": f"perm-{role}"},
        "USER_LIST": {"request_id": f"perm-{role}"},
        "USER_UPDATE": {"user_id": PERSON_ID, "action": "enable"},
        # The ticket a test finished at counter 1 replaces this id.
        "RATING": {"ticket_id": 1, "score": 4, "request_id": f"perm-{role}"},
    }[message_type]


# What an allowed request is answered with, to its sender, when it is carried out (DEVICE_STATUS:
# nothing; it becomes a SYSTEM_ALERT for admins).
ANSWERED_WITH = {
    "TICKET_CREATED": "TICKET_CREATED",
    "CALL_TICKET": "CALL_TICKET",
    "TICKET_ACTION": "TICKET_UPDATED",
    "RATING": "RATING_RECORDED",
    "COUNTER_STATUS_CHANGE": "COUNTER_STATUS_UPDATE",
    "ANNOUNCEMENT": "ANNOUNCEMENT",
    "PING": "PONG",
    "USER_LIST": "USERS",
    "USER_UPDATE": "USER_UPDATED",
}
CHANGES_STATE = {"TICKET_CREATED", "CALL_TICKET", "TICKET_ACTION", "COUNTER_STATUS_CHANGE", "ANNOUNCEMENT", "RATING"}
# What must be true before a request can be carried out: an action needs a ticket being served.
NEEDS_A_CURRENT_TICKET = {"TICKET_ACTION"}
# A rating needs a ticket the counter finished.
NEEDS_A_FINISHED_TICKET = {"RATING"}


def test_the_table_covers_every_client_message():
    # A new message type must get a line in the table (and here) before it can ship.
    assert set(MAY_SEND) | set(SESSION_MESSAGES) == {m.message_type(cls) for cls in m.CLIENT_MESSAGE_TYPES}


@pytest.fixture
async def busy_hall(hall):
    """Waiting tickets at counters 1 and 2 (so a call or a pause would change something) and a TV watching."""
    kiosk = await hall.client("kiosk", client_id="kiosk-seed")
    for i, counter_id in enumerate((OFFICERS_COUNTER, OFFICERS_COUNTER, OTHER_COUNTER)):
        await kiosk.send("TICKET_CREATED", {"counter_id": counter_id, "request_id": f"seed-{i}"})
        await kiosk.expect("TICKET_CREATED")
    hall.tv = await hall.client("tv", client_id="tv-watch")
    person = await hall.hub.store.run(lambda conn: db.add_user(conn, "canbo-quyen", "scrypt$x", "officer",
                                                               OFFICERS_COUNTER, None, datetime.now(UTC)))
    assert person == PERSON_ID
    return hall


async def assert_refused(hall, client, message_type: str, payload: dict[str, Any]) -> None:
    """ERROR FORBIDDEN naming the request, and not one other effect anywhere."""
    before = hub_fingerprint(hall.hub)
    await round_trip(hall.tv)
    await client.send(message_type, payload)
    heard = await round_trip(client)
    assert [(msg["type"], msg["payload"].get("error_code"), msg["payload"].get("message_type")) for msg in heard] == [
        ("ERROR", "FORBIDDEN", message_type)
    ], heard
    assert heard[0]["payload"]["message"]
    assert hub_fingerprint(hall.hub) == before
    assert await round_trip(hall.tv) == []


# --- every role against every message, on a real hub ------------------------------------------


@pytest.mark.parametrize("message_type", list(MAY_SEND))
@pytest.mark.parametrize("role", ROLES)
async def test_role_against_message(busy_hall, role: str, message_type: str):
    hall = busy_hall
    if message_type in NEEDS_A_CURRENT_TICKET | NEEDS_A_FINISHED_TICKET:
        caller = await hall.client("admin")
        await caller.send("CALL_TICKET", {"counter_id": OFFICERS_COUNTER})
        called = await caller.expect("CALL_TICKET")
        if message_type in NEEDS_A_FINISHED_TICKET:
            await caller.send("TICKET_ACTION", {"counter_id": OFFICERS_COUNTER, "action": "finish"})
            await caller.expect("TICKET_UPDATED")
    client = await hall.client(role)  # an officer's and a counter display's token are for counter 1
    payload = request(message_type, role)
    if message_type in NEEDS_A_FINISHED_TICKET:
        payload["ticket_id"] = called["ticket_id"]
    if role not in MAY_SEND[message_type]:
        await assert_refused(hall, client, message_type, payload)
        return

    before = hub_fingerprint(hall.hub)
    await client.send(message_type, payload)
    heard = await round_trip(client)
    assert [msg for msg in heard if msg["type"] == "ERROR"] == []
    if message_type in ANSWERED_WITH:
        assert ANSWERED_WITH[message_type] in {msg["type"] for msg in heard}, heard
    if message_type in CHANGES_STATE:
        assert hub_fingerprint(hall.hub) != before  # it was carried out


@pytest.mark.parametrize("client_type", CLIENT_TYPES)
@pytest.mark.parametrize("role", ROLES)
async def test_role_registering_as_client_type(busy_hall, role: str, client_type: str):
    hall = busy_hall
    token = hall.token(role)
    identity = hall.tokens.verify(token)
    client = await hall.raw()
    await client.send("AUTH", {"token": token})
    await client.expect("AUTH_OK")
    # A device registers under the id its token names; a person's console picks its own.
    payload = {"client_type": client_type, "client_id": identity.client_id or f"console-{role}"}

    if REGISTERS_AS[role] != client_type:
        await assert_refused(hall, client, "REGISTER_CLIENT", payload)
        return
    await client.send("REGISTER_CLIENT", payload)
    ack = await client.expect("CONNECTION_ACK")
    assert ack["client_type"] == client_type and ack["client_id"] == payload["client_id"]
    await client.expect("SNAPSHOT")


async def test_refused_re_registration_keeps_the_old_one(busy_hall):
    # An officer's console asking to become an admin console stays an officer console.
    hall = busy_hall
    officer = await hall.client("officer", counter_id=OFFICERS_COUNTER, client_id="console-officer")
    await assert_refused(hall, officer, "REGISTER_CLIENT", {"client_type": "admin", "client_id": "console-officer"})
    assert hall.hub.clients.by_id["console-officer"].client_type == "officer"
    # Still registered: it hears queue changes, and still no admin-only traffic.
    kiosk = await hall.client("kiosk")
    await kiosk.send("TICKET_CREATED", {"counter_id": OFFICERS_COUNTER, "request_id": "after-refusal"})
    await officer.expect("QUEUE_UPDATE", where=lambda p: p["waiting_count"] == 3)
    assert {msg["type"] for msg in await round_trip(officer)} <= {"QUEUE_UPDATE"}  # no CLIENT_CONNECTED


# --- officers and other counters --------------------------------------------------------------


@pytest.mark.parametrize("message_type,payload", [
    ("CALL_TICKET", {"counter_id": OTHER_COUNTER}),
    ("CALL_TICKET", {"counter_id": OTHER_COUNTER, "ticket_number": 2001}),
    ("COUNTER_STATUS_CHANGE", {"counter_id": OTHER_COUNTER, "status": "paused", "reason": "Không phải quầy tôi"}),
    ("COUNTER_STATUS_CHANGE", {"counter_id": OTHER_COUNTER, "status": "offline"}),
], ids=["call-next", "call-number", "pause", "offline"])
async def test_officer_cannot_act_on_another_counter(busy_hall, message_type, payload):
    officer = await busy_hall.client("officer", counter_id=OFFICERS_COUNTER)
    await assert_refused(busy_hall, officer, message_type, payload)
    # The same request for the officer's own counter goes through.
    own = {**payload, "counter_id": OFFICERS_COUNTER}
    own.pop("ticket_number", None)
    await officer.send(message_type, own)
    heard = await round_trip(officer)
    assert [msg for msg in heard if msg["type"] == "ERROR"] == []


async def test_officer_of_a_counter_that_does_not_exist_can_do_nothing(busy_hall):
    officer = await busy_hall.client("officer", counter_id=99)
    await assert_refused(busy_hall, officer, "CALL_TICKET", {"counter_id": OFFICERS_COUNTER})
    await assert_refused(busy_hall, officer, "COUNTER_STATUS_CHANGE",
                         {"counter_id": OFFICERS_COUNTER, "status": "paused"})


# --- client ids -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["kiosk", "tv"])
@pytest.mark.parametrize("claimed_id", ["device-b", "DEVICE-A", "device-a-2"])
async def test_device_registers_only_under_its_own_client_id(busy_hall, role, claimed_id):
    client = await busy_hall.raw()
    await client.send("AUTH", {"token": busy_hall.token(role, client_id="device-a")})
    await client.expect("AUTH_OK")
    await assert_refused(busy_hall, client, "REGISTER_CLIENT", {"client_type": role, "client_id": claimed_id})


@pytest.mark.parametrize("role", ["officer", "leader", "admin"])
async def test_a_person_cannot_knock_a_device_off_by_taking_its_client_id(busy_hall, role):
    # Registering under a connected TV's id would otherwise close the TV as "replaced".
    hall = busy_hall
    client = await hall.raw()
    await client.send("AUTH", {"token": hall.token(role)})
    await client.expect("AUTH_OK")
    await assert_refused(hall, client, "REGISTER_CLIENT", {"client_type": REGISTERS_AS[role], "client_id": "tv-watch"})
    assert hall.hub.clients.by_id["tv-watch"].client_type == "tv"
    await round_trip(hall.tv)  # still connected


async def test_the_same_device_reconnecting_replaces_its_old_connection(busy_hall):
    # The rule above must not stop a TV whose old socket has not timed out yet from coming back.
    hall = busy_hall
    again = await hall.client("tv", client_id="tv-watch")
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await hall.tv.ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
    await round_trip(again)


# --- hub.permissions.check over the same table --------------------------------------------------


def identity(role: str, *, counter_id: int | None = None, client_id: str | None = None) -> Identity:
    devices = ("kiosk", "tv", "counter")
    if role in devices:
        client_id = client_id or f"{role}-001"
    if role in ("officer", "counter"):
        counter_id = counter_id or OFFICERS_COUNTER
    return Identity(role=role, client_id=client_id, user_id=None if role in devices else 7,
                    username=None if role in devices else f"{role}07", full_name=None,
                    counter_id=counter_id, expires_at=datetime.now(UTC) + timedelta(hours=1))


def decoded(message_type: str, payload: dict[str, Any]) -> m.ClientMessage:
    # Through the real decoder, as the hub gets them.
    return m.decode_client_message(json.dumps({"type": message_type, "payload": payload}))


@pytest.mark.parametrize("message_type", list(MAY_SEND))
@pytest.mark.parametrize("role", ROLES)
def test_check_against_message(role, message_type):
    problem = check(identity(role), decoded(message_type, request(message_type, role)))
    if role in MAY_SEND[message_type]:
        assert problem is None
    else:
        assert isinstance(problem, str) and role in problem


@pytest.mark.parametrize("client_type", CLIENT_TYPES)
@pytest.mark.parametrize("role", ROLES)
def test_check_register_client(role, client_type):
    who = identity(role)
    message = decoded("REGISTER_CLIENT", {"client_type": client_type, "client_id": who.client_id or "console-1"})
    problem = check(who, message)
    assert (problem is None) == (REGISTERS_AS[role] == client_type), problem


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("message", [
    ("AUTH", {"token": "x"}), ("LOGIN", {"username": "u", "password": "p"}), ("PING", {}),
], ids=["AUTH", "LOGIN", "PING"])
def test_check_lets_anyone_authenticate_and_ping(role, message):
    assert check(identity(role), decoded(*message)) is None


@pytest.mark.parametrize("message_type,payload", [
    ("CALL_TICKET", {"counter_id": OTHER_COUNTER}),
    ("CALL_TICKET", {"counter_id": OTHER_COUNTER, "ticket_number": 5}),
    ("COUNTER_STATUS_CHANGE", {"counter_id": OTHER_COUNTER, "status": "paused"}),
])
def test_check_officer_other_counter(message_type, payload):
    problem = check(identity("officer", counter_id=OFFICERS_COUNTER), decoded(message_type, payload))
    assert problem is not None and str(OTHER_COUNTER) in problem
    for boss in ("leader", "admin"):
        assert check(identity(boss), decoded(message_type, payload)) is None


@pytest.mark.parametrize("role", ["kiosk", "tv"])
def test_check_device_client_id(role):
    who = identity(role, client_id="device-a")
    assert check(who, decoded("REGISTER_CLIENT", {"client_type": role, "client_id": "device-a"})) is None
    problem = check(who, decoded("REGISTER_CLIENT", {"client_type": role, "client_id": "device-b"}))
    assert problem is not None and "device-b" in problem
