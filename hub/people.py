"""The people who log in, managed by admins: USER_LIST and USER_UPDATE, and the rules ``qms-hub user`` shares.

Rules, the same on the console and the command line:

* no lock-out: nobody disables or deletes their own account, and the last
  admin who can log in stays (checked in the same transaction as the change,
  so two admins at once cannot take the last two away);
* a password has at least MIN_PASSWORD_CHARS characters and is hashed with
  scrypt in a worker thread, never on the event loop;
* deleting asks for the username typed again (``confirm_username``);
* disabling, deleting, a new password or another counter ends the person's
  open sessions at once (closed with CLOSE_ACCOUNT_CHANGED) and makes their
  tokens useless (the database's triggers; the hub's token registry then
  refuses them, also when the change came from ``qms-hub user`` in another
  process);
* every change writes its audit row in its own transaction.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from msgspec import Struct

from hub import store as db
from hub.audit import AuditTrail
from hub.auth import hash_password
from hub.clock import Clock
from hub.event_log import log_event
from hub.sessions import ClientRegistry, Session
from hub.site_config import SiteConfig
from protocol import messages as m

MIN_PASSWORD_CHARS = 8
# Changes after which the tokens a person holds must stop working.
ENDS_SESSIONS = frozenset({"disable", "set_password", "set_counter", "delete"})
# How a session ended by an admin's change is closed: policy violation, as for a revoked token
# (hub/token_registry.py). The console reconnects, its token is refused, and it asks for a login.
CLOSE_ACCOUNT_CHANGED = 1008
CLOSE_ACCOUNT_CHANGED_TEXT = "Tài khoản đã thay đổi, xin đăng nhập lại (account changed)"
AUDIT_ACTIONS = {
    "disable": "user.disabled",
    "enable": "user.enabled",
    "set_password": "user.password_changed",
    "set_counter": "user.counter_changed",
    "delete": "user.deleted",
}

Refuse = Callable[[Session, str, str, m.ClientMessage], None]


class PeopleError(Exception):
    """A change refused by the rules: an ERROR code and words for the person."""

    def __init__(self, code: str, text: str):
        super().__init__(text)
        self.code = code
        self.text = text


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD_CHARS:
        return (f"Mật khẩu cần ít nhất {MIN_PASSWORD_CHARS} ký tự "
                f"(the password needs at least {MIN_PASSWORD_CHARS} characters)")
    return None


def lockout_problem(users: list[db.UserRecord], target: db.UserRecord, action: str,
                    actor_user_id: int | None) -> str | None:
    """Why this change would lock the hall out of its own administration, or None."""
    if action not in ("disable", "delete"):
        return None
    if actor_user_id is not None and target.user_id == actor_user_id:
        return "Không thể tự khoá hoặc xoá tài khoản của chính mình (you cannot disable or delete yourself)"
    if target.role == "admin" and not target.disabled:
        others = [u for u in users if u.role == "admin" and not u.disabled and u.user_id != target.user_id]
        if not others:
            return ("Đây là tài khoản quản trị cuối cùng còn đăng nhập được: hãy thêm một quản trị viên khác trước "
                    "(the last admin who can log in)")
    return None


@dataclass(frozen=True)
class Outcome:
    before: db.UserRecord
    after: db.UserRecord | None  # None once deleted
    audit: db.AuditEntry  # as written: it names whose account changed


def change_user(conn: sqlite3.Connection, user_id: int, action: str, *, audit: db.AuditEntry,
                actor_user_id: int | None = None, password_hash: str | None = None,
                counter_id: int | None = None, confirm_username: str | None = None) -> Outcome:
    """Check and apply one change, with its audit row, in the caller's transaction (writer thread or run_sync)."""
    users = db.list_users(conn)
    target = next((u for u in users if u.user_id == user_id), None)
    if target is None:
        raise PeopleError("INVALID_MESSAGE", f"Không có tài khoản số {user_id}: có thể vừa bị xoá (no such user)")
    problem = lockout_problem(users, target, action, actor_user_id)
    if problem is not None:
        raise PeopleError("FORBIDDEN", problem)
    if action == "disable":
        db.set_user_disabled(conn, user_id, True)
    elif action == "enable":
        db.set_user_disabled(conn, user_id, False)
    elif action == "set_password":
        assert password_hash is not None
        db.set_user_password(conn, user_id, password_hash)
    elif action == "set_counter":
        if target.role != "officer":
            raise PeopleError("INVALID_MESSAGE", "Chỉ cán bộ quầy mới được gán quầy (only officers have a counter)")
        db.set_user_counter(conn, user_id, counter_id)
    elif action == "delete":
        if confirm_username != target.username:
            raise PeopleError("INVALID_MESSAGE", f"Xác nhận xoá bằng cách nhập đúng tên đăng nhập «{target.username}» "
                                                 "(type the username to confirm)")
        db.delete_user(conn, user_id)
    else:
        raise PeopleError("INVALID_MESSAGE", f"unknown action {action!r}")
    # The tokens the person holds stop counting in this same transaction: triggers on `users` (store.py,
    # migration 3) move the account's token generation on a new password, disabling, another counter, and
    # revoke its tokens when it is deleted; hub/token_registry.py then refuses them.
    written = dataclasses.replace(audit, detail={**audit.detail, "user_id": user_id, "username": target.username,
                                                 "role": target.role})
    db.write_audit(conn, written)
    return Outcome(target, db.find_user_by_id(conn, user_id), written)


