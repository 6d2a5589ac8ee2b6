"""The hall's queues: numbering, who is called next, the serving lifecycle, counter statuses, wait estimates.

Pure: no sockets, no database, no clock of its own. Every method takes the
moment it acts at (``now``, an aware datetime).

A state change happens in two steps, so that memory never runs ahead of the
database: a ``plan_*`` method decides what would change and returns a
:class:`Change` (new versions of the tickets and counters it touches, and the
events to record) without changing anything anyone can see; the hub makes it
durable and then calls :meth:`HallQueue.apply`, or :meth:`HallQueue.release`
if the write failed, which leaves the queue exactly as it was. While a change
is in flight the tickets it touches are reserved: no other plan picks them,
so a ticket is never current at two counters, even when two counters call
at the same instant.

Waiting tickets are ordered by their place in line (``Ticket.order``): the
ticket id, which only grows, never the wall clock (a Pi's clock can step
back). A returned no-show goes before everyone; a transferred ticket goes
before every ticket of its new queue issued after it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from statistics import fmean
from typing import Any

from sortedcontainers import SortedList

from hub.site_config import CounterConfig, QueueConfig, SiteConfig

# Ticket statuses.
WAITING = "waiting"
CALLED = "called"
DONE = "done"
NO_SHOW = "no_show"
CANCELLED = "cancelled"
EXPIRED = "expired"  # still waiting or being served when the service day ended
TICKET_STATUSES = (WAITING, CALLED, DONE, NO_SHOW, CANCELLED, EXPIRED)

COUNTER_STATUSES = ("active", "paused", "offline")
PRIORITY_REASONS = ("elderly", "disability", "pregnant", "child", "merit", "other")
ACTIONS = ("finish", "no_show", "transfer", "return")

# Service times measured in a queue that feed its wait estimate: the latest
# ones, since the pace changes over the day.
SERVICE_TIME_WINDOW = 20
# A "service" longer than this is an officer who left without closing the
# ticket, not a real service time.
MAX_SERVICE_SECONDS = 2 * 3600

# Places in line: (rank, sequence). Normal and transferred tickets rank 0 by
# ticket id; returned no-shows rank -1 in the order they were returned.
Order = tuple[int, int]


class QueueError(Exception):
    """A request the queue refuses; ``code`` is the protocol's error code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(eq=False)  # a ticket is itself: compared by identity (its line finds it by its place)
class Ticket:
    ticket_id: int
    service_day: date
    queue_id: int  # the queue it waits in (or was called from)
    number: int
    procedure_id: int | None
    procedure_name: str
    code: str
    request_id: str | None
    kiosk_id: str | None
    created_at: datetime
    priority: bool = False
    priority_reason: str | None = None
    # The queue that issued the number (a transfer keeps the number).
    origin_queue_id: int = 0
    status: str = WAITING
    # The counter that called it (and still serves it, while called).
    counter_id: int | None = None
    called_at: datetime | None = None  # the latest call or recall
    served_since: datetime | None = None  # when the current counter first called it
    first_called_at: datetime | None = None
    closed_at: datetime | None = None
    called_by: str | None = None
    officer_user_id: int | None = None
    call_count: int = 0
    transfers: int = 0
    order: Order = (0, 0)

    def __post_init__(self) -> None:
        if not self.origin_queue_id:
            self.origin_queue_id = self.queue_id
        if self.order == (0, 0):
            self.order = (0, self.ticket_id)

    def evolve(self, **changes: Any) -> Ticket:
        """A new version with ``changes`` (the live one is untouched until the change is applied).

        ``dataclasses.replace`` would do, at several times the cost on the hot path of every call.
        """
        new = object.__new__(Ticket)
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        return new


# Plans and their parts are made on every request: plain slotted classes (a frozen dataclass's
# __init__ costs several times more), not changed once made.
@dataclass(slots=True)
class TicketEvent:
    """One step of a ticket's life, recorded for its history and the reports."""

    ticket_id: int
    at: datetime
    action: str  # issued, called, recalled, finished, no_show, transferred, returned, expired
    actor: str
    counter_id: int | None
    queue_id: int
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class CounterRuntime:
    config: CounterConfig
    status: str = "active"
    reason: str = ""
    changed_by: str = ""
    status_changed_at: datetime | None = None
    current: Ticket | None = None
    # Priority tickets called in a row here (for priority_streak).
    priority_run: int = 0


