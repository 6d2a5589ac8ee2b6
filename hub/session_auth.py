"""AUTH and LOGIN on a connection: who it is, and how guessing passwords is kept slow.

AUTH verifies a token the hub signed and checks it still counts (not
revoked, its account still as it was: ``hub.token_registry``). LOGIN checks
a person's password off the event loop (scrypt takes tens of milliseconds
and 16 MiB), at most ``PASSWORD_CHECKS_AT_ONCE`` at a time, and hands out a
token that is recorded before it is sent. Attempts are counted before their
password is checked (``LoginBackoff``): per username and address, per
address and per username, so that an attacker slows only itself and a person
at an address they logged in from before always gets in with the right
password. An unknown or disabled username costs the same scrypt as a real
one, so its answer comes no sooner. A registered connection never changes
who it is (AUTH or LOGIN as someone else is refused).
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import sqlite3
from collections.abc import Callable
from datetime import timedelta

from msgspec import Struct

from hub import store as db
from hub import views
from hub.audit import AuditTrail
from hub.auth import Identity, TokenAuthority, TokenError, hash_password, verify_password
from hub.clock import Clock
from hub.connection_gate import ConnectionGate
from hub.event_log import log_event
from hub.rate_limit import LoginAttempt, LoginBackoff
from hub.sessions import ClientRegistry, Session
from hub.token_registry import TokenRegistry
from protocol import messages as m

# Tokens handed out by LOGIN: a working day and some.
LOGIN_TOKEN_TTL = timedelta(hours=14)
# A wrong password costs the sender this long before the answer comes.
LOGIN_FAILURE_DELAY = 1.0
# scrypt runs in worker threads, this many at once (16 MiB each); more wait their turn...
PASSWORD_CHECKS_AT_ONCE = 2
# ...up to this many waiting; past that a LOGIN is refused unchecked (and not counted).
PASSWORD_CHECKS_WAITING = 32
# How a connection is closed when its token is in use on too many others (the oldest goes).
TOO_MANY_CLOSE_CODE = 1008
TOO_MANY_CLOSE_TEXT = "Token đang được dùng trên quá nhiều kết nối (too many connections with this token)"
REGISTERED_AS_SOMEONE_ELSE = ("Kết nối này đã đăng ký cho người khác: hãy kết nối lại để đổi người dùng "
                              "(this connection is registered as someone else: connect again to change who you are)")

Reply = Callable[[Session, Struct], None]
Refuse = Callable[..., None]
Close = Callable[[Session, int, str], None]


def _who(identity: Identity) -> tuple[object, ...]:
    return (identity.role, identity.client_id, identity.user_id, identity.username, identity.counter_id)


def _person(identity: Identity) -> tuple[object, ...]:
    return (identity.role, identity.user_id, identity.username, identity.counter_id)


_dummy_hash: str | None = None


def _check_password(password: str, encoded: str | None) -> bool:
    """In a worker thread: the password against ``encoded``, or (None: no such account) a dummy hash.

    Checking a dummy hash for an unknown or disabled username takes as long as
    a real check, so the answer's timing does not tell which usernames exist.
    """
    global _dummy_hash
    if encoded is None:
        if _dummy_hash is None:
            _dummy_hash = hash_password(secrets.token_urlsafe(16))
        verify_password(password, _dummy_hash)
        return False
    return verify_password(password, encoded)


class SessionAuth:
    def __init__(self, tokens: TokenAuthority, clock: Clock, audit: AuditTrail, reply: Reply, refuse: Refuse, *,
                 registry: TokenRegistry, gate: ConnectionGate, clients: ClientRegistry, close: Close):
        self.tokens = tokens
        self.clock = clock
        self.audit = audit
        self.reply = reply
        self.refuse = refuse
        self.registry = registry
        self.gate = gate
        self.clients = clients
        self.close = close
        self.store: db.Store | None = None
        # Login attempts per username and address, per address and per username, across reconnects.
        self.login_backoff = LoginBackoff()
        self._checking = asyncio.Semaphore(PASSWORD_CHECKS_AT_ONCE)
        self._checks_pending = 0

    # --- AUTH ---------------------------------------------------------------------------------

    async def on_auth(self, session: Session, message: m.Auth) -> None:
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
        try:
            await self.registry.ready()
        except db.StoreError as exc:
            log_event("auth.unchecked", logging.ERROR, peer=session.peer, problem=str(exc))
            self.refuse(session, "INTERNAL_ERROR", "Hệ thống chưa kiểm tra được token, xin thử lại "
                        "(the hub could not check the token: try again)", message)
            return
        problem = self.registry.problem(identity)
        if problem is not None:
            log_event("auth.failed", logging.WARNING, peer=session.peer, problem=problem)
            self.refuse(session, "AUTH_FAILED", f"Token không còn hiệu lực, xin đăng nhập lại (authentication "
                        f"failed: {problem})", message)
            return
        current = session.identity
        if session.registered and current is not None and _who(current) != _who(identity):
            # A registered connection may renew its token, not become someone else:
            # the hub's bookkeeping (officers present at a counter, device ids) follows who registered.
            self.refuse(session, "AUTH_FAILED", REGISTERED_AS_SOMEONE_ELSE, message)
            return
        self._authenticated(session, identity)
        self._record_once(session, "auth.ok", {"role": identity.role})
        self.reply(session, views.auth_ok(identity))

    # --- LOGIN --------------------------------------------------------------------------------

    async def on_login(self, session: Session, message: m.Login) -> None:
        store = self.store
        assert store is not None
        p = message.payload
        current = session.identity
        if session.registered and current is not None and (current.username or "").casefold() != p.username.casefold():
            self.refuse(session, "AUTH_FAILED", REGISTERED_AS_SOMEONE_ELSE, message)
            return
        if self._checks_pending >= PASSWORD_CHECKS_WAITING:
            log_event("login.busy", logging.WARNING, username=p.username, peer=session.peer)
            self.refuse(session, "RATE_LIMITED", "Hệ thống đang bận kiểm tra đăng nhập, xin thử lại sau vài giây "
                        "(too many logins at once: try again in a few seconds)", message)
            return
        # Counted from here (before any await), so logins that arrive together see each other.
        self._checks_pending += 1
        try:
            checked = await self._check(session, message, store)
        finally:
            self._checks_pending -= 1
        if checked is None:
            return
        account, attempt = checked
        if account.user is None:
            await self._login_failed(session, message)
            return
        await self._logged_in(session, message, store, account, attempt)

    async def _check(self, session: Session, message: m.Login,
                     store: db.Store) -> tuple[db.LoginAccount, LoginAttempt] | None:
        """The account and the counted attempt if the password is right; None once the sender was answered.

        ``LoginAccount.user`` is None in the result when the password was wrong (or the account unknown).
        """
        p = message.payload
        address = session.peer_host
        try:
            account = await store.read(lambda conn: db.login_account(conn, p.username, address))
        except Exception as exc:  # noqa: BLE001 - the database failed: this login, not the connection
            log_event("login.unchecked", logging.ERROR, username=p.username, problem=str(exc))
            self.refuse(session, "INTERNAL_ERROR", "Hệ thống đang gặp sự cố, xin thử lại (the hub could not check "
                        "the login: try again)", message)
            return None
        # Counted now, before the password is checked: logins sent at once cannot all get past the count.
        attempt = self.login_backoff.begin(p.username, address, self.clock.monotonic(),
                                           known_address=account.known_address)
        if not isinstance(attempt, LoginAttempt):
            wait = math.ceil(attempt)
            log_event("login.throttled", logging.WARNING, username=p.username, peer=session.peer)
            self.refuse(session, "AUTH_FAILED", f"Đăng nhập sai nhiều lần: xin thử lại sau {wait} giây "
                        f"(too many failed logins: try again in {wait} s)", message)
            return None
        user = account.user
        stored_hash = user.password_hash if user is not None and not user.disabled else None
        async with self._checking:
            ok = await asyncio.to_thread(_check_password, p.password, stored_hash)
        if not ok:
            return db.LoginAccount(None, account.generation, account.known_address), attempt
        return account, attempt

    async def _logged_in(self, session: Session, message: m.Login, store: db.Store, account: db.LoginAccount,
                         attempt: LoginAttempt) -> None:
        user = account.user
        assert user is not None
        current = session.identity
        token = self.tokens.issue(
            user.role,
            user_id=user.user_id,
            username=user.username,
            full_name=user.full_name,
            counter_id=user.counter_id,
            ttl=LOGIN_TOKEN_TTL,
            generation=account.generation,
        )
        identity = self.tokens.verify(token)
        if session.registered and current is not None and _person(current) != _person(identity):
            self.refuse(session, "AUTH_FAILED", REGISTERED_AS_SOMEONE_ELSE, message)
            return
        now = self.clock.now()
        address = session.peer_host
        assert identity.token_id is not None and identity.issued_at is not None
        record = db.TokenRecord(identity.token_id, identity.role, None, user.user_id, user.username,
                                account.generation, identity.issued_at, identity.expires_at, "login")

        def save(conn: sqlite3.Connection) -> None:
            db.record_token(conn, record)
            db.remember_login_address(conn, user.user_id, address, now)

        try:
            # On disk before it is handed out: `qms-hub token list` and `revoke` know every token.
            await store.run(save)
        except db.StoreError as exc:
            log_event("login.unsaved", logging.ERROR, username=user.username, problem=str(exc))
            self.refuse(session, "INTERNAL_ERROR", "Hệ thống đang gặp sự cố lưu dữ liệu, xin thử lại "
                        "(the hub could not save the login)", message)
            return
        self.login_backoff.succeeded(attempt)
        self.registry.note_account(db.AccountTokens(user.user_id, user.username, account.generation, False))
        session.login_failures = 0
        self._authenticated(session, identity)
        self._record_once(session, "login.ok", {"username": user.username, "role": user.role})
        self.reply(session, views.login_ok(token, identity, user.user_id, user.username))

    async def _login_failed(self, session: Session, message: m.Login) -> None:
        username = message.payload.username
        session.login_failures += 1
        log_event("login.failed", logging.WARNING, username=username, peer=session.peer)
        self.audit.record(session, "login.failed", {"username": username})
        # Slower with every failure on this connection: guessing gets expensive.
        await asyncio.sleep(LOGIN_FAILURE_DELAY * min(session.login_failures, 5))
        self.refuse(session, "AUTH_FAILED", "Sai tên đăng nhập hoặc mật khẩu (wrong username or password)", message)

    # --- both ---------------------------------------------------------------------------------

    def _authenticated(self, session: Session, identity: Identity) -> None:
        session.identity = identity
        for ws in self.gate.authenticated(session.ws, identity.token_key):
            other = self.clients.sessions.get(ws)
            if other is not None:
                log_event("connection.token_overused", logging.WARNING, actor=other.actor, peer=other.peer)
                self.close(other, TOO_MANY_CLOSE_CODE, TOO_MANY_CLOSE_TEXT)

    def _record_once(self, session: Session, action: str, detail: dict[str, object]) -> None:
        """One audit row per connection: a client repeating AUTH must not grow the audit table."""
        if not session.auth_recorded:
            session.auth_recorded = True
            self.audit.record(session, action, detail)
