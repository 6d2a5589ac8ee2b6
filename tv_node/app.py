"""The TV's frame loop: poll the hub client, build the view, redraw what changed, hand calls to speech.

One frame (:meth:`TvApp.step`) never blocks: it takes what the hub client
received since the last frame (``ThreadedHubClient.poll()``), starts speech for
each TICKET_ANNOUNCEMENT (queued, synthesized and played on the audio
package's own threads), builds the view from the client's mirror, and draws
only the regions whose part of the view changed. A call that arrived since the
last frame is drawn in that same frame.

:meth:`TvApp.run` repeats frames: ten a second while idle (a call shows at
most a tenth of a second after it arrives; an idle frame costs well under a
millisecond), thirty while the announcement ticker scrolls, and each wait is
cut short to land just after the hub clock's next second, so the clock on the
wall ticks on time. Tests drive :meth:`TvApp.step` themselves.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame  # noqa: E402

from appliance import sd_notify  # noqa: E402
from display.fonts import FontFiles  # noqa: E402
from display.screenshot import save_png  # noqa: E402
from display.text_cache import TextCache  # noqa: E402
from protocol import messages as m  # noqa: E402
from protocol.client import HubEvent, HubState, Received  # noqa: E402
from tv_node.render import TvRenderer  # noqa: E402
from tv_node.speech import RecordingSpeaker, Speaker  # noqa: E402
from tv_node.view import TvView, build_view  # noqa: E402

log = logging.getLogger("qms.tv")

IDLE_FPS = 10.0
ANIMATION_FPS = 30.0
# Land this long after the hub clock's second turns, so the new second is already there.
SECOND_MARGIN = 0.005
WATCHDOG_EVERY = 1.0
WINDOW_SIZE = (1280, 720)


class HubSource(Protocol):
    """What the TV needs of its hub client (``protocol.client.ThreadedHubClient``)."""

    def poll(self) -> list[Received]: ...

    @property
    def state(self) -> HubState: ...


class Screen:
    """Where frames go: a surface to draw on and a way to show the changed parts."""

    surface: pygame.Surface
    is_display = False

    def present(self, rects: list[pygame.Rect]) -> None:
        pass


class OffscreenScreen(Screen):
    """A plain surface (a second TV in a test, the bench, screenshots without a window)."""

    def __init__(self, size: tuple[int, int]):
        self.surface = pygame.Surface(size)


class DisplayScreen(Screen):
    """The real screen (SDL's kmsdrm on the Pi, a window on a desk, ``dummy`` in tests)."""

    is_display = True

    def __init__(self, size: tuple[int, int] = (0, 0), *, fullscreen: bool = True, title: str = "qms-tv"):
        pygame.display.init()
        if not size[0] or not size[1]:
            # Full screen at 0x0 takes the screen's own resolution.
            size = (0, 0) if fullscreen else WINDOW_SIZE
        self.surface = pygame.display.set_mode(size, pygame.FULLSCREEN if fullscreen else 0)
        pygame.display.set_caption(title)
        if fullscreen:
            pygame.mouse.set_visible(False)

    def present(self, rects: list[pygame.Rect]) -> None:
        if len(rects) == 1 and rects[0] == self.surface.get_rect():
            pygame.display.flip()
        else:
            pygame.display.update(rects)

    def close(self) -> None:
        pygame.display.quit()


class TvApp:
    """One hall TV: a hub source, a screen, a speaker."""

    def __init__(self, hub: HubSource, screen: Screen, fonts: FontFiles | TextCache, speaker: Speaker | None = None,
                 *, screenshot: str | os.PathLike | None = None, idle_fps: float = IDLE_FPS,
                 animation_fps: float = ANIMATION_FPS, windowed: bool = False,
                 clock: Callable[[], float] = time.monotonic):
        self.hub = hub
        self.screen = screen
        self.fonts = fonts if isinstance(fonts, TextCache) else TextCache(fonts)
        self.renderer = TvRenderer(screen.surface, self.fonts)
        self.speaker: Speaker = speaker if speaker is not None else RecordingSpeaker()
        self.screenshot = Path(screenshot) if screenshot else None
        self.idle_fps = idle_fps
        self.animation_fps = animation_fps
        self.windowed = windowed
        self.clock = clock
        self.view: TvView | None = None
        self.frames = 0
        self.quit_requested = False
        self.screenshots_written = 0
        self._ready_sent = False
        self._last_watchdog = float("-inf")
        self._speaker_started = False
        # The counters this TV shows and speaks (its SNAPSHOT's display_counters); empty: every counter.
        self._shown_counters: frozenset[int] = frozenset()

    # --- one frame -----------------------------------------------------------------------------

    def step(self) -> bool:
        """Run one frame; whether anything on screen changed."""
        now = self.clock()
        if self.screen.is_display:
            self._handle_window_events()
        for item in self.hub.poll():
            self._on_received(item, now)
        view = build_view(self.hub.state)
        changed = self.renderer.draw(view, now)
        self.view = view
        self.frames += 1
        if changed:
            self.screen.present(changed)
            if self.screenshot is not None:
                self._write_screenshot()
        self._notify_systemd(now)
        if not self._speaker_started:
            # After the first frame: the board is up before the audio output (and, for a
            # BackgroundSpeaker, the voice) is. What the speaker was asked meanwhile waits for it.
            self._speaker_started = True
            self.speaker.start()
        return bool(changed)

    def redraw_all(self) -> None:
        """Draw every region again (the bench's full-redraw case)."""
        view = build_view(self.hub.state)
        self.screen.present(self.renderer.draw(view, self.clock(), full=True))
        self.view = view

    def _on_received(self, item: Received, now: float) -> None:
        if isinstance(item, m.TicketAnnouncement):
            # A TV of another room's counters says nothing of this call; others queue it for the audio worker.
            if not self._shown_counters or item.payload.counter_id in self._shown_counters:
                self.speaker.announce(item.payload, now)
        elif isinstance(item, m.Snapshot):
            # The site's template and what it says of this TV's counters are synthesized now, in the background,
            # not at the first call.
            payload = item.payload
            self._shown_counters = frozenset(payload.display_counters)
            shown = [c for c in payload.counters if not self._shown_counters or c.counter_id in self._shown_counters]
            served = {q for c in shown for q in (*c.queue_ids, *c.backup_queue_ids)}
            self.speaker.prewarm([c.counter_name for c in shown], payload.announcement_template,
                                 queue_names=[q.queue_name for q in payload.queues if q.queue_id in served],
                                 counter_numbers=[c.counter_number or c.counter_id for c in shown])
        elif isinstance(item, HubEvent) and item.kind in ("disconnected", "auth_failed"):
            log.warning("hub: %s: %s", item.kind, item.message)

    def _handle_window_events(self) -> None:
        for event in pygame.event.get():
            closing = event.type == pygame.KEYDOWN and self.windowed and event.key in (pygame.K_ESCAPE, pygame.K_q)
            if event.type == pygame.QUIT or closing:
                self.quit_requested = True

    def _write_screenshot(self) -> None:
        assert self.screenshot is not None
        try:
            save_png(self.screen.surface, self.screenshot)
            self.screenshots_written += 1
        except (OSError, pygame.error) as error:
            log.warning("screenshot %s not written: %s", self.screenshot, error)

    def _notify_systemd(self, now: float) -> None:
        if not self._ready_sent:
            self._ready_sent = True
            sd_notify.ready("showing the hall")
        if now - self._last_watchdog >= WATCHDOG_EVERY:
            self._last_watchdog = now
            sd_notify.watchdog_ping()

    # --- the loop ------------------------------------------------------------------------------

    def next_frame_in(self) -> float:
        """Seconds until the next frame is due."""
        interval = 1.0 / (self.animation_fps if self.renderer.animating else self.idle_fps)
        hub_now = self.hub.state.hub_now()
        to_next_second = 1.0 - hub_now.microsecond / 1_000_000 + SECOND_MARGIN
        return max(0.0, min(interval, to_next_second))

    def run(self) -> None:
        """Frames until :attr:`quit_requested` (window closed, Escape when windowed, SIGTERM)."""
        try:
            while not self.quit_requested:
                self.step()
                time.sleep(self.next_frame_in())
        finally:
            sd_notify.stopping()

    def close(self) -> None:
        self.speaker.stop()
