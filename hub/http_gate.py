"""Plain HTTP on the WebSocket port: which requests may become WebSockets, and the answer to every other.

Every request must name the hub in its ``Host``: one of its addresses, or a
name it is known by (``localhost``, its host name and ``<host name>.local``,
``public_url``'s host, the allowed Origins' hosts, the site's ``host_names``).
A page on a foreign name whose DNS was pointed at the hub (DNS rebinding)
is refused with 421 before anything else. An upgrade is let through only at
``/ws`` (or ``/`` for seed clients) and, from a browser, only from the hub's
own pages or the site's allowed Origins. Every other request is plain HTTP
GET: the console pages and their JSON (``hub.http_routes``), ``/healthz`` and
``/metrics``. Every answer, refusals included, carries the security headers
(``process_response``).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import time
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from hub import http_routes, metrics
from hub.event_log import log_event
from hub.readout import HubReadout

# On every answer that does not have them already (the console pages set their own, stricter).
BASELINE_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)
# One log line a minute about requests for foreign host names, however many there are.
REFUSAL_LOG_INTERVAL = 60.0


def own_host_names(names: Iterable[str], urls: Iterable[str]) -> frozenset[str]:
    """The names the hub answers to: ``names``, the hosts of ``urls``, and the machine's own names."""
    hostname = socket.gethostname().lower().rstrip(".")
    # Not socket.getfqdn(): a reverse lookup that can hang the start of a hub with no DNS server.
    known = {"localhost", hostname, hostname.split(".")[0] + ".local"}
    known |= {name.lower().rstrip(".") for name in names}
    known |= {(urlsplit(url).hostname or "").rstrip(".") for url in urls}
    return frozenset(name for name in known if name)


class HttpGate:
    def __init__(self, hub: HubReadout, hub_metrics: metrics.HubMetrics, allowed_origins: Iterable[str], *,
                 version: str, host_names: Iterable[str] = (), urls: Iterable[str] = ()):
        self._hub = hub
        self._metrics = hub_metrics
        self._allowed_origins = frozenset(allowed_origins)
        self._version = version
        self._host_names = own_host_names(host_names, (*self._allowed_origins, *urls))
        self._hosts_refused = 0
        self._last_host_log: float | None = None

    def health(self) -> dict[str, Any]:
        """What /healthz answers."""
        hub = self._hub
        database_ok = hub.store is not None and hub.store.healthy
        return {
            "status": "ok" if database_ok else "degraded",
            "version": self._version,
            "connected_clients": len(hub.clients.registered),
            "connections": len(hub.clients.sessions),
            "database": "ok" if database_ok else "error",
            "service_day": hub.queue.service_day.isoformat() if hub.queue else None,
            # The shipping of the hall's history to the province (hub/shipping.py).
            "central": hub.shipper.status.as_health(hub.clock.now()) if hub.shipper else {"enabled": False},
        }

    async def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """websockets' ``process_request`` hook: None lets a WebSocket upgrade go on."""
        host = request.headers.get("Host")
        if host is not None and not self.host_allowed(host):
            self._log_host_refused(host)
            return connection.respond(HTTPStatus.MISDIRECTED_REQUEST,
                                      "This hub does not answer to that host name (DNS rebinding?): use its "
                                      "address or a name in the site file's host_names\n")
        path = urlsplit(request.path).path
        if "websocket" in request.headers.get("Upgrade", "").lower():
            if path not in ("/", "/ws"):
                return connection.respond(HTTPStatus.NOT_FOUND, "No WebSocket here: use /ws\n")
            origin = request.headers.get("Origin")
            if origin is not None and not self.origin_allowed(origin, request.headers.get("Host")):
                log_event("http.origin_refused", logging.WARNING, origin=origin)
                return connection.respond(HTTPStatus.FORBIDDEN, "Origin not allowed\n")
            return None
        # The console pages, the ticket status page and their JSON (GET only, for every path).
        response = await http_routes.respond(self._hub, connection, request)
        if response is not None:
            return response
        if path == "/healthz":
            body = json.dumps(self.health(), ensure_ascii=False) + "\n"
            return _with_type(connection.respond(HTTPStatus.OK, body), "application/json; charset=utf-8")
        if path == "/metrics":
            return _with_type(connection.respond(HTTPStatus.OK, self._metrics.render()), metrics.CONTENT_TYPE)
        return connection.respond(HTTPStatus.NOT_FOUND, "Not found\n")

    @staticmethod
    def process_response(connection: ServerConnection, request: Request, response: Response) -> None:
        """websockets' ``process_response`` hook: the security headers on every answer but an accepted upgrade."""
        if response.status_code == HTTPStatus.SWITCHING_PROTOCOLS:
            return
        for name, value in BASELINE_HEADERS:
            if name not in response.headers:
                response.headers[name] = value

    def host_allowed(self, host: str) -> bool:
        """Whether a ``Host`` header names this hub: any address literal, or one of its names."""
        try:
            name = urlsplit("//" + host).hostname
        except ValueError:
            return False
        if not name:
            return False
        name = name.rstrip(".")
        try:
            ipaddress.ip_address(name)
            return True  # an address is no DNS name an attacker could point at the hub
        except ValueError:
            pass
        return name in self._host_names or name.endswith(".localhost")

    def _log_host_refused(self, host: str) -> None:
        self._hosts_refused += 1
        now = time.monotonic()
        if self._last_host_log is None or now - self._last_host_log >= REFUSAL_LOG_INTERVAL:
            log_event("http.host_refused", logging.WARNING, host=host[:100],
                      refused_since_last_line=self._hosts_refused)
            self._last_host_log = now
            self._hosts_refused = 0

    def origin_allowed(self, origin: str, host: str | None) -> bool:
        if origin in self._allowed_origins:
            return True
        # The console pages are served by the hub itself: same host and port is fine.
        return host is not None and urlsplit(origin).netloc.lower() == host.lower()


def _with_type(response: Response, content_type: str) -> Response:
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = content_type
    return response
