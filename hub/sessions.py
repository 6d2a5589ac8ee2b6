"""Connections and the client registry: who is connected, who registered as what, who hears what.

A :class:`Session` is one WebSocket connection and what it has said about
itself. The :class:`ClientRegistry` keeps every open session, the registered
ones by ``client_id``, and the audiences (connections by client type) that
delivery addresses. It does bookkeeping only: what to tell whom about a
registration is the hub's job.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from websockets.asyncio.server import ServerConnection

from hub.auth import Identity
from hub.rate_limit import TokenBucket

CLIENT_TYPES = ("kiosk", "tv", "counter", "officer", "admin")
# Client types whose id a device token names: only that device may use the id.
DEVICE_CLIENT_TYPES = ("kiosk", "tv", "counter")


@dataclass(slots=True, eq=False)
class Session:
    """One WebSocket connection and what it has said about itself (slots: one per connection, hundreds of TVs)."""

    ws: ServerConnection
    bucket: TokenBucket
    peer: str
    identity: Identity | None = None
    client_type: str | None = None
    client_id: str | None = None
    location: str = ""
    connected_since: datetime | None = None
    # Set when the hub itself closes the connection, to report why.
    close_reason: str | None = None
    close_detail: str = ""
    # When the last RATE_LIMITED was sent (the clock's monotonic reading).
    last_rate_error: float | None = None
    login_failures: int = 0
    # Whether an AUTH or LOGIN of this connection is in the audit trail already (one row per connection).
    auth_recorded: bool = False
    # Set when the token was revoked while connected: the connection is closing.
    token_revoked: bool = False

    @property
    def registered(self) -> bool:
        return self.client_id is not None

    @property
    def actor(self) -> str:
        ident = self.identity
        if ident is None:
            return f"anonymous@{self.peer}"
        return ident.username or ident.client_id or f"user:{ident.user_id}"

    @property
    def peer_host(self) -> str:
        """The peer's address without its port."""
        return self.peer.rpartition(":")[0] or self.peer


class ClientRegistry:
    """Every open connection, and the registered ones by id and by client type."""

    def __init__(self) -> None:
        self.sessions: dict[ServerConnection, Session] = {}
        self.audience: dict[str, set[ServerConnection]] = {t: set() for t in CLIENT_TYPES}
        self.registered: set[ServerConnection] = set()
        # Everyone registered but the TVs, which hub.delivery addresses as one (EveryBoard).
        self.registered_besides_tvs: set[ServerConnection] = set()
        self.by_id: dict[str, Session] = {}

    def opened(self, session: Session) -> None:
        self.sessions[session.ws] = session

    def closed(self, session: Session) -> None:
        del self.sessions[session.ws]

    def holder_is_other_device(self, session: Session, client_id: str, client_type: str) -> bool:
        """Whether ``client_id`` belongs to a connected device of another type than ``client_type``.

        A device's id is named by its token: only that device may take it over,
        or anyone could knock a TV or kiosk off the air by registering under its id.
        """
        holder = self.by_id.get(client_id)
        return (holder is not None and holder is not session and holder.client_type in DEVICE_CLIENT_TYPES
                and holder.client_type != client_type)

    def previous_holder(self, session: Session, client_id: str) -> Session | None:
        """Another connection registered under ``client_id`` (a reconnect whose old socket lingers)."""
        holder = self.by_id.get(client_id)
        return holder if holder is not None and holder is not session else None

    def register(self, session: Session, client_type: str, client_id: str, location: str, now: datetime) -> None:
        session.client_type, session.client_id, session.location = client_type, client_id, location
        session.connected_since = now
        self.registered.add(session.ws)
        if client_type != "tv":
            self.registered_besides_tvs.add(session.ws)
        self.audience[client_type].add(session.ws)
        self.by_id[client_id] = session

    def unregister(self, session: Session) -> None:
        """Forget a registration (the session stays open); its client_type and client_id are cleared."""
        ws = session.ws
        assert session.client_id is not None and session.client_type is not None
        self.registered.discard(ws)
        self.registered_besides_tvs.discard(ws)
        self.audience[session.client_type].discard(ws)
        if self.by_id.get(session.client_id) is session:
            del self.by_id[session.client_id]
        session.client_id = session.client_type = None

    def recipients(self, *client_types: str, include: Session | None = None,
                   exclude: Session | None = None) -> set[ServerConnection]:
        result: set[ServerConnection] = set()
        for client_type in client_types:
            result |= self.audience[client_type]
        if include is not None:
            result.add(include.ws)
        if exclude is not None:
            result.discard(exclude.ws)
        return result

    def tvs_named(self, client_ids: Iterable[str]) -> set[ServerConnection]:
        targets = set(client_ids)
        return {ws for ws in self.audience["tv"] if self.sessions[ws].client_id in targets}

    def registered_sessions(self) -> Iterable[Session]:
        return self.by_id.values()

    def counter_displays(self, counter_id: int | None) -> set[ServerConnection]:
        """The counter display facing the citizens at this counter (role counter), if one is connected."""
        return {ws for ws in self.audience["counter"]
                if (session := self.sessions.get(ws)) is not None and session.identity is not None
                and session.identity.counter_id == counter_id}

    def officer_at(self, counter_id: int, *, besides: Session | None = None) -> Session | None:
        """The officer console registered for a counter (PROTOCOL.md: one per counter)."""
        for ws in self.audience["officer"]:
            session = self.sessions.get(ws)
            if (session is not None and session is not besides and session.identity is not None
                    and session.identity.counter_id == counter_id):
                return session
        return None


def peer_of(ws: ServerConnection) -> str:
    address = ws.remote_address
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


def disconnect_reason(ws: ServerConnection) -> str:
    if ws.close_code in (1000, 1001):
        return "manual_disconnect"
    # When the hub's keepalive gives up, the peer sends no close frame (close_code
    # reads 1006): the hub's own close frame says it was a timeout.
    sent = ws.protocol.close_sent
    if sent is not None and sent.code == 1011 and "keepalive" in sent.reason:
        return "timeout"
    return "network_error"


def close_text(ws: ServerConnection) -> str:
    sent = ws.protocol.close_sent
    return ws.close_reason or (sent.reason if sent is not None else "")
