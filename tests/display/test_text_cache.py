"""The pygame text cache (display.text_cache): rendered once, bounded, NFC, and a ruler display.fit sizes text with."""

from __future__ import annotations

import os
import unicodedata

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame  # noqa: E402
import pytest  # noqa: E402

from display.fit import fit_lines  # noqa: E402
from display.fonts import FontFiles, find_fonts  # noqa: E402
from display.text_cache import TextCache  # noqa: E402
from display.wrap import balanced_lines  # noqa: E402

WHITE = (255, 255, 255)


@pytest.fixture(scope="module")
def fonts() -> FontFiles:
    return find_fonts()


@pytest.fixture
def cache(fonts) -> TextCache:
    return TextCache(fonts, capacity=3)


def pixels(surface: pygame.Surface) -> bytes:
    return pygame.image.tobytes(surface, "RGBA")


def test_a_text_is_rendered_once(fonts):
    cache = TextCache(fonts)
    first = cache.render("Tư pháp", 30, WHITE, bold=True)
    assert cache.render("Tư pháp", 30, WHITE, bold=True) is first
    assert cache.render("Tư pháp", 30, (255, 210, 0), bold=True) is not first  # colour is part of the key
    assert cache.render("Tư pháp", 30, WHITE) is not first  # and the face
    assert cache.render("Tư pháp", 31, WHITE, bold=True) is not first  # and the size
    assert cache.render("Tư pháp", 30.6, WHITE, bold=True) is first  # type: ignore[arg-type]  # whole sizes


def test_the_cache_is_bounded_and_forgets_the_least_recently_used(cache):
    surfaces = {text: cache.render(text, 20, WHITE) for text in ("một", "hai", "ba")}
    assert cache.cached == 3 == cache.capacity
    cache.render("một", 20, WHITE)  # used again: now the newest
    for text in ("bốn", "năm", "sáu", "bảy"):
        cache.render(text, 20, WHITE)
        assert cache.cached == 3
    assert cache.render("một", 20, WHITE) is not surfaces["một"]  # forgotten, rendered again
    many = TextCache(cache.files, capacity=50)
    for number in range(1000):
        many.render(str(number), 24, WHITE)
        many.lines(f"Số {number} mời đến quầy", 24, 80)
    assert many.cached == 50 and len(many._lines) == 50


def test_a_capacity_below_one_is_refused(fonts):
    with pytest.raises(ValueError, match="at least 1"):
        TextCache(fonts, capacity=0)


def test_text_is_drawn_and_measured_in_nfc(cache):
    composed = "Người dùng Đặng Ỹ"
    decomposed = unicodedata.normalize("NFD", composed)
    surface = cache.render(composed, 40, WHITE)
    assert cache.render(decomposed, 40, WHITE) is surface  # one key: the NFC text
    assert cache.width(decomposed, 40) == cache.width(composed, 40) == surface.get_width()
    assert cache.lines(decomposed, 40, 150) == cache.lines(composed, 40, 150)
    assert all(unicodedata.is_normalized("NFC", line) for line in cache.lines(decomposed, 40, 150))


def test_bold_is_the_bold_face_or_the_regular_one_made_bold(fonts):
    assert fonts.bold is not None
    with_bold = TextCache(fonts)
    bold_face = pygame.font.Font(str(fonts.bold), 30).render("Đăng ký", True, WHITE)
    assert pixels(with_bold.render("Đăng ký", 30, WHITE, bold=True)) == pixels(bold_face)
    assert pixels(with_bold.render("Đăng ký", 30, WHITE, bold=True)) != pixels(with_bold.render("Đăng ký", 30, WHITE))
    without = TextCache(FontFiles(fonts.regular, None))
    assert without.font(30, bold=True).get_bold() and not without.font(30).get_bold()
    assert pixels(without.render("Đăng ký", 30, WHITE, bold=True)) != pixels(without.render("Đăng ký", 30, WHITE))


def test_tiny_sizes_get_the_smallest_font(cache):
    assert cache.font(1).get_height() == cache.font(6).get_height()
    assert cache.line_height(40) == cache.font(40).get_linesize()


def test_lines_are_the_balanced_wrap_at_the_fonts_widths(cache):
    text = "Văn phòng đăng ký đất đai và tài sản gắn liền với đất"
    lines = cache.lines(text, 30, 400, bold=True)
    assert lines == balanced_lines(text, 400, cache.measure(30, bold=True))
    assert len(lines) >= 2 and all(cache.width(line, 30, bold=True) <= 400 for line in lines)
    lines.append("changed by the caller")
    assert cache.lines(text, 30, 400, bold=True) != lines  # the cached lines are the cache's own


@pytest.mark.parametrize("box", [(300, 120), (180, 200), (120, 40)])
def test_fitted_text_stays_inside_its_box_in_pixels(cache, box):
    width, height = box
    size, lines = fit_lines(cache, "Cấp đổi, cấp lại Giấy chứng nhận quyền sử dụng đất", width, height, 40, 8,
                            bold=True, max_lines=3)
    drawn = [cache.render(line, size, WHITE, bold=True) for line in lines]
    assert all(surface.get_width() <= width for surface in drawn)
    assert len(drawn) * cache.line_height(size, bold=True) <= height