@dataclass(slots=True)
class QueueRuntime:
    config: QueueConfig
    next_number: int = 1
    priority: SortedList = field(default_factory=lambda: SortedList(key=_order_key))
    normal: SortedList = field(default_factory=lambda: SortedList(key=_order_key))
    service_seconds: deque[float] = field(default_factory=lambda: deque(maxlen=SERVICE_TIME_WINDOW))
    # The mean of service_seconds, worked out when first asked after a change (every QUEUE_UPDATE asks).
    _average_service: float | None = field(default=None, repr=False, compare=False)

    def note_service(self, seconds: float) -> None:
        self.service_seconds.append(seconds)
        self._average_service = None

    def forget_services(self) -> None:
        self.service_seconds.clear()
        self._average_service = None

    def average_service(self) -> float | None:
        """The mean measured service time in seconds, None before any was measured."""
        if self._average_service is None and self.service_seconds:
            self._average_service = fmean(self.service_seconds)
        return self._average_service

    def line(self, ticket: Ticket) -> SortedList:
        return self.priority if ticket.priority else self.normal

    @property
    def waiting_count(self) -> int:
        return len(self.priority) + len(self.normal)

    def in_order(self) -> Iterator[Ticket]:
        """Waiting tickets in the order this queue alone would call them (priority first)."""
        yield from self.priority
        yield from self.normal


def _order_key(ticket: Ticket) -> Order:
    return ticket.order


@dataclass(slots=True)
class CounterChange:
    counter_id: int
    current_ticket_id: int | None
    priority_run: int
    status: str
    reason: str
    changed_by: str
    status_changed_at: datetime | None


@dataclass(slots=True)
class Change:
    """What a plan would change; nothing has changed until :meth:`HallQueue.apply`."""

    kind: str
    tickets: tuple[Ticket, ...] = ()  # new versions (copies) of the tickets touched
    counters: tuple[CounterChange, ...] = ()
    events: tuple[TicketEvent, ...] = ()
    # For a new ticket: where it stands, and the wait it was told.
    people_ahead: int = 0
    estimated_wait_minutes: int = 0
    # A call that closed the counter's previous ticket, a recall, a queue emptied.
    closed: Ticket | None = None
    recall: bool = False
    # Queues whose waiting lines this change alters (their counters get QUEUE_UPDATE).
    queue_ids: frozenset[int] = frozenset()
    # Numbers taken for a new ticket: (queue_id, number), ticket id.
    taken_number: tuple[int, int] | None = None
    taken_ticket_id: int | None = None
    # A counter's status change: the tickets waiting for it.
    affected_tickets: int = 0
    # The day turning: the new day, and whether open tickets carry over to it.
    day: date | None = None
    keep_open: bool = False

    @property
    def ticket(self) -> Ticket:
        return self.tickets[0]


@dataclass(frozen=True)
class QueueView:
    """What one counter shows: its current number and the line it serves (its own queues)."""

    counter_id: int
    status: str
    current_number: int | None
    waiting_count: int
    next_numbers: list[int]
    average_wait_minutes: int


