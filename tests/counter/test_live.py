"""The counter display against a real hub on loopback: SDL's dummy video driver, taps posted into pygame.

The hub runs on the test's event loop; the display's hub client on its own
thread, as on the Pi. The test drives the display's frame loop itself, one
``app.step()`` at a time, yielding to the hub in between. What it recorded is
read from the hub's SQLite ``ratings`` table; what it drew from the texts the
UI placed and the screen's pixels. With ``COUNTER_SCREENSHOTS=DIR`` the walk
through every screen keeps a PNG of each (docs/screenshots/counter-*.png).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pygame
import pytest
from support import HallHarness, TestClient, round_trip, start_hub

from appliance.node_config import CounterGpioConfig
from counter_node import texts
from counter_node.app import CounterApp, CounterSettings
from counter_node.outbox import Outbox
from counter_node.ui import NAVY, DrawnText
from display.fonts import find_fonts, missing_glyphs
from hub.auth import TokenAuthority
from hub.server import Hub
from hub.site_config import SiteConfig, sample_site
from protocol.client import HubClientConfig

# How long a wait may take before the test fails saying what did not happen; not a speed requirement.
WAIT = 15.0
SIZE = (800, 480)
OFFICER = {"username": "canbo2", "user_id": 42, "full_name": "Nguyễn Thị Ánh Tuyết"}
SCREENSHOTS = os.environ.get("COUNTER_SCREENSHOTS")  # a directory: keep a picture of every screen


class FakeClock:
    """The display's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CounterRig:
    """Hubs on one data dir and port (a restart is a new Hub on the same files), displays talking to them."""

    def __init__(self, tmp_path: Path, site: SiteConfig):
        self.tmp_path = tmp_path
        self.data_dir = tmp_path / "hub"
        self.site = site
        self.hub: Hub | None = None
        self.port = 0
        self.apps: list[CounterApp] = []
        self.harnesses: list[HallHarness] = []

    async def start_hub(self) -> Hub:
        self.hub = await start_hub(self.data_dir, site=self.site, port=self.port)
        self.port = self.hub.port
        return self.hub

    async def stop_hub(self) -> None:
        assert self.hub is not None
        for harness in self.harnesses:
            await harness.close_all()
        self.harnesses.clear()
        hub, self.hub = self.hub, None
        await hub.stop()

    async def person(self, role: str, **claims: Any) -> TestClient:
        assert self.hub is not None
        harness = HallHarness(self.hub)
        self.harnesses.append(harness)
        return await harness.client(role, **claims)

    def display(self, *, counter_id: int = 2, client_id: str = "counter-02", clock: Callable[[], float] | None = None,
                gpio: CounterGpioConfig | None = None, state_dir: Path | None = None,
                thanks_seconds: float = 4.0) -> CounterApp:
        # Signed with the site's secret in the hub's data dir: a display can start while the hub is down.
        token = TokenAuthority.from_data_dir(self.data_dir).issue("counter", client_id=client_id,
                                                                  counter_id=counter_id, ttl=timedelta(hours=1))
        settings = CounterSettings(
            client=HubClientConfig(url=f"ws://127.0.0.1:{self.port}/ws", token=token, client_type="counter",
                                   client_id=client_id, location="quầy 2", reconnect_delay=0.1),
            counter_id=counter_id,
            fonts=find_fonts(),
            state_dir=state_dir or self.tmp_path / f"state-{client_id}",
            thanks_seconds=thanks_seconds,
            size=SIZE,
            fullscreen=False,
            gpio=gpio or CounterGpioConfig(),
        )
        app = CounterApp(settings, clock=clock) if clock is not None else CounterApp(settings)
        self.apps.append(app)
        app.start()
        return app

    async def close_display(self, app: CounterApp) -> None:
        # Joined off the event loop, so the hub can answer the close handshake.
        await asyncio.to_thread(app.client.stop)
        app.close()
        self.apps.remove(app)

    async def close(self) -> None:
        for app in list(self.apps):
            await self.close_display(app)
        for harness in self.harnesses:
            await harness.close_all()
        if self.hub is not None:
            await self.hub.stop()


