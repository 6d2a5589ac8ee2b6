"""What the kiosk does, as a state machine free of I/O.

The app feeds it what happened (a tap, the hub's answer, the printer's result,
the time) and carries out the :data:`Effect` values it returns: ask the hub for
a ticket, print one, report a device problem. The screen is drawn from
:meth:`KioskModel.view`, an immutable value: the app redraws only when it
changes. Times are ``time.monotonic()`` seconds passed in by the caller.

Screens::

    home --tap--> printing --TICKET_CREATED--> (printer) --ok--> result --timeout/tap--> home
                     |                                    \\--fault--> print_failed --reprint--> printing
                     \\--ERROR--> refused --timeout--> home              \\--done/timeout--> home

The home screen is a menu (:class:`Menu`): the site's fields (lĩnh vực), then
a field's procedures, with "Quay lại" back; a site without fields shows its
procedures at once. The priority entry asks which priority applies (elderly,
disability, ...) and then goes through the same menus, and the ticket asked
for is then a priority one. A menu left half-way returns to the top after
:data:`MENU_IDLE_SECONDS`, and every ticket starts the next citizen there.
Procedures whose queue no active counter serves are not offered.

The hub being unreachable is not a screen of its own but a condition: home,
and a request still waiting for the hub, are covered by the "unreachable"
view until the connection is back. A request in flight stays in flight: the
client library resends it with the same ``request_id`` after reconnecting and
the hub answers with the one ticket it made, so nothing is printed that the
hub does not know about.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal, get_args

from kiosk_node.i18n import Language
from protocol import messages as m
from protocol.client import HubState

Screen = Literal["home", "printing", "result", "print_failed", "refused", "unreachable"]
LedMode = Literal["on", "slow_blink", "fast_blink"]
# What the home screen offers: the fields, a field's (or the site's) procedures, or the priority reasons.
MenuLevel = Literal["fields", "procedures", "reasons"]

# The priorities a citizen can choose on screen, in the order of the tiles (PROTOCOL.md's "other" is for staff).
PRIORITY_REASONS: tuple[m.PriorityReason, ...] = ("elderly", "disability", "pregnant", "child", "merit")
# A menu left open this long without a touch goes back to the top: the next citizen starts there.
MENU_IDLE_SECONDS = 60.0

# A failed print stays on screen this long if nobody touches it.
PRINT_FAILED_SECONDS = 60.0
REFUSED_SECONDS = 5.0
# A tap on the result screen returns home only after this long: a double tap must not skip the number.
RESULT_MIN_SECONDS = 1.5
# While the printer is faulty, it is checked this often to notice it was fixed...
PRINTER_CHECK_SECONDS = 10.0
# ...and otherwise this often, so paper running out is noticed (and alerted) before a citizen taps.
PRINTER_ROUTINE_CHECK_SECONDS = 60.0


@dataclass(frozen=True)
class Tile:
    """One procedure a citizen can take a number for, and the queue its ticket waits in."""

    procedure_id: int
    procedure_name: str
    queue_id: int
    queue_name: str
    # The counters serving the queue, by the numbers painted above their desks.
    counter_numbers: tuple[int, ...]
    waiting_count: int
    wait_minutes: int
    field_id: int | None = None


@dataclass(frozen=True)
class FieldTile:
    """A field (lĩnh vực) with at least one procedure on offer."""

    field_id: int
    name: str
    # Its procedures on offer now, in the site's order.
    procedure_ids: tuple[int, ...]


@dataclass(frozen=True)
class Ticket:
    """A ticket the hub issued to this kiosk: what is printed and shown."""

    number: int
    queue_id: int
    queue_name: str
    # Every counter serving the queue (the ticket names them all: "Quầy 2, 5").
    counter_numbers: tuple[int, ...]
    procedure_name: str
    created_at: datetime
    people_ahead: int
    wait_minutes: int
    # The number as printed: the queue's prefix and the number ("A12"); the number alone when none.
    label: str = ""
    priority: bool = False
    priority_reason: m.PriorityReason | None = None
    ticket_code: str | None = None
    service_day: str | None = None
    request_id: str | None = None

    @property
    def shown_label(self) -> str:
        return self.label or str(self.number)


# --- effects: what the app must do -------------------------------------------------------------


@dataclass(frozen=True)
class RequestTicket:
    procedure_id: int
    queue_id: int
    priority: bool = False
    priority_reason: m.PriorityReason | None = None


@dataclass(frozen=True)
class PrintTicket:
    job_id: int
    ticket: Ticket
    language: Language


@dataclass(frozen=True)
class CheckPrinter:
    pass


@dataclass(frozen=True)
class ReportDevice:
    component: Literal["printer", "gpio", "display"]
    status: Literal["ok", "warning", "fault"]
    code: str
    detail: str = ""


Effect = RequestTicket | PrintTicket | CheckPrinter | ReportDevice


# --- the view: everything the screen shows -------------------------------------------------------


@dataclass(frozen=True)
class Menu:
    """Where the citizen is in the home screen's menus."""

    # The priority entry was chosen: a reason is asked for, then the same menus follow.
    priority: bool = False
    reason: m.PriorityReason | None = None
    # The field whose procedures are shown (sites with fields).
    field_id: int | None = None

    def back(self) -> Menu:
        if self.field_id is not None:
            return replace(self, field_id=None)
        if self.reason is not None:
            return replace(self, reason=None)
        return Menu()


