"""The console over plain HTTP GET on the hub's own port.

The officer and admin pages (static HTML, CSS and JavaScript modules from
``hub/console/``; people log in over the WebSocket), the citizen's ticket
status page ``/t/<code>`` with its JSON ``/api/t/<code>``, one counter's line
for the officer's page (``/api/counter-tickets``: who waits, the no-shows it
can put back), and today's tickets for the admin page (``/api/tickets`` as
JSON, ``/api/tickets.csv`` for Excel), and the centre's reports for the
``/reports`` page (``/api/reports`` as JSON, ``.csv``, ``.xlsx``: hub/reports.py).
The listings need a token in an ``Authorization: Bearer`` header: the
officer's own for its counter, an admin or leader's for the rest.

Every answer carries a Content-Security-Policy that allows scripts, styles
and connections from the hub itself only: no inline script, nothing from the
internet, no framing. Only GET is served.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from hub import report_files, reports, ticket_listing
from hub import store as db
from hub.auth import Identity, TokenError
from hub.permissions import PEOPLE_WHO_RUN_THE_HALL
from hub.queue_state import Ticket
from hub.readout import HubReadout

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
    "/reports": "reports.html",
}
TICKET_PAGE = "ticket.html"
TICKET_MISSING_PAGE = "ticket-missing.html"

# Assets under /console/: a plain file name, no folders but vendor/ (libraries shipped as released), a known type.
_ASSET_NAME = re.compile(r"^(?:[a-z0-9][a-z0-9_-]*|vendor/[a-z0-9][a-z0-9._-]*)\.(css|js|svg|png)$")
# Codes are secrets.token_urlsafe(12): 16 characters of the URL-safe base64 alphabet.
_TICKET_CODE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_COUNTER_ID = re.compile(r"^[0-9]{1,9}$")



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


async def respond(hub: HubReadout, connection: ServerConnection, request: Request) -> Response | None:
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
        assert hub.queue is not None
        return _json(HTTPStatus.OK, ticket_listing.public_status(hub.site, hub.queue, ticket, hub.clock.now()))
    if path == "/api/counter-tickets":
        counter_id = await _listed_counter(hub, request)
        if isinstance(counter_id, Response):
            return counter_id
        assert hub.queue is not None
        return _json(HTTPStatus.OK, ticket_listing.counter_listing(hub.site, hub.queue, counter_id, hub.clock.now()))
    if path in ("/api/tickets", "/api/tickets.csv"):
        refused = await _refuse_unless_hall_staff(hub, request)
        if refused is not None:
            return refused
        found = await _day_tickets(hub, request)
        if isinstance(found, Response):
            return found
        day, tickets = found
        if path.endswith(".csv"):
            response = _response(HTTPStatus.OK, ticket_listing.day_csv(hub.site, tickets), "text/csv; charset=utf-8")
            response.headers["Content-Disposition"] = f'attachment; filename="ve-{day.isoformat()}.csv"'
            return response
        return _json(HTTPStatus.OK, ticket_listing.day_listing(hub.site, day, tickets))
    if path in REPORT_FORMATS:
        return await _report(hub, request, REPORT_FORMATS[path])
    return None


# --- reports --------------------------------------------------------------------------------

REPORT_FORMATS = {"/api/reports": "json", "/api/reports.csv": "csv", "/api/reports.xlsx": "xlsx"}
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def _report(hub: HubReadout, request: Request, form: str) -> Response:
    """``/api/reports[.csv|.xlsx]?from=&to=&by=`` (or ``period=``): computed from the database off the event loop."""
    refused = await _refuse_unless_hall_staff(hub, request)
    if refused is not None:
        return refused
    assert hub.store is not None
    store, site = hub.store, hub.site
    params = {name: values[0] for name, values in parse_qs(urlsplit(request.path).query).items()}
    now = hub.clock.now().astimezone(site.tz)
    try:
        # Every grouping on its own sheet (by=all) only in a workbook: JSON and CSV are one table.
        asked = reports.parse_query(params, now.date(), allow_all=form == "xlsx")
        made = await store.read(lambda conn: reports.build_reports(
            conn, site, asked.first, asked.last, reports.groupings_for(asked.by)))
    except reports.ReportQueryError as exc:
        return _json(HTTPStatus.BAD_REQUEST, {"error": exc.code, "message": exc.message})
    if form == "json":
        return _json(HTTPStatus.OK, made[0].as_json())
    if form == "csv":
        body, content_type = report_files.report_csv(made[0]), "text/csv; charset=utf-8"
    else:
        # Imported here, the first time a workbook is asked for: openpyxl would slow every hub's start.
        from hub.report_workbook import report_workbook

        body, content_type = await asyncio.to_thread(report_workbook, made, now), XLSX_TYPE
    response = _response(HTTPStatus.OK, body, content_type)
    name = reports.report_file_name(asked.first, asked.last, asked.by, form)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# --- tickets --------------------------------------------------------------------------------


def _ticket(hub: HubReadout, code: str) -> Ticket | None:
    if hub.queue is None or not _TICKET_CODE.match(code):
        return None
    return hub.queue.ticket_by_code(code)


async def _day_tickets(hub: HubReadout, request: Request) -> tuple[date, list[Ticket]] | Response:
    """The day a listing asks for (``?date=YYYY-MM-DD``, today by default) and its tickets, from the database."""
    assert hub.queue is not None and hub.store is not None
    asked = parse_qs(urlsplit(request.path).query).get("date", [""])[0]
    if not asked:
        day = hub.queue.service_day
    else:
        try:
            day = date.fromisoformat(asked)
        except ValueError:
            return _json(HTTPStatus.BAD_REQUEST, {
                "error": "bad_date", "message": f"Ngày không hợp lệ {asked[:20]!r} (use ?date=YYYY-MM-DD)"})
    if day == hub.queue.service_day:
        return day, list(hub.queue.tickets.values())
    store = hub.store
    return day, await store.read(lambda conn: db.load_tickets(conn, day))


async def _bearer(hub: HubReadout, request: Request) -> Identity | Response:
    """Who the request's ``Authorization: Bearer`` token speaks for, or the 401 to answer.

    A well-signed token still counts only if it is not revoked, its account not disabled and its password
    not changed since (the registry the WebSocket AUTH checks too).
    """
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        return _unauthorized("Cần đăng nhập (send Authorization: Bearer <token>)")
    try:
        identity = hub.tokens.verify(header)
    except TokenError as exc:
        return _unauthorized(f"Phiên đăng nhập không hợp lệ hoặc đã hết hạn ({exc})")
    try:
        await hub.token_registry.ready()
    except db.StoreError:
        return _json(HTTPStatus.SERVICE_UNAVAILABLE, {
            "error": "unavailable", "message": "Hệ thống tạm thời không kiểm tra được phiên đăng nhập, xin thử lại"})
    problem = hub.token_registry.problem(identity)
    if problem is not None:
        return _unauthorized(f"Phiên đăng nhập không còn hiệu lực, xin đăng nhập lại ({problem})")
    return identity


async def _listed_counter(hub: HubReadout, request: Request) -> int | Response:
    """The counter whose line is asked for: an officer's own; any (``?counter_id=``) for an admin or leader."""
    identity = await _bearer(hub, request)
    if isinstance(identity, Response):
        return identity
    assert hub.queue is not None
    asked = parse_qs(urlsplit(request.path).query).get("counter_id", [""])[0]
    if identity.role == "officer" and identity.counter_id is not None:
        if asked and asked != str(identity.counter_id):
            return _json(HTTPStatus.FORBIDDEN, {
                "error": "forbidden", "message": "Cán bộ chỉ xem được quầy của mình (your own counter only)"})
        counter_id = identity.counter_id
    elif identity.role in PEOPLE_WHO_RUN_THE_HALL:
        if not _COUNTER_ID.match(asked):
            return _json(HTTPStatus.BAD_REQUEST, {
                "error": "bad_counter", "message": "Cho biết quầy: ?counter_id=N (name the counter)"})
        counter_id = int(asked)
    else:
        return _json(HTTPStatus.FORBIDDEN, {
            "error": "forbidden", "message": "Chỉ cán bộ quầy, quản trị viên hoặc lãnh đạo được xem (people only)"})
    if counter_id not in hub.queue.counters:
        return _json(HTTPStatus.NOT_FOUND, {"error": "not_found", "message": f"Không có quầy {counter_id}"})
    return counter_id


async def _refuse_unless_hall_staff(hub: HubReadout, request: Request) -> Response | None:
    identity = await _bearer(hub, request)
    if isinstance(identity, Response):
        return identity
    if identity.role not in PEOPLE_WHO_RUN_THE_HALL:
        return _json(HTTPStatus.FORBIDDEN, {
            "error": "forbidden", "message": "Chỉ quản trị viên hoặc lãnh đạo được xem (admins and leaders only)"})
    return None


def _unauthorized(message: str) -> Response:
    response = _json(HTTPStatus.UNAUTHORIZED, {"error": "unauthorized", "message": message})
    response.headers["WWW-Authenticate"] = 'Bearer realm="qms-hub"'
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
