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
    # Waiting, it is at no counter yet: the counters serving its queue say where it will be called.
    assert (status["status"], status["people_ahead"], status["counter_id"]) == ("waiting", 1, None)
    assert (status["queue_name"], status["counters"], status["status_text"]) == ("Đất đai", "Quầy 1", "Đang chờ")
    assert status["counter_name"] == "Văn phòng đăng ký đất đai"
    assert status["estimated_wait_time"] == 5  # one person ahead at the default 5 minutes
    # Only this ticket: no code, ticket id, who called, which kiosk, nor other tickets.
    assert set(status) == {
        "ticket_number", "ticket_label", "queue_id", "queue_name", "counter_id", "counter_number", "counter_name",
        "counters", "procedure_name", "status", "status_text", "priority", "priority_text", "transferred",
        "people_ahead", "estimated_wait_time", "counter_status", "created_at", "called_at", "closed_at",
        "site_name", "timezone", "server_time",
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
    assert (row["queue_id"], row["queue_name"], row["status"]) == (2, "Tư pháp - Hộ tịch", "waiting")
    assert row["counter_id"] is None  # no counter has called it yet
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
    header = rows[0]
    assert header[:8] == ["Ngày", "Số vé", "Hàng chờ", "Quầy", "Tên quầy", "Thủ tục", "Ưu tiên", "Trạng thái"]
    column = {name: i for i, name in enumerate(header)}
    assert [r[column["Số vé"]] for r in rows[1:]] == ["1", "2"]
    assert rows[1][column["Hàng chờ"]] == "Đất đai"
    assert rows[1][column["Tên quầy"]] == "Văn phòng đăng ký đất đai"
    assert rows[1][column["Thủ tục"]] == "Đăng ký đất đai, tài sản gắn liền với đất"
    assert (rows[1][column["Trạng thái"]], rows[2][column["Trạng thái"]]) == ("Đang được phục vụ", "Đang chờ")
    # A username that looks like a formula stays text in Excel.
    assert rows[1][column["Cán bộ gọi"]] == "'=HYPERLINK(\"http://x\")"


# --- one counter's line for its officer ------------------------------------------------------


async def test_an_officer_lists_their_own_counters_line_and_no_shows_and_nothing_else(hall):
    port = hall.hub.port
    kiosk = await hall.client("kiosk")
    officer = await hall.client("officer", counter_id=1)
    await issue_ticket(kiosk, 1, "a")
    await issue_ticket(kiosk, 1, "b")
    await kiosk.send("TICKET_CREATED", {"queue_id": 1, "priority": True, "priority_reason": "elderly",
                                        "request_id": "old"})
    elderly = await kiosk.expect("TICKET_CREATED", where=lambda p: p.get("request_id") == "old")
    elsewhere = await issue_ticket(kiosk, 2, "c")
    path = "/api/counter-tickets"

    async def listing(token: str, query: str = "") -> HttpAnswer:
        return await http_get(port, path + query, {"Authorization": f"Bearer {token}"})

    # No token, a bad one, or a device's: refused.
    assert (await http_get(port, path)).status == 401
    assert (await listing("not-a-token")).status == 401
    for device in ("kiosk", "tv"):
        assert (await listing(hall.token(device))).status == 403
    # An officer asking for another counter's line is refused, not quietly given its own.
    mine = hall.token("officer", counter_id=1)
    assert (await listing(mine, "?counter_id=2")).status == 403

    answer = await listing(mine)
    assert answer.status == 200 and answer.headers["Cache-Control"] == "no-store"
    body = answer.json()
    # In the order the counter calls them: the elderly citizen first, then by place in line.
    assert [(t["ticket_number"], t["priority"]) for t in body["waiting"]] == [(3, True), (1, False), (2, False)]
    assert (body["waiting"][0]["priority_reason"], body["waiting"][0]["priority_text"]) == ("elderly",
                                                                                            "Người cao tuổi")
    assert body["waiting"][0]["queue_name"] == "Đất đai" and body["waiting_total"] == 3
    assert (body["current"], body["no_shows"]) == (None, [])
    assert body["server_time"].endswith("Z")  # "waited N minutes" is counted on the hub's clock
    # The citizens' codes are the keys to their status pages: never listed.
    assert elderly["ticket_code"] not in answer.text and elsewhere["ticket_code"] not in answer.text

    await officer.send("CALL_TICKET", {"counter_id": 1})
    assert (await officer.expect("CALL_TICKET"))["ticket_number"] == 3
    body = (await listing(mine)).json()
    assert body["current"]["ticket_number"] == 3 and body["current"]["priority_text"] == "Người cao tuổi"
    await officer.send("TICKET_ACTION", {"counter_id": 1, "action": "no_show"})
    await officer.expect("TICKET_UPDATED")
    body = (await listing(mine)).json()
    assert body["current"] is None
    assert [(t["ticket_number"], t["status"]) for t in body["no_shows"]] == [(3, "no_show")]
    assert [t["ticket_number"] for t in body["waiting"]] == [1, 2]
    # Counter 2 serves another queue: none of counter 1's no-shows, only its own line.
    other = (await listing(hall.token("officer", counter_id=2))).json()
    assert ([t["ticket_number"] for t in other["waiting"]], other["no_shows"]) == ([2001], [])

    # Returned to the line, the late citizen waits first again and is no longer a no-show.
    await officer.send("TICKET_ACTION", {"counter_id": 1, "action": "return", "ticket_number": 3, "queue_id": 1})
    await officer.expect("TICKET_UPDATED")
    body = (await listing(mine)).json()
    assert body["no_shows"] == [] and [t["ticket_number"] for t in body["waiting"]] == [3, 1, 2]

    # Admins and leaders name the counter; a counter that does not exist is not found.
    admin = hall.token("admin")
    assert [t["ticket_number"] for t in (await listing(admin, "?counter_id=1")).json()["waiting"]] == [3, 1, 2]
    assert (await listing(hall.token("leader"), "?counter_id=5")).json()["waiting"][0]["ticket_number"] == 2001
    assert (await listing(admin)).status == 400
    assert (await listing(admin, "?counter_id=99")).status == 404
    assert (await listing(admin, "?counter_id=1e9")).status == 400
