"""The kiosk's screen without a hub: layouts at every supported size, portrait, taps, redrawing only on change,
the menus' levels, type on tiles never below 24 px at 800x480, and paging instead of shrinking.

How a turned canvas maps taps is display.rotation's (tests/display/test_rotation.py). What the screen
shows is read back from :attr:`KioskUI.texts` (every line drawn, its size and place) and the tap regions.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

os.environ["SDL_VIDEODRIVER"] = "dummy"
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame  # noqa: E402
import pytest  # noqa: E402

from display.fonts import find_fonts  # noqa: E402
from display.vietnamese_words import break_costs  # noqa: E402
from kiosk_node import i18n  # noqa: E402
from kiosk_node.model import PRIORITY_REASONS, FieldTile, Ticket, Tile, View  # noqa: E402
from kiosk_node.ui import (  # noqa: E402
    PRIORITY,
    Button,
    FieldAction,
    KioskUI,
    ProcedureAction,
    ReasonAction,
)

SIZES = [(800, 480), (1024, 600), (1920, 1080), (480, 800)]
SITE = "Trung tâm Phục vụ hành chính công tỉnh"
CLOCK = "10:30 · 19/07/2025"
# The sample site's procedures: (id, name, queue, queue name, counters, field).
PROCEDURES = [
    (101, "Đăng ký đất đai, tài sản gắn liền với đất", 1, "Đất đai", (1,), 1),
    (102, "Cấp đổi, cấp lại Giấy chứng nhận quyền sử dụng đất", 1, "Đất đai", (1,), 1),
    (201, "Đăng ký khai sinh", 2, "Tư pháp - Hộ tịch", (2, 5), 2),
    (202, "Đăng ký kết hôn", 2, "Tư pháp - Hộ tịch", (2, 5), 2),
    (203, "Chứng thực bản sao từ bản chính", 2, "Tư pháp - Hộ tịch", (2, 5), 2),
    (301, "Đăng ký thành lập hộ kinh doanh", 3, "Đăng ký kinh doanh", (3,), 3),
    (302, "Đăng ký thay đổi nội dung đăng ký hộ kinh doanh", 3, "Đăng ký kinh doanh", (3,), 3),
    (303, "Đăng ký thành lập doanh nghiệp", 3, "Đăng ký kinh doanh", (3,), 3),
    (401, "Cấp sổ bảo hiểm xã hội, thẻ bảo hiểm y tế", 4, "Bảo hiểm xã hội", (4,), 3),
    (402, "Giải quyết hưởng bảo hiểm xã hội một lần", 4, "Bảo hiểm xã hội", (4,), 3),
]
TILES = tuple(Tile(pid, name, queue, queue_name, counters, waiting_count=pid % 7, wait_minutes=5 * (pid % 7),
                   field_id=field) for pid, name, queue, queue_name, counters, field in PROCEDURES)
FIELDS = (FieldTile(1, "Đất đai - Nhà ở", (101, 102)), FieldTile(2, "Tư pháp - Hộ tịch", (201, 202, 203)),
          FieldTile(3, "Kinh doanh - Bảo hiểm", (301, 302, 303, 401, 402)))
TICKET = Ticket(number=2001, queue_id=2, queue_name="Tư pháp - Hộ tịch", counter_numbers=(2, 5),
                procedure_name="Đăng ký khai sinh", created_at=datetime(2025, 7, 19, 3, 30, tzinfo=UTC),
                people_ahead=3, wait_minutes=15, label="2001")
PRIORITY_TICKET = Ticket(number=3001, queue_id=3, queue_name="Đăng ký kinh doanh", counter_numbers=(3,),
                         procedure_name="Đăng ký thành lập hộ kinh doanh",
                         created_at=datetime(2025, 7, 19, 3, 30, tzinfo=UTC), people_ahead=0, wait_minutes=0,
                         label="A3001", priority=True, priority_reason="pregnant")


def field_view(field: FieldTile, language: i18n.Language = "vi", **priority) -> View:
    tiles = tuple(t for t in TILES if t.procedure_id in field.procedure_ids)
    return View("home", language, SITE, CLOCK, level="procedures", tiles=tiles, field_name=field.name, **priority)


VIEWS = {
    "home-fields": View("home", "vi", SITE, CLOCK, level="fields", fields=FIELDS),
    "home-field-3": field_view(FIELDS[2]),
    "home-flat": View("home", "vi", SITE, CLOCK, tiles=TILES),
    "home-en-banner": View("home", "en", SITE, CLOCK, tiles=TILES[:3], printer_problem="paper_out",
                           printer_fault=True),
    "home-empty": View("home", "vi", SITE, CLOCK),
    "priority-reasons": View("home", "vi", SITE, CLOCK, level="reasons", priority_flow=True),
    "priority-fields": View("home", "vi", SITE, CLOCK, level="fields", fields=FIELDS, priority_flow=True,
                            priority_reason="elderly"),
    "priority-field-1": field_view(FIELDS[0], priority_flow=True, priority_reason="elderly"),
    "printing": View("printing", "vi", SITE, CLOCK),
    "result": View("result", "vi", SITE, CLOCK, ticket=TICKET, countdown=6),
    "result-priority": View("result", "vi", SITE, CLOCK, ticket=PRIORITY_TICKET, countdown=6),
    "print_failed": View("print_failed", "vi", SITE, CLOCK, ticket=TICKET, printer_problem="cover_open",
                         printer_fault=True),
    "refused": View("refused", "en", SITE, CLOCK, refused_code="COUNTER_PAUSED"),
    "unreachable": View("unreachable", "vi", SITE, CLOCK, request_pending=True),
}
# What must be tappable on each screen.
BUTTONS = {
    "home-fields": {Button("language"), Button("priority"), *(FieldAction(f.field_id) for f in FIELDS)},
    "home-field-3": {Button("language"), Button("back")},
    "home-flat": {Button("language"), Button("priority")},
    "home-en-banner": {Button("language"), Button("priority"), *(ProcedureAction(t.procedure_id) for t in TILES[:3])},
    "home-empty": {Button("language")},
    "priority-reasons": {Button("language"), Button("back"), *(ReasonAction(r) for r in PRIORITY_REASONS)},
    "priority-fields": {Button("language"), Button("back"), *(FieldAction(f.field_id) for f in FIELDS)},
    "priority-field-1": {Button("language"), Button("back"), ProcedureAction(101), ProcedureAction(102)},
    "printing": set(),
    "result": {Button("done"), Button("dismiss")},
    "result-priority": {Button("done"), Button("dismiss")},
    "print_failed": {Button("reprint"), Button("done")},
    "refused": {Button("dismiss")},
    "unreachable": set(),
}
TILE_ACTIONS = (ProcedureAction, FieldAction, ReasonAction)


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


def tiles_on_screen(ui: KioskUI) -> dict:
    """Each tile on screen (and the priority entry) -> the lines of text drawn inside it, top to bottom."""
    tiles = {}
    for rect, action in ui.regions:
        if isinstance(action, TILE_ACTIONS) or action == Button("priority"):
            tiles[action] = sorted((t for t in ui.texts if rect.contains(t.rect)), key=lambda t: t.rect.top)
    return tiles


def every_page(ui: KioskUI, view: View) -> list[dict]:
    """The tiles of each page of ``view``, turning the pages as a citizen would."""
    ui.draw(view)
    pages = []
    for _ in range(ui.pages):
        pages.append(tiles_on_screen(ui))
        ui.turn_page(1)
        ui.draw(view)
    return pages


def title_of(lines) -> str:
    """A tile's title as drawn: every line but the footer, joined (a reason's tile has no footer)."""
    return " ".join(t.text for t in lines)


# --- every screen, every size --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", list(VIEWS))
def test_every_screen_draws_at_every_size(open_ui, size, name):
    ui = open_ui(size)
    view = VIEWS[name]
    assert ui.draw(view) is True
    actions = set(ui.actions())
    assert BUTTONS[name] <= actions
    canvas = pygame.Rect((0, 0), ui.size)
    for rect, action in ui.regions:
        assert canvas.contains(rect), f"{action} at {rect} is off the {ui.size} screen"
        # Big enough for a finger: 9 mm on the 7" screen is about 60 px.
        assert min(rect.size) >= 40 * ui.unit, f"{action} is only {rect.size}"
        assert ui.hit(ui.center_of(action)) in (action, Button("done"))
    for text in ui.texts:
        assert canvas.contains(text.rect), f"{text.text!r} at {text.rect} is off the screen"
    if name == "home-flat" and size == (1920, 1080):
        assert {a.procedure_id for a in actions if isinstance(a, ProcedureAction)} == {t.procedure_id for t in TILES}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", [name for name in VIEWS if name.startswith(("home", "priority"))])
def test_type_on_tiles_is_never_below_24_px_and_every_title_is_whole(open_ui, size, name):
    ui = open_ui(size)
    view = VIEWS[name]
    titles = {**{ProcedureAction(t.procedure_id): t.procedure_name for t in view.tiles},
              **{FieldAction(f.field_id): f.name for f in view.fields},
              **{ReasonAction(r): i18n.priority_reason(r, view.language) for r in PRIORITY_REASONS},
              Button("priority"): i18n.text("priority_entry", view.language)}
    assert ui.tile_type_min >= 24
    if size == (800, 480):
        assert ui.tile_type_min == 24
    seen = set()
    for page in every_page(ui, view):
        for action, lines in page.items():
            seen.add(action)
            assert lines, f"nothing drawn on {action}"
            assert min(t.size for t in lines) >= ui.tile_type_min, [(t.text, t.size) for t in lines]
            title = title_of(lines if isinstance(action, ReasonAction) or action == Button("priority")
                             else lines[:-1])
            assert title == titles[action], "a title cut or shrunk away"
            assert "…" not in "".join(t.text for t in lines)
    offered = {*(ProcedureAction(t.procedure_id) for t in view.tiles), *(FieldAction(f.field_id) for f in view.fields)}
    if view.level == "reasons":
        offered |= {ReasonAction(r) for r in PRIORITY_REASONS}
    if view.offers_priority:
        offered.add(Button("priority"))
    assert seen == offered


def test_the_sample_sites_titles_keep_their_words_whole_at_800x480(open_ui):
    """No line of a tile's title breaks inside a common word ("bảo | hiểm", "hộ kinh | doanh")."""
    ui = open_ui((800, 480))
    checked = 0
    for field in FIELDS:
        for page in every_page(ui, field_view(field)):
            for action, lines in page.items():
                if not isinstance(action, ProcedureAction):
                    continue
                syllables = [s for t in lines[:-1] for s in t.text.split()]
                costs = break_costs(syllables)
                first = 0
                for t in lines[:-2]:
                    first += len(t.text.split())
                    assert costs[first] == 0, f"{t.text!r} | ... splits a word in {title_of(lines[:-1])!r}"
                checked += 1
    assert checked == len(TILES)