@dataclass(frozen=True)
class View:
    screen: Screen
    language: Language
    site_name: str
    clock: str = ""
    # At home: what the menu offers now. Procedures at the "procedures" level (and, at the "fields"
    # level, the few a site leaves out of every field), fields at the "fields" level.
    level: MenuLevel = "procedures"
    tiles: tuple[Tile, ...] = ()
    fields: tuple[FieldTile, ...] = ()
    # The open field's name ("" at the top), and the priority chosen in the priority flow.
    field_name: str = ""
    priority_flow: bool = False
    priority_reason: m.PriorityReason | None = None
    ticket: Ticket | None = None
    # The printer problem code (a fault, or "paper_low"), for the banner and the fault screen.
    printer_problem: str | None = None
    printer_fault: bool = False
    refused_code: str = ""
    # Unreachable while a request waits for the hub.
    request_pending: bool = False
    # Whole seconds until the result screen closes.
    countdown: int | None = None

    @property
    def can_go_back(self) -> bool:
        return self.priority_flow or bool(self.field_name)

    @property
    def offers_priority(self) -> bool:
        """The priority entry is shown: at the top of the menus, outside the priority flow."""
        return self.screen == "home" and not self.priority_flow and not self.field_name \
            and bool(self.tiles or self.fields)


def tiles_from_state(state: HubState) -> tuple[Tile, ...]:
    """One tile per procedure whose queue an active counter serves, in the hub's order, each once.

    The hub lists a procedure under every counter serving its queue; a queue
    is open while at least one of them is active (the hub refuses a ticket
    otherwise). A hub that sends no queues (PROTOCOL.md's first version) has
    each counter serve a queue of its own.
    """
    tiles: list[Tile] = []
    seen: set[int] = set()
    for counter in state.counters.values():
        for procedure in counter.procedures:
            if procedure.procedure_id in seen:
                continue
            seen.add(procedure.procedure_id)
            line = state.queues.get(procedure.queue_id) if procedure.queue_id is not None else None
            if line is None:
                if counter.is_active:
                    tiles.append(Tile(procedure.procedure_id, procedure.procedure_name, counter.counter_id,
                                      counter.name, (counter.shown_number,), counter.waiting_count,
                                      counter.average_wait_time, procedure.field_id))
                continue
            serving = [state.counters[c] for c in line.counter_ids if c in state.counters]
            if not any(c.is_active for c in serving):
                continue
            tiles.append(Tile(procedure.procedure_id, procedure.procedure_name, line.queue_id, line.name,
                              tuple(c.shown_number for c in serving), line.waiting_count, line.average_wait_time,
                              procedure.field_id))
    return tuple(tiles)


