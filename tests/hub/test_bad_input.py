"""Bad input against a real hub: every bad frame gets its ERROR, changes nothing, and disturbs no one.

The corpus covers frames that are not JSON, JSON that is not a message,
messages with missing, mistyped, out-of-range or unknown fields, over-long
strings, binary and empty frames, frames over the 64 KiB limit, calls made
before authenticating, and bad tokens (expired, tampered, ``alg: none``,
signed with another secret, disagreeing with the AUTH payload). For each:

* the sender gets ``ERROR`` with the right code, and the same connection
  still answers ``PING`` with ``PONG`` afterwards;
* the hub's state (queue views, counter statuses, rows in the SQLite file) is
  exactly what it was before;
* a TV registered in the same hall receives nothing because of it.

The second half is property tests of the decoder itself (hypothesis).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import sqlite3
import time
import unicodedata
from collections.abc import Callable
from contextlib import closing
from datetime import datetime, timedelta
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import HallHarness, TestClient, hub_fingerprint, round_trip, start_hub
from websockets.exceptions import ConnectionClosed

from hub.auth import TokenAuthority
from hub.clock import ManualClock
from protocol import messages as m

# --- what "nothing changed" means ---------------------------------------------------------------




# Messages that report a change of state; admins also get throttled STATS_UPDATE
# and connect/disconnect notices, which bad input does not cause either way.
STATE_MESSAGES = {"TICKET_CREATED", "QUEUE_UPDATE", "CALL_TICKET", "TICKET_ANNOUNCEMENT",
                  "COUNTER_STATUS_UPDATE", "ANNOUNCEMENT", "SNAPSHOT", "CONNECTION_ACK"}


@dataclasses.dataclass
class Scene:
    hall: HallHarness
    admin: TestClient
    kiosk: TestClient
    officer: TestClient
    tv: TestClient


@pytest.fixture
async def scene(hall) -> Scene:
    """A hall with some state to lose: waiting tickets, a called ticket, a paused counter."""
    admin = await hall.client("admin")
    kiosk = await hall.client("kiosk")
    officer = await hall.client("officer", counter_id=1)
    tv = await hall.client("tv")
    for i, counter_id in enumerate((1, 1, 1, 2)):
        await kiosk.send("TICKET_CREATED", {"counter_id": counter_id, "request_id": f"seed-{i}"})
        await kiosk.expect("TICKET_CREATED")
    await officer.send("CALL_TICKET", {"counter_id": 1})
    await officer.expect("CALL_TICKET")
    await admin.send("COUNTER_STATUS_CHANGE", {"counter_id": 3, "status": "paused", "reason": "Đi họp"})
    await admin.expect("COUNTER_STATUS_UPDATE")
    for client in (admin, kiosk, officer, tv):
        await round_trip(client)
    return Scene(hall, admin, kiosk, officer, tv)


# --- tokens a client should never get in with --------------------------------------------------


def _b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(role: str, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": "qms-hub", "aud": "qms-hall", "iat": now, "nbf": now, "exp": now + 3600,
            "sub": "mallory", "role": role, "username": "mallory", **extra}


def expired_token(hall: HallHarness) -> str:
    # Signed with the hub's own secret, but two hours ago for five minutes.
    past = TokenAuthority.from_data_dir(hall.hub.data_dir, clock=lambda: time.time() - 7200)
    return past.issue("admin", username="yesterday", ttl=timedelta(minutes=5))


def tampered_token(hall: HallHarness) -> str:
    # A genuine kiosk token whose payload was rewritten to say admin; the signature is the kiosk's.
    header, _, signature = hall.token("kiosk", client_id="kiosk-tamper").split(".")
    return ".".join([header, _b64url(_claims("admin")), signature])


def alg_none_token(hall: HallHarness) -> str:
    return ".".join([_b64url({"alg": "none", "typ": "JWT"}), _b64url(_claims("admin")), ""])


def other_secret_token(hall: HallHarness) -> str:
    return TokenAuthority(os.urandom(64)).issue("admin", username="mallory", ttl=timedelta(hours=1))


def auth(token: str, **fields: Any) -> str:
    return json.dumps({"type": "AUTH", "payload": {"token": token, **fields}})


def frame(message_type: str, payload: Any) -> str:
    return json.dumps({"type": message_type, "payload": payload}, ensure_ascii=False)


# --- the corpus --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BadInput:
    """One bad frame, who sends it, and the error it must get."""

    id: str
    frame: str | bytes | Callable[[HallHarness], str | bytes]
    code: str
    # "admin": a registered admin, who may do anything, so a frame that slipped
    # through validation would show up as a change. "anonymous": a socket that
    # has not authenticated.
    sender: str = "admin"

    def build(self, hall: HallHarness) -> str | bytes:
        return self.frame(hall) if callable(self.frame) else self.frame


HUGE = "x" * 60_000  # a huge string that still fits in one 64 KiB frame

CORPUS = [
    # Not JSON, or not a message object.
    BadInput("truncated-json", '{"type": "CALL_TICKET", "payload": {"counter_id": 1', "INVALID_MESSAGE"),
    BadInput("truncated-mid-string", '{"type": "ANNOUNCEMENT", "payload": {"message": "Xin ch', "INVALID_MESSAGE"),
    BadInput("not-json", "CALL_TICKET counter=1", "INVALID_MESSAGE"),
    BadInput("json-nan", '{"type": "CALL_TICKET", "payload": {"counter_id": NaN}}', "INVALID_MESSAGE"),
    BadInput("trailing-garbage", '{"type": "PING", "payload": {}} {"type": "PING"}', "INVALID_MESSAGE"),
    BadInput("json-string", '"CALL_TICKET"', "INVALID_MESSAGE"),
    BadInput("json-number", "42", "INVALID_MESSAGE"),
    BadInput("json-null", "null", "INVALID_MESSAGE"),
    BadInput("json-array", json.dumps([{"type": "CALL_TICKET", "payload": {"counter_id": 1}}]), "INVALID_MESSAGE"),
    BadInput("empty-frame", "", "INVALID_MESSAGE"),
    BadInput("whitespace-frame", "  \n ", "INVALID_MESSAGE"),
    BadInput("binary-frame", b"\x00\x01\xfe\xff", "INVALID_MESSAGE"),
    BadInput("binary-frame-holding-json", frame("CALL_TICKET", {"counter_id": 1}).encode(), "INVALID_MESSAGE"),
    # Deep nesting: a few KiB that once made the decoder's error path recurse until it crashed the connection.
    BadInput("deeply-nested-array", "[" * 5000 + "]" * 5000, "INVALID_MESSAGE"),
    BadInput("deeply-nested-payload", '{"type": "PING", "payload": {"timestamp": ' + "[" * 5000 + "]" * 5000 + "}}",
             "INVALID_MESSAGE"),
    # The envelope.
    BadInput("missing-type", json.dumps({"payload": {"counter_id": 1}}), "INVALID_MESSAGE"),
    BadInput("unknown-type", frame("DELETE_EVERYTHING", {}), "INVALID_MESSAGE"),
    BadInput("type-wrong-case", frame("call_ticket", {"counter_id": 1}), "INVALID_MESSAGE"),
    BadInput("type-not-a-string", json.dumps({"type": 7, "payload": {}}), "INVALID_MESSAGE"),
    BadInput("type-null", json.dumps({"type": None, "payload": {}}), "INVALID_MESSAGE"),
    BadInput("server-only-type", frame("QUEUE_UPDATE", {"counter_id": 1, "current_number": 9, "waiting_count": 0,
                                                         "next_numbers": [], "average_wait_time": 0}),
             "INVALID_MESSAGE"),
    BadInput("missing-payload", json.dumps({"type": "CALL_TICKET"}), "INVALID_MESSAGE"),
    BadInput("payload-null", json.dumps({"type": "CALL_TICKET", "payload": None}), "INVALID_MESSAGE"),
    BadInput("payload-array", json.dumps({"type": "CALL_TICKET", "payload": [1]}), "INVALID_MESSAGE"),
    BadInput("unknown-envelope-field", json.dumps({"type": "CALL_TICKET", "payload": {"counter_id": 1}, "force": 1}),
             "INVALID_MESSAGE"),
    # Missing payload fields.
    BadInput("call-without-counter", frame("CALL_TICKET", {}), "INVALID_MESSAGE"),
    BadInput("status-without-status", frame("COUNTER_STATUS_CHANGE", {"counter_id": 1}), "INVALID_MESSAGE"),
    BadInput("status-without-counter", frame("COUNTER_STATUS_CHANGE", {"status": "paused"}), "INVALID_MESSAGE"),
    BadInput("ticket-without-counter-or-procedure", frame("TICKET_CREATED", {"request_id": "r-1"}),
             "INVALID_MESSAGE"),
    BadInput("announcement-without-message", frame("ANNOUNCEMENT", {"priority": "high"}), "INVALID_MESSAGE"),
    BadInput("register-without-client-id", frame("REGISTER_CLIENT", {"client_type": "admin"}), "INVALID_MESSAGE"),
    BadInput("auth-without-token", frame("AUTH", {"role": "admin"}), "INVALID_MESSAGE", "anonymous"),
    # Wrong types.
    BadInput("string-for-int", frame("CALL_TICKET", {"counter_id": "2"}), "INVALID_MESSAGE"),
    BadInput("bool-for-int", frame("CALL_TICKET", {"counter_id": True}), "INVALID_MESSAGE"),
    BadInput("float-for-int", frame("CALL_TICKET", {"counter_id": 2.0}), "INVALID_MESSAGE"),
    BadInput("object-for-int", frame("CALL_TICKET", {"counter_id": {"id": 2}}), "INVALID_MESSAGE"),
    BadInput("string-for-ticket-number", frame("CALL_TICKET", {"counter_id": 1, "ticket_number": "2"}),
             "INVALID_MESSAGE"),
    BadInput("int-for-reason", frame("COUNTER_STATUS_CHANGE", {"counter_id": 1, "status": "paused", "reason": 5}),
             "INVALID_MESSAGE"),
    BadInput("unknown-status", frame("COUNTER_STATUS_CHANGE", {"counter_id": 1, "status": "closed"}),
             "INVALID_MESSAGE"),
    BadInput("status-wrong-case", frame("COUNTER_STATUS_CHANGE", {"counter_id": 1, "status": "PAUSED"}),
             "INVALID_MESSAGE"),
    BadInput("string-for-duration", frame("ANNOUNCEMENT", {"message": "Xin chào", "duration": "30"}),
             "INVALID_MESSAGE"),
    BadInput("unknown-priority", frame("ANNOUNCEMENT", {"message": "Xin chào", "priority": "urgent"}),
             "INVALID_MESSAGE"),
    BadInput("string-for-target-list", frame("ANNOUNCEMENT", {"message": "Xin chào", "target_displays": "tv-001"}),
             "INVALID_MESSAGE"),
    BadInput("list-for-message", frame("ANNOUNCEMENT", {"message": ["Xin", "chào"]}), "INVALID_MESSAGE"),
    BadInput("unknown-client-type", frame("REGISTER_CLIENT", {"client_type": "robot", "client_id": "r-1"}),
             "INVALID_MESSAGE"),
    BadInput("string-for-changed-by", frame("COUNTER_STATUS_CHANGE", {"counter_id": 1, "status": "paused",
                                                                      "changed_by": "admin"}), "INVALID_MESSAGE"),
    BadInput("int-for-token", frame("AUTH", {"token": 12345}), "INVALID_MESSAGE", "anonymous"),
    # Numbers out of range.
    BadInput("counter-zero", frame("CALL_TICKET", {"counter_id": 0}), "INVALID_MESSAGE"),
    BadInput("counter-negative", frame("CALL_TICKET", {"counter_id": -1}), "INVALID_MESSAGE"),
    BadInput("counter-huge", frame("CALL_TICKET", {"counter_id": 10**30}), "INVALID_MESSAGE"),
    BadInput("counter-int64-max", frame("CALL_TICKET", {"counter_id": 2**63 - 1}), "INVALID_MESSAGE"),
    BadInput("ticket-number-negative", frame("CALL_TICKET", {"counter_id": 1, "ticket_number": -1}),
             "INVALID_MESSAGE"),
    BadInput("ticket-number-huge", frame("CALL_TICKET", {"counter_id": 1, "ticket_number": 10**6}),
             "INVALID_MESSAGE"),
    BadInput("procedure-negative", frame("TICKET_CREATED", {"procedure_id": -101, "request_id": "r-1"}),
             "INVALID_MESSAGE"),
    BadInput("duration-zero", frame("ANNOUNCEMENT", {"message": "Xin chào", "duration": 0}), "INVALID_MESSAGE"),
    BadInput("duration-over-a-day", frame("ANNOUNCEMENT", {"message": "Xin chào", "duration": 86_401}),
             "INVALID_MESSAGE"),
    BadInput("user-id-negative", frame("AUTH", {"token": "x", "user_id": -5}), "INVALID_MESSAGE", "anonymous"),
    # Unknown fields.
    BadInput("unknown-payload-field", frame("CALL_TICKET", {"counter_id": 1, "force": True}), "INVALID_MESSAGE"),
    BadInput("unknown-nested-field", frame("COUNTER_STATUS_CHANGE", {
        "counter_id": 1, "status": "paused", "changed_by": {"user_id": 1, "is_root": True}}), "INVALID_MESSAGE"),
    BadInput("unknown-ping-field", frame("PING", {"timestamp": "t", "echo": "x" * 100}), "INVALID_MESSAGE"),
    # Over-long strings.
    BadInput("reason-just-too-long", frame("COUNTER_STATUS_CHANGE", {"counter_id": 1, "status": "paused",
                                                                     "reason": "x" * 201}), "INVALID_MESSAGE"),
    BadInput("reason-huge", frame("COUNTER_STATUS_CHANGE", {"counter_id": 1, "status": "paused", "reason": HUGE}),
             "INVALID_MESSAGE"),
    BadInput("announcement-too-long", frame("ANNOUNCEMENT", {"message": "ồ" * 501}), "INVALID_MESSAGE"),
    BadInput("announcement-huge", frame("ANNOUNCEMENT", {"message": HUGE}), "INVALID_MESSAGE"),
    BadInput("announcement-only-control-chars", frame("ANNOUNCEMENT", {"message": "\x00\x07 \x1b\t"}),
             "INVALID_MESSAGE"),
    BadInput("announcement-empty", frame("ANNOUNCEMENT", {"message": ""}), "INVALID_MESSAGE"),
    BadInput("too-many-targets", frame("ANNOUNCEMENT", {"message": "Xin chào",
                                                        "target_displays": [f"tv-{i}" for i in range(201)]}),
             "INVALID_MESSAGE"),
    BadInput("target-with-bad-characters", frame("ANNOUNCEMENT", {"message": "Xin chào",
                                                                  "target_displays": ["tv 001<script>"]}),
             "INVALID_MESSAGE"),
    BadInput("request-id-too-long", frame("TICKET_CREATED", {"counter_id": 1, "request_id": "r" * 65}),
             "INVALID_MESSAGE"),
    BadInput("request-id-bad-characters", frame("TICKET_CREATED", {"counter_id": 1, "request_id": "r 1/../x"}),
             "INVALID_MESSAGE"),
    BadInput("client-id-too-long", frame("REGISTER_CLIENT", {"client_type": "admin", "client_id": "a" * 65}),
             "INVALID_MESSAGE"),
    BadInput("client-id-empty", frame("REGISTER_CLIENT", {"client_type": "admin", "client_id": ""}),
             "INVALID_MESSAGE"),
    BadInput("location-too-long", frame("REGISTER_CLIENT", {"client_type": "admin", "client_id": "console-x",
                                                            "location": "y" * 201}), "INVALID_MESSAGE"),
    BadInput("timestamp-too-long", frame("PING", {"timestamp": "2025-07-19T10:30:00Z" * 3}), "INVALID_MESSAGE"),
    BadInput("token-too-long", auth("a" * 5000), "INVALID_MESSAGE", "anonymous"),
    # Business errors are errors too: a well-formed message about a counter that does not exist.
    BadInput("unknown-counter", frame("CALL_TICKET", {"counter_id": 999}), "COUNTER_NOT_FOUND"),
    BadInput("unknown-counter-status", frame("COUNTER_STATUS_CHANGE", {"counter_id": 999, "status": "paused"}),
             "COUNTER_NOT_FOUND"),
    # Calls before authenticating.
    BadInput("anonymous-call", frame("CALL_TICKET", {"counter_id": 1}), "AUTH_FAILED", "anonymous"),
    BadInput("anonymous-ticket", frame("TICKET_CREATED", {"counter_id": 1, "request_id": "anon-1"}), "AUTH_FAILED",
             "anonymous"),
    BadInput("anonymous-pause", frame("COUNTER_STATUS_CHANGE", {"counter_id": 1, "status": "paused"}), "AUTH_FAILED",
             "anonymous"),
    BadInput("anonymous-announcement", frame("ANNOUNCEMENT", {"message": "Xin chào"}), "AUTH_FAILED", "anonymous"),
    BadInput("anonymous-register", frame("REGISTER_CLIENT", {"client_type": "tv", "client_id": "tv-anon"}),
             "AUTH_FAILED", "anonymous"),
    # Bad tokens.
    BadInput("token-garbage", auth("not-a-jwt"), "AUTH_FAILED", "anonymous"),
    BadInput("token-bearer-only", auth("Bearer "), "AUTH_FAILED", "anonymous"),
    BadInput("token-expired", lambda hall: auth(expired_token(hall)), "AUTH_FAILED", "anonymous"),
    BadInput("token-tampered", lambda hall: auth(tampered_token(hall)), "AUTH_FAILED", "anonymous"),
    BadInput("token-alg-none", lambda hall: auth(alg_none_token(hall)), "AUTH_FAILED", "anonymous"),
    BadInput("token-other-secret", lambda hall: auth(other_secret_token(hall)), "AUTH_FAILED", "anonymous"),
    BadInput("auth-role-disagrees", lambda hall: auth(hall.token("officer", counter_id=1), role="admin"),
             "AUTH_FAILED", "anonymous"),
    BadInput("auth-counter-disagrees", lambda hall: auth(hall.token("officer", counter_id=1), counter_id=2),
             "AUTH_FAILED", "anonymous"),
    BadInput("auth-user-disagrees", lambda hall: auth(hall.token("leader", user_id=7), user_id=8),
             "AUTH_FAILED", "anonymous"),
]


@pytest.mark.parametrize("case", CORPUS, ids=[c.id for c in CORPUS])
async def test_bad_input_gets_its_error_and_changes_nothing(scene: Scene, case: BadInput):
    hall = scene.hall
    sender = scene.admin if case.sender == "admin" else await hall.raw()
    before = hub_fingerprint(hall.hub)

    await sender.send_raw(case.build(hall))
    error = await sender.expect("ERROR")
    assert error["error_code"] == case.code, error
    assert error["message"] and error["timestamp"].endswith("Z")

    # The same connection is still served, and nothing it heard was a change of state.
    heard = await round_trip(sender)
    assert [msg for msg in heard if msg["type"] in STATE_MESSAGES or msg["type"] == "ERROR"] == []
    assert hub_fingerprint(hall.hub) == before
    # The TV saw nothing at all of it.
    assert await round_trip(scene.tv) == []

    if case.sender == "anonymous":
        # A refused AUTH leaves the socket unauthenticated: privileged calls still bounce...
        await sender.send("ANNOUNCEMENT", {"message": "Mất điện toàn bộ"})
        assert (await sender.expect("ERROR"))["error_code"] == "AUTH_FAILED"
        assert hub_fingerprint(hall.hub) == before
        # ...and a good AUTH on the same socket still works.
        await sender.send("AUTH", {"token": hall.token("tv", client_id="tv-late")})
        assert (await sender.expect("AUTH_OK"))["client_id"] == "tv-late"


async def test_error_names_the_failed_request(scene: Scene):
    # A kiosk matches an ERROR to its request by request_id, even when the payload was invalid.
    await scene.kiosk.send("TICKET_CREATED", {"counter_id": "1", "request_id": "kiosk-r-77"})
    error = await scene.kiosk.expect("ERROR")
    assert error["error_code"] == "INVALID_MESSAGE"
    assert error["message_type"] == "TICKET_CREATED"
    assert error["request_id"] == "kiosk-r-77"
    assert "counter_id" in error["message"]


@pytest.mark.parametrize("size", [m.MAX_MESSAGE_BYTES + 1, 1024 * 1024], ids=["64KiB+1", "1MiB"])
async def test_oversized_frame_closes_only_that_connection(scene: Scene, size: int):
    """A frame over the 64 KiB limit is the one bad input answered by a close, not an ERROR.

    The limit is enforced by the WebSocket layer while it reads the frame: the
    hub never holds the message, so there is nothing to answer, and letting a
    client stream megabytes to learn that would defeat the limit. websockets
    closes with 1009 (message too big), the close code RFC 6455 defines for
    exactly this.
    """
    hall = scene.hall
    before = hub_fingerprint(hall.hub)
    flooder = await hall.raw()
    payload = {"counter_id": 1, "status": "paused", "reason": "x" * size}
    await flooder.send_raw(frame("COUNTER_STATUS_CHANGE", payload))
    with pytest.raises(ConnectionClosed) as closed:
        await flooder.ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009

    assert hub_fingerprint(hall.hub) == before
    assert await round_trip(scene.tv) == []
    # The hub keeps serving old connections and new ones.
    await scene.admin.send("CALL_TICKET", {"counter_id": 1})
    assert (await scene.admin.expect("CALL_TICKET"))["ticket_number"] == 2
    newcomer = await hall.client("kiosk")
    await round_trip(newcomer)


async def test_control_characters_are_stripped_from_a_reason(scene: Scene):
    await scene.officer.send("COUNTER_STATUS_CHANGE", {
        "counter_id": 1, "status": "paused", "reason": "\x1b[2J Nghỉ\x00 trưa\x07\r\n\u0085\x7f ",
    })
    for client in (scene.officer, scene.tv, scene.admin):
        update = await client.expect("COUNTER_STATUS_UPDATE")
        assert update["reason"] == "[2J Nghỉ trưa"
        assert not any(unicodedata.category(ch) == "Cc" for ch in update["reason"])
    with closing(sqlite3.connect(scene.hall.hub.data_dir / "qms.db")) as conn:
        (stored,) = conn.execute("SELECT reason FROM counters WHERE counter_id = 1").fetchone()
    assert stored == "[2J Nghỉ trưa"


async def test_decomposed_vietnamese_comes_back_composed(scene: Scene):
    # A keyboard on some systems sends Vietnamese decomposed (NFD): base letters plus combining marks.
    reason = unicodedata.normalize("NFD", "Cán bộ đi họp ở Sở Tư pháp")
    assert reason != unicodedata.normalize("NFC", reason)
    await scene.admin.send("COUNTER_STATUS_CHANGE", {"counter_id": 2, "status": "paused", "reason": reason})
    update = await scene.tv.expect("COUNTER_STATUS_UPDATE")
    assert update["reason"] == "Cán bộ đi họp ở Sở Tư pháp"
    assert unicodedata.is_normalized("NFC", update["reason"])


async def test_announcement_text_is_plain_text(scene: Scene):
    # Stored and sent as the literal text: not HTML-escaped, not stripped. Escaping is the renderer's job.
    text = "<img src=x onerror=alert(1)> & \"Mời\" 'quý khách'"
    await scene.admin.send("ANNOUNCEMENT", {"message": text, "priority": "high", "duration": 60})
    shown = await scene.tv.expect("ANNOUNCEMENT")
    assert shown["message"] == text
    with closing(sqlite3.connect(scene.hall.hub.data_dir / "qms.db")) as conn:
        (stored,) = conn.execute("SELECT message FROM announcements").fetchone()
    assert stored == text
    late_tv = await scene.hall.client("tv")
    assert [a["message"] for a in late_tv.snapshot["announcements"]] == [text]


async def test_token_that_expires_while_connected_stops_working(tmp_path):
    # The hub's clock (here a hand-moved one) decides when a session's token has run out.
    clock = ManualClock(datetime(2025, 7, 21, 8, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")))
    hub = await start_hub(tmp_path / "data", clock=clock)
    hall = HallHarness(hub)
    try:
        kiosk = await hall.client("kiosk")
        tv = await hall.client("tv")
        await kiosk.send("TICKET_CREATED", {"counter_id": 1, "request_id": "before-expiry"})
        await kiosk.expect("TICKET_CREATED")
        await round_trip(tv)
        clock.advance(hours=2)  # tokens from hall.token last one hour
        before = hub_fingerprint(hub)

        await kiosk.send("TICKET_CREATED", {"counter_id": 1, "request_id": "after-expiry"})
        error = await kiosk.expect("ERROR")
        assert error["error_code"] == "AUTH_FAILED" and "expired" in error["message"]
        await round_trip(kiosk)
        assert hub_fingerprint(hub) == before
        assert await round_trip(tv) == []
        # Still refused on the next try, until the kiosk authenticates again.
        await kiosk.send("TICKET_CREATED", {"counter_id": 1, "request_id": "after-expiry"})
        assert (await kiosk.expect("ERROR"))["error_code"] == "AUTH_FAILED"
    finally:
        await hall.close_all()
        await hub.stop()


# --- property tests of the decoder ---------------------------------------------------------------

PROPERTY_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CLIENT_TYPE_NAMES = [m.message_type(cls) for cls in m.CLIENT_MESSAGE_TYPES]
PAYLOAD_FIELD_NAMES = sorted({
    name
    for cls in m.CLIENT_MESSAGE_TYPES
    for name in get_type_hints(cls)["payload"].__struct_fields__
} | {"user_id", "username", "role", "full_name"})


def _is_control(ch: str) -> bool:
    return ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0


def strings_in(value: Any, path: str = "$"):
    """Every string a decoded message carries, with where it is (passwords excepted: compared byte for byte)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            if isinstance(value, (m.LoginPayload, m.UserUpdatePayload)) and name == "password":
                continue
            yield from strings_in(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from strings_in(item, f"{path}[{i}]")


def text_limits(struct: msgspec.Struct) -> dict[str, int]:
    """The declared ``max_length`` of each text field of a decoded struct."""
    limits = {}
    for field in msgspec.inspect.type_info(type(struct)).fields:
        for kind in getattr(field.type, "types", (field.type,)):
            if isinstance(kind, msgspec.inspect.StrType) and kind.max_length is not None:
                limits[field.name] = kind.max_length
    return limits


def assert_within_limits(value: Any) -> None:
    """Every text field is within its declared length after cleaning, not just as it was sent."""
    if isinstance(value, msgspec.Struct):
        limits = text_limits(value)
        for name in value.__struct_fields__:
            field_value = getattr(value, name)
            if isinstance(field_value, str) and name in limits:
                assert len(field_value) <= limits[name], (name, len(field_value), limits[name])
            assert_within_limits(field_value)


def assert_decodes_cleanly_or_refuses(raw: str | bytes) -> m.ClientMessage | None:
    try:
        message = m.decode_client_message(raw)
    except m.InvalidMessage as exc:
        assert str(exc)
        assert exc.message_type is None or isinstance(exc.message_type, str)
        return None
    assert isinstance(message, m.CLIENT_MESSAGE_TYPES)
    for path, text in strings_in(message):
        assert unicodedata.is_normalized("NFC", text), (path, text)
        assert not any(_is_control(ch) for ch in text), (path, text)
        assert text == text.strip(), (path, text)
    assert_within_limits(message)
    return message


@pytest.mark.parametrize("growing", ["\u0958", "\ufb2c", "\U0001d15e"],
                         ids=["devanagari-qa", "hebrew-shin", "music-half-note"])
def test_text_that_grows_under_nfc_still_respects_its_limit(growing):
    # A few characters decompose for good under NFC (composition exclusions), up to three code
    # points each; a reason at its 200-character limit must not come out at 400 or 600.
    assert len(unicodedata.normalize("NFC", growing)) > 1
    raw = frame("COUNTER_STATUS_CHANGE", {"counter_id": 1, "status": "paused", "reason": growing * 200})
    assert assert_decodes_cleanly_or_refuses(raw) is None
    # Well under the limit, the same characters are fine.
    message = assert_decodes_cleanly_or_refuses(
        frame("COUNTER_STATUS_CHANGE", {"counter_id": 1, "status": "paused", "reason": growing * 10}))
    assert message is not None and message.payload.reason == unicodedata.normalize("NFC", growing * 10)


@PROPERTY_SETTINGS
@given(st.one_of(st.text(), st.binary()))
def test_decoder_on_arbitrary_text_and_bytes(raw):
    assert_decodes_cleanly_or_refuses(raw)


# Text that exercises the cleaning: controls, combining marks, Vietnamese, odd whitespace. No lone
# surrogates: a text frame is valid UTF-8 (websockets closes with 1007 otherwise), so none reach the decoder.
unicode_characters = st.characters(exclude_categories=("Cs",))
awkward_text = st.text(
    alphabet=st.one_of(
        unicode_characters,
        st.sampled_from("\x00\x07\x1b\x7f\x85\u009f \t\r\n\u00a0\u2028\u3000\u0300\u0301\u0323\u0309ăâđêôơưĐ"
                        "\u0958\ufb2c\U0001d15e\u1100\u1161\u11a8"),
    ),
    max_size=30,
)
json_scalars = st.one_of(
    st.none(), st.booleans(), awkward_text,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(PAYLOAD_FIELD_NAMES), awkward_text), children, max_size=4),
    ),
    max_leaves=12,
)
# Envelopes with real message types and plausible field names reach the payload validation,
# which random JSON rarely does.
envelopes = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from(CLIENT_TYPE_NAMES), awkward_text)},
    optional={"payload": st.one_of(
        json_values,
        st.dictionaries(st.sampled_from(PAYLOAD_FIELD_NAMES), json_values, max_size=6),
    )},
)


