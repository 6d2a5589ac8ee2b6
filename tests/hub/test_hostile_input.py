"""Frames, text and HTTP requests crafted to hurt (issue items 8 and 11).

* A deeply nested frame is an ordinary bad frame: INVALID_MESSAGE, the
  connection stays.
* Text a TV shows (announcements, pause reasons) loses bidirectional
  controls and invisible characters, never a Vietnamese letter; an
  announcement of nothing but zero-width characters is refused.
* Every HTTP answer carries the security headers; a request for a foreign
  host name (DNS rebinding) is refused, the names a hall uses are not.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import unicodedata

import pytest
from support import HallHarness, hub_fingerprint, round_trip, start_hub

from hub.site_config import sample_site
from protocol import messages as m
from protocol.messages import clean_text

DEEP = 30_000

# Every letter of Vietnamese: the 12 vowels with each of the 6 tones, and the consonants (đ included).
_VOWELS = "aăâeêioôơuưy"
_TONES = ("", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323")  # ngang, huyền, sắc, hỏi, ngã, nặng
VIETNAMESE_LOWER = "".join(unicodedata.normalize("NFC", v + t) for v in _VOWELS for t in _TONES) + "bcdđghklmnpqrstvx"
VIETNAMESE = VIETNAMESE_LOWER + VIETNAMESE_LOWER.upper()

BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u3164\u2800\U000e0041"


# --- item 8: nesting ----------------------------------------------------------------------------------


@pytest.mark.parametrize("frame", [
    '{"x":' + "[" * DEEP + "]" * DEEP + ',"type":"PING"}',
    '{"type":"PING","payload":{"timestamp":' + "[" * DEEP + "]" * DEEP + "}}",
    "[" * DEEP + "]" * DEEP,
    '{"type":"AUTH","payload":{"token":"x","role":' + '{"a":' * 9000 + "1" + "}" * 9000 + "}}",  # < 64 KiB
], ids=["unknown-field-first", "in-a-field", "bare-array", "nested-objects"])
async def test_a_deeply_nested_frame_before_auth_is_an_invalid_message(hall, frame):
    client = await hall.raw()
    await client.send_raw(frame)
    error = await client.expect("ERROR")
    assert error["error_code"] == "INVALID_MESSAGE"
    # The connection stays and is served.
    await round_trip(client)
    assert client.ws.close_code is None


def test_the_decoders_turn_deep_nesting_into_invalid_message():
    frame = '{"x":' + "[" * DEEP + "]" * DEEP + ',"type":"PONG"}'
    for decode in (m.decode_client_message, m.decode_server_message):
        with pytest.raises(m.InvalidMessage):
            decode(frame)


# --- item 11: text a TV shows ---------------------------------------------------------------------------


def test_every_vietnamese_letter_survives_cleaning_in_either_normal_form():
    assert len(VIETNAMESE) == 2 * (12 * 6 + 17)
    for form in ("NFC", "NFD"):
        assert clean_text(unicodedata.normalize(form, VIETNAMESE)) == VIETNAMESE
    sentence = "Mời công dân số 105 đến quầy Tư pháp – Hộ tịch; xin cảm ơn quý khách!"
    assert clean_text(sentence) == sentence


@pytest.mark.parametrize("char", list(BIDI_CONTROLS + INVISIBLE), ids=lambda c: f"U+{ord(c):04X}")
def test_bidirectional_and_invisible_characters_are_dropped(char):
    assert clean_text(f"Quầy{char} 1 {char}tạm dừng") == "Quầy 1 tạm dừng"


@pytest.mark.parametrize("message", ["\u200b", "\u200b\u200c\u200d\u2060\ufeff", "\u202e\u2066 \u2069", "\u3164",
                                     "\u0301\u0300"], ids=["zwsp", "zero-widths", "bidi-and-space", "filler",
                                                           "marks-only"])
async def test_an_announcement_with_nothing_visible_is_refused(hall, message):
    admin = await hall.client("admin")
    tv = await hall.client("tv")
    before = hub_fingerprint(hall.hub)
    await admin.send("ANNOUNCEMENT", {"message": message})
    assert (await admin.expect("ERROR"))["error_code"] == "INVALID_MESSAGE"
    assert all(msg["type"] != "ANNOUNCEMENT" for msg in await round_trip(tv))
    assert hub_fingerprint(hall.hub) == before


async def test_an_announcement_reaches_the_tv_without_bidi_tricks_and_with_every_letter(hall):
    admin = await hall.client("admin")
    tv = await hall.client("tv")
    # U+202E would show "Quầy 1" reversed, or hide what follows behind the text before it.
    await admin.send("ANNOUNCEMENT", {"message": f"Thông báo\u202e: quầy 1\u2066 đóng cửa\u200b. {VIETNAMESE}"})
    shown = await tv.expect("ANNOUNCEMENT")
    assert shown["message"] == f"Thông báo: quầy 1 đóng cửa. {VIETNAMESE}"


async def test_a_pause_reason_reaches_the_tv_without_bidi_tricks(hall):
    officer = await hall.client("officer", counter_id=1)
    tv = await hall.client("tv")
    await officer.send("COUNTER_STATUS_CHANGE", {"counter_id": 1, "status": "paused",
                                                 "reason": "Nghỉ trưa\u202e ươ\u2067ng\u200d"})
    update = await tv.expect("COUNTER_STATUS_UPDATE")
    assert update["reason"] == "Nghỉ trưa ương"


# --- item 11: HTTP --------------------------------------------------------------------------------------


async def http(port: int, request: str) -> tuple[int, dict[str, str]]:
    """One raw HTTP/1.1 request on loopback: the status and the headers (names lower-cased)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request.encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    finally:
        writer.close()
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers


