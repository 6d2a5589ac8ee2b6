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

The hub being unreachable is not a screen of its own but a condition: home,
and a request still waiting for the hub, are covered by the "unreachable"
view until the connection is back. A request in flight stays in flight: the
client library resends it with the same ``request_id`` after reconnecting and
the hub answers with the one ticket it made, so nothing is printed that the
hub does not know about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from kiosk_node.i18n import Language
from protocol import messages as m
from protocol.client import HubState

Screen = Literal["home", "printing", "result", "print_failed", "refused", "unreachable"]
LedMode = Literal["on", "slow_blink", "fast_blink"]

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
    """One procedure a citizen can take a number for."""

    procedure_id: int
    procedure_name: str
    counter_id: int
    counter_name: str
    waiting_count: int
    wait_minutes: int


@dataclass(frozen=True)
class Ticket:
    """A ticket the hub issued to this kiosk: what is printed and shown."""

    number: int
    counter_id: int
    counter_name: str
    procedure_name: str
    created_at: datetime
    people_ahead: int
    wait_minutes: int
    ticket_code: str | None = None
    service_day: str | None = None
    request_id: str | None = None


# --- effects: what the app must do -------------------------------------------------------------


@dataclass(frozen=True)
class RequestTicket:
    counter_id: int
    procedure_id: int


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
class View:
    screen: Screen
    language: Language
    site_name: str
    clock: str = ""
    tiles: tuple[Tile, ...] = ()
    ticket: Ticket | None = None
    # The printer problem code (a fault, or "paper_low"), for the banner and the fault screen.
    printer_problem: str | None = None
    printer_fault: bool = False
    refused_code: str = ""
    # Unreachable while a request waits for the hub.
    request_pending: bool = False
    # Whole seconds until the result screen closes.
    countdown: int | None = None


def tiles_from_state(state: HubState) -> tuple[Tile, ...]:
    """One tile per procedure of every active counter, in the hub's order."""
    tiles = []
    for counter in state.counters.values():
        if not counter.is_active:
            continue
        for procedure in counter.procedures:
            tiles.append(Tile(procedure.procedure_id, procedure.procedure_name, counter.counter_id, counter.name,
                              counter.waiting_count, counter.average_wait_time))
    return tuple(tiles)


def ticket_from_payload(p: m.TicketCreatedPayload) -> Ticket:
    return Ticket(number=p.ticket_number, counter_id=p.counter_id, counter_name=p.counter_name,
                  procedure_name=p.procedure_name, created_at=m.parse_timestamp(p.created_at),
                  people_ahead=p.people_ahead, wait_minutes=p.estimated_wait_time, ticket_code=p.ticket_code,
                  service_day=p.service_day, request_id=p.request_id)


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

    def __post_init__(self) -> None:
        self.default_language = self.language

    # --- the hub -------------------------------------------------------------------------------

    def hub_changed(self, state: HubState) -> None:
        """The client's mirror changed: tiles, site name."""
        self.site_name = state.site_name or self.site_name
        self.tiles = tiles_from_state(state)
        self._all_procedures = frozenset(p.procedure_id for c in state.counters.values() for p in c.procedures)

    def snapshot(self, payload: m.SnapshotPayload) -> None:
        self.public_url = payload.public_url

    def connection_changed(self, connected: bool, now: float) -> list[Effect]:
        was = self.connected
        self.connected = connected
        if connected and not was:
            # Reports sent while down were lost, and a restarted hub knows nothing: tell it again.
            return list(self._reported.values())
        return []

    def tap(self, procedure_id: int, now: float) -> list[Effect]:
        """A citizen chose a procedure (on screen or with a physical button)."""
        if self.screen != "home" or not self.connected:
            return []  # a request is in flight, a result is showing, or the hub is unreachable
        tile = next((t for t in self.tiles if t.procedure_id == procedure_id), None)
        if tile is None:
            # A physical button for a procedure whose counter is paused (or that the site no longer has):
            # say so rather than do nothing.
            self.refused_code = "COUNTER_PAUSED" if procedure_id in self._all_procedures else "COUNTER_NOT_FOUND"
            self._set_screen("refused", now, until=now + REFUSED_SECONDS)
            return []
        self._request = _Request(tile)
        self.ticket = None
        self._set_screen("printing", now)
        return [RequestTicket(tile.counter_id, tile.procedure_id)]

    def request_sent(self, request_id: str) -> None:
        """The client took the request under ``request_id``; its answer will carry it."""
        if self._request is not None and self._request.request_id is None:
            self._request.request_id = request_id

    def ticket_created(self, payload: m.TicketCreatedPayload, now: float) -> list[Effect]:
        request = self._request
        if request is None or request.request_id is None or payload.request_id != request.request_id:
            return []  # another kiosk's ticket (never sent to us) or an answer already handled
        self._request = None
        self.ticket = ticket_from_payload(payload)
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
        # The next citizen starts in the kiosk's own language.
        self.language = self.default_language

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
        return View(
            screen=screen,
            language=self.language,
            site_name=self.site_name,
            clock=clock,
            tiles=self.tiles if screen == "home" else (),
            ticket=self.ticket,
            printer_problem=problem,
            printer_fault=self._printer.fault is not None,
            refused_code=self.refused_code if screen == "refused" else "",
            request_pending=waiting_for_hub,
            countdown=countdown,
        )


__all__ = [
    "CheckPrinter", "Effect", "KioskModel", "PrintTicket", "ReportDevice", "RequestTicket", "Ticket", "Tile",
    "View", "ticket_from_payload", "tiles_from_state",
]
