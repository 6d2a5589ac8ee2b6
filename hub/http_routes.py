"""The console over plain HTTP GET on the hub's own port.

The officer and admin pages (static HTML, CSS and JavaScript modules from
``hub/console/``; people log in over the WebSocket), the citizen's ticket
status page ``/t/<code>`` with its JSON ``/api/t/<code>``, and today's tickets
for the admin page (``/api/tickets`` as JSON, ``/api/tickets.csv`` for Excel),
which need an admin or leader token in an ``Authorization: Bearer`` header.

Every answer carries a Content-Security-Policy that allows scripts, styles
and connections from the hub itself only: no inline script, nothing from the
internet, no framing. Only GET is served.
"""

from __future__ import annotations

import csv
import email.utils
import hashlib
import io
import json
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from hub.auth import TokenError
from hub.permissions import PEOPLE_WHO_RUN_THE_HALL
from hub.queue_state import Ticket
from hub.readout import HubReadout
from protocol.messages import utc_timestamp

CONSOLE_DIR = Path(__file__).with_name("console")

# 'self' in connect-src also covers ws:/wss: to the same host and port (CSP
# Level 3), which is how the pages reach /ws.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])

SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    # For browsers older than frame-ancestors.
    ("X-Frame-Options", "DENY"),
    # The ticket page's address is the ticket's secret: never send it along.
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
)

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}

PAGES = {
    "/": "index.html",
    "/officer": "officer.html",
    "/admin": "admin.html",
}
TICKET_PAGE = "ticket.html"
TICKET_MISSING_PAGE = "ticket-missing.html"

# Assets under /console/: a plain file name, no folders, a known type.
_ASSET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(css|js|svg|png)$")
# Codes are secrets.token_urlsafe(12): 16 characters of the URL-safe base64 alphabet.
_TICKET_CODE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")

TICKET_STATES_VI = {
    "waiting": "Đang chờ",
    "called": "Đang được phục vụ",
    "done": "Đã xong",
    "expired": "Hết hạn",
}
CSV_COLUMNS = (
    "Ngày", "Số vé", "Quầy", "Tên quầy", "Thủ tục", "Trạng thái", "Giờ lấy số", "Giờ gọi", "Giờ xong",
    "Số lần gọi", "Cán bộ gọi", "Ki-ốt",
)
# A cell starting with one of these is a formula to Excel: a username like
# "=HYPERLINK(...)" must stay text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class _File:
    body: bytes
    content_type: str
    etag: str


@cache
def _load(name: str) -> _File | None:
    """A console file, read once (the files ship with the hub and do not change while it runs)."""
    path = CONSOLE_DIR / name
    suffix = path.suffix
    if suffix not in CONTENT_TYPES or not path.is_file():
        return None
    body = path.read_bytes()
    return _File(body, CONTENT_TYPES[suffix], '"' + hashlib.sha256(body).hexdigest()[:20] + '"')


def respond(hub: HubReadout, connection: ServerConnection, request: Request) -> Response | None:
    """The answer to a plain HTTP request, or None for paths this module does not serve."""
    if request.method != "GET":
        response = _response(HTTPStatus.METHOD_NOT_ALLOWED, b"Only GET is served\n", "text/plain; charset=utf-8")
        response.headers["Allow"] = "GET"
        return response
    path = urlsplit(request.path).path
    page = PAGES.get(path)
    if page is not None:
        return _file_response(request, page, cache_control="no-cache")
    if path.startswith("/console/"):
        name = path.removeprefix("/console/")
        if _ASSET_NAME.match(name) and _load(name) is not None:
            return _file_response(request, name, cache_control="no-cache")
        return _not_found()
    if path.startswith("/t/"):
        ticket = _ticket(hub, path.removeprefix("/t/"))
        if ticket is None:
            return _file_response(request, TICKET_MISSING_PAGE, status=HTTPStatus.NOT_FOUND, cache_control="no-store")
        return _file_response(request, TICKET_PAGE, cache_control="no-store")
    if path.startswith("/api/t/"):
        ticket = _ticket(hub, path.removeprefix("/api/t/"))
        if ticket is None:
            return _json(HTTPStatus.NOT_FOUND, {"error": "not_found",
                                                "message": "Không tìm thấy vé (ticket not found)"})
        return _json(HTTPStatus.OK, public_ticket_status(hub, ticket))
    if path in ("/api/tickets", "/api/tickets.csv"):
        refused = _refuse_unless_hall_staff(hub, request)
        if refused is not None:
            return refused
        if path.endswith(".csv"):
            return _csv_response(hub)
        return _json(HTTPStatus.OK, tickets_today(hub))
    return None


# --- the citizen's ticket --------------------------------------------------------


def _ticket(hub: HubReadout, code: str) -> Ticket | None:
    if hub.queue is None or not _TICKET_CODE.match(code):
        return None
    return hub.queue.ticket_by_code(code)


def public_ticket_status(hub: HubReadout, ticket: Ticket) -> dict[str, Any]:
    """What the holder of a ticket may see about it, and nothing about anyone else."""
    assert hub.queue is not None
    runtime = hub.queue.counters[ticket.counter_id]
    ahead = hub.queue.people_ahead(ticket)
    waiting = ticket.status == "waiting"
    return {
        "ticket_number": ticket.number,
        "counter_id": ticket.counter_id,
        "counter_name": runtime.config.name,
        "procedure_name": ticket.procedure_name,
        "status": ticket.status,
        "people_ahead": ahead if waiting else 0,
        "estimated_wait_time": hub.queue.estimate_wait_minutes(ticket.counter_id, ahead) if waiting else 0,
        # A paused counter keeps its waiting tickets; the holder should know why nothing moves.
        "counter_status": runtime.status,
        "created_at": utc_timestamp(ticket.created_at),
        "called_at": utc_timestamp(ticket.called_at) if ticket.called_at else None,
        "site_name": hub.site.site_name,
        "timezone": hub.site.timezone,
        "server_time": utc_timestamp(hub.clock.now()),
    }


