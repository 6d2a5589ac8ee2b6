"""The audit trail: every event is logged at once and written to the ``audit`` table.

A state change writes its audit row in the same transaction as the change
(the hub builds the entry with :meth:`AuditTrail.entry` and commits it with
the change, then logs it with :meth:`AuditTrail.log`). An event that changes
nothing else (a login, a registration, a device report) is recorded with
:meth:`AuditTrail.record`: logged now, written by the store soon after.
"""

from __future__ import annotations

from typing import Any

from hub import store as db
from hub.background import BackgroundTasks
from hub.clock import Clock
from hub.event_log import log_event
from hub.sessions import Session


class AuditTrail:
    def __init__(self, clock: Clock, tasks: BackgroundTasks):
        self._clock = clock
        self._tasks = tasks
        self.store: db.Store | None = None

    def entry(self, session: Session, action: str, detail: dict[str, Any]) -> db.AuditEntry:
        identity = session.identity
        return db.AuditEntry(
            at=self._clock.now(),
            actor=session.actor,
            role=identity.role if identity else None,
            client_id=session.client_id or (identity.client_id if identity else None),
            action=action,
            detail=detail,
        )

    @staticmethod
    def log(entry: db.AuditEntry) -> None:
        log_event(entry.action, **{**entry.detail, "actor": entry.actor, "actor_role": entry.role,
                                   "client_id": entry.client_id})

    def record(self, session: Session, action: str, detail: dict[str, Any]) -> None:
        """An event with no state change of its own: logged now, written to the audit table soon."""
        self.commit(self.entry(session, action, detail))

    def hall_event(self, kind: str, *, actor: str, counter_id: int | None = None,
                   detail: dict[str, Any] | None = None) -> None:
        """An event of the hall's history that changes nothing else (an officer logging in or out): written
        to the ``events`` table soon, which the reports and the province's database read."""
        store = self.store
        if store is not None:
            at = self._clock.now()
            self._tasks.spawn(store.run(lambda conn: db.write_event(conn, at, kind, actor=actor, counter_id=counter_id,
                                                                     detail=detail), brief=True))

    def commit(self, entry: db.AuditEntry) -> None:
        """Log an entry built earlier now, and write it to the audit table soon."""
        self.log(entry)
        store = self.store
        if store is not None:
            self._tasks.spawn(store.run(lambda conn: db.write_audit(conn, entry), brief=True))
