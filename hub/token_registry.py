"""Which well-signed tokens still count: revoked ids, devices cut off, people's token generations.

The database is the truth (``tokens``, ``device_revocations`` and
``users.token_gen``): ``qms-hub token revoke`` and user management change it,
often from another process. The hub keeps a copy, read off the event loop
(``Store.read``) before the first AUTH and again every few seconds from its
tick; each AUTH is checked against it, and after each reading the
connections whose token no longer counts are closed, with a reason their
client can show.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from hub import store as db
from hub.auth import Identity
from hub.clock import Clock
from hub.event_log import log_event
from hub.sessions import Session

# How often the hub reads the revocations again: "within a few seconds" of `qms-hub token revoke`.
REFRESH_INTERVAL = 2.0
# A close reason is at most 123 bytes of UTF-8.
REVOKED_CLOSE_CODE = 1008
REVOKED_CLOSE_TEXT = "Token đã bị thu hồi, xin đăng nhập lại (token revoked)"

Close = Callable[[Session, int, str], None]


def token_problem(rules: db.TokenRules, identity: Identity) -> str | None:
    """Why a well-signed, unexpired token no longer counts under ``rules``, or None if it does."""
    if identity.token_id is not None and identity.token_id in rules.revoked_ids:
        return "token revoked"
    if identity.client_id is not None:
        # Every token of the device from before the cut-off: those listed were revoked by id as well,
        # this reaches the rest (signed before tokens had ids, or made without the command line).
        cutoff = rules.device_cutoffs.get(identity.client_id)
        if cutoff is not None and (identity.issued_at is None or identity.issued_at.timestamp() < cutoff):
            return "token revoked"
    account = None
    if identity.user_id is not None:
        account = rules.accounts.get(identity.user_id)
    elif identity.username is not None:
        account = next((a for a in rules.accounts.values() if a.username == identity.username), None)
    if account is None:
        if identity.generation is not None:
            return "the account was deleted"
        return None  # a person's token made by `qms-hub token` for someone without an account
    if account.disabled:
        return "the account is disabled"
    if identity.generation is not None and identity.generation != account.generation:
        return "token revoked (the password or the account changed)"
    return None


class TokenRegistry:
    def __init__(self, clock: Clock, store: Callable[[], db.Store | None], sessions: Callable[[], Iterable[Session]],
                 close: Close, track: Callable[[Awaitable[Any]], None]):
        self._clock = clock
        self._store = store
        self._sessions = sessions
        self._close = close
        # The hub's background tasks: it waits for a reading still running when it stops.
        self._track = track
        self._rules: db.TokenRules | None = None
        self._loading: asyncio.Task[None] | None = None
        self._last_read: float | None = None
        # Accounts a LOGIN has just read from disk, with when (monotonic): a person created or changed
        # since the last reading is known at once, and a reading begun before the login does not undo it.
        self._noted: dict[int, tuple[float, db.AccountTokens]] = {}

    async def ready(self) -> None:
        """Read the rules once if they have never been read (before the first AUTH is answered)."""
        if self._rules is None:
            await self._read_once()

    def problem(self, identity: Identity) -> str | None:
        assert self._rules is not None, "TokenRegistry.ready() was not awaited"
        return token_problem(self._rules, identity)

    def note_account(self, account: db.AccountTokens) -> None:
        """A LOGIN has just read ``account`` from disk and issued a token on it: count it from now."""
        self._noted[account.user_id] = (self._clock.monotonic(), account)
        if self._rules is not None:
            self._rules = self._with_noted(self._rules, since=None)

    def _with_noted(self, rules: db.TokenRules, since: float | None) -> db.TokenRules:
        """``rules`` with the accounts noted after ``since`` (every noted one when None) laid over them."""
        newer = {user_id: account for user_id, (at, account) in self._noted.items() if since is None or at >= since}
        if not newer:
            return rules
        return db.TokenRules(rules.revoked_ids, rules.device_cutoffs, {**rules.accounts, **newer})

    def refresh_if_due(self) -> None:
        """From the hub's tick: read the rules again every REFRESH_INTERVAL seconds, one reading at a time."""
        now = self._clock.monotonic()
        if self._last_read is not None and now - self._last_read < REFRESH_INTERVAL:
            return
        if self._loading is None or self._loading.done():
            self._last_read = now
            self._start_reading()

    def _start_reading(self) -> asyncio.Task[None]:
        self._loading = asyncio.create_task(self._refresh(), name="token-registry-refresh")
        self._track(self._loading)
        return self._loading

    async def _read_once(self) -> None:
        loading = self._loading if self._loading is not None and not self._loading.done() else self._start_reading()
        await asyncio.shield(loading)
        if self._rules is None:
            raise db.StoreError("the hub could not read which tokens are revoked")

    async def _refresh(self) -> None:
        store = self._store()
        if store is None:
            return
        now = self._clock.now()
        started = self._clock.monotonic()
        try:
            rules = await store.read(lambda conn: db.token_rules(conn, now))
        except Exception as exc:  # noqa: BLE001 - keep the last rules; the next tick tries again
            log_event("tokens.read_failed", logging.ERROR, problem=str(exc))
            return
        # What a login noted while this reading ran is newer than the reading; older notes it has seen.
        rules = self._with_noted(rules, since=started)
        self._noted = {user_id: noted for user_id, noted in self._noted.items() if noted[0] >= started}
        self._rules = rules
        self._close_revoked(rules)

    def _close_revoked(self, rules: db.TokenRules) -> None:
        for session in list(self._sessions()):
            identity = session.identity
            if identity is None or session.close_reason is not None:
                continue
            problem = token_problem(rules, identity)
            if problem is not None:
                log_event("connection.token_revoked", logging.WARNING, actor=session.actor, peer=session.peer,
                          problem=problem)
                # Closing takes a moment: frames already on their way are refused meanwhile.
                session.token_revoked = True
                self._close(session, REVOKED_CLOSE_CODE, REVOKED_CLOSE_TEXT)