def test_a_field_tile_says_how_many_procedures_it_holds(open_ui):
    ui = open_ui((800, 480))
    ui.draw(VIEWS["home-fields"])
    footers = {action: lines[-1].text for action, lines in tiles_on_screen(ui).items()
               if isinstance(action, FieldAction)}
    assert footers == {FieldAction(1): "2 thủ tục ›", FieldAction(2): "3 thủ tục ›", FieldAction(3): "5 thủ tục ›"}


def test_a_procedure_tile_names_every_counter_of_its_queue(open_ui):
    ui = open_ui((1920, 1080))
    ui.draw(field_view(FIELDS[1]))
    footers = {action: lines[-1].text for action, lines in tiles_on_screen(ui).items()}
    assert footers[ProcedureAction(201)].startswith("Quầy 2, 5")
    assert footers[ProcedureAction(202)] == "Quầy 2, 5 · 6 người chờ · ~30 phút"


# --- the menus ------------------------------------------------------------------------------------------------


def test_each_level_says_where_the_citizen_is(open_ui):
    ui = open_ui((800, 480))

    def shown(view: View) -> list[str]:
        ui.draw(view)
        return [t.text for t in ui.texts]

    assert "Chạm vào lĩnh vực bạn cần để lấy số thứ tự" in shown(VIEWS["home-fields"])
    assert "Kinh doanh - Bảo hiểm" in shown(VIEWS["home-field-3"])
    assert "‹ Quay lại" in shown(VIEWS["home-field-3"])
    assert "Bạn thuộc đối tượng ưu tiên nào?" in shown(VIEWS["priority-reasons"])
    assert any(line.startswith("Ưu tiên – Người cao tuổi") for line in shown(VIEWS["priority-field-1"]))
    # The priority flow is coloured all along, so a citizen knows which ticket is coming.
    ui.draw(VIEWS["priority-field-1"])
    assert ui.canvas.get_at((ui.size[0] // 2, 64 + 3))[:3] == PRIORITY
    ui.draw(VIEWS["home-field-3"])
    assert ui.canvas.get_at((ui.size[0] // 2, 64 + 3))[:3] != PRIORITY


def test_the_priority_reasons_are_big_tiles_in_vietnamese_and_english(open_ui):
    ui = open_ui((800, 480))
    for language, expected in (("vi", ["Người cao tuổi", "Người khuyết tật", "Phụ nữ mang thai", "Trẻ em",
                                       "Người có công"]),
                               ("en", ["Older person", "Person with a disability", "Pregnant woman", "Child",
                                       "Person of merit"])):
        view = View("home", language, SITE, CLOCK, level="reasons", priority_flow=True)  # type: ignore[arg-type]
        tiles = every_page(ui, view)
        assert len(tiles) == 1  # all five at once
        assert [title_of(tiles[0][ReasonAction(r)]) for r in PRIORITY_REASONS] == expected
        assert min(t.size for lines in tiles[0].values() for t in lines if lines) >= 30


def test_pages_start_again_at_the_first_on_another_level(open_ui):
    ui = open_ui((800, 480))
    ui.draw(VIEWS["home-flat"])
    assert ui.pages > 1
    ui.turn_page(1)
    ui.draw(VIEWS["home-flat"])
    assert ui.page == 1
    ui.draw(VIEWS["home-fields"])
    assert ui.page == 0


# --- paging -------------------------------------------------------------------------------------------------------


def many_procedures(count: int) -> tuple[Tile, ...]:
    names = [name for _, name, *_ in PROCEDURES]
    return tuple(Tile(1000 + i, f"{names[i % len(names)]} ({i + 1})", 1 + i % 4, "Hàng chờ", (1 + i % 4,), i, i)
                 for i in range(count))


@pytest.mark.parametrize("size", [(800, 480), (480, 800), (1920, 1080)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_many_procedures_go_on_pages_instead_of_shrinking(open_ui, size):
    ui = open_ui(size)
    tiles = many_procedures(40)
    view = View("home", "vi", SITE, CLOCK, tiles=tiles)
    pages = every_page(ui, view)
    assert len(pages) > 1
    shown = [a.procedure_id for page in pages for a in page if isinstance(a, ProcedureAction)]
    assert sorted(shown) == [t.procedure_id for t in tiles]  # each once, none left out
    for page in pages:
        for lines in page.values():
            assert min(t.size for t in lines) >= ui.tile_type_min >= 24
    assert Button("next_page") in ui.actions() and Button("previous_page") in ui.actions()


def test_turning_the_page_shows_the_next_tiles_and_wraps_around(open_ui):
    ui = open_ui((800, 480))
    view = VIEWS["home-flat"]
    ui.draw(view)
    first = {a for a in ui.actions() if isinstance(a, ProcedureAction)}
    ui.turn_page(1)
    assert ui.draw(view) is True
    second = {a for a in ui.actions() if isinstance(a, ProcedureAction)}
    assert first.isdisjoint(second)
    ui.turn_page(-2)  # before the first is the last
    ui.draw(view)
    assert ui.page == ui.pages - 1
    ui.draw(VIEWS["printing"])
    ui.draw(view)
    assert ui.page == 0


# --- the rest -----------------------------------------------------------------------------------------------------


def test_a_priority_ticket_is_marked_on_the_result_screen(open_ui):
    ui = open_ui((800, 480))
    ui.draw(VIEWS["result-priority"])
    texts = [t.text for t in ui.texts]
    assert "A3001" in texts and "ƯU TIÊN · Phụ nữ mang thai" in texts and "Quầy 3 – Đăng ký kinh doanh" in texts
    ui.draw(VIEWS["result"])
    texts = [t.text for t in ui.texts]
    assert not any("ƯU TIÊN" in t for t in texts) and "Quầy 2, 5 – Tư pháp - Hộ tịch" in texts


def test_a_view_is_drawn_once_however_many_frames_show_it(open_ui):
    ui = open_ui()
    assert ui.draw(VIEWS["home-fields"]) is True
    assert ui.draw(VIEWS["home-fields"]) is False
    assert ui.draw(View("home", "vi", SITE, "10:31 · 19/07/2025", level="fields", fields=FIELDS)) is True
    ui.invalidate()
    assert ui.draw(View("home", "vi", SITE, "10:31 · 19/07/2025", level="fields", fields=FIELDS)) is True


def test_a_tap_outside_every_button_does_nothing(open_ui):
    ui = open_ui()
    ui.draw(VIEWS["printing"])
    assert ui.hit((400, 240)) is None


def test_portrait_rotation_draws_upright_and_taps_land(open_ui):
    ui = open_ui((800, 480), rotation=270)
    assert ui.size == (480, 800)
    for name in ("home-fields", "priority-reasons", "home-field-3"):
        ui.draw(VIEWS[name])
        for _, action in ui.regions:
            assert ui.hit(ui.center_of(action)) == action
