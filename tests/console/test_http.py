"""The console over plain HTTP: pages, security headers, the ticket status JSON, today's tickets and CSV.

Real hub on loopback, real HTTP requests (http.client, run in a thread so the
in-process hub keeps serving).
"""

from __future__ import annotations

import asyncio
import csv
import http.client
import io
import json
from dataclasses import dataclass

from hub.http_routes import CONSOLE_DIR

ALL_PAGES = ("/", "/officer", "/admin")


@dataclass
class HttpAnswer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self):
        return json.loads(self.body)


def _request(port: int, path: str, method: str, headers: dict[str, str]) -> HttpAnswer:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        # skip_accept_encoding/skip_host left alone: a browser sends both too.
        connection.putrequest(method, path)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return HttpAnswer(response.status, response.headers, response.read())
    finally:
        connection.close()


async def http_get(port: int, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> HttpAnswer:
    return await asyncio.to_thread(_request, port, path, method, headers or {})


async def issue_ticket(kiosk, counter_id: int, request_id: str) -> dict:
    await kiosk.send("TICKET_CREATED", {"counter_id": counter_id, "request_id": request_id})
    return await kiosk.expect("TICKET_CREATED", where=lambda p: p.get("request_id") == request_id)


# --- pages and headers ---------------------------------------------------------------


async def test_pages_are_served_with_a_strict_content_security_policy(hall):
    port = hall.hub.port
    for path in ALL_PAGES:
        answer = await http_get(port, path)
        assert answer.status == 200, path
        assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
        policy = answer.headers["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["script-src"] == "'self'", policy  # no 'unsafe-inline', no 'unsafe-eval'
        assert directives["default-src"] == "'none'"
        assert directives["connect-src"] == "'self'"
        assert directives["frame-ancestors"] == "'none'"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        assert '<html lang="vi">' in answer.text
        # No inline script anywhere: every script is a module file from the hub.
        assert "<script>" not in answer.text and "onclick=" not in answer.text


async def test_every_console_file_is_served_with_its_type_and_nothing_else_is(hall):
    port = hall.hub.port
    types = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
    served = 0
    for file in sorted(CONSOLE_DIR.iterdir()):
        if file.suffix not in types:
            continue
        answer = await http_get(port, f"/console/{file.name}")
        assert answer.status == 200, file.name
        assert answer.headers["Content-Type"] == types[file.suffix]
        assert answer.body == file.read_bytes()
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        served += 1
        # The browser's revalidation gets a 304 without the body.
        again = await http_get(port, f"/console/{file.name}", {"If-None-Match": answer.headers["ETag"]})
        assert again.status == 304 and again.body == b""
    assert served >= 8
    for path in ("/console/../server.py", "/console/..%2Fserver.py", "/console/officer.html", "/console/nope.js",
                 "/console/", "/console/.hidden.js", "/officer/extra", "/hub/server.py"):
        answer = await http_get(port, path)
        assert answer.status == 404, path
        assert b"import" not in answer.body


async def test_only_get_is_served(hall):
    port = hall.hub.port
    for path in ("/officer", "/admin", "/api/tickets", "/healthz", "/t/anything"):
        for method in ("POST", "PUT", "DELETE", "HEAD"):
            answer = await http_get(port, path, method=method)
            assert answer.status == 405, (method, path)
            assert answer.headers["Allow"] == "GET"
    # The WebSocket and the hub's own GET routes still work.
    assert (await http_get(port, "/healthz")).json()["status"] == "ok"
    client = await hall.client("tv")
    await client.send("PING", {"timestamp": "x"})
    assert (await client.expect("PONG"))["timestamp"] == "x"


# --- the citizen's ticket ---------------------------------------------------------------


async def test_ticket_status_json_follows_a_ticket_and_tells_nothing_else(hall):
    port = hall.hub.port
    kiosk = await hall.client("kiosk")
    officer = await hall.client("officer", counter_id=1)
    await issue_ticket(kiosk, 1, "a")
    mine = await issue_ticket(kiosk, 1, "b")
    code = mine["ticket_code"]
    assert code and len(code) >= 16

    status = (await http_get(port, f"/api/t/{code}")).json()
    assert status["ticket_number"] == mine["ticket_number"]
    assert (status["status"], status["people_ahead"], status["counter_id"]) == ("waiting", 1, 1)
    assert status["counter_name"] == "Văn phòng đăng ký đất đai"
    assert status["estimated_wait_time"] == 5  # one person ahead at the default 5 minutes
    # Only this ticket: no code, ids, who called, which kiosk, nor other tickets.
    assert set(status) == {
        "ticket_number", "counter_id", "counter_name", "procedure_name", "status", "people_ahead",
        "estimated_wait_time", "counter_status", "created_at", "called_at", "site_name", "timezone", "server_time",
    }
    assert code not in json.dumps(status)

    await officer.send("CALL_TICKET", {"counter_id": 1})
    await officer.expect("CALL_TICKET")
    status = (await http_get(port, f"/api/t/{code}")).json()
    assert (status["status"], status["people_ahead"]) == ("waiting", 0)
    await officer.send("CALL_TICKET", {"counter_id": 1})
    await officer.expect("CALL_TICKET")
    status = (await http_get(port, f"/api/t/{code}")).json()
    assert status["status"] == "called" and status["called_at"]
    await officer.send("CALL_TICKET", {"counter_id": 1})
    assert (await officer.expect("ERROR"))["error_code"] == "QUEUE_EMPTY"
    await issue_ticket(kiosk, 1, "c")
    await officer.send("CALL_TICKET", {"counter_id": 1})
    await officer.expect("CALL_TICKET")
    assert (await http_get(port, f"/api/t/{code}")).json()["status"] == "done"

    page = await http_get(port, f"/t/{code}")
    assert page.status == 200 and page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"


async def test_unknown_ticket_code_gets_a_friendly_404(hall):
    port = hall.hub.port
    for code in ("AAAAAAAAAAAAAAAA", "short", "has%20space", "%3Cscript%3E", "a" * 200):
        page = await http_get(port, f"/t/{code}")
        assert page.status == 404, code
        assert page.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "Không tìm thấy vé" in page.text
        assert page.headers["Content-Security-Policy"]
        api = await http_get(port, f"/api/t/{code}")
        assert api.status == 404 and api.json()["error"] == "not_found"


# --- today's tickets for admins --------------------------------------------------------------


async def test_ticket_list_needs_an_admin_or_leader_token_in_the_authorization_header(hall):
    port = hall.hub.port
    kiosk = await hall.client("kiosk")
    ticket = await issue_ticket(kiosk, 2, "x")
    for path in ("/api/tickets", "/api/tickets.csv"):
        assert (await http_get(port, path)).status == 401
        assert (await http_get(port, path, {"Authorization": "Bearer not-a-token"})).status == 401
        # A token in the address is not accepted: it would end up in logs and histories.
        assert (await http_get(port, f"{path}?token={hall.token('admin')}")).status == 401
        officer = await http_get(port, path, {"Authorization": f"Bearer {hall.token('officer')}"})
        assert officer.status == 403
        for role in ("admin", "leader"):
            answer = await http_get(port, path, {"Authorization": f"Bearer {hall.token(role)}"})
            assert answer.status == 200, role
            assert answer.headers["Cache-Control"] == "no-store"
    listing = (await http_get(port, "/api/tickets", {"Authorization": f"Bearer {hall.token('admin')}"})).json()
    assert [t["ticket_number"] for t in listing["tickets"]] == [ticket["ticket_number"]]
    row = listing["tickets"][0]
    assert (row["counter_id"], row["status"], row["counter_name"]) == (2, "waiting", "Tư pháp - Hộ tịch")
    # The citizen's code is the key to the status page: never in the admin's list.
    assert ticket["ticket_code"] not in json.dumps(listing)


async def test_csv_export_opens_in_excel_with_vietnamese_intact(hall):
    port = hall.hub.port
    kiosk = await hall.client("kiosk")
    officer = await hall.client("officer", counter_id=1, client_id="officer-csv", username="=HYPERLINK(\"http://x\")")
    await issue_ticket(kiosk, 1, "one")
    await issue_ticket(kiosk, 1, "two")
    await officer.send("CALL_TICKET", {"counter_id": 1})
    await officer.expect("CALL_TICKET")

    answer = await http_get(port, "/api/tickets.csv", {"Authorization": f"Bearer {hall.token('admin')}"})
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="ve-')
    assert answer.body.startswith(b"\xef\xbb\xbf"), "Excel needs the BOM to read UTF-8"
    rows = list(csv.reader(io.StringIO(answer.body[3:].decode("utf-8"))))
    assert rows[0][:6] == ["Ngày", "Số vé", "Quầy", "Tên quầy", "Thủ tục", "Trạng thái"]
    assert [r[1] for r in rows[1:]] == ["1", "2"]
    assert rows[1][3] == "Văn phòng đăng ký đất đai"
    assert rows[1][4] == "Đăng ký đất đai, tài sản gắn liền với đất"
    assert (rows[1][5], rows[2][5]) == ("Đang được phục vụ", "Đang chờ")
    # A username that looks like a formula stays text in Excel.
    assert rows[1][10] == "'=HYPERLINK(\"http://x\")"
