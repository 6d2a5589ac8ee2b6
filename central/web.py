"""``qms-central serve``: the read-only province page, its reports as JSON, CSV and Excel, by signed token.

A plain threaded HTTP server (the page is read by a handful of people; each
request reads PostgreSQL on its own connection, as a ``qms_reader`` role
should). Only GET. Every answer carries the hall console's security
headers and Content-Security-Policy; the page and the report view are the
hall's own files (hub/console/), with the province's page and script
(central/page/).
"""

from __future__ import annotations

import email.utils
import json
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import jwt
import psycopg

from central.report import DEFAULT_TIMEZONE, GROUPINGS, province_reports
from hub import report_files, reports
from hub.http_routes import CONTENT_TYPES, SECURITY_HEADERS
from hub.report_workbook import report_workbook

log = logging.getLogger("qms.central.web")

PAGE_DIR = Path(__file__).with_name("page")
CONSOLE_DIR = Path(__file__).resolve().parent.parent / "hub" / "console"
# The hall's console files the province's page uses (nothing else of the console is served here).
CONSOLE_FILES = ("dom.js", "report-view.js", "console.css", "reports.css", "icon.svg", "vendor/chart.umd.min.js")
ISSUER = "qms-central"
AUDIENCE = "qms-province"
ALGORITHM = "HS256"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def read_secret(path: str | Path) -> bytes:
    secret = Path(path).read_bytes().strip()
    if len(secret) < 32:
        raise ValueError(f"{path}: the central secret needs at least 32 bytes (e.g. openssl rand -hex 32 > {path})")
    return secret


def issue_token(secret: bytes, username: str, *, ttl: timedelta, now: datetime | None = None) -> str:
    """A token for the province page (``qms-central token``), signed with the central secret."""
    moment = now or datetime.now(UTC)
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": username, "iat": int(moment.timestamp()),
              "exp": int((moment + ttl).timestamp()), "jti": secrets.token_urlsafe(12)}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(secret: bytes, header: str) -> str:
    """The username a ``Bearer`` header's token speaks for; raises jwt.InvalidTokenError otherwise."""
    token = header.removeprefix("Bearer ").removeprefix("bearer ").strip()
    claims = jwt.decode(token, secret, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
                        options={"require": ["exp", "iat", "sub"]})
    return str(claims["sub"])


class ProvinceServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], *, url: str, password: str | None, secret: bytes,
                 timezone: str = DEFAULT_TIMEZONE):
        super().__init__(address, ProvinceHandler)
        self.url, self.password, self.secret, self.timezone = url, password, secret, timezone

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.url, password=self.password, connect_timeout=10)


class ProvinceHandler(BaseHTTPRequestHandler):
    server: ProvinceServer
    server_version = "qms-central"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.info("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = urlsplit(self.path).path
        routes: dict[str, Callable[[], None]] = {
            "/": lambda: self._file(PAGE_DIR / "province.html"),
            "/province.js": lambda: self._file(PAGE_DIR / "province.js"),
            "/api/sites": self._sites,
            "/api/reports": lambda: self._report("json"),
            "/api/reports.csv": lambda: self._report("csv"),
            "/api/reports.xlsx": lambda: self._report("xlsx"),
        }
        if path in routes:
            routes[path]()
        elif path.removeprefix("/console/") in CONSOLE_FILES:
            self._file(CONSOLE_DIR / path.removeprefix("/console/"))
        else:
            self._send(HTTPStatus.NOT_FOUND, b"Not found\n", "text/plain; charset=utf-8")

    def _not_allowed(self) -> None:
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"Only GET is served\n", "text/plain; charset=utf-8",
                   extra={"Allow": "GET"})

    do_POST = do_PUT = do_DELETE = do_PATCH = _not_allowed  # noqa: N815 - http.server's names

    def _send(self, status: HTTPStatus, body: bytes, content_type: str, *, extra: dict[str, str] | None = None,
              cache: str = "no-store") -> None:
        self.send_response(status)
        self.send_header("Date", email.utils.formatdate(usegmt=True))
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        for name, value in (*SECURITY_HEADERS, *(extra or {}).items()):
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")

    def _file(self, path: Path) -> None:
        content_type = CONTENT_TYPES.get(path.suffix)
        if content_type is None or not path.is_file():
            self._send(HTTPStatus.NOT_FOUND, b"Not found\n", "text/plain; charset=utf-8")
            return
        self._send(HTTPStatus.OK, path.read_bytes(), content_type, cache="no-cache")

    def _who(self) -> str | None:
        header = self.headers.get("Authorization", "")
        if not header.lower().startswith("bearer "):
            self._json(HTTPStatus.UNAUTHORIZED, {"error": "unauthorized",
                                                 "message": "Cần mã truy cập (send Authorization: Bearer <token>)"})
            return None
        try:
            return verify_token(self.server.secret, header)
        except jwt.InvalidTokenError as exc:
            self._json(HTTPStatus.UNAUTHORIZED, {"error": "unauthorized",
                                                 "message": f"Mã truy cập không hợp lệ hoặc đã hết hạn ({exc})"})
            return None

    def _sites(self) -> None:
        user = self._who()
        if user is None:
            return
        with self.server.connect() as conn:
            rows = conn.execute("SELECT site_id, COALESCE(NULLIF(site_name, ''), site_id) FROM sites "
                                "ORDER BY site_id").fetchall()
        self._json(HTTPStatus.OK, {"user": user, "sites": [{"site_id": s, "site_name": n} for s, n in rows]})

    def _report(self, form: str) -> None:
        if self._who() is None:
            return
        params = {name: values[0] for name, values in parse_qs(urlsplit(self.path).query).items()}
        by = params.pop("by", "site") or "site"
        site = params.pop("site", "") or None
        today = datetime.now(ZoneInfo(self.server.timezone)).date()
        try:
            asked = reports.parse_query({**params, "by": "queue"}, today)
            groupings = list(GROUPINGS) if by == "all" and form == "xlsx" else [by]
            with self.server.connect() as conn:
                made = province_reports(conn, asked.first, asked.last, groupings, site_id=site,
                                        timezone=self.server.timezone)
        except reports.ReportQueryError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": exc.code, "message": exc.message})
            return
        if form == "json":
            self._json(HTTPStatus.OK, made[0].as_json())
            return
        if form == "csv":
            body, content_type = report_files.report_csv(made[0]), "text/csv; charset=utf-8"
        else:
            body, content_type = report_workbook(made, datetime.now(UTC)), XLSX_TYPE
        name = reports.report_file_name(asked.first, asked.last, by, form).replace("bao-cao-", "bao-cao-tinh-", 1)
        self._send(HTTPStatus.OK, body, content_type, extra={"Content-Disposition": f'attachment; filename="{name}"'})
