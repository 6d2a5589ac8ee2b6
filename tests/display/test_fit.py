"""Type sizes (display.fit): the largest that fits a box, and the text cut to fit when none does.

Measured with a ruler whose letters are ``size / 2`` wide and lines ``size``
high, so every expectation can be worked out by hand; the pygame text cache
is checked against the same rules in test_text_cache.py.
"""

from __future__ import annotations

import pytest

from display.fit import SHRINK, cut_lines, fit_lines, fit_width, largest_fitting
from display.wrap import ELLIPSIS, balanced_lines


class HalfRuler:
    """A monospaced ruler: each character half the size wide, lines as high as the size."""

    def __init__(self) -> None:
        self.measured = 0

    def width(self, text: str, size: int, bold: bool = False) -> int:
        self.measured += 1
        return len(text) * size // 2

    def line_height(self, size: int, bold: bool = False) -> int:
        return size

    def lines(self, text: str, size: int, width: int, bold: bool = False, *, max_lines: int | None = None
              ) -> list[str]:
        return balanced_lines(text, width, lambda line: self.width(line, size, bold), max_lines=max_lines)


def test_largest_fitting_steps_down_and_stops_at_the_smallest():
    tried: list[int] = []

    def fits(size: int) -> bool:
        tried.append(size)
        return size <= 50

    assert largest_fitting(fits, 100, 10) == 48
    assert tried == [100, 92, 84, 77, 70, 64, 58, 53, 48]
    assert largest_fitting(lambda size: False, 100, 10) == 10
    assert largest_fitting(lambda size: True, 5, 10) == 5  # already below the smallest: taken as it is


def test_largest_fitting_keeps_fractional_sizes_fractional():
    size = largest_fitting(lambda size: size < 200, 250.0, 40.0)
    assert size == pytest.approx(250 * SHRINK ** 3) and isinstance(size, float)


def test_fit_width_finds_the_largest_one_line_size():
    ruler = HalfRuler()
    assert fit_width(ruler, "Tư pháp", 700, 100, 10) == 100  # fits as it is
    assert fit_width(ruler, "Tư pháp - Hộ tịch", 340, 100, 10) == 40  # 17 characters x 20 = 340
    assert fit_width(ruler, "Tư pháp - Hộ tịch", 20, 100, 10) == 10  # never below the smallest
    ruler.measured = 0
    fit_width(ruler, "Văn phòng đăng ký đất đai", 333, 200, 6)
    assert ruler.measured <= 4  # each try jumps to the size the overflow suggests


def test_fit_lines_takes_the_largest_size_whose_lines_fit_the_box():
    ruler = HalfRuler()
    # 60, 55, 50, 46 need four lines or more, 42, 38 and 34 three lines too high for the box; 31 fits.
    assert fit_lines(ruler, "Văn phòng đăng ký đất đai", 200, 100, 60, 10, max_lines=3) == \
        (31, ["Văn phòng", "đăng ký", "đất đai"])
    assert fit_lines(ruler, "Văn phòng đăng ký đất đai", 200, 100, 60, 10, max_lines=2) == \
        (28, ["Văn phòng đăng", "ký đất đai"])  # the evenest two lines: 14 and 10 characters


def test_fit_lines_keeps_one_line_while_it_is_big_enough():
    ruler = HalfRuler()
    # Two lines would be larger (40), but one line at 30 is at least 0.6 of 40: one line.
    assert fit_lines(ruler, "Tư pháp - Hộ tịch", 255, 100, 40, 10, max_lines=2, one_line=0.6) == \
        (30, ["Tư pháp - Hộ tịch"])
    size, lines = fit_lines(ruler, "Tư pháp - Hộ tịch", 255, 100, 40, 10, max_lines=2, one_line=0.8)
    assert (size, lines) == (40, ["Tư pháp -", "Hộ tịch"])


def test_fit_lines_cuts_what_does_not_fit_at_the_smallest_size():
    ruler = HalfRuler()
    text = "Cán bộ đi tập huấn nghiệp vụ tại Sở Tài nguyên và Môi trường cả ngày"
    size, lines = fit_lines(ruler, text, 100, 25, 20, 10, max_lines=3)
    assert size == 10 and len(lines) == 2  # two lines of 10 in a box 25 high
    assert lines == ["Cán bộ đi tập huấn", "nghiệp vụ tại Sở Tà" + ELLIPSIS]  # 20 characters of 5
    assert all(ruler.width(line, size) <= 100 for line in lines)
    assert fit_lines(ruler, "Chứng-thực-bản-sao-từ-bản-chính", 50, 100, 20, 10, max_lines=2)[1] == \
        ["Chứng-thự" + ELLIPSIS]


def test_cut_lines_puts_the_rest_on_the_last_line_and_cuts_it():
    assert cut_lines("Đăng ký đất đai tài sản", 8, 2, len) == ["Đăng ký", "đất đai" + ELLIPSIS]
    assert cut_lines("Đăng ký đất đai", 8, 2, len) == ["Đăng ký", "đất đai"]
    assert cut_lines("Chứng-thực-bản-sao và", 8, 1, len) == ["Chứng-t" + ELLIPSIS]


def test_keeping_words_whole_takes_a_spare_line_or_a_smaller_size_but_never_less_than_the_smallest():
    ruler = HalfRuler()
    text = "Đăng ký đất đai tài sản"  # 23 characters; at 20, 13 to a line of 130
    assert fit_lines(ruler, text, 130, 60, 20, 10, max_lines=3) == (20, ["Đăng ký đất", "đai tài sản"])
    # With room for a third line, the words stay whole at the same size...
    assert fit_lines(ruler, text, 130, 60, 20, 10, max_lines=3, keep_words=True) == (
        20, ["Đăng ký", "đất đai", "tài sản"])
    # ...and in a box of two lines, a smaller size keeps them whole (15 characters of 8) rather than split one.
    assert fit_lines(ruler, text, 130, 40, 20, 10, max_lines=2) == (20, ["Đăng ký đất", "đai tài sản"])
    assert fit_lines(ruler, text, 130, 40, 20, 10, max_lines=2, keep_words=True) == (
        16, ["Đăng ký đất đai", "tài sản"])
    # Where no size down to the smallest keeps them, the text still fits, split.
    assert fit_lines(ruler, text, 130, 40, 20, 18, max_lines=2, keep_words=True) == (
        20, ["Đăng ký đất", "đai tài sản"])
