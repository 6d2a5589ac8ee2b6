"""The kiosk's screen without a hub: layouts at every supported size, portrait, taps, redrawing only on change.

How a turned canvas maps taps is display.rotation's (tests/display/test_rotation.py).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

os.environ["SDL_VIDEODRIVER"] = "dummy"
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame  # noqa: E402
import pytest  # noqa: E402

from display.fonts import find_fonts  # noqa: E402
from kiosk_node.model import Ticket, Tile, View  # noqa: E402
from kiosk_node.ui import Button, KioskUI, ProcedureAction, grid  # noqa: E402

SIZES = [(800, 480), (1024, 600), (1920, 1080)]
SITE = "Trung tâm Phục vụ hành chính công tỉnh"
PROCEDURES = [
    (101, "Đăng ký đất đai, tài sản gắn liền với đất", 1, "Văn phòng đăng ký đất đai"),
    (102, "Cấp đổi, cấp lại Giấy chứng nhận quyền sử dụng đất", 1, "Văn phòng đăng ký đất đai"),
    (201, "Đăng ký khai sinh", 2, "Tư pháp - Hộ tịch"),
    (202, "Đăng ký kết hôn", 2, "Tư pháp - Hộ tịch"),
    (203, "Chứng thực bản sao từ bản chính", 2, "Tư pháp - Hộ tịch"),
    (301, "Đăng ký thành lập hộ kinh doanh", 3, "Đăng ký kinh doanh"),
    (302, "Đăng ký thay đổi nội dung đăng ký hộ kinh doanh", 3, "Đăng ký kinh doanh"),
    (303, "Đăng ký thành lập doanh nghiệp", 3, "Đăng ký kinh doanh"),
    (401, "Cấp sổ bảo hiểm xã hội, thẻ bảo hiểm y tế", 4, "Bảo hiểm xã hội"),
    (402, "Giải quyết hưởng bảo hiểm xã hội một lần", 4, "Bảo hiểm xã hội"),
]
TILES = tuple(Tile(pid, name, cid, counter, waiting_count=pid % 7, wait_minutes=5 * (pid % 7))
              for pid, name, cid, counter in PROCEDURES)
TICKET = Ticket(number=2001, counter_id=2, counter_name="Tư pháp - Hộ tịch", procedure_name="Đăng ký khai sinh",
                created_at=datetime(2025, 7, 19, 3, 30, tzinfo=UTC), people_ahead=3, wait_minutes=15)

VIEWS = {
    "home": View("home", "vi", SITE, "10:30 · 19/07/2025", tiles=TILES),
    "home-en-banner": View("home", "en", SITE, "10:30 · 19/07/2025", tiles=TILES[:3], printer_problem="paper_out",
                           printer_fault=True),
    "home-empty": View("home", "vi", SITE, "10:30 · 19/07/2025"),
    "printing": View("printing", "vi", SITE, "10:30 · 19/07/2025"),
    "result": View("result", "vi", SITE, "10:30 · 19/07/2025", ticket=TICKET, countdown=6),
    "print_failed": View("print_failed", "vi", SITE, "10:30 · 19/07/2025", ticket=TICKET,
                         printer_problem="cover_open", printer_fault=True),
    "refused": View("refused", "en", SITE, "10:30 · 19/07/2025", refused_code="COUNTER_PAUSED"),
    "unreachable": View("unreachable", "vi", SITE, "10:30 · 19/07/2025", request_pending=True),
}
# What must be tappable on each screen.
BUTTONS = {
    "home": {Button("language")},
    "home-en-banner": {Button("language")},
    "home-empty": {Button("language")},
    "printing": set(),
    "result": {Button("done"), Button("dismiss")},
    "print_failed": {Button("reprint"), Button("done")},
    "refused": {Button("dismiss")},
    "unreachable": set(),
}


@pytest.fixture
def open_ui():
    opened: list[KioskUI] = []

    def make(size=(800, 480), rotation=0) -> KioskUI:
        ui = KioskUI(find_fonts(), size, rotation=rotation)
        ui.open()
        opened.append(ui)
        return ui

    yield make
    for ui in opened:
        ui.close()


def test_grid_fits_every_tile_on_a_large_screen_and_pages_on_a_small_one():
    assert grid(10, 1880, 880, 22, 427, 216) == (4, 3)
    columns, rows = grid(10, 776, 330, 10, 190, 96)
    assert columns * rows < 10  # paged
    assert grid(2, 776, 330, 10, 190, 96) == (2, 1)
    assert grid(0, 776, 330, 10, 190, 96) == (1, 1)
    columns, rows = grid(10, 100, 50, 10, 190, 96)  # absurdly small: still one tile a page
    assert columns >= 1 and rows >= 1


@pytest.mark.parametrize("size", SIZES + [(480, 800)], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", list(VIEWS))
def test_every_screen_draws_at_every_size(open_ui, size, name):
    ui = open_ui(size)
    view = VIEWS[name]
    assert ui.draw(view) is True
    actions = {action for _, action in ui.regions}
    assert BUTTONS[name] <= actions
    canvas = pygame.Rect((0, 0), ui.size)
    for rect, action in ui.regions:
        assert canvas.contains(rect), f"{action} at {rect} is off the {ui.size} screen"
        # Big enough for a finger: 9 mm on the 7" screen is about 60 px.
        assert min(rect.size) >= 40 * ui.unit, f"{action} is only {rect.size}"
        assert ui.hit(ui.center_of(action)) in (action, Button("done"))
    if name == "home":
        shown = {a.procedure_id for a in actions if isinstance(a, ProcedureAction)}
        assert shown and shown <= {t.procedure_id for t in TILES}
        if size == (1920, 1080):
            assert shown == {t.procedure_id for t in TILES}  # all on one page


def test_a_view_is_drawn_once_however_many_frames_show_it(open_ui):
    ui = open_ui()
    assert ui.draw(VIEWS["home"]) is True
    assert ui.draw(VIEWS["home"]) is False
    assert ui.draw(View("home", "vi", SITE, "10:31 · 19/07/2025", tiles=TILES)) is True
    ui.invalidate()
    assert ui.draw(View("home", "vi", SITE, "10:31 · 19/07/2025", tiles=TILES)) is True


def test_pages_cycle_and_reset_when_leaving_home(open_ui):
    ui = open_ui((800, 480))
    ui.draw(VIEWS["home"])
    assert ui.pages > 1
    first = {a for _, a in ui.regions if isinstance(a, ProcedureAction)}
    ui.turn_page(1)
    assert ui.draw(VIEWS["home"]) is True
    second = {a for _, a in ui.regions if isinstance(a, ProcedureAction)}
    assert first.isdisjoint(second)
    ui.draw(VIEWS["printing"])
    ui.draw(VIEWS["home"])
    assert ui.page == 0


def test_a_tap_outside_every_button_does_nothing(open_ui):
    ui = open_ui()
    ui.draw(VIEWS["printing"])
    assert ui.hit((400, 240)) is None


def test_portrait_rotation_draws_upright_and_taps_land(open_ui):
    ui = open_ui((800, 480), rotation=270)
    assert ui.size == (480, 800)
    ui.draw(VIEWS["home"])
    for _, action in ui.regions:
        assert ui.hit(ui.center_of(action)) == action