@PROPERTY_SETTINGS
@given(st.one_of(json_values, envelopes))
def test_decoder_on_arbitrary_json(value):
    assert_decodes_cleanly_or_refuses(json.dumps(value, ensure_ascii=False))
    # Binary input is the same JSON as UTF-8 bytes; the decoder must treat it alike.
    assert_decodes_cleanly_or_refuses(json.dumps(value).encode())


# --- well-formed messages round-trip -------------------------------------------------------------

def text_up_to(n: int) -> st.SearchStrategy[str]:
    # Within the limit both as sent and once cleaned (NFC lengthens a few characters, such as U+0958).
    alphabet = st.one_of(unicode_characters, st.sampled_from("ăâđêôơư\u0300\u0301\u0323 \x00\u0958"))
    return st.text(alphabet=alphabet, max_size=n).filter(lambda s: len(m.clean_text(s)) <= n)


def visible_text(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    # Required text must keep something a screen would show after cleaning (a letter, digit, mark of
    # punctuation or symbol: a lone combining accent is not), or it is not well-formed.
    return text_up_to(max_size).filter(lambda s: len(s) >= min_size and m.has_visible_text(m.clean_text(s)))


client_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}", fullmatch=True)
request_ids = st.from_regex(r"[A-Za-z0-9._:-]{1,64}", fullmatch=True)
counter_ids = st.integers(1, 1_000_000)
int64s = st.integers(-(2**63), 2**63 - 1)
changed_by = st.fixed_dictionaries({}, optional={
    "user_id": st.integers(0, 2**53), "username": text_up_to(200), "role": text_up_to(200),
    "full_name": text_up_to(200),
})
timestamps = text_up_to(40)
procedure_ids = st.integers(1, 1_000_000_000)
# The seed's other TICKET_CREATED fields, which a seed kiosk may send along (the hub ignores them).
ticket_extras = {
    "request_id": request_ids, "ticket_id": int64s, "ticket_number": int64s, "counter_name": text_up_to(200),
    "procedure_name": text_up_to(200), "created_at": timestamps, "estimated_wait_time": int64s,
}

