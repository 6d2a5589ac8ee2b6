"""The kiosk against a real hub on loopback: SDL's dummy video driver, taps injected as pygame events.

The hub runs on the test's event loop; the kiosk's hub client on its own
thread, as on a Raspberry Pi. The test drives the kiosk's frame loop itself,
one ``app.step()`` at a time, yielding to the hub in between. Tickets go to
the virtual printer, whose ESC/POS bytes are decoded back into an image.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

os.environ["SDL_VIDEODRIVER"] = "dummy"
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame  # noqa: E402
import pytest  # noqa: E402
from PIL import Image, ImageChops  # noqa: E402
from support import HallHarness, start_hub  # noqa: E402
from support.escpos import decode_escpos  # noqa: E402

from appliance.node_config import GpioConfig  # noqa: E402
from display.fonts import find_fonts  # noqa: E402
from hub.server import Hub  # noqa: E402
from hub.site_config import sample_site  # noqa: E402
from kiosk_node.app import KioskApp, KioskSettings  # noqa: E402
from kiosk_node.model import Ticket  # noqa: E402
from kiosk_node.printer import VirtualPrinter  # noqa: E402
from kiosk_node.ticket import TicketContext, render_ticket  # noqa: E402
from kiosk_node.ui import AMBER, NAVY, SLATE, Button, ProcedureAction  # noqa: E402
from protocol import messages as m  # noqa: E402
from protocol.client import HubClientConfig  # noqa: E402

# How long a wait may take before the test fails saying what did not happen; not a speed requirement.
WAIT = 10.0
PUBLIC_URL = "https://qms.example.gov.vn"
SCREENSHOTS = os.environ.get("KIOSK_SCREENSHOTS")  # set to a directory to keep screenshots of every screen


class KioskRig:
    """Hubs on one data dir and port, kiosks talking to them; everything stopped at teardown."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.data_dir = tmp_path / "hub"
        self.site = dataclasses.replace(sample_site(), public_url=PUBLIC_URL)
        self.hub: Hub | None = None
        self.port = 0
        self.apps: list[KioskApp] = []
        self.harnesses: list[HallHarness] = []

    async def start_hub(self) -> Hub:
        self.hub = await start_hub(self.data_dir, site=self.site, port=self.port)
        self.port = self.hub.port
        return self.hub

    async def stop_hub(self) -> None:
        assert self.hub is not None
        hub, self.hub = self.hub, None
        await hub.stop()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def person(self, role: str) -> Any:
        """A test client (admin, officer) on the running hub."""
        assert self.hub is not None
        harness = HallHarness(self.hub)
        self.harnesses.append(harness)
        return await harness.client(role)

    def kiosk(self, client_id: str = "kiosk-001", *, size: tuple[int, int] = (800, 480), rotation: int = 0,
              gpio: GpioConfig | None = None, language: str = "vi", paper_width_dots: int = 576) -> KioskApp:
        assert self.hub is not None
        token = self.hub.tokens.issue("kiosk", client_id=client_id, ttl=timedelta(hours=1))
        directory = self.tmp_path / f"tickets-{client_id}"
        settings = KioskSettings(
            client=HubClientConfig(url=self.url, token=token, client_type="kiosk", client_id=client_id,
                                   location="sảnh chính", reconnect_delay=0.1),
            fonts=find_fonts(),
            printer=f"virtual:{directory}",
            paper_width_dots=paper_width_dots,
            printer_timeout=0.5,
            result_seconds=3.0,
            language=language,
            size=size,
            fullscreen=False,
            rotation=rotation,
            gpio=gpio or GpioConfig(),
        )
        app = KioskApp(settings)
        self.apps.append(app)
        app.start()
        return app

    async def close(self) -> None:
        for app in self.apps:
            # Joined off the event loop, so the hub can answer the close handshake.
            await asyncio.to_thread(app.client.stop)
            app.close()
        for harness in self.harnesses:
            await harness.close_all()
        if self.hub is not None:
            await self.hub.stop()


@pytest.fixture
async def rig(tmp_path):
    rig = KioskRig(tmp_path)
    await rig.start_hub()
    yield rig
    await rig.close()


