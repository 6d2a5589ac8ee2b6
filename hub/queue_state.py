"""The hall's queue: numbering, calling, counter statuses and wait estimates.

Pure: no sockets, no database, no clock of its own. Every method takes the
moment it acts at (``now``, an aware datetime) and returns what changed; the
server persists that and tells the clients. Tests drive it directly.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from statistics import fmean

from hub.site_config import CounterConfig, SiteConfig

# Ticket statuses.
WAITING = "waiting"
CALLED = "called"
DONE = "done"
EXPIRED = "expired"  # still waiting or being served when the service day ended

COUNTER_STATUSES = ("active", "paused", "offline")

# Service times measured at a counter that feed its wait estimate: the latest
# ones, since the pace changes over the day.
SERVICE_TIME_WINDOW = 20
# A "service" longer than this is an officer who left without closing the
# ticket, not a real service time.
MAX_SERVICE_SECONDS = 2 * 3600


class QueueError(Exception):
    """A request the queue refuses; ``code`` is the protocol's error code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Ticket:
    ticket_id: int
    service_day: date
    counter_id: int
    number: int
    procedure_id: int | None
    procedure_name: str
    code: str
    request_id: str | None
    kiosk_id: str | None
    created_at: datetime
    status: str = WAITING
    called_at: datetime | None = None
    closed_at: datetime | None = None
    called_by: str | None = None
    call_count: int = 0


@dataclass
class CounterRuntime:
    config: CounterConfig
    status: str = "active"
    reason: str = ""
    changed_by: str = ""
    status_changed_at: datetime | None = None
    next_number: int = 1
    waiting: deque[Ticket] = field(default_factory=deque)
    current: Ticket | None = None
    service_seconds: deque[float] = field(default_factory=lambda: deque(maxlen=SERVICE_TIME_WINDOW))


@dataclass(frozen=True)
class QueueView:
    counter_id: int
    status: str
    current_number: int | None
    waiting_count: int
    next_numbers: list[int]
    average_wait_minutes: int


@dataclass(frozen=True)
class TicketIssued:
    ticket: Ticket
    created: bool  # False: an idempotent retry of an earlier request
    people_ahead: int
    estimated_wait_minutes: int


@dataclass(frozen=True)
class TicketCalled:
    ticket: Ticket
    closed: Ticket | None  # the ticket this call finished serving, if any
    recall: bool


@dataclass(frozen=True)
class StatusChanged:
    counter: CounterRuntime
    affected_tickets: int


@dataclass(frozen=True)
class DayRolled:
    previous_day: date
    service_day: date
    expired: list[Ticket]


@dataclass(frozen=True)
class HallStats:
    total_tickets_today: int
    served_today: int
    waiting_total: int
    active_counters: int
    average_wait_minutes: int
    busiest_counter: tuple[int, str, int] | None  # id, name, queue length


def minutes_up(seconds: float) -> int:
    """Whole minutes, rounded up: a wait estimate should not under-promise."""
    return max(0, math.ceil(seconds / 60 - 1e-9))