@pytest.fixture
def sdl(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    pygame.display.quit()
    yield
    pygame.display.quit()


@pytest.fixture
async def rig(tmp_path, sdl):
    rig = CounterRig(tmp_path, dataclasses.replace(sample_site(), counter_display_shows_officer=True))
    await rig.start_hub()
    yield rig
    await rig.close()


async def until(app: CounterApp, predicate: Callable[[], Any], what: str, timeout: float = WAIT) -> None:
    """Run the display's frames (letting the hub work in between) until ``predicate()`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        app.step()
        if predicate():
            return
        if loop.time() >= deadline:
            shown = app.ui.shown
            raise AssertionError(f"{what}: not within {timeout}s; the display shows {shown}")
        await asyncio.sleep(0.01)


def screen(app: CounterApp) -> str | None:
    return app.ui.shown.screen if app.ui.shown is not None else None


def idle_with_the_hubs_state(app: CounterApp) -> bool:
    """The idle screen drawn from the counter's state: what the tests below then read off the screen.

    The client's mirror is connected only with the SNAPSHOT in it (``tests/protocol/test_client.py``), so the
    two agree from the first idle frame; saying both keeps these tests from reading an empty idle screen."""
    return screen(app) == "idle" and app.model.counter is not None


def ratings(rig: CounterRig) -> list[tuple]:
    with closing(sqlite3.connect(rig.data_dir / "qms.db")) as conn:
        return conn.execute("SELECT ticket_id, score, source, client_id, counter_id, queue_id, officer_user_id, "
                            "officer FROM ratings ORDER BY rating_id").fetchall()


def touch(app: CounterApp, score: int) -> None:
    """A finger on the choice, as SDL reports a touchscreen: FINGERDOWN with coordinates from 0 to 1."""
    x, y = app.ui.center_of(score)
    width, height = app.ui.size
    pygame.event.post(pygame.event.Event(pygame.FINGERDOWN, touch_id=1, finger_id=0, x=x / width, y=y / height,
                                         dx=0.0, dy=0.0, pressure=1.0))


def keep_screenshot(app: CounterApp, name: str) -> None:
    if SCREENSHOTS:
        app.ui.screenshot(Path(SCREENSHOTS) / f"counter-{name}.png")


def in_pixels(app: CounterApp, drawn: DrawnText) -> bool:
    """Every solid pixel of the text's glyphs is on the screen, in its colour, where the UI placed it."""
    rendered = app.ui.text.render(drawn.text, drawn.size, drawn.color, drawn.bold)
    solid = pygame.surfarray.array_alpha(rendered) == 255
    assert solid.sum() > 20, f"{drawn.text!r} has hardly any solid pixels to check"
    area = pygame.surfarray.array3d(app.ui.canvas.subsurface(drawn.rect))
    return bool((area[solid] == np.array(drawn.color)).all())


def assert_drawn_with_every_glyph(app: CounterApp) -> None:
    """Every text on the screen now has a glyph for each of its letters in the font drawn with."""
    shown = "".join(app.ui.texts_shown())
    assert shown, "nothing drawn"
    missing = missing_glyphs(app.settings.fonts.face(True), set(shown)) + \
        missing_glyphs(app.settings.fonts.face(False), set(shown))
    assert not missing, f"no glyph for {missing!r} in {app.ui.texts_shown()}"


async def serve_one(rig: CounterRig, officer: TestClient, kiosk: TestClient, app: CounterApp) -> dict:
    """A ticket of queue 2 issued, called and served at counter 2: the display shows it, then the finish."""
    await kiosk.send("TICKET_CREATED", {"queue_id": 2, "request_id": f"k-{len(ratings(rig))}-{id(app)}-{app.frames}"})
    ticket = await kiosk.expect("TICKET_CREATED")
    await officer.send("CALL_TICKET", {"counter_id": 2})
    await officer.expect("CALL_TICKET")
    label = ticket["ticket_label"] or str(ticket["ticket_number"])
    await until(app, lambda: screen(app) == "serving" and app.ui.shown.ticket_label == label, f"serving {label}")
    await officer.send("TICKET_ACTION", {"counter_id": 2, "action": "finish"})
    await officer.expect("TICKET_UPDATED")
    await until(app, lambda: screen(app) == "asking", f"the rating asked for {label}")
    assert app.ui.shown.rating_label == label
    return ticket


async def hall(rig: CounterRig) -> tuple[TestClient, TestClient]:
    officer = await rig.person("officer", counter_id=2, **OFFICER)
    kiosk = await rig.person("kiosk")
    return officer, kiosk


# --- a tap, end to end ------------------------------------------------------------------------


async def test_a_touch_on_each_choice_stores_exactly_one_rating_with_its_ticket_counter_and_officer(rig):
    officer, kiosk = await hall(rig)
    app = rig.display()
    await until(app, lambda: idle_with_the_hubs_state(app), "the idle screen")
    assert app.ui.shown.officer_name == OFFICER["full_name"]
    expected = []
    for score in texts.SCORES:
        ticket = await serve_one(rig, officer, kiosk, app)
        touch(app, score)
        app.step()
        # The very frame that handled the tap shows the thanks.
        assert screen(app) == "thanks" and app.ui.shown.chosen == score
        assert texts.THANKS in app.ui.texts_shown()
        # A second tap, where the choices were, during the thanks: nothing.
        pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(400, 300), button=1))
        app.step()
        expected.append((ticket["ticket_id"], score, "counter", "counter-02", 2, 2, 42, "canbo2"))
        await until(app, lambda: not app.model.pending, "the hub's RATING_RECORDED")
        assert ratings(rig) == expected
    assert app.outbox.flush() and Outbox(app.settings.state_dir).load() == ()
    await round_trip(officer)
    assert ratings(rig) == expected, "each stored once"


