"""The TV's drawing (tv_node.render, tv_node.fonts): every Vietnamese letter, dirty regions, layouts that scale.

Drawn on plain pygame surfaces: no window is needed.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import replace
from datetime import timedelta

import pytest

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402
import pygame.freetype  # noqa: E402

from protocol import messages as m  # noqa: E402
from protocol.client import apply_message  # noqa: E402
from tv_node.fonts import (  # noqa: E402
    DEFAULT_FONT_PATHS,
    FontNotFound,
    find_fonts,
    missing_glyphs,
    vietnamese_letters,
)
from tv_node.render import FontBook, TvRenderer  # noqa: E402
from tv_node.sample import SAMPLE_NOW, sample_state  # noqa: E402
from tv_node.view import PAUSED_TEXT, build_view  # noqa: E402

SIZES = [(1920, 1080), (1280, 720)]
DEJAVU_MONO = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"


@pytest.fixture(scope="module")
def fonts() -> FontBook:
    pygame.font.init()
    return FontBook(find_fonts())


def pixels(surface: pygame.Surface) -> bytes:
    return pygame.image.tobytes(surface, "RGBA")  # antialiased text is all in the alpha


def later(seconds: float):
    return SAMPLE_NOW + timedelta(seconds=seconds)


# --- glyphs -----------------------------------------------------------------------------------

VOWEL_MARKS = {"a": {"", "\u0306", "\u0302"}, "e": {"", "\u0302"}, "o": {"", "\u0302", "\u031b"},
               "u": {"", "\u031b"}, "i": {""}, "y": {""}}
TONE_MARKS = {"", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"}


def vietnamese_vowels_from_unicode() -> set[str]:
    """Every precomposed character that is a Vietnamese vowel: found by decomposing all of Latin, not listed."""
    found = set()
    for code in range(0x00C0, 0x1F00):
        char = chr(code)
        decomposed = unicodedata.normalize("NFD", char)
        base, marks = decomposed[0].lower(), list(decomposed[1:])
        if base not in VOWEL_MARKS or not marks or not unicodedata.category(char).startswith("L"):
            continue
        # Canonical order puts the dot below before the circumflex: compare the marks as a set.
        shape = [mark for mark in marks if mark in ("\u0306", "\u0302", "\u031b")]
        tone = [mark for mark in marks if mark in TONE_MARKS]
        if len(shape) + len(tone) == len(marks) and len(shape) <= 1 and len(tone) <= 1 \
                and (shape[0] if shape else "") in VOWEL_MARKS[base]:
            found.add(char)
    return found


def test_the_vietnamese_letters_are_all_of_them():
    letters = set(vietnamese_letters())
    # 12 vowels x 6 tones + đ + 20 other Latin letters, lower and upper case.
    assert len(letters) == 2 * (12 * 6 + 1 + 20) == 186
    assert all(len(c) == 1 for c in letters)
    from_unicode = vietnamese_vowels_from_unicode()
    assert len(from_unicode) == 2 * (12 * 6 - 6)  # the accented ones; the plain a e i o u y are ASCII
    assert from_unicode <= letters
    assert {"ặ", "Ặ", "ỵ", "Ỹ", "ữ", "Ờ", "đ", "Đ", "ẫ", "ơ", "Ư"} <= letters


@pytest.mark.parametrize("bold", [False, True], ids=["regular", "bold"])
def test_every_vietnamese_letter_has_a_glyph_and_draws_as_itself(fonts, bold):
    face = fonts.choice.bold if bold and fonts.choice.bold else fonts.choice.regular
    letters = vietnamese_letters()
    # The character map has each one.
    assert missing_glyphs(face, letters) == []
    # And drawing each differs from drawing a character the font lacks (its .notdef box).
    absent = "\U0001F98A"  # a fox: in no text font
    assert missing_glyphs(face, absent) == [absent]
    font = fonts.font(48, bold)
    notdef = pixels(font.render(absent, True, (255, 255, 255)))
    drawn_as_notdef = [c for c in letters if pixels(font.render(c, True, (255, 255, 255))) == notdef]
    assert drawn_as_notdef == []
    # A word with stacked marks draws differently from the same word without them.
    assert pixels(font.render("Người dùng", True, (255, 255, 255))) != \
        pixels(font.render("Nguoi dung", True, (255, 255, 255)))


def test_a_font_without_every_vietnamese_letter_is_passed_over():
    if not os.path.exists(DEJAVU_MONO):
        pytest.skip("fonts-dejavu-core without DejaVu Sans Mono")
    assert missing_glyphs(DEJAVU_MONO, vietnamese_letters())  # the case the check exists for
    choice = find_fonts([DEJAVU_MONO, *DEFAULT_FONT_PATHS])
    assert choice.regular != DEJAVU_MONO and str(choice.regular) in DEFAULT_FONT_PATHS


def test_no_usable_font_is_a_clear_error(tmp_path):
    not_a_font = tmp_path / "notes.ttf"
    not_a_font.write_text("not a font")
    candidates = [str(tmp_path / "missing.ttf"), str(not_a_font)]
    if os.path.exists(DEJAVU_MONO):
        candidates.append(DEJAVU_MONO)
    with pytest.raises(FontNotFound) as refused:
        find_fonts(candidates)
    message = str(refused.value)
    assert "missing.ttf: no such file" in message
    assert "notes.ttf: not a readable font" in message
    if os.path.exists(DEJAVU_MONO):
        assert "DejaVuSansMono.ttf: no glyph for" in message
    assert "fonts-dejavu-core" in message and "--font" in message


# --- dirty regions ----------------------------------------------------------------------------


def hall_timeline():
    """(label, view, ticker time): the screen through a working afternoon."""
    idle = sample_state(calls_ago=(40.0,))
    yield "idle", build_view(idle, later(0)), 0.0
    yield "clock ticks", build_view(idle, later(1)), 1.0
    called = sample_state(calls_ago=(0.1, 40.0))
    yield "a call", build_view(called, later(0.1)), 1.1
    yield "blink", build_view(called, later(0.7)), 1.7
    queue = apply_message(called, m.QueueUpdate(m.QueueUpdatePayload(
        counter_id=4, current_number=None, waiting_count=2, next_numbers=[4001, 4002], average_wait_time=3)))
    yield "a ticket at counter 4", build_view(queue, later(0.7)), 1.7
    paused = apply_message(queue, m.CounterStatusUpdate(m.CounterStatusUpdatePayload(
        counter_id=1, counter_name="Văn phòng đăng ký đất đai", status="paused", reason="Nghỉ trưa",
        changed_by="canbo", timestamp=m.utc_timestamp(later(1)), affected_tickets=3)))
    yield "a pause", build_view(paused, later(1.2)), 2.2
    announced = sample_state(calls_ago=(0.1, 40.0), announcements=(("Chú ý: quầy 1 tạm nghỉ", "high"),))
    yield "an announcement", build_view(announced, later(2)), 3.0
    long_text = "Hệ thống tạm ngừng cấp số từ 16 giờ 30 để bảo trì định kỳ. Xin cảm ơn quý khách đã kiên nhẫn chờ!"
    ticker = sample_state(calls_ago=(0.1, 40.0), announcements=((long_text, "medium"),))
    yield "a ticker", build_view(ticker, later(3)), 4.0
    yield "the ticker moves", build_view(ticker, later(3)), 4.5
    lost = replace(ticker, connected=False)
    yield "the hub is lost", build_view(lost, later(12)), 5.0
    yield "more counters", build_view(sample_state(counters=6), later(13)), 6.0
    yield "back", build_view(sample_state(), later(14)), 7.0


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_redrawing_only_what_changed_gives_the_same_screen_as_a_full_redraw(fonts, size):
    screen = pygame.Surface(size)
    renderer = TvRenderer(screen, fonts)
    for label, view, now in hall_timeline():
        renderer.draw(view, now)
        fresh = pygame.Surface(size)
        TvRenderer(fresh, fonts).draw(view, now)
        assert pixels(screen) == pixels(fresh), f"after {label}, the screen differs from a full redraw"


def test_a_frame_redraws_only_the_regions_whose_part_of_the_view_changed(fonts):
    screen = pygame.Surface((1920, 1080))
    renderer = TvRenderer(screen, fonts)
    idle = sample_state(calls_ago=(40.0,))
    assert renderer.draw(build_view(idle, later(0)), 0.0) == [screen.get_rect()]  # the first frame: everything
    assert renderer.draw(build_view(idle, later(0.5)), 0.5) == []  # nothing changed
    assert renderer.draw(build_view(idle, later(1)), 1.0) == [renderer.region("clock")]
    queue = apply_message(idle, m.QueueUpdate(m.QueueUpdatePayload(
        counter_id=4, current_number=None, waiting_count=2, next_numbers=[4001, 4002], average_wait_time=3)))
    assert renderer.draw(build_view(queue, later(1.2)), 1.2) == [renderer.region("row:4")]
    called = apply_message(queue, m.CallTicketOut(m.CallTicketOutPayload(
        ticket_number=4001, counter_id=4, counter_name="Bảo hiểm xã hội", timestamp=m.utc_timestamp(later(1.3)),
        called_by=m.CalledBy(user_id=1, username="canbo", full_name=None))))
    called = apply_message(called, m.QueueUpdate(m.QueueUpdatePayload(
        counter_id=4, current_number=4001, waiting_count=1, next_numbers=[4002], average_wait_time=3)))
    changed = renderer.draw(build_view(called, later(1.4)), 1.4)
    assert sorted(map(tuple, changed)) == sorted(map(tuple, [renderer.region("call"), renderer.region("row:4")]))
    assert renderer.placements("4001")  # drawn (in the call panel and on the row)
    assert {p.region for p in renderer.placements("4001")} == {"call", "row:4"}
    lost = replace(called, connected=False)
    assert renderer.draw(build_view(lost, later(1.45)), 1.45) == [renderer.region("mark")]
    assert renderer.placements("Mất kết nối")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("counters", [1, 4, 12])
def test_text_stays_inside_its_region_at_every_size(fonts, size, counters):
    state = sample_state(counters=counters, calls_ago=(0.5, 2.0, 3.0),
                         announcements=(("Quầy 3 tạm nghỉ đến 14 giờ 30", "high"),))
    state = apply_message(state, m.CounterStatusUpdate(m.CounterStatusUpdatePayload(
        counter_id=1, counter_name="Văn phòng đăng ký đất đai và tài sản gắn liền với đất của tỉnh",
        status="paused", reason="Cán bộ đi tập huấn nghiệp vụ tại Sở Tài nguyên và Môi trường cả ngày",
        changed_by="canbo", timestamp=m.utc_timestamp(SAMPLE_NOW), affected_tickets=3)))
    screen = pygame.Surface(size)
    renderer = TvRenderer(screen, fonts)
    renderer.draw(build_view(state, later(1)), 0.0)
    placed = renderer.placements()
    assert len({p.region for p in placed}) >= 4 + counters
    for piece in placed:
        region = renderer.region(piece.region)
        assert region.contains(piece.rect), f"{piece.text!r} sticks out of {piece.region} at {size}"
    # Counter 1 paused here; counter 3 is paused in the sample hall.
    assert [p.region for p in renderer.placements(PAUSED_TEXT)] == ["row:1", "row:3"][:1 + (counters >= 3)]


def test_the_layout_scales_with_the_screen(fonts):
    regions = {}
    for size in SIZES:
        renderer = TvRenderer(pygame.Surface(size), fonts)
        renderer.draw(build_view(sample_state(), later(0)), 0.0)
        regions[size] = {name: renderer.region(name) for name in ("call", "clock", "row:1", "banner")}
        number = renderer.placements("2014")[0]
        regions[size]["number size"] = number.size
    big, small = regions[(1920, 1080)], regions[(1280, 720)]
    for name in ("call", "clock", "row:1", "banner"):
        for attribute in ("x", "y", "width", "height"):
            assert abs(getattr(small[name], attribute) - getattr(big[name], attribute) * 2 / 3) <= 2, (name, attribute)
    assert abs(small["number size"] - big["number size"] * 2 / 3) <= 3


def test_the_banner_scrolls_only_when_its_text_does_not_fit(fonts):
    screen = pygame.Surface((1280, 720))
    renderer = TvRenderer(screen, fonts)
    short = build_view(sample_state(announcements=(("Chú ý", "high"),)), later(1))
    renderer.draw(short, 0.0)
    assert not renderer.animating
    assert renderer.draw(short, 0.5) == []
    long_text = "Từ ngày 01/12, bộ phận Tư pháp - Hộ tịch làm việc cả sáng thứ Bảy; quý khách vui lòng lấy số trước 11 giờ"
    ticker = build_view(sample_state(announcements=((long_text, "medium"),)), later(1))
    renderer.draw(ticker, 0.0)
    assert renderer.animating
    assert renderer.draw(ticker, 0.5) == [renderer.region("banner")]
    first = renderer.placements(long_text)[0].rect.x
    renderer.draw(ticker, 1.0)
    assert renderer.placements(long_text)[0].rect.x < first  # moving left