def fields_from_state(state: HubState, tiles: tuple[Tile, ...]) -> tuple[FieldTile, ...]:
    """The site's fields that have a procedure on offer, each with those procedures, in the site's order."""
    offered = {t.procedure_id for t in tiles}
    fields = []
    for site_field in state.fields:
        procedure_ids = tuple(p for p in site_field.procedure_ids if p in offered)
        if procedure_ids:
            fields.append(FieldTile(site_field.field_id, site_field.name, procedure_ids))
    return tuple(fields)


def ticket_from_payload(p: m.TicketCreatedPayload, counter_numbers: Mapping[int, int] | None = None) -> Ticket:
    """The ticket as the hub issued it; ``counter_numbers`` turns counter ids into the numbers on the desks."""
    numbers = counter_numbers or {}
    serving = p.counter_ids or [p.counter_id]
    reason: m.PriorityReason | None = None
    if p.priority and p.priority_reason in get_args(m.PriorityReason):
        reason = p.priority_reason  # type: ignore[assignment]
    return Ticket(number=p.ticket_number, queue_id=p.queue_id or p.counter_id,
                  queue_name=p.queue_name or p.counter_name,
                  counter_numbers=tuple(numbers.get(c, c) for c in serving), procedure_name=p.procedure_name,
                  created_at=m.parse_timestamp(p.created_at), people_ahead=p.people_ahead,
                  wait_minutes=p.estimated_wait_time, label=p.ticket_label, priority=p.priority,
                  priority_reason=reason, ticket_code=p.ticket_code, service_day=p.service_day,
                  request_id=p.request_id)


@dataclass
class _Request:
    tile: Tile
    request_id: str | None = None


@dataclass
class _PrinterHealth:
    fault: str | None = None
    fault_detail: str = ""
    # Paper low from the printer's own sensor or from the kiosk's GPIO sensor.
    paper_low_reported: bool = False
    paper_low_sensor: bool = False

    @property
    def warning(self) -> str | None:
        return "paper_low" if self.paper_low_reported or self.paper_low_sensor else None

    def report(self) -> tuple[str, str]:
        if self.fault is not None:
            return "fault", self.fault
        if self.warning is not None:
            return "warning", self.warning
        return "ok", "ok"