# --- today's tickets, for admins and leaders ----------------------------------------


def _refuse_unless_hall_staff(hub: HubReadout, request: Request) -> Response | None:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        return _unauthorized("Cần đăng nhập (send Authorization: Bearer <token>)")
    try:
        identity = hub.tokens.verify(header)
    except TokenError as exc:
        return _unauthorized(f"Phiên đăng nhập không hợp lệ hoặc đã hết hạn ({exc})")
    if identity.role not in PEOPLE_WHO_RUN_THE_HALL:
        return _json(HTTPStatus.FORBIDDEN, {
            "error": "forbidden", "message": "Chỉ quản trị viên hoặc lãnh đạo được xem (admins and leaders only)"})
    return None


def _unauthorized(message: str) -> Response:
    response = _json(HTTPStatus.UNAUTHORIZED, {"error": "unauthorized", "message": message})
    response.headers["WWW-Authenticate"] = 'Bearer realm="qms-hub"'
    return response


def _today(hub: HubReadout) -> list[Ticket]:
    if hub.queue is None:
        return []
    return sorted(hub.queue.tickets_by_number.values(), key=lambda t: t.ticket_id)


def tickets_today(hub: HubReadout) -> dict[str, Any]:
    """The service day's tickets as the admin page lists them (the citizens' codes left out)."""
    site = hub.site
    rows = []
    for ticket in _today(hub):
        counter = site.counter(ticket.counter_id)
        rows.append({
            "ticket_id": ticket.ticket_id,
            "ticket_number": ticket.number,
            "counter_id": ticket.counter_id,
            "counter_name": counter.name if counter else "",
            "procedure_name": ticket.procedure_name,
            "status": ticket.status,
            "created_at": utc_timestamp(ticket.created_at),
            "called_at": utc_timestamp(ticket.called_at) if ticket.called_at else None,
            "closed_at": utc_timestamp(ticket.closed_at) if ticket.closed_at else None,
            "call_count": ticket.call_count,
            "called_by": ticket.called_by,
            "kiosk_id": ticket.kiosk_id,
        })
    return {
        "service_day": hub.queue.service_day.isoformat() if hub.queue else None,
        "timezone": site.timezone,
        "tickets": rows,
    }


def _csv_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def tickets_csv(hub: HubReadout) -> bytes:
    """Today's tickets as CSV, UTF-8 with a BOM so Excel reads the Vietnamese right."""
    tz = hub.site.tz

    def local(moment: datetime | None) -> str:
        return moment.astimezone(tz).strftime("%H:%M:%S") if moment else ""

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for ticket in _today(hub):
        counter = hub.site.counter(ticket.counter_id)
        writer.writerow([_csv_cell(v) for v in (
            ticket.service_day.isoformat(), ticket.number, ticket.counter_id, counter.name if counter else "",
            ticket.procedure_name, TICKET_STATES_VI.get(ticket.status, ticket.status), local(ticket.created_at),
            local(ticket.called_at), local(ticket.closed_at), ticket.call_count, ticket.called_by or "",
            ticket.kiosk_id or "",
        )])
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def _csv_response(hub: HubReadout) -> Response:
    day = hub.queue.service_day.isoformat() if hub.queue else "today"
    response = _response(HTTPStatus.OK, tickets_csv(hub), "text/csv; charset=utf-8", cache_control="no-store")
    response.headers["Content-Disposition"] = f'attachment; filename="ve-{day}.csv"'
    return response


# --- building responses --------------------------------------------------------------


def _response(status: HTTPStatus, body: bytes, content_type: str, *, cache_control: str = "no-store",
              extra: tuple[tuple[str, str], ...] = ()) -> Response:
    headers = Headers([
        ("Date", email.utils.formatdate(usegmt=True)),
        ("Connection", "close"),
        ("Content-Length", str(len(body))),
        ("Content-Type", content_type),
        ("Cache-Control", cache_control),
        *SECURITY_HEADERS,
        *extra,
    ])
    return Response(status.value, status.phrase, headers, body)


def _file_response(request: Request, name: str, *, status: HTTPStatus = HTTPStatus.OK,
                   cache_control: str) -> Response:
    file = _load(name)
    if file is None:
        return _not_found()
    if status == HTTPStatus.OK and request.headers.get("If-None-Match") == file.etag:
        response = _response(HTTPStatus.NOT_MODIFIED, b"", file.content_type, cache_control=cache_control,
                             extra=(("ETag", file.etag),))
        del response.headers["Content-Length"]
        return response
    return _response(status, file.body, file.content_type, cache_control=cache_control,
                     extra=(("ETag", file.etag),) if status == HTTPStatus.OK else ())


def _json(status: HTTPStatus, body: dict[str, Any]) -> Response:
    return _response(status, json.dumps(body, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")


def _not_found() -> Response:
    return _response(HTTPStatus.NOT_FOUND, b"Not found\n", "text/plain; charset=utf-8")