@dataclass(frozen=True)
class QueueLineView:
    queue_id: int
    waiting_count: int
    priority_waiting_count: int
    next_numbers: list[int]
    average_wait_minutes: int


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
    """Every queue and counter of the hall for one service day."""

    def __init__(self, site: SiteConfig, service_day: date, *, next_ticket_id: int = 1):
        self.site = site
        self.service_day = service_day
        self.next_ticket_id = next_ticket_id
        self.queues: dict[int, QueueRuntime] = {
            q.id: QueueRuntime(config=q, next_number=q.start_number) for q in site.queues}
        self.counters: dict[int, CounterRuntime] = {c.id: CounterRuntime(config=c) for c in site.counters}
        self.tickets: dict[int, Ticket] = {}
        self.tickets_by_request: dict[tuple[str | None, str], Ticket] = {}
        self.tickets_by_code: dict[str, Ticket] = {}
        # Tickets in flight (a plan not yet applied or released): no other plan may pick them.
        self._reserved: set[int] = set()
        self._next_return_order = 1
        # Measured waits (creation to first call), for the day's statistics.
        self._wait_seconds_total = 0.0
        self._wait_count = 0
        self.served_today = 0

    # --- restoring from the database ---------------------------------------

    def restore_counter_status(self, counter_id: int, status: str, reason: str, changed_by: str,
                               changed_at: datetime | None) -> None:
        runtime = self.counters.get(counter_id)
        if runtime is None or status not in COUNTER_STATUSES:
            return  # a counter since removed from the site file
        runtime.status, runtime.reason = status, reason
        runtime.changed_by, runtime.status_changed_at = changed_by, changed_at

    def restore_tickets(self, tickets: Iterable[Ticket]) -> None:
        """Load the service day's tickets as the database has them (their places in line included)."""
        for ticket in sorted(tickets, key=lambda t: t.ticket_id):
            if ticket.service_day != self.service_day or ticket.queue_id not in self.queues:
                continue
            origin = self.queues.get(ticket.origin_queue_id)
            if origin is not None:
                origin.next_number = max(origin.next_number, ticket.number + 1)
            self.next_ticket_id = max(self.next_ticket_id, ticket.ticket_id + 1)
            if ticket.order[0] < 0:
                self._next_return_order = max(self._next_return_order, ticket.order[1] + 1)
            if ticket.status == CALLED:
                runtime = self.counters.get(ticket.counter_id) if ticket.counter_id is not None else None
                if runtime is None or runtime.current is not None:
                    ticket.status = WAITING  # its counter is gone from the site file: it waits again
                else:
                    runtime.current = ticket
            self._put(ticket)
            if ticket.first_called_at is not None:
                self._note_wait(ticket, ticket.first_called_at)
            if ticket.status in (DONE, NO_SHOW):
                self.served_today += ticket.status == DONE
                self._note_service(ticket)

    # --- the service day ------------------------------------------------------

    def service_day_at(self, now: datetime) -> date:
        return now.astimezone(self.site.tz).date()

    def plan_roll_day(self, now: datetime, *, keep_tickets: bool = False) -> Change | None:
        """At local midnight the numbering starts again and what was left open expires.

        ``keep_tickets``: the day changed because the clock was corrected, not
        because midnight passed: the open tickets were issued today and carry over.
        """
        day = self.service_day_at(now)
        if day <= self.service_day:
            return None
        tickets = []
        events = []
        for ticket in self.tickets.values():
            if ticket.status not in (WAITING, CALLED):
                continue
            if keep_tickets:
                tickets.append(ticket.evolve(service_day=day))
                continue
            tickets.append(ticket.evolve(status=EXPIRED, closed_at=now))
            events.append(TicketEvent(ticket.ticket_id, now, "expired", "hub", ticket.counter_id, ticket.queue_id))
        return Change("roll_day", tuple(tickets), events=tuple(events), queue_ids=frozenset(self.queues), day=day,
                      keep_open=keep_tickets)

    def _apply_roll_day(self, change: Change) -> None:
        assert change.day is not None
        keep = change.keep_open
        kept = list(change.tickets) if keep else []
        self.service_day = change.day
        self.tickets.clear()
        self.tickets_by_request.clear()
        self.tickets_by_code.clear()
        self._reserved.clear()
        self._wait_seconds_total, self._wait_count, self.served_today = 0.0, 0, 0
        for queue in self.queues.values():
            queue.priority.clear()
            queue.normal.clear()
            queue.forget_services()
            if not keep:
                queue.next_number = queue.config.start_number
        for counter in self.counters.values():
            counter.current = None
            counter.priority_run = 0
        for ticket in kept:
            if ticket.status == CALLED and ticket.counter_id in self.counters:
                self.counters[ticket.counter_id].current = ticket
            self._put(ticket)

    # --- tickets ---------------------------------------------------------------

    def resolve_queue(self, *, procedure_id: int | None, queue_id: int | None,
                      counter_id: int | None) -> tuple[QueueRuntime, int | None, str]:
        """The queue, procedure id and procedure name a ticket request names."""
        if procedure_id is not None:
            procedure = self.site.procedure(procedure_id)
            if procedure is None or (queue_id is not None and procedure.queue_id != queue_id):
                raise QueueError("COUNTER_NOT_FOUND", f"Không có thủ tục số {procedure_id} (procedure not found)")
            if counter_id is not None and procedure.queue_id not in self.counter(counter_id).config.queue_ids:
                raise QueueError("COUNTER_NOT_FOUND",
                                 f"Quầy {counter_id} không giải quyết thủ tục {procedure_id} (procedure not found)")
            return self.queues[procedure.queue_id], procedure.id, procedure.name
        if queue_id is None:
            # A seed kiosk asks by counter: that counter's first queue.
            queue_id = self.counter(counter_id).config.queue_ids[0]
        queue = self.queue(queue_id)
        procedures = self.site.procedures_of(queue.config.id)
        first = procedures[0] if procedures else None
        return queue, first.id if first else None, first.name if first else queue.config.name

    def find_request(self, kiosk_id: str | None, request_id: str) -> Ticket | None:
        """The ticket a kiosk's earlier request with this id made today (request ids are per kiosk)."""
        return self.tickets_by_request.get((kiosk_id, request_id))

    def plan_issue(self, now: datetime, *, code: str, procedure_id: int | None = None, queue_id: int | None = None,
                   counter_id: int | None = None, priority: bool = False, priority_reason: str | None = None,
                   request_id: str | None = None, kiosk_id: str | None = None, actor: str = "") -> Change:
        queue, proc_id, proc_name = self.resolve_queue(procedure_id=procedure_id, queue_id=queue_id,
                                                       counter_id=counter_id)
        serving = [self.counters[c.id] for c in self.site.counters_serving(queue.config.id)]
        if not any(c.status == "active" for c in serving):
            numbers = ", ".join(str(c.config.number) for c in serving)
            raise QueueError("COUNTER_PAUSED", f"{queue.config.name}: quầy {numbers} đang tạm dừng, xin quay lại sau "
                             "(no counter of this queue is open)")
        if priority and priority_reason is not None and priority_reason not in PRIORITY_REASONS:
            raise QueueError("INVALID_MESSAGE", f"unknown priority_reason {priority_reason!r}")
        ticket = Ticket(
            ticket_id=self.next_ticket_id, service_day=self.service_day, queue_id=queue.config.id,
            number=queue.next_number, procedure_id=proc_id, procedure_name=proc_name, code=code,
            request_id=request_id, kiosk_id=kiosk_id, created_at=now, priority=priority,
            priority_reason=(priority_reason or "other") if priority else None,
        )
        self.next_ticket_id += 1
        queue.next_number += 1
        self._reserved.add(ticket.ticket_id)
        ahead = self._people_ahead_of_new(queue, ticket)
        event = TicketEvent(ticket.ticket_id, now, "issued", actor or (kiosk_id or ""), None, queue.config.id,
                            {"priority": priority, "priority_reason": ticket.priority_reason,
                             "procedure_id": proc_id, "request_id": request_id, "kiosk_id": kiosk_id})
        return Change("issue", (ticket,), events=(event,), people_ahead=ahead,
                      estimated_wait_minutes=self.estimate_wait_minutes(queue.config.id, ahead),
                      queue_ids=frozenset({queue.config.id}), taken_number=(queue.config.id, ticket.number),
                      taken_ticket_id=ticket.ticket_id)

    # --- calling -----------------------------------------------------------------

    def plan_call(self, now: datetime, counter_id: int, *, ticket_number: int | None = None,
                  queue_id: int | None = None, actor: str, officer_user_id: int | None = None) -> Change:
        """CALL_TICKET: the next ticket for the counter, or the one named (a recall if it is current).

        Calling closes the counter's current ticket as done first, also when
        nobody is waiting; then the change carries ``QUEUE_EMPTY`` as its kind.
        """
        counter = self.counter(counter_id)
        if counter.status != "active":
            raise QueueError("COUNTER_PAUSED",
                             f"Quầy {counter.config.name} đang tạm dừng (counter is {counter.status})")
        current = counter.current
        ticket: Ticket | None
        if ticket_number is not None:
            ticket = self.ticket_by_number(ticket_number, queue_id, counter=counter)
            if ticket is current:
                assert current is not None
                recalled = current.evolve(called_at=now, call_count=current.call_count + 1, called_by=actor)
                event = TicketEvent(current.ticket_id, now, "recalled", actor, counter_id, current.queue_id)
                return Change("recall", (recalled,), events=(event,), recall=True)
            self._refuse_reserved(ticket)
            if ticket.status == CALLED:
                raise QueueError("INVALID_MESSAGE", f"Vé số {ticket.number} đang được phục vụ ở quầy "
                                 f"{ticket.counter_id} (ticket is being served at another counter)")
        else:
            ticket = self.next_for(counter)
        changed: list[Ticket] = []
        events: list[TicketEvent] = []
        closed = None
        if current is not None:
            closed = self._closed_version(current, now, DONE)
            changed.append(closed)
            events.append(TicketEvent(current.ticket_id, now, "finished", actor, counter_id, current.queue_id,
                                      {"by_call": True}))
        if ticket is None:
            counter_change = self._counter_change(counter, current_ticket_id=None)
            return Change("queue_empty", tuple(changed), (counter_change,), tuple(events), closed=closed,
                          queue_ids=frozenset({current.queue_id}) if current else frozenset())
        recall = ticket.status != WAITING
        called = ticket.evolve(status=CALLED, counter_id=counter_id, called_at=now, served_since=now,
                         first_called_at=ticket.first_called_at or now, closed_at=None, called_by=actor,
                         officer_user_id=officer_user_id, call_count=ticket.call_count + 1)
        run = counter.priority_run + 1 if ticket.priority else 0
        events.append(TicketEvent(ticket.ticket_id, now, "recalled" if recall else "called", actor, counter_id,
                                  ticket.queue_id, {"priority": ticket.priority}))
        self._reserved.add(ticket.ticket_id)
        if current is not None:
            self._reserved.add(current.ticket_id)
        touched = {ticket.queue_id} | ({current.queue_id} if current else set())
        return Change("call", (called, *changed), (self._counter_change(counter, called.ticket_id, run),),
                      tuple(events), closed=closed, recall=recall, queue_ids=frozenset(touched))

    def next_for(self, counter: CounterRuntime) -> Ticket | None:
        """Who the counter calls next: PROTOCOL.md's rule.

        The longest-waiting ticket across the counter's own queues, priority
        tickets first unless ``priority_streak`` priority calls in a row were
        made here and a normal ticket waits; the backup queues the same way,
        only when the own queues have nobody waiting. O(queues) heads, each
        O(1) to read from its sorted line.
        """
        for queue_ids in (counter.config.queue_ids, counter.config.backup_queue_ids):
            lines = [self.queues[q] for q in queue_ids]
            priority = self._head(q.priority for q in lines)
            normal = self._head(q.normal for q in lines)
            if priority is None and normal is None:
                continue
            if priority is not None and (normal is None or counter.priority_run < self.site.priority_streak):
                return priority
            return normal
        return None

    def _head(self, lines: Iterable[SortedList]) -> Ticket | None:
        best: Ticket | None = None
        reserved = self._reserved
        for line in lines:
            if not line:
                continue
            ticket = line[0]
            if ticket.ticket_id in reserved:
                # In flight at another counter: the first one not in flight (a few at most are).
                ticket = next((t for t in line if t.ticket_id not in reserved), None)
                if ticket is None:
                    continue
            if best is None or ticket.order < best.order:
                best = ticket
        return best

    # --- the officer's other actions ------------------------------------------------

    def plan_action(self, now: datetime, counter_id: int, action: str, *, actor: str,
                    ticket_number: int | None = None, queue_id: int | None = None, to_queue_id: int | None = None,
                    to_counter_id: int | None = None, note: str = "") -> Change:
        """TICKET_ACTION: finish, no_show, transfer (the current ticket) or return (a no-show)."""
        counter = self.counter(counter_id)
        if action == "return":
            if ticket_number is None:
                raise QueueError("INVALID_MESSAGE", "return needs the `ticket_number` of the no-show ticket")
            ticket = self.ticket_by_number(ticket_number, queue_id, counter=counter)
            self._refuse_reserved(ticket)
            if ticket.status != NO_SHOW:
                raise QueueError("INVALID_MESSAGE", f"Vé số {ticket.number} không ở trạng thái vắng mặt "
                                 f"(only a no-show ticket can be returned; it is {ticket.status})")
            order = (-1, self._next_return_order)
            returned = ticket.evolve(status=WAITING, closed_at=None, counter_id=None, order=order)
            event = TicketEvent(ticket.ticket_id, now, "returned", actor, counter_id, ticket.queue_id,
                                {"note": note} if note else {})
            self._reserved.add(ticket.ticket_id)
            return Change("return", (returned,), events=(event,), queue_ids=frozenset({ticket.queue_id}))
        current = counter.current
        if current is None:
            raise QueueError("TICKET_NOT_FOUND",
                             f"Quầy {counter.config.name} không có vé đang phục vụ (no current ticket)")
        if ticket_number is not None and ticket_number != current.number:
            raise QueueError("TICKET_NOT_FOUND", f"Vé số {ticket_number} không phải vé đang phục vụ ở quầy này "
                             f"(the counter's current ticket is {current.number})")
        self._refuse_reserved(current)
        cleared = self._counter_change(counter, current_ticket_id=None)
        detail: dict[str, Any] = {"note": note} if note else {}
        if action in ("finish", "no_show"):
            status = DONE if action == "finish" else NO_SHOW
            closed = self._closed_version(current, now, status)
            event = TicketEvent(current.ticket_id, now, "finished" if status == DONE else "no_show", actor,
                                counter_id, current.queue_id, detail)
            self._reserved.add(current.ticket_id)
            return Change(action, (closed,), (cleared,), (event,), closed=closed,
                          queue_ids=frozenset({current.queue_id}))
        if action != "transfer":
            raise QueueError("INVALID_MESSAGE", f"unknown action {action!r}: one of {', '.join(ACTIONS)}")
        if to_queue_id is None and to_counter_id is not None:
            to_queue_id = self.counter(to_counter_id).config.queue_ids[0]
        if to_queue_id is None:
            raise QueueError("INVALID_MESSAGE", "transfer needs `to_queue_id` or `to_counter_id`")
        target = self.queue(to_queue_id)
        if to_queue_id == current.queue_id and to_counter_id is None:
            raise QueueError("INVALID_MESSAGE", "the ticket is in that queue already: choose another queue")
        moved = current.evolve(status=WAITING, queue_id=to_queue_id, counter_id=None, called_at=None,
                        served_since=None, transfers=current.transfers + 1, order=(0, current.ticket_id))
        detail |= {"from_queue_id": current.queue_id, "to_queue_id": to_queue_id, "to_counter_id": to_counter_id}
        event = TicketEvent(current.ticket_id, now, "transferred", actor, counter_id, current.queue_id, detail)
        self._reserved.add(current.ticket_id)
        return Change("transfer", (moved,), (cleared,), (event,),
                      queue_ids=frozenset({current.queue_id, target.config.id}))

    # --- counter status ---------------------------------------------------------------

    def plan_status(self, now: datetime, counter_id: int, status: str, reason: str, changed_by: str) -> Change:
        if status not in COUNTER_STATUSES:
            raise QueueError("INVALID_MESSAGE", f"unknown counter status {status!r}")
        counter = self.counter(counter_id)
        change = CounterChange(
            counter_id=counter_id,
            current_ticket_id=counter.current.ticket_id if counter.current else None,
            priority_run=counter.priority_run,
            status=status,
            # A resumed counter needs no reason on the TVs.
            reason=reason if status != "active" else "",
            changed_by=changed_by,
            status_changed_at=now,
        )
        waiting = sum(self.queues[q].waiting_count for q in counter.config.queue_ids)
        return Change("status", counters=(change,), affected_tickets=waiting,
                      queue_ids=frozenset(counter.config.all_queue_ids))

    # --- applying and releasing plans ---------------------------------------------------

    def apply(self, change: Change) -> None:
        """The change is durable: make it what everyone sees."""
        if change.kind == "roll_day":
            self._apply_roll_day(change)
            return
        for ticket in change.tickets:
            self._reserved.discard(ticket.ticket_id)
            previous = self.tickets.get(ticket.ticket_id)
            if previous is not None:
                self._take_out(previous)
                if previous.first_called_at is None and ticket.first_called_at is not None:
                    self._note_wait(ticket, ticket.first_called_at)
                if previous.status == DONE:
                    self.served_today -= 1
            if ticket.status in (DONE, NO_SHOW) and (previous is None or previous.status != ticket.status):
                self.served_today += ticket.status == DONE
                self._note_service(ticket)
            self._put(ticket)
            # A counter serving this ticket holds the new version (a recall changes no counter).
            runtime = self.counters.get(ticket.counter_id) if ticket.counter_id is not None else None
            if runtime is not None and runtime.current is not None and runtime.current.ticket_id == ticket.ticket_id:
                runtime.current = ticket
        for counter_change in change.counters:
            runtime = self.counters[counter_change.counter_id]
            current_id = counter_change.current_ticket_id
            runtime.current = self.tickets[current_id] if current_id is not None else None
            runtime.priority_run = counter_change.priority_run
            runtime.status, runtime.reason = counter_change.status, counter_change.reason
            runtime.changed_by, runtime.status_changed_at = counter_change.changed_by, counter_change.status_changed_at
        if change.kind == "return":
            self._next_return_order += 1

    def release(self, change: Change) -> None:
        """The change could not be made durable: forget it; the queue is as it was before the plan."""
        for ticket in change.tickets:
            self._reserved.discard(ticket.ticket_id)
        if change.taken_ticket_id is not None and change.taken_ticket_id == self.next_ticket_id - 1:
            self.next_ticket_id -= 1
        if change.taken_number is not None and change.kind == "issue":
            queue_id, number = change.taken_number
            queue = self.queues[queue_id]
            if queue.next_number == number + 1:
                queue.next_number = number

    # --- views -------------------------------------------------------------------

    def counter(self, counter_id: int | None) -> CounterRuntime:
        runtime = self.counters.get(counter_id) if counter_id is not None else None
        if runtime is None:
            raise QueueError("COUNTER_NOT_FOUND", f"Không có quầy {counter_id} (counter not found)")
        return runtime

    def queue(self, queue_id: int) -> QueueRuntime:
        runtime = self.queues.get(queue_id)
        if runtime is None:
            raise QueueError("COUNTER_NOT_FOUND", f"Không có hàng chờ {queue_id} (queue not found)")
        return runtime

    def ticket_by_number(self, number: int, queue_id: int | None = None, *,
                         counter: CounterRuntime | None = None) -> Ticket:
        """Today's ticket with this number (in this queue, now or where it was issued, when given).

        With ``counter``: only a ticket of a queue the counter serves, or one it served.
        """
        found = [t for t in self.tickets.values() if t.number == number
                 and (queue_id is None or queue_id in (t.queue_id, t.origin_queue_id))
                 and (counter is None or t.queue_id in counter.config.all_queue_ids
                      or t.counter_id == counter.config.id)]
        if not found:
            where = f" ở quầy {counter.config.name}" if counter is not None else ""
            raise QueueError("TICKET_NOT_FOUND", f"Không có vé số {number} hôm nay{where} (ticket not found)")
        if len(found) > 1:
            raise QueueError("INVALID_MESSAGE", f"Có {len(found)} vé số {number} hôm nay: cho biết `queue_id` "
                             "(the number is ambiguous: give queue_id)")
        return found[0]

    def ticket_by_code(self, code: str) -> Ticket | None:
        return self.tickets_by_code.get(code)

    def average_service_seconds(self, queue_id: int) -> float:
        measured = self.queues[queue_id].average_service()
        return measured if measured is not None else self.site.default_service_minutes * 60

    def serving_count(self, queue_id: int) -> int:
        """Counters open now that serve the queue as their own: the line moves that many at a time."""
        return sum(1 for c in self.site.counters_serving(queue_id) if self.counters[c.id].status == "active")

    def estimate_wait_minutes(self, queue_id: int, people_ahead: int) -> int:
        return minutes_up(people_ahead * self.average_service_seconds(queue_id) / max(1, self.serving_count(queue_id)))

    def people_ahead(self, ticket: Ticket) -> int:
        if ticket.status != WAITING:
            return 0
        queue = self.queues[ticket.queue_id]
        if ticket.priority:
            return queue.priority.index(ticket)
        # Every priority ticket goes first (near enough: the streak lets a few normal ones through).
        return len(queue.priority) + queue.normal.index(ticket)

    def _people_ahead_of_new(self, queue: QueueRuntime, ticket: Ticket) -> int:
        return len(queue.priority) if ticket.priority else queue.waiting_count

    def line_view(self, queue_id: int) -> QueueLineView:
        queue = self.queues[queue_id]
        shown = self.site.next_numbers_count
        return QueueLineView(
            queue_id=queue_id,
            waiting_count=queue.waiting_count,
            priority_waiting_count=len(queue.priority),
            next_numbers=[t.number for t in islice(queue.in_order(), shown)],
            average_wait_minutes=self.estimate_wait_minutes(queue_id, queue.waiting_count),
        )

    def queue_view(self, counter_id: int) -> QueueView:
        """The counter's line: the tickets of its own queues in the order it would call them."""
        counter = self.counter(counter_id)
        lines = [self.queues[q] for q in counter.config.queue_ids]
        waiting = sum(q.waiting_count for q in lines)
        shown = self.site.next_numbers_count
        if len(lines) == 1:
            upcoming = [t.number for t in islice(lines[0].in_order(), shown)]
        else:
            merged = sorted((t for q in lines for t in islice(q.in_order(), shown)),
                            key=lambda t: (not t.priority, t.order))
            upcoming = [t.number for t in merged[:shown]]
        estimate = max((self.estimate_wait_minutes(q.config.id, q.waiting_count) for q in lines), default=0)
        return QueueView(
            counter_id=counter_id,
            status=counter.status,
            current_number=counter.current.number if counter.current else None,
            waiting_count=waiting,
            next_numbers=upcoming if shown else [],
            average_wait_minutes=estimate,
        )

    def counters_touching(self, queue_ids: Iterable[int]) -> list[int]:
        """The counters that serve any of these queues (own or backup), in site order."""
        wanted = set(queue_ids)
        return [c.id for c in self.site.counters if not wanted.isdisjoint(c.all_queue_ids)]

    def waiting_tickets(self, queue_id: int) -> list[Ticket]:
        return list(self.queues[queue_id].in_order())

    def stats(self) -> HallStats:
        def waiting_for(counter: CounterRuntime) -> int:
            return sum(self.queues[q].waiting_count for q in counter.config.queue_ids)

        busiest = max(self.counters.values(), key=lambda r: (waiting_for(r), -r.config.id), default=None)
        return HallStats(
            total_tickets_today=len(self.tickets),
            served_today=self.served_today,
            waiting_total=sum(q.waiting_count for q in self.queues.values()),
            active_counters=sum(1 for r in self.counters.values() if r.status == "active"),
            average_wait_minutes=minutes_up(self._wait_seconds_total / self._wait_count) if self._wait_count else 0,
            busiest_counter=(busiest.config.id, busiest.config.name, waiting_for(busiest)) if busiest else None,
        )

    # --- internals -----------------------------------------------------------------

    def _put(self, ticket: Ticket) -> None:
        self.tickets[ticket.ticket_id] = ticket
        self.tickets_by_code[ticket.code] = ticket
        if ticket.request_id is not None:
            self.tickets_by_request[(ticket.kiosk_id, ticket.request_id)] = ticket
        if ticket.status == WAITING:
            self.queues[ticket.queue_id].line(ticket).add(ticket)

    def _take_out(self, ticket: Ticket) -> None:
        if ticket.status == WAITING:
            self.queues[ticket.queue_id].line(ticket).remove(ticket)

    def _refuse_reserved(self, ticket: Ticket) -> None:
        if ticket.ticket_id in self._reserved:
            raise QueueError("INVALID_MESSAGE", f"Vé số {ticket.number} đang được xử lý ở quầy khác, xin thử lại "
                             "(another counter is acting on this ticket: try again)")

    def _closed_version(self, ticket: Ticket, now: datetime, status: str) -> Ticket:
        return ticket.evolve(status=status, closed_at=now)

    def _counter_change(self, counter: CounterRuntime, current_ticket_id: int | None,
                        priority_run: int | None = None) -> CounterChange:
        return CounterChange(counter.config.id, current_ticket_id,
                             counter.priority_run if priority_run is None else priority_run,
                             counter.status, counter.reason, counter.changed_by, counter.status_changed_at)

    @staticmethod
    def _service_seconds(ticket: Ticket, now: datetime) -> float | None:
        if ticket.served_since is None:
            return None
        seconds = (now - ticket.served_since).total_seconds()
        return seconds if 0 <= seconds <= MAX_SERVICE_SECONDS else None

    def _note_service(self, ticket: Ticket) -> None:
        if ticket.closed_at is None:
            return
        seconds = self._service_seconds(ticket, ticket.closed_at)
        if seconds is not None and ticket.queue_id in self.queues:
            self.queues[ticket.queue_id].note_service(seconds)

    def _note_wait(self, ticket: Ticket, first_called_at: datetime) -> None:
        self._wait_seconds_total += max(0.0, (first_called_at - ticket.created_at).total_seconds())
        self._wait_count += 1