VALID_PAYLOADS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "PING": st.fixed_dictionaries({}, optional={"timestamp": timestamps}),
    "AUTH": st.fixed_dictionaries({"token": visible_text(1, 4096)}, optional={
        "user_id": st.integers(0, 2**53), "role": st.sampled_from(["admin", "leader", "officer", "kiosk", "tv"]),
        "counter_id": counter_ids,
    }),
    "LOGIN": st.fixed_dictionaries({"username": visible_text(1, 64), "password": text_up_to(256).filter(bool)}),
    "REGISTER_CLIENT": st.fixed_dictionaries(
        {"client_type": st.sampled_from(["kiosk", "tv", "counter", "officer", "admin"]), "client_id": client_ids},
        optional={"location": text_up_to(200), "take_over": st.booleans()},
    ),
    "COUNTER_STATUS_CHANGE": st.fixed_dictionaries(
        {"counter_id": counter_ids, "status": st.sampled_from(["active", "paused", "offline"])},
        optional={"reason": text_up_to(200), "changed_by": changed_by, "timestamp": timestamps},
    ),
    "TICKET_CREATED": st.one_of(
        st.fixed_dictionaries({"counter_id": counter_ids}, optional=ticket_extras),
        st.fixed_dictionaries({"procedure_id": procedure_ids}, optional=ticket_extras),
        st.fixed_dictionaries({"counter_id": counter_ids, "procedure_id": procedure_ids}, optional=ticket_extras),
        st.fixed_dictionaries({"queue_id": counter_ids}, optional=ticket_extras),
        st.fixed_dictionaries({"procedure_id": procedure_ids, "priority": st.just(True)},
                              optional={"priority_reason": st.sampled_from(
                                  ["elderly", "disability", "pregnant", "child", "merit", "other"])}),
    ),
    "CALL_TICKET": st.fixed_dictionaries({"counter_id": counter_ids}, optional={
        "ticket_number": st.integers(0, 999_999), "queue_id": counter_ids, "counter_name": text_up_to(200),
        "called_by": changed_by, "timestamp": timestamps,
    }),
    "TICKET_ACTION": st.one_of(
        st.fixed_dictionaries({"counter_id": counter_ids, "action": st.sampled_from(["finish", "no_show"])},
                              optional={"note": text_up_to(200), "ticket_number": st.integers(0, 999_999)}),
        st.fixed_dictionaries({"counter_id": counter_ids, "action": st.just("transfer"), "to_queue_id": counter_ids},
                              optional={"to_counter_id": counter_ids, "note": text_up_to(200)}),
        st.fixed_dictionaries({"counter_id": counter_ids, "action": st.just("return"),
                               "ticket_number": st.integers(0, 999_999)}, optional={"queue_id": counter_ids}),
    ),
    "RATING": st.fixed_dictionaries({"ticket_id": st.integers(1, 2**53), "score": st.integers(1, 4)}, optional={
        "comment": text_up_to(500), "request_id": request_ids,
        "ticket_code": st.from_regex(r"\A[A-Za-z0-9_-]{8,64}\Z"),
    }),
    "ANNOUNCEMENT": st.fixed_dictionaries({"message": visible_text(1, 500)}, optional={
        "priority": st.sampled_from(["high", "medium", "low"]), "duration": st.integers(1, 86_400),
        "target_displays": st.lists(client_ids, max_size=5),
    }),
    "DEVICE_STATUS": st.fixed_dictionaries(
        {"component": st.sampled_from(["printer", "gpio", "display"]),
         "status": st.sampled_from(["ok", "warning", "fault"])},
        optional={"code": st.from_regex(r"[a-z0-9_]{1,40}", fullmatch=True), "message": text_up_to(200),
                  "detail": text_up_to(200)},
    ),
    "USER_LIST": st.fixed_dictionaries({}, optional={"request_id": request_ids}),
    "USER_UPDATE": st.one_of(
        st.fixed_dictionaries({"user_id": st.integers(0, 2**53), "action": st.sampled_from(["disable", "enable",
                                                                                             "delete"])},
                              optional={"confirm_username": text_up_to(64), "request_id": request_ids}),
        st.fixed_dictionaries({"user_id": st.integers(0, 2**53), "action": st.just("set_password"),
                               "password": text_up_to(256).filter(bool)}),
        st.fixed_dictionaries({"user_id": st.integers(0, 2**53), "action": st.just("set_counter"),
                               "counter_id": counter_ids}),
    ),
}
# Fields compared byte for byte (passwords): never cleaned.
RAW_TEXT_FIELDS = {("LOGIN", "password"), ("USER_UPDATE", "password")}


