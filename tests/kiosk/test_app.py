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
import shutil
import socket
import sqlite3
import threading
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
from support.escpos import decode_escpos, same_picture  # noqa: E402

from appliance.node_config import GpioConfig  # noqa: E402
from display.fonts import find_fonts  # noqa: E402
from hub.server import Hub  # noqa: E402
from hub.site_config import SiteConfig, parse_site_config, sample_site  # noqa: E402
from kiosk_node.app import KioskApp, KioskSettings  # noqa: E402
from kiosk_node.model import Ticket  # noqa: E402
from kiosk_node.printer import VirtualPrinter  # noqa: E402
from kiosk_node.ticket import TicketContext, priority_mark, render_ticket  # noqa: E402
from kiosk_node.ui import (  # noqa: E402
    AMBER,
    NAVY,
    PRIORITY,
    SLATE,
    Button,
    FieldAction,
    ProcedureAction,
    ReasonAction,
)
from protocol import messages as m  # noqa: E402
from protocol.client import HubClientConfig  # noqa: E402

# How long a wait may take before the test fails saying what did not happen; not a speed requirement.
WAIT = 10.0
PUBLIC_URL = "https://qms.example.gov.vn"
SCREENSHOTS = os.environ.get("KIOSK_SCREENSHOTS")  # set to a directory to keep screenshots of every screen


class KioskRig:
    """Hubs on one data dir and port, kiosks talking to them; everything stopped at teardown."""

    def __init__(self, tmp_path: Path, site: SiteConfig | None = None):
        self.tmp_path = tmp_path
        self.data_dir = tmp_path / "hub"
        self.site = dataclasses.replace(site or sample_site(), public_url=PUBLIC_URL)
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
    await until(app, lambda: app.ui.shown is not None and app.ui.shown.screen == "home"
                and bool(app.ui.shown.tiles or app.ui.shown.fields), "the home screen with tiles")


def press(app: KioskApp, action) -> None:
    """A finger on ``action``, which must be on screen now."""
    x, y = app.ui.center_of(action)
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(x, y), button=1))


def tap(app: KioskApp, action) -> None:
    """A finger on ``action``; a procedure is found as a citizen would: its field first, then the pages."""
    if isinstance(action, ProcedureAction):
        shown = app.ui.shown
        if shown is not None and shown.level == "fields" and action not in app.ui.actions():
            field = next(f for f in shown.fields if action.procedure_id in f.procedure_ids)
            press(app, FieldAction(field.field_id))
            app.step()
        for _ in range(app.ui.pages):
            if action in app.ui.actions():
                break
            press(app, Button("next_page"))
            app.step()
    press(app, action)


def screen(app: KioskApp) -> str:
    assert app.ui.shown is not None
    return app.ui.shown.screen


