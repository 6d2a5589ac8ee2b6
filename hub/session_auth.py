"""AUTH and LOGIN on a connection: who it is, and how guessing passwords is slowed down.

AUTH verifies a token the hub signed. LOGIN checks a person's password (off
the event loop: scrypt takes tens of milliseconds) and hands out a token.
Failed logins are remembered per username and per address across
connections (``LoginBackoff``), and each failure on one connection makes its
next answer slower.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from datetime import timedelta

from msgspec import Struct

from hub import store as db
from hub import views
from hub.audit import AuditTrail
from hub.auth import Identity, TokenAuthority, TokenError, verify_password
from hub.clock import Clock
from hub.event_log import log_event
from hub.rate_limit import LoginBackoff
from hub.sessions import Session
from protocol import messages as m

# Tokens handed out by LOGIN: a working day and some.
LOGIN_TOKEN_TTL = timedelta(hours=14)
# A wrong password costs the sender this long before the answer comes.
LOGIN_FAILURE_DELAY = 1.0

Reply = Callable[[Session, Struct], None]
Refuse = Callable[[Session, str, str, m.ClientMessage], None]


def _who(identity: Identity) -> tuple[object, ...]:
    return (identity.role, identity.client_id, identity.user_id, identity.username, identity.counter_id)


class SessionAuth:
    def __init__(self, tokens: TokenAuthority, clock: Clock, audit: AuditTrail, reply: Reply, refuse: Refuse):
        self.tokens = tokens
        self.clock = clock
        self.audit = audit
        self.reply = reply
        self.refuse = refuse
        self.store: db.Store | None = None
        # Failed logins per username and per peer address, across reconnects.
        self.login_backoff = LoginBackoff()

    def on_auth(self, session: Session, message: m.Auth) -> None:
        p = message.payload
        try:
            identity = self.tokens.verify(p.token)
        except TokenError as exc:
            log_event("auth.failed", logging.WARNING, peer=session.peer, problem=str(exc))
            self.refuse(session, "AUTH_FAILED", f"Authentication failed: {exc}", message)
            return
        mismatch = [
            name
            for name, claimed, actual in (
                ("role", p.role, identity.role),
                ("user_id", p.user_id, identity.user_id),
                ("counter_id", p.counter_id, identity.counter_id),
            )
            if claimed is not None and claimed != actual
        ]
        if mismatch:
            self.refuse(session, "AUTH_FAILED",
                        f"Authentication failed: {', '.join(mismatch)} does not match the token", message)
            return
        current = session.identity
        if session.registered and current is not None and _who(current) != _who(identity):
            # A registered connection may renew its token, not become someone else:
            # the hub's bookkeeping (officers present at a counter, device ids) follows who registered.
            self.refuse(session, "AUTH_FAILED",
                        "this connection is registered as someone else: connect again to change who you are", message)
            return
        session.identity = identity
        self.audit.record(session, "auth.ok", {"role": identity.role})
        self.reply(session, views.auth_ok(identity))

    async def on_login(self, session: Session, message: m.Login) -> None:
        store = self.store
        assert store is not None
        p = message.payload
        backoff_keys = ("user:" + p.username.casefold(), "peer:" + session.peer_host)
        wait = self.login_backoff.wait(backoff_keys, self.clock.now().timestamp())
        if wait > 0:
            log_event("login.throttled", logging.WARNING, username=p.username, peer=session.peer)
            self.refuse(session, "AUTH_FAILED", f"Đăng nhập sai nhiều lần: xin thử lại sau {math.ceil(wait)} giây "
                        f"(too many failed logins: try again in {math.ceil(wait)} s)", message)
            return
        user = await store.run(lambda conn: db.find_user(conn, p.username))
        ok = False
        if user is not None and not user.disabled:
            ok = await asyncio.to_thread(verify_password, p.password, user.password_hash)
        if not ok or user is None:
            session.login_failures += 1
            self.login_backoff.failed(backoff_keys, self.clock.now().timestamp())
            log_event("login.failed", logging.WARNING, username=p.username, peer=session.peer)
            self.audit.record(session, "login.failed", {"username": p.username})
            # Slower with every failure on this connection: guessing gets expensive.
            await asyncio.sleep(LOGIN_FAILURE_DELAY * min(session.login_failures, 5))
            self.refuse(session, "AUTH_FAILED", "Sai tên đăng nhập hoặc mật khẩu (wrong username or password)",
                        message)
            return
        token = self.tokens.issue(
            user.role,
            user_id=user.user_id,
            username=user.username,
            full_name=user.full_name,
            counter_id=user.counter_id,
            ttl=LOGIN_TOKEN_TTL,
        )
        identity = self.tokens.verify(token)
        session.identity = identity
        session.login_failures = 0
        self.login_backoff.succeeded(backoff_keys)
        self.audit.record(session, "login.ok", {"username": user.username, "role": user.role})
        self.reply(session, views.login_ok(token, identity, user.user_id, user.username))