def test_every_client_message_has_a_well_formed_strategy():
    assert set(VALID_PAYLOADS) == set(CLIENT_TYPE_NAMES)
valid_messages = st.one_of(
    *(payloads.map(lambda payload, t=t: {"type": t, "payload": payload}) for t, payloads in VALID_PAYLOADS.items())
)


def expected_value(value: Any, *, raw_text: bool = False) -> Any:
    """What the decoder should make of a field sent as ``value``."""
    if isinstance(value, str):
        return value if raw_text else m.clean_text(value)
    if isinstance(value, dict):
        return {k: expected_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expected_value(v) for v in value]
    return value


@PROPERTY_SETTINGS
@given(valid_messages)
def test_well_formed_messages_round_trip(sent):
    message = assert_decodes_cleanly_or_refuses(json.dumps(sent, ensure_ascii=False))
    assert message is not None, sent
    assert m.message_type(message) == sent["type"]
    decoded = msgspec.to_builtins(message.payload)
    for name, value in sent["payload"].items():
        got = decoded[name]
        if isinstance(got, dict):  # nested structs come back with every field; compare what was sent
            got = {k: v for k, v in got.items() if k in value}
        assert got == expected_value(value, raw_text=(sent["type"], name) in RAW_TEXT_FIELDS), name
    # What the hub decoded, encoded again, decodes to the same message: cleaning is idempotent.
    assert m.decode_client_message(m.encode(message)) == message