def keep_screenshot(app: KioskApp, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        app.ui.screenshot(Path(SCREENSHOTS) / f"{name}.png")


def keep_ticket(picture: Path, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(picture, Path(SCREENSHOTS) / f"{name}.png")


def printed(app: KioskApp) -> list[Path]:
    assert isinstance(app.printer, VirtualPrinter)
    return app.printer.printed()


def tickets_in_database(rig: KioskRig, **where: Any) -> list[tuple]:
    """(ticket_id, number, queue_id, request_id, priority, priority_reason) of the tickets stored."""
    clause = " AND ".join(f"{column} = ?" for column in where) or "1"
    with sqlite3.connect(rig.data_dir / "qms.db") as conn:
        return conn.execute(f"SELECT ticket_id, number, queue_id, request_id, priority, priority_reason FROM tickets "
                            f"WHERE {clause}", tuple(where.values())).fetchall()


def procedures_on_screen(app: KioskApp) -> set[int]:
    return {action.procedure_id for action in app.ui.actions() if isinstance(action, ProcedureAction)}


def tile_texts(app: KioskApp) -> dict:
    """Each tile on screen -> the text drawn on it, its lines joined."""
    tiles = {}
    for rect, action in app.ui.regions:
        if isinstance(action, (ProcedureAction, FieldAction, ReasonAction)):
            tiles[action] = " ".join(t.text for t in app.ui.texts if rect.contains(t.rect))
    return tiles


def procedures_offered(app: KioskApp) -> set[int]:
    """Every procedure a citizen can reach on the kiosk's menus now."""
    return {t.procedure_id for t in app.model.tiles}


async def every_procedure_through_the_menus(app: KioskApp) -> dict[int, int]:
    """Each procedure reachable by touch -> how many times it was seen, walking every field and page."""
    seen: dict[int, int] = {}

    def this_level() -> None:
        for _ in range(app.ui.pages):
            for procedure_id in procedures_on_screen(app):
                seen[procedure_id] = seen.get(procedure_id, 0) + 1
            if app.ui.pages > 1:
                press(app, Button("next_page"))
                app.step()

    await home_with_tiles(app)
    this_level()
    for field in app.ui.shown.fields:
        press(app, FieldAction(field.field_id))
        await until(app, lambda field=field: app.ui.shown.field_name == field.name, f"field {field.name}")
        this_level()
        press(app, Button("back"))
        await until(app, lambda: app.ui.shown.level == "fields", "back at the fields")
    return seen


# --- a ticket, end to end -----------------------------------------------------------------------------------


def hub_ticket(rig: KioskRig, client_id: str, request_id: str, announced: dict) -> Ticket:
    """The ticket as the hub holds it (and announced it to admins), drawn the kiosk's way."""
    assert rig.hub is not None
    issued = rig.hub.queue.find_request(client_id, request_id)
    assert issued is not None
    queue = rig.site.queue(issued.queue_id)
    assert queue is not None
    return Ticket(number=issued.number, queue_id=issued.queue_id, queue_name=queue.name,
                  counter_numbers=tuple(c.number for c in rig.site.counters_serving(issued.queue_id)),
                  procedure_name=issued.procedure_name, created_at=m.parse_timestamp(announced["created_at"]),
                  people_ahead=announced["people_ahead"], wait_minutes=announced["estimated_wait_time"],
                  label=announced["ticket_label"], priority=issued.priority,
                  priority_reason=issued.priority_reason,  # type: ignore[arg-type]
                  ticket_code=issued.code)


def ticket_context(rig: KioskRig, app: KioskApp, width: int = 576) -> TicketContext:
    return TicketContext(site_name=rig.site.site_name, width=width, fonts=app.settings.fonts, public_url=PUBLIC_URL,
                         timezone=rig.site.timezone)


async def test_a_tap_prints_exactly_one_ticket_with_the_number_the_hub_assigned(rig):
    admin = await rig.person("admin")
    app = rig.kiosk()
    await home_with_tiles(app)
    assert screen(app) == "home"
    assert app.ui.shown.site_name == rig.site.site_name
    keep_screenshot(app, "home-800x480")

    press(app, FieldAction(2))  # Tư pháp - Hộ tịch
    app.step()
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
    ticket_id, number, queue_id, stored_request_id, priority, _ = rows[0]
    assert (queue_id, stored_request_id, priority) == (2, request_id, 0)
    assert app.ui.shown.ticket.number == number == 2001  # queue 2 starts at 2001 in the sample site
    # Queue 2 is served by counters 2 and 5: the ticket names both, and the queue.
    assert app.ui.shown.ticket.counter_numbers == (2, 5)
    assert "Quầy 2, 5 – Tư pháp - Hộ tịch" in [t.text for t in app.ui.texts]

    (binary,) = printed(app)
    assert binary.name.endswith(f"q2-{number}.bin")
    keep_ticket(binary.with_suffix(".png"), "ticket-576")
    raster = decode_escpos(binary.read_bytes())
    assert raster.width == app.settings.paper_width_dots == 576
    picture = Image.open(binary.with_suffix(".png")).convert("1")
    assert same_picture(raster, picture), "the printed raster differs from the ticket image"

    # The same ticket drawn again from what the hub says about it gives exactly the printed raster,
    # and the same ticket with another number does not: the number printed is the hub's.
    announced = await hear(app, admin, "TICKET_CREATED", where=lambda p: p["ticket_id"] == ticket_id)
    assert announced["counter_ids"] == [2, 5] and announced["ticket_label"] == "2001"
    expected = hub_ticket(rig, app.settings.client.client_id, request_id, announced)
    context = ticket_context(rig, app)
    assert same_picture(raster, render_ticket(expected, context))
    other = render_ticket(dataclasses.replace(expected, number=number + 1, label=str(number + 1)), context)
    assert not same_picture(raster, other)
    # Not a priority ticket: no mark.
    assert not contains_centred(raster, priority_mark(None, context))

    # Back home after result_seconds, at the top of the menus, and still one ticket.
    await until(app, lambda: screen(app) == "home", "back home")
    assert app.ui.shown.level == "fields"
    assert len(printed(app)) == 1 and len(tickets_in_database(rig)) == 1


def contains_centred(image: Image.Image, part: Image.Image) -> bool:
    """Whether ``part`` appears, dot for dot, horizontally centred somewhere down ``image``."""
    left = (image.width - part.width) // 2
    part_l = part.convert("L")
    picture = image.convert("L")
    for top in range(image.height - part.height + 1):
        window = picture.crop((left, top, left + part.width, top + part.height))
        if ImageChops.difference(window, part_l).getbbox() is None:
            return True
    return False


async def test_tickets_on_58mm_paper_are_384_dots_wide(rig):
    app = rig.kiosk(paper_width_dots=384)
    await home_with_tiles(app)
    tap(app, ProcedureAction(101))
    await until(app, lambda: screen(app) == "result", "the result screen")
    (binary,) = printed(app)
    assert decode_escpos(binary.read_bytes()).width == 384
    keep_ticket(binary.with_suffix(".png"), "ticket-384")


async def test_english_toggle_and_back_to_vietnamese_for_the_next_citizen(rig):
    app = rig.kiosk()
    await home_with_tiles(app)
    tap(app, Button("language"))
    await until(app, lambda: app.ui.shown.language == "en", "English on screen")
    keep_screenshot(app, "home-en-800x480")
    tap(app, ProcedureAction(101))
    await until(app, lambda: screen(app) == "result", "the result screen")
    assert app.ui.shown.language == "en"
    keep_screenshot(app, "result-en-800x480")
    tap(app, Button("done"))
    # "Done" right after the result appeared is ignored (a double tap must not hide the number)...
    await until(app, lambda: screen(app) == "home", "back home")
    assert app.ui.shown.language == "vi"


# --- the menus ----------------------------------------------------------------------------------------------


async def test_the_sample_site_menu_fields_then_procedures_and_back(rig):
    app = rig.kiosk()
    await home_with_tiles(app)
    shown = app.ui.shown
    assert shown.level == "fields"
    assert [(f.field_id, f.name) for f in shown.fields] == [(f.id, f.name) for f in rig.site.fields]
    # At 800x480 the three fields and the priority entry are on one page, no procedure yet.
    assert app.ui.pages == 1 and procedures_on_screen(app) == set()
    assert {FieldAction(1), FieldAction(2), FieldAction(3), Button("priority")} <= set(app.ui.actions())
    keep_screenshot(app, "menu-fields-800x480")

    press(app, FieldAction(3))
    await until(app, lambda: app.ui.shown.field_name == "Kinh doanh - Bảo hiểm", "field 3's procedures")
    assert procedures_on_screen(app) == {301, 302, 303, 401, 402} and app.ui.pages == 1
    assert Button("back") in app.ui.actions() and Button("priority") not in app.ui.actions()
    texts = [t.text for t in app.ui.texts]
    assert "‹ Quay lại" in texts and "Kinh doanh - Bảo hiểm" in texts
    # Every line on a tile at 24 px or more, every name whole.
    for rect, action in app.ui.regions:
        if isinstance(action, ProcedureAction):
            lines = [t for t in app.ui.texts if rect.contains(t.rect)]
            assert min(t.size for t in lines) >= 24
            assert " ".join(t.text for t in lines[:-1]) == rig.site.procedure(action.procedure_id).name
    keep_screenshot(app, "menu-procedures-800x480")

    press(app, Button("back"))
    await until(app, lambda: app.ui.shown.level == "fields", "back at the fields")
    assert procedures_on_screen(app) == set()


async def test_every_procedure_is_reachable_once_through_the_menus_at_800x480(rig):
    app = rig.kiosk(size=(800, 480))
    seen = await every_procedure_through_the_menus(app)
    assert seen == {p.id: 1 for p in rig.site.procedures}


async def test_a_queue_stays_on_offer_while_one_of_its_counters_is_open(rig):
    admin = await rig.person("admin")
    app = rig.kiosk(size=(1920, 1080))
    await home_with_tiles(app)
    all_procedures = {p.id for p in rig.site.procedures}
    assert procedures_offered(app) == all_procedures
    keep_screenshot(app, "home-1920x1080")
    queue_2 = {201, 202, 203}

    # Counter 5 still serves queue 2: nothing goes.
    await admin.send("COUNTER_STATUS_CHANGE", {"counter_id": 2, "status": "paused", "reason": "Nghỉ trưa"})
    await until(app, lambda: not app.client.state.counters[2].is_active, "counter 2 paused")
    assert procedures_offered(app) == all_procedures
    # Both its counters closed: queue 2's procedures go, and with them field 2 (it has no others).
    await admin.send("COUNTER_STATUS_CHANGE", {"counter_id": 5, "status": "offline"})
    await until(app, lambda: procedures_offered(app) == all_procedures - queue_2, "queue 2's tiles gone")
    assert [f.field_id for f in app.ui.shown.fields] == [1, 3]
    # Queue 3 closed: field 3 keeps queue 4's procedures.
    await admin.send("COUNTER_STATUS_CHANGE", {"counter_id": 3, "status": "offline"})
    await until(app, lambda: procedures_offered(app) == {101, 102, 401, 402}, "queues 2 and 3 gone")
    press(app, FieldAction(3))
    await until(app, lambda: app.ui.shown.field_name == "Kinh doanh - Bảo hiểm", "field 3")
    assert procedures_on_screen(app) == {401, 402}

    for counter_id in (2, 3, 5):
        await admin.send("COUNTER_STATUS_CHANGE", {"counter_id": counter_id, "status": "active"})
    await until(app, lambda: procedures_offered(app) == all_procedures, "every tile back")
    assert procedures_on_screen(app) == {301, 302, 303, 401, 402}
    # And queue 2 gives tickets again.
    press(app, Button("back"))
    app.step()
    tap(app, ProcedureAction(201))
    app.step()
    await until(app, lambda: screen(app) == "result", "a ticket for queue 2")
    keep_screenshot(app, "result-1920x1080")


async def test_an_open_field_whose_queues_close_returns_to_the_fields(rig):
    admin = await rig.person("admin")
    app = rig.kiosk()
    await home_with_tiles(app)
    press(app, FieldAction(2))
    await until(app, lambda: app.ui.shown.field_name == "Tư pháp - Hộ tịch", "field 2")
    for counter_id in (2, 5):
        await admin.send("COUNTER_STATUS_CHANGE", {"counter_id": counter_id, "status": "paused"})
    await until(app, lambda: app.ui.shown.level == "fields" and FieldAction(2) not in app.ui.actions(),
                "back at the fields, field 2 gone")


async def test_tiles_show_the_queue_as_the_hub_reports_it(rig):
    admin = await rig.person("admin")
    for i in range(3):
        await admin.send("TICKET_CREATED", {"procedure_id": 401, "request_id": f"before-{i}"})
        await admin.expect("TICKET_CREATED", where=lambda p, i=i: p["request_id"] == f"before-{i}")
    app = rig.kiosk()
    await until(app, lambda: any(t.procedure_id == 401 and t.waiting_count == 3 for t in app.model.tiles),
                "three waiting in queue 4")
    tile = next(t for t in app.model.tiles if t.procedure_id == 401)
    assert tile.wait_minutes == 3 * rig.site.default_service_minutes
    tap(app, ProcedureAction(401))
    app.step()
    await until(app, lambda: screen(app) == "result", "the result screen")
    assert app.ui.shown.ticket.people_ahead == 3
    # The tile follows the hub's QUEUE_UPDATE for the queue.
    await until(app, lambda: next(t for t in app.model.tiles if t.procedure_id == 401).waiting_count == 4,
                "four waiting")


async def test_a_portrait_kiosk_maps_taps_through_the_rotation(rig):
    app = rig.kiosk(size=(800, 480), rotation=90)
    await home_with_tiles(app)
    assert app.ui.size == (480, 800)
    keep_screenshot(app, "home-portrait-480x800")
    tap(app, ProcedureAction(102))
    app.step()
    await until(app, lambda: screen(app) == "result", "the result screen")
    assert app.ui.shown.ticket.procedure_name == rig.site.procedure(102).name


def many_procedures_site(fields: int, per_field: int) -> SiteConfig:
    """A hall with ``fields`` fields of ``per_field`` long-named procedures each (none: a flat list)."""
    names = [p.name for p in sample_site().procedures]
    lines = ['site_name = "Trung tâm Phục vụ hành chính công huyện"', 'timezone = "Asia/Ho_Chi_Minh"']
    queues = max(1, fields)
    for q in range(1, queues + 1):
        lines += ["[[queues]]", f"id = {q}", f'name = "Hàng chờ số {q}"', f"start_number = {1000 * q + 1}"]
    for f in range(1, fields + 1):
        lines += ["[[fields]]", f"id = {f}", f'name = "Lĩnh vực thứ {f}: hành chính, tư pháp"']
    for i in range(max(1, fields) * per_field):
        group = 1 + i // per_field
        lines += ["[[procedures]]", f"id = {100 + i}", f'name = "{names[i % len(names)]} (mẫu {i + 1})"',
                  f"queue = {group}"] + ([f"field = {group}"] if fields else [])
    for q in range(1, queues + 1):
        lines += ["[[counters]]", f"id = {q}", f'name = "Quầy số {q}"', f"queues = [{q}]"]
    return parse_site_config("\n".join(lines))


@pytest.mark.parametrize("fields, per_field", [(2, 14), (0, 24)], ids=["two-fields-of-14", "flat-24"])
async def test_a_site_with_many_procedures_pages_them_at_800x480(tmp_path, fields, per_field):
    rig = KioskRig(tmp_path, many_procedures_site(fields, per_field))
    await rig.start_hub()
    try:
        app = rig.kiosk(size=(800, 480))
        await home_with_tiles(app)
        seen = await every_procedure_through_the_menus(app)
        assert seen == {p.id: 1 for p in rig.site.procedures}  # each once, none left out
        if fields:
            press(app, FieldAction(1))
            await until(app, lambda: app.ui.shown.level == "procedures", "field 1")
        assert app.ui.pages > 1
        # Every page at 24 px or more on its tiles, every name whole.
        for page in range(app.ui.pages):
            for rect, action in app.ui.regions:
                if isinstance(action, ProcedureAction):
                    lines = [t for t in app.ui.texts if rect.contains(t.rect)]
                    assert min(t.size for t in lines) >= 24
                    assert " ".join(t.text for t in lines[:-1]) == rig.site.procedure(action.procedure_id).name
            if page == 1 and fields:
                keep_screenshot(app, "menu-many-procedures-800x480")
            press(app, Button("next_page"))
            app.step()
        # A procedure on a later page still gives its ticket.
        last = rig.site.procedures[per_field - 1].id
        tap(app, ProcedureAction(last))
        app.step()
        await until(app, lambda: screen(app) == "result", "the ticket from the last page")
        assert [row[2] for row in tickets_in_database(rig)] == [1]
    finally:
        await rig.close()


# --- priority --------------------------------------------------------------------------------------------------


async def test_a_priority_ticket_end_to_end(rig):
    admin = await rig.person("admin")
    app = rig.kiosk()
    await home_with_tiles(app)
    press(app, Button("priority"))
    await until(app, lambda: app.ui.shown.level == "reasons", "the priority reasons")
    assert [a for a in app.ui.actions() if isinstance(a, ReasonAction)] == [
        ReasonAction(r) for r in ("elderly", "disability", "pregnant", "child", "merit")]
    assert list(tile_texts(app).values()) == [
        "Người cao tuổi", "Người khuyết tật", "Phụ nữ mang thai", "Trẻ em", "Người có công"]
    assert min(t.size for rect, action in app.ui.regions if isinstance(action, ReasonAction)
               for t in app.ui.texts if rect.contains(t.rect)) >= 30
    assert app.ui.canvas.get_at((400, 64 + 3))[:3] == PRIORITY
    keep_screenshot(app, "priority-reasons-800x480")

    press(app, ReasonAction("elderly"))
    await until(app, lambda: app.ui.shown.priority_reason == "elderly", "the fields, for an elderly citizen")
    assert app.ui.shown.level == "fields"
    press(app, FieldAction(2))
    await until(app, lambda: app.ui.shown.field_name == "Tư pháp - Hộ tịch", "field 2")
    assert any(t.text.startswith("Ưu tiên – Người cao tuổi") for t in app.ui.texts)
    keep_screenshot(app, "priority-procedures-800x480")
    # An ordinary ticket already waits: the priority one is still issued in its own right.
    await admin.send("TICKET_CREATED", {"procedure_id": 202, "request_id": "before"})
    await admin.expect("TICKET_CREATED", where=lambda p: p["request_id"] == "before")
    press(app, ProcedureAction(203))
    app.step()
    request_id = app.model.pending_request_id
    assert request_id is not None
    await until(app, lambda: screen(app) == "result", "the result screen")
    keep_screenshot(app, "priority-result-800x480")

    # The hub got priority: true and the reason, and stored them.
    ((ticket_id, number, queue_id, _, priority, reason),) = tickets_in_database(rig, request_id=request_id)
    assert (queue_id, priority, reason) == (2, 1, "elderly")
    announced = await hear(app, admin, "TICKET_CREATED", where=lambda p: p["ticket_id"] == ticket_id)
    assert announced["priority"] is True and announced["priority_reason"] == "elderly"
    texts = [t.text for t in app.ui.texts]
    assert "ƯU TIÊN · Người cao tuổi" in texts and str(number) in texts

    # The printed ticket is the ticket the hub issued, with the ƯU TIÊN mark and the reason on it.
    (binary,) = printed(app)
    raster = decode_escpos(binary.read_bytes())
    context = ticket_context(rig, app)
    expected = hub_ticket(rig, app.settings.client.client_id, request_id, announced)
    assert expected.priority and expected.priority_reason == "elderly"
    assert same_picture(raster, render_ticket(expected, context))
    assert contains_centred(raster, priority_mark("elderly", context))
    assert not contains_centred(raster, priority_mark("pregnant", context))
    assert not same_picture(raster, render_ticket(dataclasses.replace(expected, priority=False,
                                                                      priority_reason=None), context))
    keep_ticket(binary.with_suffix(".png"), "ticket-priority-576")

    # The next citizen starts with an ordinary ticket, at the top.
    await until(app, lambda: screen(app) == "home", "back home")
    assert not app.ui.shown.priority_flow and app.ui.shown.level == "fields"


async def test_back_from_the_priority_menus_and_an_ordinary_ticket_after(rig):
    app = rig.kiosk()
    await home_with_tiles(app)
    press(app, Button("priority"))
    await until(app, lambda: app.ui.shown.level == "reasons", "the reasons")
    press(app, ReasonAction("child"))
    await until(app, lambda: app.ui.shown.priority_reason == "child", "the fields for a child")
    press(app, Button("back"))
    await until(app, lambda: app.ui.shown.level == "reasons", "the reasons again")
    press(app, Button("back"))
    await until(app, lambda: not app.ui.shown.priority_flow, "the ordinary menu")
    tap(app, ProcedureAction(101))
    app.step()
    await until(app, lambda: screen(app) == "result", "the result screen")
    assert [row[4:] for row in tickets_in_database(rig)] == [(0, None)]
    assert not app.ui.shown.ticket.priority


async def test_the_gpio_priority_button_asks_which_priority(rig):
    app = rig.kiosk(gpio=GpioConfig(pin_factory="mock", priority_button=23, buttons={"301": 17}))
    assert app.gpio is not None and app.gpio.priority_button is not None
    await home_with_tiles(app)
    button = app.gpio.factory.pin(23)
    button.drive_low()   # pressed: the button connects the pin to ground
    button.drive_high()
    await until(app, lambda: app.ui.shown.level == "reasons", "the priority reasons, from the button")
    press(app, ReasonAction("disability"))
    await until(app, lambda: app.ui.shown.priority_reason == "disability", "the fields")
    # The procedure's own button after the priority was chosen: a priority ticket for it.
    app.gpio.factory.pin(17).drive_low()
    app.gpio.factory.pin(17).drive_high()
    await until(app, lambda: screen(app) == "result", "a ticket from the procedure's button")
    assert [row[2:3] + row[4:] for row in tickets_in_database(rig)] == [(3, 1, "disability")]
    assert app.ui.shown.ticket.priority_reason == "disability"
    assert len(printed(app)) == 1


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


# --- start-up order ------------------------------------------------------------------------------------------


def hub_client_threads(app: KioskApp) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"hub-client:{app.settings.client.client_id}"]


async def test_the_screen_comes_first_then_the_hub_then_the_printer_warm_up(rig):
    app = rig.kiosk()
    app.step()  # the first frame, before the hub client's thread exists
    assert screen(app) == "unreachable" and not hub_client_threads(app)
    assert app.client.poll() == []
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(200, 200), button=1))
    app.step()  # a tap now is one while the hub is unreachable; the client starts after this frame
    assert app.model.pending_request_id is None and app.model.screen == "home"
    assert hub_client_threads(app)
    assert not app.worker.may_warm_up.is_set()  # not before the hub has answered
    await home_with_tiles(app)
    assert app.worker.may_warm_up.is_set()


