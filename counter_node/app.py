"""The counter display program: the model, the screen, the hub client, the outbox file and GPIO, wired together.

One frame is :meth:`CounterApp.step`: take what happened since the last frame
(taps, the hub's messages, button presses), feed it to the model, carry out
the effects, and redraw if the view changed. Nothing in a frame waits: the
hub client runs on its own thread (``poll()`` never blocks, ``send()`` hands
the message to that thread), the outbox file is written on the outbox's own
thread, and gpiozero's callbacks only queue a press. :meth:`CounterApp.run`
repeats frames twenty times a second (a tap shows within 50 ms; a frame that
draws nothing costs well under a millisecond) and pings systemd's watchdog
from the loop itself. Tests call :meth:`step` and inject the clock.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pygame

from appliance import sd_notify
from appliance.node_config import CounterGpioConfig
from counter_node.gpio import CounterGpio, GpioUnavailable, RatingPressed, gpio_configured
from counter_node.model import ASK_SECONDS, THANKS_SECONDS, CounterModel, Effect, SaveOutbox, SendRating
from counter_node.outbox import Outbox
from counter_node.ui import CounterUI
from display.fonts import FontFiles
from protocol import messages as m
from protocol.client import HubClientConfig, HubEvent, HubState, ThreadedHubClient

log = logging.getLogger("qms.counter")

FPS = 20
WAKE_EVENT = pygame.USEREVENT


@dataclass
class CounterSettings:
    """Everything the display is told at start (from node.toml, the token and the command line)."""

    client: HubClientConfig
    counter_id: int
    fonts: FontFiles
    state_dir: Path = Path("/var/lib/qms-counter")
    ask_seconds: float = ASK_SECONDS
    thanks_seconds: float = THANKS_SECONDS
    size: tuple[int, int] = (0, 0)
    fullscreen: bool = True
    screenshot: Path | None = None
    gpio: CounterGpioConfig = field(default_factory=CounterGpioConfig)


class CounterApp:
    def __init__(self, settings: CounterSettings, *, client: ThreadedHubClient | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.clock = clock
        self.client = client or ThreadedHubClient(settings.client)
        self.outbox = Outbox(settings.state_dir)
        # Read once, before the first frame: what an earlier run tapped and the hub never acknowledged.
        self.model = CounterModel(settings.counter_id, ask_seconds=settings.ask_seconds,
                                  thanks_seconds=settings.thanks_seconds, pending=self.outbox.load())
        self.ui = CounterUI(settings.fonts, settings.size, fullscreen=settings.fullscreen,
                            title=f"qms-counter {settings.client.client_id}")
        self.gpio: CounterGpio | None = None
        self._presses: queue.SimpleQueue[RatingPressed] = queue.SimpleQueue()
        self._state: HubState | None = None
        self._quit = False
        self._hub_trouble_logged = False
        self._frame_clock: pygame.time.Clock | None = None
        self.frames = 0

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        self.ui.open()
        self._frame_clock = pygame.time.Clock()
        self.outbox.start()
        self.client.start()
        if gpio_configured(self.settings.gpio):
            try:
                self.gpio = CounterGpio(self.settings.gpio, self._gpio_press)
            except GpioUnavailable as exc:
                # The touchscreen still works: say so in the journal, do not refuse to start.
                log.error("GPIO is configured but unavailable (the touchscreen still works): %s", exc)

    def close(self) -> None:
        if self.gpio is not None:
            self.gpio.close()
            self.gpio = None
        self.client.stop()
        # The last ratings tapped are on disk before the program ends.
        self.outbox.close()
        self.ui.close()

    def stop(self) -> None:
        """Make :meth:`run` return after the current frame (any thread; SIGTERM's handler)."""
        self._quit = True

    def __enter__(self) -> CounterApp:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def run(self, stop: threading.Event | None = None) -> None:
        """Frames until :meth:`stop`, the window closing or ``stop`` being set; systemd is kept informed."""
        assert self._frame_clock is not None, "start() first"
        self.step()
        # Up once the screen shows something, hub or no hub (Type=notify in qms-counter.service).
        sd_notify.ready(f"counter display {self.settings.client.client_id} of counter {self.settings.counter_id}: "
                        f"screen up, hub {self.settings.client.url}")
        # Pinged from the frame loop itself: a frozen screen stops the pings and systemd restarts the node.
        watchdog = sd_notify.Watchdog()
        while not self._quit and not (stop is not None and stop.is_set()):
            self.step()
            watchdog.ping_if_due()
            self._frame_clock.tick(FPS)
        sd_notify.stopping()

    # --- one frame --------------------------------------------------------------------------------

    def step(self) -> bool:
        """One frame; whether the display should keep running."""
        now = self.clock()
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
        effects += self._drain_presses(now)
        effects += self.model.tick(now)
        self._carry_out(effects)
        if self.gpio is not None:
            self.gpio.set_led(self.model.led_mode())
        if self.ui.draw(self.model.view(now)) and self.settings.screenshot is not None:
            try:
                self.ui.screenshot(self.settings.screenshot)
            except (OSError, pygame.error) as exc:
                log.warning("cannot write the screenshot %s: %s", self.settings.screenshot, exc)
        return not self._quit

    def _on_pygame(self, event: pygame.event.Event, now: float) -> list[Effect]:
        escape = event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE and not self.settings.fullscreen
        if event.type == pygame.QUIT or escape:
            self._quit = True
        elif event.type in (pygame.WINDOWEXPOSED, pygame.VIDEOEXPOSE):
            self.ui.invalidate()
        elif event.type == pygame.FINGERDOWN:
            width, height = self.ui.size
            return self._tap((event.x * width, event.y * height), now)
        elif event.type == pygame.MOUSEBUTTONDOWN and event.button == 1 and not getattr(event, "touch", False):
            # A touch also arrives as a synthesised mouse click (touch=True): acted on once, as FINGERDOWN.
            return self._tap(event.pos, now)
        return []

    def _tap(self, position: tuple[float, float], now: float) -> list[Effect]:
        score = self.ui.hit(position)
        return self._rate(score, now, "touch") if score is not None else []

    def _rate(self, score: int, now: float, how: str) -> list[Effect]:
        # The hub's time as this display reckons it (CONNECTION_ACK's offset): what the hub checks the
        # 10-minute window against when the tap reaches it later.
        rated_at = m.utc_timestamp(self.client.state.hub_now())
        effects = self.model.tap(score, now, rated_at=rated_at, request_id=self.client.new_request_id())
        if effects:
            rating = self.model.pending[-1]
            log.info("rating %d (%s) for ticket %s: %s%s", score, how, rating.ticket_label, rating.request_id,
                     "" if self.model.connected else ", kept until the hub is back")
        return effects

    def _on_hub(self, item: m.ServerMessage | HubEvent, now: float) -> list[Effect]:
        if isinstance(item, HubEvent):
            if item.kind == "connected":
                self._hub_trouble_logged = False
                return self.model.connection_changed(True, now)
            if item.kind == "auth_failed" or not self._hub_trouble_logged:
                # Once per outage: a hub down for an hour must not write 700 lines to the journal.
                log.warning("hub %s: %s: %s", self.settings.client.url, item.kind, item.message)
                self._hub_trouble_logged = True
            return self.model.connection_changed(False, now)
        if isinstance(item, m.TicketUpdated):
            return self.model.ticket_updated(item.payload, now)
        if isinstance(item, m.RatingRecorded):
            recorded = item.payload
            log.info("the hub recorded rating %s of ticket %s (%s)", recorded.rating_id, recorded.ticket_number,
                     recorded.source)
            return self.model.rating_recorded(recorded)
        if isinstance(item, m.Error):
            error = item.payload
            log.warning("hub error: %s %s (%s %s)", error.error_code, error.message, error.message_type,
                        error.request_id)
            if error.message_type == "RATING":
                return self.model.rating_refused(error.request_id, error.error_code)
        return []

    # --- other threads hand over here -------------------------------------------------------------

    def _gpio_press(self, press: RatingPressed) -> None:
        """Called on gpiozero's thread."""
        self._presses.put(press)
        with contextlib.suppress(pygame.error):  # the display is closing: nobody to wake
            pygame.event.post(pygame.event.Event(WAKE_EVENT))

    def _drain_presses(self, now: float) -> list[Effect]:
        effects: list[Effect] = []
        while True:
            try:
                press = self._presses.get_nowait()
            except queue.Empty:
                return effects
            effects += self._rate(press.score, now, "button")

    # --- effects ----------------------------------------------------------------------------------

    def _carry_out(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, SaveOutbox):
                self.outbox.save(effect.ratings)
            elif isinstance(effect, SendRating):
                # Not connected after all: the future fails, the rating stays and goes after the reconnect.
                self.client.send(effect.rating.message())