async def until(app: KioskApp, predicate: Callable[[], Any], what: str, timeout: float = WAIT,
                seen: list[str] | None = None) -> None:
    """Run the kiosk's frames (letting the hub work in between) until ``predicate()`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        app.step()
        if seen is not None and app.ui.shown is not None and (not seen or seen[-1] != app.ui.shown.screen):
            seen.append(app.ui.shown.screen)
        if predicate():
            return
        if loop.time() >= deadline:
            shown = app.ui.shown
            raise AssertionError(f"{what}: not within {timeout}s; the kiosk shows {shown.screen if shown else None}, "
                                 f"model screen {app.model.screen}, connected {app.model.connected}")
        await asyncio.sleep(0.01)


async def hear(app: KioskApp, person: Any, message_type: str, where: Callable[[dict], bool] | None = None) -> dict:
    """What a test client (an admin console) receives next of ``message_type``, the kiosk running meanwhile."""
    done = asyncio.Event()

    async def frames() -> None:
        while not done.is_set():
            app.step()
            await asyncio.sleep(0.01)

    running = asyncio.create_task(frames())
    try:
        return await person.expect(message_type, timeout=WAIT, where=where)
    finally:
        done.set()
        await running


async def home_with_tiles(app: KioskApp) -> None:
    await until(app, lambda: app.ui.shown is not None and app.ui.shown.screen == "home" and app.ui.shown.tiles,
                "the home screen with tiles")


def tap(app: KioskApp, action) -> None:
    """A finger on ``action``; a procedure on another page is found by tapping "next page" first."""
    if isinstance(action, ProcedureAction):
        for _ in range(app.ui.pages):
            if action in [a for _, a in app.ui.regions]:
                break
            tap(app, Button("next_page"))
            app.step()
    x, y = app.ui.center_of(action)
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(x, y), button=1))


def screen(app: KioskApp) -> str:
    assert app.ui.shown is not None
    return app.ui.shown.screen


def keep_screenshot(app: KioskApp, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        app.ui.screenshot(Path(SCREENSHOTS) / f"{name}.png")


def printed(app: KioskApp) -> list[Path]:
    assert isinstance(app.printer, VirtualPrinter)
    return app.printer.printed()


def tickets_in_database(rig: KioskRig, **where: Any) -> list[tuple]:
    clause = " AND ".join(f"{column} = ?" for column in where) or "1"
    with sqlite3.connect(rig.data_dir / "qms.db") as conn:
        return conn.execute(f"SELECT ticket_id, number, counter_id, request_id FROM tickets WHERE {clause}",
                            tuple(where.values())).fetchall()


def procedures_on_screen(app: KioskApp) -> set[int]:
    return {action.procedure_id for _, action in app.ui.regions if isinstance(action, ProcedureAction)}


# --- a ticket, end to end -----------------------------------------------------------------------------------


async def test_a_tap_prints_exactly_one_ticket_with_the_number_the_hub_assigned(rig):
    admin = await rig.person("admin")
    app = rig.kiosk()
    await home_with_tiles(app)
    keep_screenshot(app, "home-800x480")
    assert screen(app) == "home"
    assert app.ui.shown.site_name == rig.site.site_name

    where = app.ui.center_of(ProcedureAction(201))
    bottom_edge = (400, 476)  # the home screen's margin; the printing screen is navy all over
    assert app.ui.canvas.get_at(bottom_edge)[:3] != NAVY
    tap(app, ProcedureAction(201))
    app.step()
    # The very frame that handled the tap shows "Đang in vé…" (drawn, not just decided).
    assert screen(app) == "printing"
    assert app.ui.canvas.get_at(bottom_edge)[:3] == NAVY
    assert app.model.pending_request_id is not None
    request_id = app.model.pending_request_id
    keep_screenshot(app, "printing-800x480")
    # A second tap on the same spot while the first is in flight does nothing.
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=where, button=1))
    app.step()
    assert app.model.pending_request_id in (request_id, None)
    assert app.client.pending_request_ids in ((request_id,), ())

    await until(app, lambda: screen(app) == "result", "the result screen")
    keep_screenshot(app, "result-800x480")
    rows = tickets_in_database(rig)
    assert len(rows) == 1
    ticket_id, number, counter_id, stored_request_id = rows[0]
    assert (counter_id, stored_request_id) == (2, request_id)
    assert app.ui.shown.ticket.number == number == 2001  # counter 2 starts at 2001 in the sample site

    (binary,) = printed(app)
    assert binary.name.endswith(f"q2-{number}.bin")
    raster = decode_escpos(binary.read_bytes())
    assert raster.width == app.settings.paper_width_dots == 576
    picture = Image.open(binary.with_suffix(".png")).convert("1")
    assert raster.size == picture.size
    assert ImageChops.difference(raster.convert("L"), picture.convert("L")).getbbox() is None, \
        "the printed raster differs from the ticket image"

    # The same ticket drawn again from what the hub says about it gives exactly the printed raster,
    # and the same ticket with another number does not: the number printed is the hub's.
    announced = await hear(app, admin, "TICKET_CREATED", where=lambda p: p["ticket_id"] == ticket_id)
    issued = rig.hub.queue.tickets_by_request[request_id]
    hub_ticket = Ticket(number=issued.number, counter_id=issued.counter_id, counter_name=rig.site.counter(2).name,
                        procedure_name=issued.procedure_name,
                        created_at=m.parse_timestamp(announced["created_at"]),
                        people_ahead=announced["people_ahead"], wait_minutes=announced["estimated_wait_time"],
                        ticket_code=issued.code)
    context = TicketContext(site_name=rig.site.site_name, width=576, fonts=app.settings.fonts,
                            public_url=PUBLIC_URL, timezone=rig.site.timezone)
    expected = render_ticket(hub_ticket, context)
    assert ImageChops.difference(raster.convert("L"), expected.convert("L")).getbbox() is None
    other = render_ticket(dataclasses.replace(hub_ticket, number=number + 1), context)
    assert other.size != raster.size or ImageChops.difference(raster.convert("L"), other.convert("L")).getbbox()

    # Back home after result_seconds, and still one ticket.
    await until(app, lambda: screen(app) == "home", "back home")
    assert len(printed(app)) == 1 and len(tickets_in_database(rig)) == 1


async def test_tickets_on_58mm_paper_are_384_dots_wide(rig):
    app = rig.kiosk(paper_width_dots=384)
    await home_with_tiles(app)
    tap(app, ProcedureAction(101))
    await until(app, lambda: screen(app) == "result", "the result screen")
    (binary,) = printed(app)
    assert decode_escpos(binary.read_bytes()).width == 384


async def test_english_toggle_and_back_to_vietnamese_for_the_next_citizen(rig):
    app = rig.kiosk()
    await home_with_tiles(app)
    tap(app, Button("language"))
    await until(app, lambda: app.ui.shown.language == "en", "English on screen")
    tap(app, ProcedureAction(101))
    await until(app, lambda: screen(app) == "result", "the result screen")
    assert app.ui.shown.language == "en"
    keep_screenshot(app, "result-en-800x480")
    tap(app, Button("done"))
    # "Done" right after the result appeared is ignored (a double tap must not hide the number)...
    await until(app, lambda: screen(app) == "home", "back home")
    assert app.ui.shown.language == "vi"


# --- counters come and go -----------------------------------------------------------------------------------


async def test_a_paused_counter_disappears_at_once_and_comes_back(rig):
    admin = await rig.person("admin")
    app = rig.kiosk(size=(1920, 1080))
    await home_with_tiles(app)
    all_procedures = {p.id for c in rig.site.counters for p in c.procedures}
    assert procedures_on_screen(app) == all_procedures
    keep_screenshot(app, "home-1920x1080")

    await admin.send("COUNTER_STATUS_CHANGE", {"counter_id": 2, "status": "paused", "reason": "Nghỉ trưa"})
    counter_2 = {201, 202, 203}
    await until(app, lambda: procedures_on_screen(app) == all_procedures - counter_2, "counter 2's tiles gone")

    await admin.send("COUNTER_STATUS_CHANGE", {"counter_id": 2, "status": "offline"})
    await admin.send("COUNTER_STATUS_CHANGE", {"counter_id": 3, "status": "offline"})
    await until(app, lambda: procedures_on_screen(app) == {101, 102, 401, 402}, "counters 2 and 3 gone")

    await admin.send("COUNTER_STATUS_CHANGE", {"counter_id": 2, "status": "active"})
    await admin.send("COUNTER_STATUS_CHANGE", {"counter_id": 3, "status": "active"})
    await until(app, lambda: procedures_on_screen(app) == all_procedures, "every tile back")


async def test_tiles_show_the_queue_as_the_hub_reports_it(rig):
    admin = await rig.person("admin")
    for i in range(3):
        await admin.send("TICKET_CREATED", {"procedure_id": 401, "request_id": f"before-{i}"})
        await admin.expect("TICKET_CREATED", where=lambda p, i=i: p["request_id"] == f"before-{i}")
    app = rig.kiosk()
    await until(app, lambda: any(t.procedure_id == 401 and t.waiting_count == 3 for t in app.model.tiles),
                "three waiting at counter 4")
    tile = next(t for t in app.model.tiles if t.procedure_id == 401)
    assert tile.wait_minutes == 3 * rig.site.default_service_minutes
    tap(app, ProcedureAction(401))
    await until(app, lambda: screen(app) == "result", "the result screen")
    assert app.ui.shown.ticket.people_ahead == 3


async def test_every_procedure_is_reachable_through_the_pages_on_a_small_screen(rig):
    app = rig.kiosk(size=(800, 480))
    await home_with_tiles(app)
    seen = set()
    for _ in range(app.ui.pages):
        seen |= procedures_on_screen(app)
        tap(app, Button("next_page"))
        app.step()
    assert seen == {p.id for c in rig.site.counters for p in c.procedures}
    assert app.ui.pages > 1


async def test_a_portrait_kiosk_maps_taps_through_the_rotation(rig):
    app = rig.kiosk(size=(800, 480), rotation=90)
    await home_with_tiles(app)
    assert app.ui.size == (480, 800)
    keep_screenshot(app, "home-portrait-480x800")
    tap(app, ProcedureAction(102))
    await until(app, lambda: screen(app) == "result", "the result screen")
    assert app.ui.shown.ticket.procedure_name == rig.site.counter(1).procedures[1].name


# --- the hub unreachable --------------------------------------------------------------------------------------


async def test_hub_restarted_during_a_request_gives_exactly_one_ticket(rig):
    app = rig.kiosk()
    await home_with_tiles(app)
    tap(app, ProcedureAction(301))
    app.step()
    request_id = app.model.pending_request_id
    assert request_id is not None
    # The request may or may not reach the hub before it goes down, and its answer may be lost.
    await rig.stop_hub()
    screens: list[str] = []
    await until(app, lambda: not app.model.connected, "the kiosk noticed the hub is gone", seen=screens)
    app.step()
    if app.model.ticket is None:
        assert screen(app) == "unreachable"
        assert app.ui.shown.request_pending
        assert app.ui.canvas.get_at((3, 3))[:3] == SLATE
        keep_screenshot(app, "unreachable-pending-800x480")
    await rig.start_hub()
    await until(app, lambda: screen(app) == "result", "the ticket, once the hub is back", seen=screens)
    assert tickets_in_database(rig, request_id=request_id) != []
    assert len(tickets_in_database(rig)) == 1
    assert len(printed(app)) == 1
    assert app.ui.shown.ticket.request_id == request_id
    assert app.client.pending_request_ids == ()


async def test_while_the_hub_is_unreachable_a_tap_prints_nothing(rig):
    app = rig.kiosk()
    await home_with_tiles(app)
    await rig.stop_hub()
    await until(app, lambda: screen(app) == "unreachable", "the full-screen message")
    keep_screenshot(app, "unreachable-800x480")
    for _ in range(3):
        pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(200, 200), button=1))
        app.step()
    assert app.model.pending_request_id is None and app.model.screen == "home"
    await rig.start_hub()
    await home_with_tiles(app)
    for _ in range(20):
        app.step()
        await asyncio.sleep(0.01)
    assert printed(app) == [] and tickets_in_database(rig) == []


# --- printer faults --------------------------------------------------------------------------------------------


async def test_printer_fault_is_shown_alerted_and_the_ticket_can_be_reprinted(rig):
    admin = await rig.person("admin")
    app = rig.kiosk()
    await home_with_tiles(app)
    app.printer.inject_fault("paper_out")
    tap(app, ProcedureAction(101))
    await until(app, lambda: screen(app) == "print_failed", "the printer fault screen")
    keep_screenshot(app, "paper-out-800x480")
    shown = app.ui.shown
    assert shown.printer_problem == "paper_out" and shown.ticket.number == 1
    assert app.ui.canvas.get_at((3, 3))[:3] == AMBER
    alert = await hear(app, admin, "SYSTEM_ALERT", where=lambda p: p["alert_type"] == "system_error")
    assert alert["severity"] == "critical"
    assert "kiosk-001" in alert["message"] and "hết giấy" in alert["message"]
    assert printed(app) == []

    app.printer.inject_fault(None)
    tap(app, Button("reprint"))
    await until(app, lambda: screen(app) == "result", "the reprinted ticket")
    recovered = await hear(app, admin, "SYSTEM_ALERT", where=lambda p: p["severity"] == "info")
    assert "kiosk-001" in recovered["message"]
    (binary,) = printed(app)
    assert binary.name.endswith("q1-1.bin")
    assert len(tickets_in_database(rig)) == 1  # a reprint is the same ticket


@pytest.mark.parametrize("fault", ["cover_open", "offline", "no_printer", "timeout"])
async def test_each_printer_fault_has_its_message_and_alert(rig, fault):
    admin = await rig.person("admin")
    app = rig.kiosk()
    await home_with_tiles(app)
    app.printer.inject_fault(fault)
    tap(app, ProcedureAction(202))
    await until(app, lambda: screen(app) == "print_failed", "the printer fault screen")
    assert app.ui.shown.printer_problem == fault
    alert = await hear(app, admin, "SYSTEM_ALERT", where=lambda p: p["alert_type"] == "system_error")
    assert alert["severity"] == "critical"
    from kiosk_node.i18n import problem_title

    assert problem_title(fault) in alert["message"]
    # "Done" takes the citizen home, where a banner says the printer is out of order.
    tap(app, Button("done"))
    await until(app, lambda: screen(app) == "home", "home again")
    assert app.ui.shown.printer_fault and app.ui.shown.printer_problem == fault
    assert app.model.led_mode() == "fast_blink"
    if fault == "cover_open":
        keep_screenshot(app, "home-printer-fault-800x480")


async def test_a_printer_faulty_at_start_is_reported_and_noticed_when_fixed(rig, monkeypatch):
    monkeypatch.setattr("kiosk_node.model.PRINTER_CHECK_SECONDS", 0.05)
    admin = await rig.person("admin")
    rig_kiosk = rig.kiosk
    app = rig_kiosk()
    app.printer.inject_fault("no_printer")
    app.worker.check()
    await until(app, lambda: app.model.printer_fault == "no_printer", "the fault found by the check")
    alert = await hear(app, admin, "SYSTEM_ALERT", where=lambda p: p["alert_type"] == "system_error")
    assert "Không tìm thấy máy in" in alert["message"]
    app.printer.inject_fault(None)
    await until(app, lambda: app.model.printer_fault is None, "the printer noticed as fixed")
    await hear(app, admin, "SYSTEM_ALERT", where=lambda p: p["severity"] == "info")


# --- GPIO ----------------------------------------------------------------------------------------------------------


async def test_a_gpio_button_issues_a_ticket_and_the_led_follows_the_state(rig):
    admin = await rig.person("admin")
    app = rig.kiosk(gpio=GpioConfig(pin_factory="mock", buttons={"301": 17}, status_led=18, paper_low=22))
    assert app.gpio is not None
    await home_with_tiles(app)
    assert app.gpio.led_mode == "on" and app.gpio.led.is_lit

    button = app.gpio.factory.pin(17)
    button.drive_low()   # pressed: the button connects the pin to ground
    button.drive_high()
    await until(app, lambda: screen(app) == "result", "a ticket from the button")
    assert app.ui.shown.ticket.counter_id == 3
    assert [row[2] for row in tickets_in_database(rig)] == [3]
    assert len(printed(app)) == 1

    sensor = app.gpio.factory.pin(22)
    sensor.drive_low()   # the paper-low switch closed
    alert = await hear(app, admin, "SYSTEM_ALERT", where=lambda p: p["severity"] == "warning")
    assert "sắp hết giấy" in alert["message"]
    await until(app, lambda: screen(app) == "home", "home")
    assert app.ui.shown.printer_problem == "paper_low" and not app.ui.shown.printer_fault
    sensor.drive_high()
    await hear(app, admin, "SYSTEM_ALERT", where=lambda p: p["severity"] == "info")

    await rig.stop_hub()
    await until(app, lambda: app.gpio.led_mode == "slow_blink", "the LED blinking slowly")


async def test_a_gpio_button_for_a_paused_counter_says_so(rig):
    admin = await rig.person("admin")
    app = rig.kiosk(gpio=GpioConfig(pin_factory="mock", buttons={"101": 5}))
    await home_with_tiles(app)
    await admin.send("COUNTER_STATUS_CHANGE", {"counter_id": 1, "status": "paused"})
    await until(app, lambda: 101 not in procedures_on_screen(app), "counter 1 paused")
    app.gpio.factory.pin(5).drive_low()
    app.gpio.factory.pin(5).drive_high()
    await until(app, lambda: screen(app) == "refused", "the refusal")
    assert app.ui.shown.refused_code == "COUNTER_PAUSED"
    keep_screenshot(app, "refused-800x480")
    assert tickets_in_database(rig) == [] and printed(app) == []


async def test_gpio_that_cannot_be_used_is_reported_and_the_kiosk_still_works(rig):
    admin = await rig.person("admin")
    app = rig.kiosk(gpio=GpioConfig(pin_factory="no-such-factory", buttons={"101": 5}))
    assert app.gpio is None
    alert = await hear(app, admin, "SYSTEM_ALERT", where=lambda p: "GPIO" in p["message"])
    assert alert["severity"] == "critical"
    await home_with_tiles(app)
    tap(app, ProcedureAction(101))
    await until(app, lambda: screen(app) == "result", "a ticket all the same")


# --- the hub's answer refuses ------------------------------------------------------------------------------------


async def test_a_counter_paused_between_the_tap_and_the_hub_gives_a_clear_refusal(rig):
    admin = await rig.person("admin")
    app = rig.kiosk()
    await home_with_tiles(app)
    tap(app, ProcedureAction(401))
    app.step()  # the request is on its way...
    # ...and the counter pauses, maybe before the hub handles it.
    await admin.send("COUNTER_STATUS_CHANGE", {"counter_id": 4, "status": "paused"})
    await until(app, lambda: screen(app) in ("refused", "result"), "an answer")
    if screen(app) == "refused":
        assert app.ui.shown.refused_code == "COUNTER_PAUSED"
        assert printed(app) == [] and tickets_in_database(rig) == []
    else:  # the request won the race: a ticket, printed once
        assert len(printed(app)) == len(tickets_in_database(rig)) == 1


# --- the screenshot option --------------------------------------------------------------------------------------


async def test_screenshot_option_writes_the_screen_after_each_change(rig, tmp_path):
    app = rig.kiosk()
    app.settings.screenshot = tmp_path / "screen.png"
    await home_with_tiles(app)
    shot = Image.open(tmp_path / "screen.png")
    assert shot.size == (800, 480)
    assert shot.convert("RGB").getpixel((3, 3)) == NAVY  # the header
    assert Image.open(tmp_path / "screen.png").convert("RGB").getpixel((400, 476)) != NAVY
    tap(app, ProcedureAction(101))
    app.step()
    assert Image.open(tmp_path / "screen.png").convert("RGB").getpixel((400, 476)) == NAVY  # printing
