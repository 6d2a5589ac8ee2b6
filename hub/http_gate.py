"""Plain HTTP on the WebSocket port: which requests may become WebSockets, and the answer to every other.

An upgrade is let through only at ``/ws`` (or ``/`` for seed clients) and,
from a browser, only from the hub's own pages or the site's allowed
Origins. Every other request is plain HTTP GET: the console pages and their
JSON (``hub.http_routes``), ``/healthz`` and ``/metrics``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from hub import http_routes, metrics
from hub.event_log import log_event
from hub.readout import HubReadout


class HttpGate:
    def __init__(self, hub: HubReadout, hub_metrics: metrics.HubMetrics, allowed_origins: Iterable[str], *,
                 version: str):
        self._hub = hub
        self._metrics = hub_metrics
        self._allowed_origins = frozenset(allowed_origins)
        self._version = version

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
        }

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """websockets' ``process_request`` hook: None lets a WebSocket upgrade go on."""
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
        response = http_routes.respond(self._hub, connection, request)
        if response is not None:
            return response
        if path == "/healthz":
            body = json.dumps(self.health(), ensure_ascii=False) + "\n"
            return _with_type(connection.respond(HTTPStatus.OK, body), "application/json; charset=utf-8")
        if path == "/metrics":
            return _with_type(connection.respond(HTTPStatus.OK, self._metrics.render()), metrics.CONTENT_TYPE)
        return connection.respond(HTTPStatus.NOT_FOUND, "Not found\n")

    def origin_allowed(self, origin: str, host: str | None) -> bool:
        if origin in self._allowed_origins:
            return True
        # The console pages are served by the hub itself: same host and port is fine.
        return host is not None and urlsplit(origin).netloc.lower() == host.lower()


def _with_type(response: Response, content_type: str) -> Response:
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = content_type
    return response