def get(path: str, host: str, *extra: str) -> str:
    return "\r\n".join([f"GET {path} HTTP/1.1", f"Host: {host}", "Connection: close", *extra, "", ""])


def upgrade(path: str, host: str, origin: str | None = None) -> str:
    headers = ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
               "Sec-WebSocket-Version: 13"]
    if origin is not None:
        headers.append(f"Origin: {origin}")
    return "\r\n".join([f"GET {path} HTTP/1.1", f"Host: {host}", *headers, "", ""])


@pytest.mark.parametrize("name,request_for", [
    ("healthz", lambda host: get("/healthz", host)),
    ("metrics", lambda host: get("/metrics", host)),
    ("not-found", lambda host: get("/no-such-page", host)),
    ("post", lambda host: f"POST /healthz HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n"),
    ("websocket-elsewhere", lambda host: upgrade("/not-ws", host)),
    ("foreign-origin", lambda host: upgrade("/ws", host, "https://evil.example")),
    ("foreign-host", lambda host: get("/healthz", "evil.example")),
    ("console-page", lambda host: get("/officer", host)),
])
async def test_every_http_answer_has_the_security_headers(hall, name, request_for):
    status, headers = await http(hall.hub.port, request_for(f"127.0.0.1:{hall.hub.port}"))
    assert status != 101
    assert headers.get("x-content-type-options") == "nosniff", (name, status, headers)
    assert headers.get("x-frame-options") == "DENY"
    if "json" in headers.get("content-type", "") or name in ("healthz", "metrics", "not-found"):
        assert headers.get("cache-control") == "no-store", (name, headers)


@pytest.mark.parametrize("host", ["evil.example", "attacker.example.com:3001", "qms.example.gov.vn.evil.example"])
async def test_a_foreign_host_name_is_refused_even_with_a_matching_origin(hall, host):
    # DNS rebinding: the attacker's page, on its own name pointed at the hub, talks to its "own" origin.
    status, _ = await http(hall.hub.port, upgrade("/ws", host, f"http://{host}"))
    assert status == 421
    status, _ = await http(hall.hub.port, get("/healthz", host))
    assert status == 421


async def test_the_names_a_hall_uses_are_accepted(tmp_path):
    site = dataclasses.replace(sample_site(), host_names=("qms.hall.example",),
                               public_url="https://qms.example.gov.vn")
    hall = HallHarness(await start_hub(tmp_path / "data", site=site))
    port = hall.hub.port
    machine = socket.gethostname()
    try:
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", f"192.168.1.10:{port}",
                     f"{machine}:{port}", f"{machine}.local:{port}", f"{machine.upper()}.LOCAL.:{port}",
                     f"qms.hall.example:{port}", "qms.example.gov.vn", "console.localhost"):
            status, _ = await http(port, get("/healthz", host))
            assert status == 200, host
            status, _ = await http(port, upgrade("/ws", host, f"http://{host}"))
            assert status == 101, host
    finally:
        await hall.close_all()
        await hall.hub.stop()