def user_info(user: db.UserRecord) -> m.UserInfo:
    return m.UserInfo(user_id=user.user_id, username=user.username, full_name=user.full_name, role=user.role,
                      counter_id=user.counter_id, disabled=user.disabled)


class People:
    """The USER_LIST and USER_UPDATE handlers (admins only: hub/permissions.py)."""

    def __init__(self, site: SiteConfig, clock: Clock, clients: ClientRegistry, audit: AuditTrail,
                 send: Callable[[Session, Struct], None], refuse: Refuse,
                 close: Callable[..., None], store: Callable[[], db.Store | None]):
        self.site = site
        self.clock = clock
        self.clients = clients
        self.audit = audit
        self.send = send
        self.refuse = refuse
        self.close = close
        self._store = store

    @property
    def store(self) -> db.Store:
        store = self._store()
        assert store is not None, "the hub has not started"
        return store

    async def on_user_list(self, session: Session, message: m.UserList) -> None:
        users = await self.store.read(db.list_users)
        self.send(session, m.Users(m.UsersPayload(users=[user_info(u) for u in users],
                                                  request_id=message.payload.request_id)))

    async def on_user_update(self, session: Session, message: m.UserUpdate) -> None:
        assert session.identity is not None
        p = message.payload
        password_hash = None
        if p.action == "set_password":
            problem = password_problem(p.password or "")
            if problem is not None:
                self.refuse(session, "INVALID_MESSAGE", problem, message)
                return
            password_hash = await asyncio.to_thread(hash_password, p.password or "")
        if p.action == "set_counter" and (p.counter_id is None or self.site.counter(p.counter_id) is None):
            known = ", ".join(str(c.id) for c in self.site.counters)
            self.refuse(session, "COUNTER_NOT_FOUND", f"Không có quầy {p.counter_id} (counters: {known})", message)
            return
        entry = self.audit.entry(session, AUDIT_ACTIONS[p.action], {"user_id": p.user_id,
                                                                     "counter_id": p.counter_id})
        actor = session.identity.user_id

        def apply(conn: sqlite3.Connection) -> Outcome | PeopleError:
            # A refusal is returned, not raised: the store turns a job's exception into a database error.
            try:
                return change_user(conn, p.user_id, p.action, audit=entry, actor_user_id=actor,
                                   password_hash=password_hash, counter_id=p.counter_id,
                                   confirm_username=p.confirm_username)
            except PeopleError as refused:
                return refused

        outcome = await self.store.run(apply)
        if isinstance(outcome, PeopleError):
            self.refuse(session, outcome.code, outcome.text, message)
            return
        self.audit.log(outcome.audit)
        ending = self.sessions_of(p.user_id) if p.action in ENDS_SESSIONS else []
        update = m.UserUpdated(m.UserUpdatedPayload(
            action=p.action, user_id=p.user_id, username=outcome.before.username,
            user=user_info(outcome.after) if outcome.after is not None else None, changed_by=session.actor,
            sessions_ended=len(ending), timestamp=m.utc_timestamp(self.clock.now()), request_id=p.request_id))
        # Every admin console's list stays current, the sender's first; then the sessions end (an admin who
        # changed their own password has the answer before the connection closes).
        self.send(session, update)
        for other in self._admins(besides=session):
            self.send(other, update)
        for ended in ending:
            log_event("session.ended_by_admin", logging.WARNING, actor=ended.actor, by=session.actor,
                      change=p.action)
            self.close(ended, CLOSE_ACCOUNT_CHANGED, CLOSE_ACCOUNT_CHANGED_TEXT, reason="manual_disconnect")

    def sessions_of(self, user_id: int) -> list[Session]:
        """The open connections of a person (not of devices, whose tokens name no user)."""
        return [s for s in self.clients.sessions.values()
                if s.identity is not None and s.identity.user_id == user_id and s.identity.role not in ("kiosk", "tv")]

    def _admins(self, besides: Session) -> list[Session]:
        return [s for ws in self.clients.recipients("admin", exclude=besides)
                if (s := self.clients.sessions.get(ws)) is not None and s.identity is not None
                and s.identity.role == "admin"]


def handlers(site: SiteConfig, clock: Clock, clients: ClientRegistry, audit: AuditTrail,
             send: Callable[[Session, Struct], None], refuse: Refuse, close: Callable[..., None],
             store: Callable[[], db.Store | None]) -> dict[type, Callable[[Session, Any], Awaitable[None]]]:
    """The hub's handlers for the people messages (registered in ``Hub.__init__``)."""
    people = People(site, clock, clients, audit, send, refuse, close, store=store)
    return {m.UserList: people.on_user_list, m.UserUpdate: people.on_user_update}
