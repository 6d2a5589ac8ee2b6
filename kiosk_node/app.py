"""The kiosk program: the model, the screen, the hub client, the printer and GPIO, wired together.

One frame is :meth:`KioskApp.step`: take what happened since the last frame
(taps, the hub's messages, GPIO presses, the printer's results), feed it to
the model, carry out the effects, and redraw if the view changed. Nothing in a
frame blocks: the hub client runs on its own thread (``poll()`` never waits),
printing and printer checks run on :class:`PrintWorker`'s thread, and
gpiozero's callbacks only queue an event. :meth:`KioskApp.run` repeats frames
at a low rate when idle and a high one while a ticket is on its way, so a tap
is answered within one frame and an idle kiosk uses almost no CPU. Tests call
:meth:`step` themselves.

The screen comes first, then the hub, then the printer: the hub client's
thread starts once the first frame is drawn and loads asyncio and websockets;
the print worker's warm-up (Pillow, qrcode, python-escpos) waits until the
client has connected or failed a first time, so the two do not share the CPU
while the menu waits for the hub. Until the client has registered with the
hub the frames show the kiosk as unreachable, as after any drop, and a tap
takes no ticket.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pygame

from appliance import sd_notify
from appliance.node_config import GpioConfig
from display.fonts import FontFiles
from kiosk_node import i18n
from kiosk_node.gpio import (
    ButtonPressed,
    GpioEvent,
    GpioPanel,
    GpioUnavailable,
    PaperLow,
    PriorityPressed,
    gpio_configured,
)
from kiosk_node.model import (
    CheckPrinter,
    Effect,
    KioskModel,
    PrintTicket,
    ReportDevice,
    RequestTicket,
    Ticket,
)
from kiosk_node.printer import Printer, PrinterFault, PrintReport, open_printer
from kiosk_node.ticket import TicketContext, local_time, render_ticket, sample_ticket
from kiosk_node.ui import Button, FieldAction, KioskUI, ProcedureAction, ReasonAction
from protocol import messages as m
from protocol.client import HubClientConfig, HubEvent, HubState, NotConnected, ThreadedHubClient

log = logging.getLogger("qms.kiosk")

# Frames a second: idle (a tap still shows within 1/IDLE_FPS s) and while a ticket is on its way.
IDLE_FPS = 20
BUSY_FPS = 60
WAKE_EVENT = pygame.USEREVENT


# --- the print worker -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrintDone:
    job_id: int
    report: PrintReport


@dataclass(frozen=True)
class PrintFailed:
    job_id: int
    code: str
    detail: str


@dataclass(frozen=True)
class PrinterChecked:
    fault: str | None
    detail: str = ""
    paper_low: bool = False


PrintResult = PrintDone | PrintFailed | PrinterChecked

# The printer thread's warm-up waits at most this long to be let go (a kiosk whose frames never run still prints).
WARM_UP_WAIT = 5.0
# After the first frame, the warm-up is let go when the hub client has connected or failed a first time, or this
# long after the client started (a hub that does not answer at all): the printer check queued behind it waits no longer.
HUB_FIRST_ATTEMPT_WAIT = 2.0


class PrintWorker:
    """Renders and prints tickets, and checks the printer, on a thread of its own, one job at a time."""

    def __init__(self, printer: Printer, on_result: Callable[[PrintResult], None]):
        self.printer = printer
        self._on_result = on_result
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        # Set by the kiosk once its screen and its hub connection are under way: the warm-up waits for it (see _run).
        self.may_warm_up = threading.Event()

    def start(self, warm_up: TicketContext | None = None) -> None:
        self._thread = threading.Thread(target=self._run, args=(warm_up,), name="kiosk-printer", daemon=True)
        self._thread.start()

    def print_ticket(self, job_id: int, ticket: Ticket, context: TicketContext, language: i18n.Language) -> None:
        self._jobs.put(("print", job_id, ticket, context, language))

    def check(self) -> None:
        self._jobs.put(("check",))

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            return
        self._jobs.put(None)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("the printer thread did not stop within %.0f s (a printer still busy?)", timeout)
        self._thread = None

    def _run(self, warm_up: TicketContext | None) -> None:
        if warm_up is not None:
            # The screen and the hub first: Pillow, the QR encoder and python-escpos are imported by the
            # warm-up, here, once the citizen sees the menu (bounded: a kiosk whose screen never steps still prints).
            self.may_warm_up.wait(WARM_UP_WAIT)
            try:
                # Loads fonts, the QR encoder and python-escpos now, not on the first citizen's ticket.
                from kiosk_node.printer import escpos_bytes

                escpos_bytes(render_ticket(sample_ticket(datetime.now(UTC)), warm_up), warm_up.width)
            except Exception:  # noqa: BLE001 - a warm-up problem shows up again, properly, on the first ticket
                log.debug("warm-up failed", exc_info=True)
        while True:
            job = self._jobs.get()
            if job is None:
                return
            if job[0] == "check":
                self._on_result(self._check())
            else:
                _, job_id, ticket, context, language = job
                self._on_result(self._print(job_id, ticket, context, language))

    def _check(self) -> PrinterChecked:
        try:
            return PrinterChecked(None, "", self.printer.check())
        except PrinterFault as fault:
            return PrinterChecked(fault.code, fault.detail)
        except Exception as exc:  # noqa: BLE001 - a bug in a driver must show as a fault, not kill the thread
            log.exception("checking the printer failed")
            return PrinterChecked("error", f"{type(exc).__name__}: {exc}"[:200])

    def _print(self, job_id: int, ticket: Ticket, context: TicketContext, language: i18n.Language) -> PrintResult:
        try:
            image = render_ticket(ticket, context, language)
            report = self.printer.print_image(image, f"q{ticket.queue_id}-{ticket.number}")
        except PrinterFault as fault:
            log.warning("ticket %s not printed: %s", ticket.number, fault)
            return PrintFailed(job_id, fault.code, fault.detail)
        except Exception as exc:  # noqa: BLE001
            log.exception("printing ticket %s failed", ticket.number)
            return PrintFailed(job_id, "error", f"{type(exc).__name__}: {exc}"[:200])
        log.info("printed ticket %s (queue %s)", ticket.shown_label, ticket.queue_id)
        return PrintDone(job_id, report)


# --- the app ---------------------------------------------------------------------------------------------


@dataclass
class KioskSettings:
    """Everything the kiosk is told at start (from node.toml and the command line)."""

    client: HubClientConfig
    fonts: FontFiles
    printer: str = "virtual:/var/lib/qms-kiosk/tickets"
    paper_width_dots: int = 576
    printer_profile: str = ""
    printer_timeout: float = 5.0
    result_seconds: float = 6.0
    language: i18n.Language = "vi"
    size: tuple[int, int] = (0, 0)
    fullscreen: bool = True
    rotation: int = 0
    screenshot: Path | None = None
    gpio: GpioConfig = field(default_factory=GpioConfig)


class KioskApp:
    def __init__(self, settings: KioskSettings, *, client: ThreadedHubClient | None = None,
                 printer: Printer | None = None):
        self.settings = settings
        self.model = KioskModel(language=settings.language, result_seconds=settings.result_seconds,
                                print_watchdog_seconds=3 * settings.printer_timeout + 10)
        self.client = client or ThreadedHubClient(settings.client)
        self.printer = printer or open_printer(settings.printer, paper_width_dots=settings.paper_width_dots,
                                               profile=settings.printer_profile, timeout=settings.printer_timeout)
        self.ui = KioskUI(settings.fonts, settings.size, rotation=settings.rotation,
                          fullscreen=settings.fullscreen)
        self.gpio: GpioPanel | None = None
        self._results: queue.SimpleQueue[PrintResult] = queue.SimpleQueue()
        self._gpio_events: queue.SimpleQueue[GpioEvent] = queue.SimpleQueue()
        self.worker = PrintWorker(self.printer, self._print_result)
        self._state: HubState | None = None
        self._clock_key: tuple[int, str] | None = None
        self._clock_text = ""
        self._quit = False
        self._hub_trouble_logged = False
        self._frame_clock: pygame.time.Clock | None = None
        self._hub_client_started_at: float | None = None
        # The hub client has connected or failed at least once (any HubEvent).
        self._hub_answered = False
        # Frames run and frames drawn (diagnostics, the bench).
        self.frames = 0
        self.redraws = 0

    # --- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> None:
        """Open the screen and the printer; the hub client starts after the first frame (see the module)."""
        self.ui.open()
        self._frame_clock = pygame.time.Clock()
        self.worker.start(warm_up=self._ticket_context())
        self.worker.check()
        if gpio_configured(self.settings.gpio):
            try:
                self.gpio = GpioPanel(self.settings.gpio, self._gpio_event)
            except GpioUnavailable as exc:
                log.error("GPIO is configured but unavailable: %s", exc)
                self._carry_out(self.model.device_problem("gpio", "fault", "gpio_unavailable", str(exc)[:200]))
            else:
                if self.gpio.paper_low:
                    self._carry_out(self.model.paper_sensor(True))

    def close(self) -> None:
        if self.gpio is not None:
            self.gpio.close()
            self.gpio = None
        self.worker.stop()
        self.client.stop()
        self.printer.close()
        self.ui.close()

    def stop(self) -> None:
        """Make :meth:`run` return after the current frame (any thread; SIGTERM's handler)."""
        self._quit = True

    def __enter__(self) -> KioskApp:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def run(self, stop: threading.Event | None = None) -> None:
        """Frames until :meth:`stop`, the window closing or ``stop`` being set; systemd is kept informed."""
        assert self._frame_clock is not None, "start() first"
        self.step()
        # Up once the screen shows something, hub or no hub (Type=notify in qms-kiosk.service).
        sd_notify.ready(f"kiosk {self.settings.client.client_id}: screen up, hub {self.settings.client.url}")
        self._after_frame(time.monotonic())
        # Pinged from the frame loop itself: a frozen screen stops the pings and systemd restarts the kiosk.
        watchdog = sd_notify.Watchdog()
        while not self._quit and not (stop is not None and stop.is_set()):
            self.step()
            watchdog.ping_if_due()
            self._frame_clock.tick(BUSY_FPS if self.busy else IDLE_FPS)
        sd_notify.stopping()

    @property
    def busy(self) -> bool:
        """A ticket is on its way: frames come fast so the hub's answer is acted on at once."""
        return self.model.screen == "printing"

    # --- one frame ----------------------------------------------------------------------------------------

    def step(self) -> bool:
        """One frame; whether the kiosk should keep running."""
        now = time.monotonic()
        self.frames += 1
        effects: list[Effect] = []
        for event in pygame.event.get():
            effects += self._on_pygame(event, now)
        for item in self.client.poll():
            effects += self._on_hub(item, now)
        state = self.client.state
        if state is not self._state:
            self._state = state
            self.model.hub_changed(state)
            if state.connected != self.model.connected:
                effects += self.model.connection_changed(state.connected, now)
        effects += self._drain_gpio(now)
        effects += self._drain_results(now)
        effects += self.model.tick(now)
        self._carry_out(effects)
        if self.gpio is not None:
            self.gpio.set_led(self.model.led_mode())
        if self.ui.draw(self.model.view(now, self._clock())):
            self.redraws += 1
            if self.settings.screenshot is not None:
                try:
                    self.ui.screenshot(self.settings.screenshot)
                except (OSError, pygame.error) as exc:
                    log.warning("cannot write the screenshot %s: %s", self.settings.screenshot, exc)
        if self.frames > 1:
            self._after_frame(now)  # run() calls it after the first frame's READY=1
        return not self._quit

    def _after_frame(self, now: float) -> None:
        """A frame is on screen: the hub client's thread starts after the first, the printer's warm-up after the
        hub's first answer (see the module)."""
        if self._hub_client_started_at is None:
            self._hub_client_started_at = now
            self.client.start()
        if self._hub_answered or now - self._hub_client_started_at >= HUB_FIRST_ATTEMPT_WAIT:
            self.worker.may_warm_up.set()

    def _on_pygame(self, event: pygame.event.Event, now: float) -> list[Effect]:
        escape = event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE and not self.settings.fullscreen
        if event.type == pygame.QUIT or escape:
            self._quit = True
        elif event.type in (pygame.WINDOWEXPOSED, pygame.VIDEOEXPOSE):
            self.ui.invalidate()
        elif event.type == pygame.FINGERDOWN:
            width, height = self.ui.rotation.physical
            return self._tap((event.x * width, event.y * height), now)
        elif event.type == pygame.MOUSEBUTTONDOWN and event.button == 1 and not getattr(event, "touch", False):
            # A touch also arrives as a synthesised mouse click (touch=True): acted on once, as FINGERDOWN.
            return self._tap(event.pos, now)
        return []

    def _tap(self, position: tuple[float, float], now: float) -> list[Effect]:
        action = self.ui.hit(position)
        if isinstance(action, ProcedureAction):
            return self.model.tap(action.procedure_id, now)
        if isinstance(action, FieldAction):
            return self.model.open_field(action.field_id, now)
        if isinstance(action, ReasonAction):
            return self.model.choose_reason(action.reason, now)
        if isinstance(action, Button):
            if action.name == "priority":
                return self.model.open_priority(now)
            if action.name == "back":
                return self.model.back(now)
            if action.name == "language":
                self.model.toggle_language()
            elif action.name == "next_page":
                self.ui.turn_page(1)
            elif action.name == "previous_page":
                self.ui.turn_page(-1)
            elif action.name == "reprint":
                return self.model.reprint(now)
            elif action.name in ("done", "dismiss"):
                return self.model.dismiss(now)
        return []

    def _on_hub(self, item: m.ServerMessage | HubEvent, now: float) -> list[Effect]:
        if isinstance(item, HubEvent):
            self._hub_answered = True
            if item.kind == "connected":
                self._hub_trouble_logged = False
            elif item.kind == "auth_failed" or not self._hub_trouble_logged:
                # Once per outage: a hub down for an hour must not write 700 lines to the journal.
                log.warning("hub %s: %s: %s", self.settings.client.url, item.kind, item.message)
                self._hub_trouble_logged = True
            return []
        if isinstance(item, m.Snapshot):
            self.model.snapshot(item.payload)
        elif isinstance(item, m.TicketCreated):
            return self.model.ticket_created(item.payload, now)
        elif isinstance(item, m.Error):
            if item.payload.request_id is not None and item.payload.request_id == self.model.pending_request_id:
                log.warning("the hub refused the ticket request: %s %s", item.payload.error_code,
                            item.payload.message)
                return self.model.request_refused(item.payload, now)
            log.warning("hub error: %s %s", item.payload.error_code, item.payload.message)
        return []

    # --- other threads hand over here -------------------------------------------------------------------

    def _wake(self) -> None:
        with contextlib.suppress(pygame.error):  # the display is closing: nobody to wake
            pygame.event.post(pygame.event.Event(WAKE_EVENT))

    def _gpio_event(self, event: GpioEvent) -> None:
        """Called on gpiozero's thread."""
        self._gpio_events.put(event)
        self._wake()

    def _print_result(self, result: PrintResult) -> None:
        """Called on the print worker's thread."""
        self._results.put(result)
        self._wake()

    def _drain_gpio(self, now: float) -> list[Effect]:
        effects: list[Effect] = []
        while True:
            try:
                event = self._gpio_events.get_nowait()
            except queue.Empty:
                return effects
            if isinstance(event, ButtonPressed):
                log.info("button for procedure %s pressed", event.procedure_id)
                effects += self.model.tap(event.procedure_id, now)
            elif isinstance(event, PriorityPressed):
                log.info("priority button pressed")
                effects += self.model.open_priority(now)
            elif isinstance(event, PaperLow):
                effects += self.model.paper_sensor(event.low)

    def _drain_results(self, now: float) -> list[Effect]:
        effects: list[Effect] = []
        while True:
            try:
                result = self._results.get_nowait()
            except queue.Empty:
                return effects
            if isinstance(result, PrintDone):
                effects += self.model.print_finished(result.job_id, now, paper_low=result.report.paper_low)
            elif isinstance(result, PrintFailed):
                effects += self.model.print_failed(result.job_id, result.code, result.detail, now)
            else:
                effects += self.model.printer_checked(result.fault, result.detail, now, paper_low=result.paper_low)

    # --- effects -------------------------------------------------------------------------------------------

    def _carry_out(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, RequestTicket):
                self._request(effect)
            elif isinstance(effect, PrintTicket):
                self.worker.print_ticket(effect.job_id, effect.ticket, self._ticket_context(), effect.language)
            elif isinstance(effect, CheckPrinter):
                self.worker.check()
            elif isinstance(effect, ReportDevice):
                self._report(effect)

    def _request(self, effect: RequestTicket) -> None:
        try:
            request_id = self.client.request_ticket(procedure_id=effect.procedure_id, priority=effect.priority,
                                                    priority_reason=effect.priority_reason)
        except NotConnected as exc:  # the client thread is gone: nothing will answer
            log.error("cannot request a ticket: %s", exc)
            self.model.request_sent("local-failure")
            self._carry_out(self.model.request_refused(m.ErrorPayload(
                error_code="INTERNAL_ERROR", message=str(exc), timestamp="", request_id="local-failure"),
                time.monotonic()))
            return
        log.info("ticket requested for procedure %s (queue %s%s): %s", effect.procedure_id, effect.queue_id,
                 f", priority {effect.priority_reason}" if effect.priority else "", request_id)
        self.model.request_sent(request_id)

    def _report(self, report: ReportDevice) -> None:
        # In Vietnamese, for the admins' alert ("kiosk-001 (sảnh chính): máy in: Máy in hết giấy").
        if report.status == "ok":
            message = "Hoạt động bình thường"
        elif report.component == "printer":
            message = i18n.problem_title(report.code)
        else:
            message = "Không hoạt động, kiosk chỉ nhận chạm trên màn hình"
        log.log(logging.INFO if report.status == "ok" else logging.WARNING, "device status: %s %s %s (%s)",
                report.component, report.status, report.code, report.detail)
        status = m.DeviceStatus(m.DeviceStatusPayload(component=report.component, status=report.status,
                                                      code=report.code, message=message,
                                                      detail=report.detail[:200]))
        # Not connected: dropped here; the model reports again after reconnecting.
        self.client.send(status)

    # --- helpers ----------------------------------------------------------------------------------------------

    def _hub_state(self) -> HubState:
        return self._state or self.client.state

    def _ticket_context(self) -> TicketContext:
        state = self._hub_state()
        return TicketContext(site_name=self.model.site_name or state.site_name, width=self.settings.paper_width_dots,
                             fonts=self.settings.fonts, public_url=self.model.public_url,
                             timezone=state.timezone or "Asia/Ho_Chi_Minh")

    def _clock(self) -> str:
        """The hub's time as the hall reads it ("10:30 · 19/07/2025"), worked out once a minute."""
        state = self._hub_state()
        if not state.service_day:
            return ""  # no word from the hub yet: the Pi's own clock may be anything (no RTC battery)
        now = time.time() + state.server_time_offset
        key = (int(now // 60), state.timezone)
        if key != self._clock_key:
            self._clock_key = key
            local = local_time(datetime.fromtimestamp(now, UTC), state.timezone)
            self._clock_text = local.strftime("%H:%M · %d/%m/%Y")
        return self._clock_text