async def test_the_printer_warms_up_even_when_the_hub_never_answers(rig, monkeypatch):
    monkeypatch.setattr("kiosk_node.app.HUB_FIRST_ATTEMPT_WAIT", 0.3)
    # The kernel accepts the connection; nothing ever answers the WebSocket handshake.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        rig.port = silent.getsockname()[1]  # the kiosk is pointed at it instead of the rig's hub
        app = rig.kiosk()
        # Well before the handshake's own timeout (open_timeout, 10 s) would make the client give up.
        await until(app, lambda: app.worker.may_warm_up.is_set(), "the printer's warm-up let go", timeout=3.0)
        assert screen(app) == "unreachable" and not app.model.connected


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
    assert app.ui.shown.ticket.queue_id == 3
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


async def test_a_gpio_button_for_a_paused_queue_says_so(rig):
    admin = await rig.person("admin")
    app = rig.kiosk(gpio=GpioConfig(pin_factory="mock", buttons={"101": 5}))
    await home_with_tiles(app)
    await admin.send("COUNTER_STATUS_CHANGE", {"counter_id": 1, "status": "paused"})
    await until(app, lambda: 101 not in procedures_offered(app), "counter 1 paused")
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
    # ...and the queue's only counter pauses, maybe before the hub handles it.
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