async def test_a_button_press_for_each_choice_stores_exactly_one_rating(rig):
    officer, kiosk = await hall(rig)
    pins = {4: 5, 3: 6, 2: 13, 1: 19}
    app = rig.display(gpio=CounterGpioConfig(pin_factory="mock", buttons={str(s): p for s, p in pins.items()},
                                             status_led=26))
    assert app.gpio is not None
    await until(app, lambda: idle_with_the_hubs_state(app), "the idle screen")
    assert app.gpio.led_mode == "off" and not app.gpio.led.is_lit
    expected = []
    for score in texts.SCORES:
        ticket = await serve_one(rig, officer, kiosk, app)
        assert app.gpio.led_mode == "on" and app.gpio.led.is_lit, "the LED says the buttons are live"
        button = app.gpio.factory.pin(pins[score])
        button.drive_low()   # pressed: the button connects the pin to ground
        button.drive_high()
        await until(app, lambda: screen(app) == "thanks", f"the thanks for {score}")
        assert app.ui.shown.chosen == score and app.gpio.led_mode == "blink"
        # Pressed again during the thanks: nothing.
        button.drive_low()
        button.drive_high()
        expected.append((ticket["ticket_id"], score, "counter", "counter-02", 2, 2, 42, "canbo2"))
        await until(app, lambda: not app.model.pending, "the hub's RATING_RECORDED")
        assert ratings(rig) == expected
    await round_trip(officer)
    assert ratings(rig) == expected


async def test_no_tap_within_thirty_seconds_goes_back_and_stores_nothing(rig):
    officer, kiosk = await hall(rig)
    clock = FakeClock()
    app = rig.display(clock=clock)
    await serve_one(rig, officer, kiosk, app)
    assert app.ui.shown.seconds_left == 30
    clock.advance(29.5)
    app.step()
    assert screen(app) == "asking" and app.ui.shown.seconds_left == 1
    clock.advance(0.5)
    app.step()
    assert screen(app) == "idle"
    # Where the choices were, nothing answers now.
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(100, 300), button=1))
    app.step()
    assert screen(app) == "idle" and app.model.pending == ()
    await round_trip(officer)
    assert ratings(rig) == []
    assert Outbox(app.settings.state_dir).load() == ()


async def test_a_rating_tapped_while_the_hub_is_down_survives_a_restart_and_arrives_once(rig):
    officer, kiosk = await hall(rig)
    state_dir = rig.tmp_path / "counter-state"
    app = rig.display(state_dir=state_dir, thanks_seconds=1.0)
    ticket = await serve_one(rig, officer, kiosk, app)
    await rig.stop_hub()
    await until(app, lambda: not app.model.connected, "the hub noticed gone")
    assert screen(app) == "asking", "the citizen may still rate"
    touch(app, 2)
    app.step()
    assert screen(app) == "thanks"
    assert app.outbox.flush()
    (kept,) = Outbox(state_dir).load()
    assert (kept.ticket_id, kept.score, kept.counter_id) == (ticket["ticket_id"], 2, 2)
    assert kept.request_id.startswith("counter-02-")
    await until(app, lambda: screen(app) == "offline", "Mất kết nối")
    assert app.ui.shown.waiting_ratings == 1
    assert texts.OFFLINE in app.ui.texts_shown()
    assert texts.WAITING_RATINGS.format(count=1) in app.ui.texts_shown()

    # The display restarts while the hub is still down: the rating is read back from its file.
    await rig.close_display(app)
    again = rig.display(state_dir=state_dir)
    assert again.model.pending == (kept,)
    await until(again, lambda: screen(again) == "offline", "Mất kết nối after the restart")

    # A new hub on the same data and port: the rating goes, is stored once, and leaves the file.
    await rig.start_hub()
    await until(again, lambda: not again.model.pending, "the rating acknowledged")
    assert again.outbox.flush() and Outbox(state_dir).load() == ()
    assert ratings(rig) == [(ticket["ticket_id"], 2, "counter", "counter-02", 2, 2, 42, "canbo2")]
    # And once more after another reconnect: nothing is left to send.
    await rig.stop_hub()
    await until(again, lambda: not again.model.connected, "the hub gone again")
    await rig.start_hub()
    await until(again, lambda: again.model.connected and screen(again) == "idle", "back")
    admin = await rig.person("admin")
    await round_trip(admin)
    assert len(ratings(rig)) == 1


