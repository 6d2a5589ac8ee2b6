"""How many connections the hub keeps open: per address, per token, and not yet authenticated.

A connection is counted from the moment its TCP socket is accepted
(:class:`GatedConnection`, the ``ServerConnection`` the hub serves with), so a
host that opens thousands of idle sockets is cut off at once instead of
after the handshake timeout, and the hub's file descriptors stay free for the
hall. The limits (the site file's ``[rate_limit]``) are far above what a hall
of tens of devices and consoles reaches:

* ``connections_per_address``: one more from an address that has this many
  open is dropped as soon as it is accepted;
* ``unauthenticated_connections``: sockets that have not authenticated yet,
  all addresses together. When full, a newcomer takes the place of the
  oldest such socket of the address that holds the most of them, so one
  flooding host cannot keep a TV that reconnects from getting in;
* ``connections_per_token``: the authenticated connections of one token;
  the newest wins and the oldest beyond the limit is closed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from websockets.asyncio.server import ServerConnection

from hub.event_log import log_event

# One log line a minute about refused connections, however many there are.
REFUSAL_LOG_INTERVAL = 60.0


@dataclass(frozen=True)
class ConnectionLimits:
    per_address: int
    per_token: int
    unauthenticated: int


class ConnectionGate:
    def __init__(self, limits: ConnectionLimits, monotonic: Callable[[], float]):
        self.limits = limits
        self._monotonic = monotonic
        self._address: dict[ServerConnection, str] = {}
        self._by_address: dict[str, int] = {}
        # Not yet authenticated, by address, oldest first (dicts keep insertion order).
        self._waiting: dict[str, dict[ServerConnection, None]] = {}
        self._waiting_total = 0
        self._token: dict[ServerConnection, str] = {}
        self._by_token: dict[str, dict[ServerConnection, None]] = {}
        self.refused = 0
        self.evicted = 0
        self._refused_since_log = 0
        self._last_log: float | None = None

    # --- accepted and closed ------------------------------------------------------------

    def admit(self, conn: ServerConnection, address: str) -> bool:
        """Whether a just-accepted socket may stay (False: drop it now)."""
        if self._by_address.get(address, 0) >= self.limits.per_address:
            self._refuse(address, "too many connections from this address")
            return False
        if self._waiting_total >= self.limits.unauthenticated:
            crowded = max(self._waiting, key=lambda a: len(self._waiting[a]))
            if len(self._waiting[crowded]) <= len(self._waiting.get(address, ())):
                self._refuse(address, "too many connections waiting to authenticate")
                return False
            oldest = next(iter(self._waiting[crowded]))
            self.evicted += 1
            self._forget(oldest)
            oldest.transport.abort()
        self._address[conn] = address
        self._by_address[address] = self._by_address.get(address, 0) + 1
        self._waiting.setdefault(address, {})[conn] = None
        self._waiting_total += 1
        return True

    def release(self, conn: ServerConnection) -> None:
        """The socket closed."""
        self._forget(conn)

    def _forget(self, conn: ServerConnection) -> None:
        address = self._address.pop(conn, None)
        if address is None:
            return
        left = self._by_address[address] - 1
        if left:
            self._by_address[address] = left
        else:
            del self._by_address[address]
        self._leave_waiting(conn, address)
        self._leave_token(conn)

    # --- authenticated ----------------------------------------------------------------------

    def authenticated(self, conn: ServerConnection, token_key: str) -> list[ServerConnection]:
        """The connection authenticated with a token; the token's oldest connections beyond the limit."""
        address = self._address.get(conn)
        if address is None:
            return []  # already closed
        self._leave_waiting(conn, address)
        if self._token.get(conn) == token_key:
            return []
        self._leave_token(conn)
        holders = self._by_token.setdefault(token_key, {})
        holders[conn] = None
        self._token[conn] = token_key
        surplus = list(holders)[: max(0, len(holders) - self.limits.per_token)]
        for old in surplus:
            self._leave_token(old)
        return surplus

    def _leave_waiting(self, conn: ServerConnection, address: str) -> None:
        waiting = self._waiting.get(address)
        if waiting is not None and conn in waiting:
            del waiting[conn]
            self._waiting_total -= 1
            if not waiting:
                del self._waiting[address]

    def _leave_token(self, conn: ServerConnection) -> None:
        key = self._token.pop(conn, None)
        if key is None:
            return
        holders = self._by_token[key]
        del holders[conn]
        if not holders:
            del self._by_token[key]

    def _refuse(self, address: str, why: str) -> None:
        self.refused += 1
        self._refused_since_log += 1
        now = self._monotonic()
        if self._last_log is None or now - self._last_log >= REFUSAL_LOG_INTERVAL:
            log_event("connection.refused", logging.WARNING, peer=address, problem=why,
                      refused_since_last_line=self._refused_since_log)
            self._last_log = now
            self._refused_since_log = 0

    def connection_class(self) -> type[ServerConnection]:
        """The ``create_connection`` for websockets' ``serve``: every socket passes this gate."""
        gate = self

        class GatedConnection(ServerConnection):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                super().connection_made(transport)
                peer = transport.get_extra_info("peername")
                address = str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)
                if not gate.admit(self, address):
                    self.transport.abort()

            def connection_lost(self, exc: Exception | None) -> None:
                gate.release(self)
                super().connection_lost(exc)

        return GatedConnection