class HallQueue:
    """Every counter's queue for one service day."""

    def __init__(self, site: SiteConfig, service_day: date, *, next_ticket_id: int = 1):
        self.site = site
        self.service_day = service_day
        self.next_ticket_id = next_ticket_id
        self.counters: dict[int, CounterRuntime] = {
            c.id: CounterRuntime(config=c, next_number=c.start_number) for c in site.counters
        }
        self.tickets_by_request: dict[str, Ticket] = {}
        self.tickets_by_number: dict[tuple[int, int], Ticket] = {}
        self.tickets_by_code: dict[str, Ticket] = {}
        # Measured waits (creation to first call), for the day's statistics.
        self._wait_seconds_total = 0.0
        self._wait_count = 0
        self.issued_today = 0
        self.served_today = 0

    # --- restoring from the database ---------------------------------------

    def restore_counter_status(
        self, counter_id: int, status: str, reason: str, changed_by: str, changed_at: datetime | None
    ) -> None:
        runtime = self.counters.get(counter_id)
        if runtime is None or status not in COUNTER_STATUSES:
            return  # a counter since removed from the site file
        runtime.status, runtime.reason = status, reason
        runtime.changed_by, runtime.status_changed_at = changed_by, changed_at

    def restore_tickets(self, tickets: Iterable[Ticket]) -> None:
        """Load the service day's tickets, in ticket_id order, as the database has them."""
        for ticket in sorted(tickets, key=lambda t: t.ticket_id):
            runtime = self.counters.get(ticket.counter_id)
            if runtime is None or ticket.service_day != self.service_day:
                continue
            self._index(ticket)
            self.issued_today += 1
            runtime.next_number = max(runtime.next_number, ticket.number + 1)
            if ticket.status == WAITING:
                runtime.waiting.append(ticket)
            elif ticket.status == CALLED:
                if runtime.current is not None:  # cannot happen via this code; be safe
                    runtime.current.status = DONE
                runtime.current = ticket
            if ticket.called_at is not None:
                self._note_wait(ticket)
            if ticket.status == DONE:
                self.served_today += 1
                self._note_service(runtime, ticket)
        for runtime in self.counters.values():
            runtime.waiting = deque(sorted(runtime.waiting, key=lambda t: (t.created_at, t.ticket_id)))

    # --- the service day ------------------------------------------------------

    def service_day_at(self, now: datetime) -> date:
        return now.astimezone(self.site.tz).date()

    def roll_day_if_needed(self, now: datetime) -> DayRolled | None:
        """At local midnight the numbering starts again; what was left waiting expires."""
        day = self.service_day_at(now)
        if day <= self.service_day:
            return None
        expired: list[Ticket] = []
        for runtime in self.counters.values():
            leftovers = list(runtime.waiting) + ([runtime.current] if runtime.current else [])
            for ticket in leftovers:
                ticket.status = EXPIRED
                ticket.closed_at = now
                expired.append(ticket)
            runtime.waiting.clear()
            runtime.current = None
            runtime.next_number = runtime.config.start_number
            runtime.service_seconds.clear()
        previous = self.service_day
        self.service_day = day
        self.tickets_by_request.clear()
        self.tickets_by_number.clear()
        self.tickets_by_code.clear()
        self._wait_seconds_total = 0.0
        self._wait_count = 0
        self.issued_today = 0
        self.served_today = 0
        return DayRolled(previous_day=previous, service_day=day, expired=expired)

    # --- tickets ---------------------------------------------------------------

    def resolve_counter(self, counter_id: int | None,
                        procedure_id: int | None) -> tuple[CounterRuntime, int | None, str]:
        """The counter, procedure id and procedure name a ticket request names."""
        if procedure_id is not None:
            procedure = self.site.procedure(procedure_id)
            if procedure is None or (counter_id is not None and procedure.counter_id != counter_id):
                raise QueueError("COUNTER_NOT_FOUND", f"Không có thủ tục số {procedure_id} (procedure not found)")
            runtime = self.counters.get(procedure.counter_id)
            if runtime is None:
                raise QueueError("COUNTER_NOT_FOUND", f"Không có quầy {procedure.counter_id} (counter not found)")
            return runtime, procedure.id, procedure.name
        runtime = self.counter(counter_id)
        # Asked for by counter (a seed kiosk): the counter's first procedure names the ticket.
        first = runtime.config.procedures[0]
        return runtime, first.id, first.name

    def issue_ticket(
        self,
        now: datetime,
        *,
        code: str,
        counter_id: int | None = None,
        procedure_id: int | None = None,
        request_id: str | None = None,
        kiosk_id: str | None = None,
    ) -> TicketIssued:
        if request_id is not None and request_id in self.tickets_by_request:
            ticket = self.tickets_by_request[request_id]
            ahead = self.people_ahead(ticket)
            return TicketIssued(ticket, False, ahead, self.estimate_wait_minutes(ticket.counter_id, ahead))
        runtime, proc_id, proc_name = self.resolve_counter(counter_id, procedure_id)
        if runtime.status != "active":
            raise QueueError("COUNTER_PAUSED",
                             f"Quầy {runtime.config.name} đang tạm dừng (counter is {runtime.status})")
        ticket = Ticket(
            ticket_id=self.next_ticket_id,
            service_day=self.service_day,
            counter_id=runtime.config.id,
            number=runtime.next_number,
            procedure_id=proc_id,
            procedure_name=proc_name,
            code=code,
            request_id=request_id,
            kiosk_id=kiosk_id,
            created_at=now,
        )
        ahead = len(runtime.waiting)
        self.next_ticket_id += 1
        runtime.next_number += 1
        runtime.waiting.append(ticket)
        self._index(ticket)
        self.issued_today += 1
        return TicketIssued(ticket, True, ahead, self.estimate_wait_minutes(runtime.config.id, ahead))

    def call(self, now: datetime, counter_id: int, ticket_number: int | None, called_by: str) -> TicketCalled:
        runtime = self.counter(counter_id)
        if runtime.status != "active":
            raise QueueError("COUNTER_PAUSED",
                             f"Quầy {runtime.config.name} đang tạm dừng (counter is {runtime.status})")
        if ticket_number is None:
            if not runtime.waiting:
                raise QueueError("QUEUE_EMPTY", f"Quầy {runtime.config.name} không còn ai chờ (queue is empty)")
            ticket = runtime.waiting[0]
        else:
            found = self.tickets_by_number.get((counter_id, ticket_number))
            if found is None:
                raise QueueError(
                    "TICKET_NOT_FOUND",
                    f"Không có vé số {ticket_number} hôm nay ở quầy {runtime.config.name} (ticket not found)",
                )
            ticket = found
        if ticket is runtime.current:
            ticket.call_count += 1
            ticket.called_at = now
            ticket.called_by = called_by
            return TicketCalled(ticket, None, recall=True)
        recall = ticket.status != WAITING
        closed = self._close_current(runtime, now)
        if ticket.status == WAITING:
            runtime.waiting.remove(ticket)
            self._note_wait_first_call(ticket, now)
        elif ticket.status == DONE:
            self.served_today -= 1  # it is being served again
        ticket.status = CALLED
        ticket.called_at = now
        ticket.closed_at = None
        ticket.called_by = called_by
        ticket.call_count += 1
        runtime.current = ticket
        return TicketCalled(ticket, closed, recall=recall)

    def set_status(self, now: datetime, counter_id: int, status: str, reason: str, changed_by: str) -> StatusChanged:
        if status not in COUNTER_STATUSES:
            raise QueueError("INVALID_MESSAGE", f"unknown counter status {status!r}")
        runtime = self.counter(counter_id)
        runtime.status = status
        # A resumed counter needs no reason on the TVs.
        runtime.reason = reason if status != "active" else ""
        runtime.changed_by = changed_by
        runtime.status_changed_at = now
        return StatusChanged(runtime, affected_tickets=len(runtime.waiting))

    def withdraw(self, ticket: Ticket) -> None:
        """Take back a ticket that could not be saved: nobody was told of it, nobody may call it."""
        runtime = self.counters[ticket.counter_id]
        if ticket in runtime.waiting:
            runtime.waiting.remove(ticket)
        self.tickets_by_number.pop((ticket.counter_id, ticket.number), None)
        self.tickets_by_code.pop(ticket.code, None)
        if ticket.request_id is not None:
            self.tickets_by_request.pop(ticket.request_id, None)
        self.issued_today -= 1

    # --- views -------------------------------------------------------------------

    def counter(self, counter_id: int | None) -> CounterRuntime:
        runtime = self.counters.get(counter_id) if counter_id is not None else None
        if runtime is None:
            raise QueueError("COUNTER_NOT_FOUND", f"Không có quầy {counter_id} (counter not found)")
        return runtime

    def average_service_seconds(self, counter_id: int) -> float:
        measured = self.counters[counter_id].service_seconds
        return fmean(measured) if measured else self.site.default_service_minutes * 60

    def estimate_wait_minutes(self, counter_id: int, people_ahead: int) -> int:
        return minutes_up(people_ahead * self.average_service_seconds(counter_id))

    def people_ahead(self, ticket: Ticket) -> int:
        if ticket.status != WAITING:
            return 0
        runtime = self.counters[ticket.counter_id]
        for position, waiting in enumerate(runtime.waiting):
            if waiting is ticket:
                return position
        return 0

    def queue_view(self, counter_id: int) -> QueueView:
        runtime = self.counter(counter_id)
        waiting = runtime.waiting
        shown = self.site.next_numbers_count
        return QueueView(
            counter_id=counter_id,
            status=runtime.status,
            current_number=runtime.current.number if runtime.current else None,
            waiting_count=len(waiting),
            next_numbers=[t.number for t in list(waiting)[:shown]] if shown else [],
            average_wait_minutes=self.estimate_wait_minutes(counter_id, len(waiting)),
        )

    def stats(self) -> HallStats:
        busiest = max(self.counters.values(), key=lambda r: (len(r.waiting), -r.config.id), default=None)
        return HallStats(
            total_tickets_today=self.issued_today,
            served_today=self.served_today,
            waiting_total=sum(len(r.waiting) for r in self.counters.values()),
            active_counters=sum(1 for r in self.counters.values() if r.status == "active"),
            average_wait_minutes=minutes_up(self._wait_seconds_total / self._wait_count) if self._wait_count else 0,
            busiest_counter=(busiest.config.id, busiest.config.name, len(busiest.waiting)) if busiest else None,
        )

    def waiting_tickets(self, counter_id: int) -> list[Ticket]:
        return list(self.counter(counter_id).waiting)

    def ticket_by_code(self, code: str) -> Ticket | None:
        return self.tickets_by_code.get(code)

    # --- internals -----------------------------------------------------------------

    def _index(self, ticket: Ticket) -> None:
        self.tickets_by_number[(ticket.counter_id, ticket.number)] = ticket
        self.tickets_by_code[ticket.code] = ticket
        if ticket.request_id is not None:
            self.tickets_by_request[ticket.request_id] = ticket

    def _close_current(self, runtime: CounterRuntime, now: datetime) -> Ticket | None:
        closed = runtime.current
        if closed is None:
            return None
        closed.status = DONE
        closed.closed_at = now
        self.served_today += 1
        self._note_service(runtime, closed)
        runtime.current = None
        return closed

    def _note_service(self, runtime: CounterRuntime, ticket: Ticket) -> None:
        if ticket.called_at is None or ticket.closed_at is None:
            return
        seconds = (ticket.closed_at - ticket.called_at).total_seconds()
        if 0 <= seconds <= MAX_SERVICE_SECONDS:
            runtime.service_seconds.append(seconds)

    def _note_wait_first_call(self, ticket: Ticket, now: datetime) -> None:
        if ticket.call_count == 0:
            self._wait_seconds_total += max(0.0, (now - ticket.created_at).total_seconds())
            self._wait_count += 1

    def _note_wait(self, ticket: Ticket) -> None:
        if ticket.called_at is not None:
            # Restored tickets: the last call stands in for the first (close enough for a daily mean).
            self._wait_seconds_total += max(0.0, (ticket.called_at - ticket.created_at).total_seconds())
            self._wait_count += 1