async def test_a_replayed_rating_is_stored_once(rig):
    """The answer to a rating is lost (the display sends it again): the hub answers again, stores it once."""
    officer, kiosk = await hall(rig)
    app = rig.display()
    ticket = await serve_one(rig, officer, kiosk, app)
    touch(app, 4)
    app.step()
    (rating,) = app.model.pending
    for _ in range(3):
        app.client.send(rating.message())
    await until(app, lambda: not app.model.pending, "acknowledged")
    await round_trip(officer)
    assert ratings(rig) == [(ticket["ticket_id"], 4, "counter", "counter-02", 2, 2, 42, "canbo2")]


# --- what is on screen ------------------------------------------------------------------------


async def test_every_screen_at_800x480(rig):
    """Serving, asking, thanks, paused, offline: each drawn with its texts (and kept as a picture on request)."""
    officer, kiosk = await hall(rig)
    app = rig.display(thanks_seconds=1.0)
    await until(app, lambda: idle_with_the_hubs_state(app), "idle")
    assert app.ui.size == SIZE
    assert texts.COUNTER.format(number=2) in app.ui.texts_shown()
    assert texts.OFFICER.format(name=OFFICER["full_name"]) in app.ui.texts_shown()
    assert_drawn_with_every_glyph(app)

    await kiosk.send("TICKET_CREATED", {"queue_id": 2, "request_id": "shots-1"})
    await kiosk.expect("TICKET_CREATED")
    await officer.send("CALL_TICKET", {"counter_id": 2})
    await until(app, lambda: screen(app) == "serving", "serving")
    shown = app.ui.texts_shown()
    assert texts.SERVING in shown and "2001" in shown and app.ui.shown.counter_name == "Tư pháp - Hộ tịch"
    number = next(d for d in app.ui.drawn if d.text == "2001")
    assert number.color == NAVY and number.rect.height > SIZE[1] // 3, "the number is the biggest thing there"
    assert in_pixels(app, number), "the number is on the screen where the UI says"
    assert_drawn_with_every_glyph(app)
    keep_screenshot(app, "serving")

    await officer.send("TICKET_ACTION", {"counter_id": 2, "action": "finish"})
    await until(app, lambda: screen(app) == "asking", "asking")
    shown = app.ui.texts_shown()
    assert all(label in " ".join(shown) or label.split()[-1] in shown for label in texts.SCORE_LABELS.values())
    assert sorted(score for _, score in app.ui.regions) == [1, 2, 3, 4]
    assert_drawn_with_every_glyph(app)
    keep_screenshot(app, "rating")

    touch(app, 4)
    app.step()
    assert screen(app) == "thanks"
    assert texts.THANKS_CHOICE.format(label=texts.SCORE_LABELS[4]) in app.ui.texts_shown()
    assert_drawn_with_every_glyph(app)
    keep_screenshot(app, "thanks")
    await until(app, lambda: screen(app) == "idle" and not app.model.pending, "back after the thanks")

    await officer.send("COUNTER_STATUS_CHANGE", {"counter_id": 2, "status": "paused", "reason": "Nghỉ trưa"})
    await until(app, lambda: screen(app) == "paused", "paused")
    shown = app.ui.texts_shown()
    assert texts.PAUSED in shown and texts.REASON.format(reason="Nghỉ trưa") in shown
    assert_drawn_with_every_glyph(app)
    keep_screenshot(app, "paused")

    await rig.stop_hub()
    await until(app, lambda: screen(app) == "offline", "offline")
    assert texts.OFFLINE in app.ui.texts_shown()
    assert_drawn_with_every_glyph(app)
    keep_screenshot(app, "offline")


async def test_without_the_sites_consent_no_officer_name_is_shown(tmp_path, sdl):
    rig = CounterRig(tmp_path, sample_site())
    await rig.start_hub()
    try:
        await rig.person("officer", counter_id=2, **OFFICER)
        app = rig.display()
        await until(app, lambda: idle_with_the_hubs_state(app), "idle")
        assert app.ui.shown.officer_name is None
        assert not any(text.startswith("Cán bộ") for text in app.ui.texts_shown())
    finally:
        await rig.close()