@dataclass
class KioskModel:
    language: Language = "vi"
    result_seconds: float = 6.0
    # A print not finished by then is a "timeout" fault (the printer's own timeouts should come first).
    print_watchdog_seconds: float = 30.0

    default_language: Language = field(init=False)
    screen: Screen = field(init=False, default="home")
    connected: bool = field(init=False, default=False)
    site_name: str = field(init=False, default="")
    public_url: str | None = field(init=False, default=None)
    tiles: tuple[Tile, ...] = field(init=False, default=())
    fields: tuple[FieldTile, ...] = field(init=False, default=())
    # Whether the site groups its procedures into fields (a two-level menu), even if none is open now.
    has_fields: bool = field(init=False, default=False)
    menu: Menu = field(init=False, default_factory=Menu)
    ticket: Ticket | None = field(init=False, default=None)
    refused_code: str = field(init=False, default="")
    _request: _Request | None = field(init=False, default=None)
    _job_id: int = field(init=False, default=0)
    _printing_job: int | None = field(init=False, default=None)
    _screen_since: float = field(init=False, default=0.0)
    _screen_until: float | None = field(init=False, default=None)
    _print_deadline: float | None = field(init=False, default=None)
    _next_printer_check: float | None = field(init=False, default=None)
    _printer: _PrinterHealth = field(init=False, default_factory=_PrinterHealth)
    # What the hub was last told about each component, to report changes only (and again on reconnect).
    _reported: dict[str, ReportDevice] = field(init=False, default_factory=dict)
    _all_procedures: frozenset[int] = field(init=False, default=frozenset())
    _counter_numbers: Mapping[int, int] = field(init=False, default_factory=dict)
    _menu_touched: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.default_language = self.language

    # --- the hub -------------------------------------------------------------------------------

    def hub_changed(self, state: HubState) -> None:
        """The client's mirror changed: tiles, fields, site name."""
        self.site_name = state.site_name or self.site_name
        self.tiles = tiles_from_state(state)
        self.fields = fields_from_state(state, self.tiles)
        self.has_fields = bool(state.fields)
        self._all_procedures = frozenset(p.procedure_id for c in state.counters.values() for p in c.procedures)
        self._counter_numbers = {c.counter_id: c.shown_number for c in state.counters.values()}
        if self.menu.field_id is not None and self._field(self.menu.field_id) is None:
            # Every queue of the open field just closed: back to the fields, where the others are.
            self.menu = replace(self.menu, field_id=None)

    def snapshot(self, payload: m.SnapshotPayload) -> None:
        self.public_url = payload.public_url

    def connection_changed(self, connected: bool, now: float) -> list[Effect]:
        was = self.connected
        self.connected = connected
        if connected and not was:
            # Reports sent while down were lost, and a restarted hub knows nothing: tell it again.
            return list(self._reported.values())
        return []

    # --- the menus -------------------------------------------------------------------------------

    @property
    def _menu_open(self) -> bool:
        """The home screen is up and taking touches (not a request, result or outage)."""
        return self.screen == "home" and self.connected

    def _field(self, field_id: int) -> FieldTile | None:
        return next((f for f in self.fields if f.field_id == field_id), None)

    @property
    def level(self) -> MenuLevel:
        if self.menu.priority and self.menu.reason is None:
            return "reasons"
        if self.has_fields and self.menu.field_id is None:
            return "fields"
        return "procedures"

    def open_field(self, field_id: int, now: float) -> list[Effect]:
        """A field's tile: its procedures."""
        if self._menu_open and self.level == "fields" and self._field(field_id) is not None:
            self._move(replace(self.menu, field_id=field_id), now)
        return []

    def open_priority(self, now: float) -> list[Effect]:
        """The priority entry (on screen, or the priority button): which priority applies?"""
        if self._menu_open:
            self._move(Menu(priority=True), now)
        return []

    def choose_reason(self, reason: m.PriorityReason, now: float) -> list[Effect]:
        """A priority reason's tile: then the fields and procedures, for a priority ticket."""
        if self._menu_open and self.level == "reasons" and reason in PRIORITY_REASONS:
            self._move(replace(self.menu, reason=reason), now)
        return []

    def back(self, now: float) -> list[Effect]:
        """"Quay lại": one level up."""
        if self._menu_open:
            self._move(self.menu.back(), now)
        return []

    def _move(self, menu: Menu, now: float) -> None:
        self.menu = menu
        self._menu_touched = now

    def tap(self, procedure_id: int, now: float) -> list[Effect]:
        """A citizen chose a procedure (on screen or with a physical button); a priority ticket once a
        priority reason has been chosen."""
        if not self._menu_open:
            return []  # a request is in flight, a result is showing, or the hub is unreachable
        tile = next((t for t in self.tiles if t.procedure_id == procedure_id), None)
        if tile is None:
            # A physical button for a procedure no open counter serves (or that the site no longer has):
            # say so rather than do nothing.
            self.refused_code = "COUNTER_PAUSED" if procedure_id in self._all_procedures else "COUNTER_NOT_FOUND"
            self._set_screen("refused", now, until=now + REFUSED_SECONDS)
            return []
        self._request = _Request(tile)
        self.ticket = None
        self._set_screen("printing", now)
        reason = self.menu.reason
        return [RequestTicket(tile.procedure_id, tile.queue_id, priority=reason is not None, priority_reason=reason)]

    def request_sent(self, request_id: str) -> None:
        """The client took the request under ``request_id``; its answer will carry it."""
        if self._request is not None and self._request.request_id is None:
            self._request.request_id = request_id

    def ticket_created(self, payload: m.TicketCreatedPayload, now: float) -> list[Effect]:
        request = self._request
        if request is None or request.request_id is None or payload.request_id != request.request_id:
            return []  # another kiosk's ticket (never sent to us) or an answer already handled
        self._request = None
        self.ticket = ticket_from_payload(payload, self._counter_numbers)
        return self._print(now)

    def request_refused(self, payload: m.ErrorPayload, now: float) -> list[Effect]:
        request = self._request
        if request is None or request.request_id is None or payload.request_id != request.request_id:
            return []
        self._request = None
        self.refused_code = payload.error_code
        self._set_screen("refused", now, until=now + REFUSED_SECONDS)
        return []

    @property
    def pending_request_id(self) -> str | None:
        return self._request.request_id if self._request is not None else None

    # --- the printer ---------------------------------------------------------------------------

    def _print(self, now: float) -> list[Effect]:
        assert self.ticket is not None
        self._job_id += 1
        self._printing_job = self._job_id
        self._print_deadline = now + self.print_watchdog_seconds
        self._set_screen("printing", now)
        return [PrintTicket(self._job_id, self.ticket, self.language)]

    def print_finished(self, job_id: int, now: float, *, paper_low: bool = False) -> list[Effect]:
        if job_id != self._printing_job:
            return []  # a job the watchdog already gave up on
        self._printing_job = self._print_deadline = None
        self._printer.fault = None
        self._printer.paper_low_reported = paper_low
        self._next_printer_check = now + PRINTER_ROUTINE_CHECK_SECONDS  # a good print is as good as a check
        self._set_screen("result", now, until=now + self.result_seconds)
        return self._printer_report()

    def print_failed(self, job_id: int, code: str, detail: str, now: float) -> list[Effect]:
        if job_id != self._printing_job:
            return []
        self._printing_job = self._print_deadline = None
        self._printer.fault, self._printer.fault_detail = code, detail
        self._next_printer_check = now + PRINTER_CHECK_SECONDS
        self._set_screen("print_failed", now, until=now + PRINT_FAILED_SECONDS)
        return self._printer_report()

    def printer_checked(self, fault: str | None, detail: str, now: float, *, paper_low: bool = False) -> list[Effect]:
        """The result of a printer check (at start, and periodically while faulty)."""
        self._printer.fault, self._printer.fault_detail = fault, detail
        self._printer.paper_low_reported = paper_low
        self._next_printer_check = now + (PRINTER_CHECK_SECONDS if fault is not None
                                          else PRINTER_ROUTINE_CHECK_SECONDS)
        return self._printer_report()

    def paper_sensor(self, low: bool) -> list[Effect]:
        """The GPIO paper-low sensor changed."""
        self._printer.paper_low_sensor = low
        return self._printer_report()

    def reprint(self, now: float) -> list[Effect]:
        if self.screen != "print_failed" or self.ticket is None:
            return []
        return self._print(now)

    def dismiss(self, now: float) -> list[Effect]:
        """"Done" on the result or fault screen, or a tap on the result screen."""
        if self.screen == "result" and now - self._screen_since < RESULT_MIN_SECONDS:
            return []
        if self.screen in ("result", "print_failed", "refused"):
            self._go_home(now)
        return []

    def _printer_report(self) -> list[Effect]:
        status, code = self._printer.report()
        detail = self._printer.fault_detail if status == "fault" else ""
        return self._report(ReportDevice("printer", status, code, detail))  # type: ignore[arg-type]

    # --- other devices -----------------------------------------------------------------------------

    def device_problem(self, component: Literal["gpio", "display"], status: Literal["ok", "warning", "fault"],
                       code: str, detail: str = "") -> list[Effect]:
        return self._report(ReportDevice(component, status, code, detail))

    def _report(self, report: ReportDevice) -> list[Effect]:
        previous = self._reported.get(report.component)
        if previous is not None and (previous.status, previous.code) == (report.status, report.code):
            return []
        if previous is None and report.status == "ok":
            return []  # nothing was wrong: nothing to say
        self._reported[report.component] = report
        return [report]

    # --- language, time --------------------------------------------------------------------------

    def toggle_language(self) -> None:
        if self.screen == "home":
            self.language = "en" if self.language == "vi" else "vi"

    def tick(self, now: float) -> list[Effect]:
        effects: list[Effect] = []
        if self._print_deadline is not None and now >= self._print_deadline:
            job = self._printing_job
            assert job is not None
            effects += self.print_failed(job, "timeout", "the print job did not finish", now)
        if self._screen_until is not None and now >= self._screen_until:
            self._go_home(now)
        if self.screen == "home" and self.menu != Menu() and now - self._menu_touched >= MENU_IDLE_SECONDS:
            self.menu = Menu()  # left half-way: the next citizen starts at the top
        if self._next_printer_check is None:
            self._next_printer_check = now + PRINTER_ROUTINE_CHECK_SECONDS
        elif now >= self._next_printer_check and self._printing_job is None:
            self._next_printer_check = now + (PRINTER_CHECK_SECONDS if self._printer.fault is not None
                                              else PRINTER_ROUTINE_CHECK_SECONDS)
            effects.append(CheckPrinter())
        return effects

    def _set_screen(self, screen: Screen, now: float, until: float | None = None) -> None:
        self.screen = screen
        self._screen_since = now
        self._screen_until = until

    def _go_home(self, now: float) -> None:
        self._set_screen("home", now)
        self.ticket = None
        self.refused_code = ""
        # The next citizen starts in the kiosk's own language, at the top of the menus.
        self.language = self.default_language
        self.menu = Menu()

    # --- output --------------------------------------------------------------------------------------

    @property
    def printer_fault(self) -> str | None:
        return self._printer.fault

    def led_mode(self) -> LedMode:
        """Fast blink: the printer needs someone; slow blink: the hub is unreachable; steady: all well."""
        if self._printer.fault is not None:
            return "fast_blink"
        if not self.connected:
            return "slow_blink"
        return "on"

    def view(self, now: float, clock: str = "") -> View:
        screen: Screen = self.screen
        waiting_for_hub = self.screen == "printing" and self.ticket is None
        if not self.connected and (self.screen in ("home", "refused") or waiting_for_hub):
            screen = "unreachable"
        countdown = None
        if self.screen == "result" and self._screen_until is not None:
            countdown = max(0, int(self._screen_until - now + 0.999))
        problem = self._printer.fault or self._printer.warning
        level: MenuLevel = self.level
        tiles: tuple[Tile, ...] = ()
        fields: tuple[FieldTile, ...] = ()
        field_name = ""
        if screen == "home":
            level, tiles, fields, field_name = self._menu_items()
        return View(
            screen=screen,
            language=self.language,
            site_name=self.site_name,
            clock=clock,
            ticket=self.ticket,
            printer_problem=problem,
            printer_fault=self._printer.fault is not None,
            refused_code=self.refused_code if screen == "refused" else "",
            request_pending=waiting_for_hub,
            countdown=countdown,
            level=level,
            tiles=tiles,
            fields=fields,
            field_name=field_name,
            priority_flow=self.menu.priority and screen == "home",
            priority_reason=self.menu.reason if screen == "home" else None,
        )

    def _menu_items(self) -> tuple[MenuLevel, tuple[Tile, ...], tuple[FieldTile, ...], str]:
        """The menu's level, the procedures and fields it offers, and the open field's name."""
        level = self.level
        if level == "reasons":
            return level, (), (), ""
        if level == "fields":
            # Procedures the site left out of every field are offered beside the fields.
            grouped = {p for f in self.fields for p in f.procedure_ids}
            return level, tuple(t for t in self.tiles if t.procedure_id not in grouped), self.fields, ""
        open_field = self._field(self.menu.field_id) if self.menu.field_id is not None else None
        if open_field is None:
            return level, self.tiles, (), ""
        by_id = {t.procedure_id: t for t in self.tiles}
        return level, tuple(by_id[p] for p in open_field.procedure_ids if p in by_id), (), open_field.name


__all__ = [
    "MENU_IDLE_SECONDS", "PRIORITY_REASONS", "CheckPrinter", "Effect", "FieldTile", "KioskModel", "Menu",
    "MenuLevel", "PrintTicket", "ReportDevice", "RequestTicket", "Ticket", "Tile", "View", "fields_from_state",
    "ticket_from_payload", "tiles_from_state",
]
