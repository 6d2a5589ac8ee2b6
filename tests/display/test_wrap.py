"""Word wrapping and ellipsis (display.wrap), with a ruler of one unit per character: the screen's and the ticket's."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from display.wrap import ELLIPSIS, NO_BREAK_BEFORE, balanced_lines, ellipsize, greedy_lines

WORDS = st.lists(st.sampled_from(["Đăng", "ký", "đất", "đai", "-", "Hộ", "tịch", "–", "Chứng-thực-bản-sao", "/",
                                  "a", "Văn", "phòng"]), min_size=0, max_size=14).map(" ".join)


def test_greedy_packs_and_keeps_an_overlong_word_whole():
    assert greedy_lines("Đăng ký đất đai", 8, len) == ["Đăng ký", "đất đai"]
    assert greedy_lines("Chứng-thực-bản-sao", 5, len) == ["Chứng-thực-bản-sao"]
    assert greedy_lines("", 10, len) == []
    assert greedy_lines("  Đăng   ký  ", 20, len) == ["Đăng ký"]


def test_balanced_leaves_no_lone_last_word():
    text = "Đăng ký đất đai tài sản"
    assert greedy_lines(text, 20, len) == ["Đăng ký đất đai tài", "sản"]
    balanced = balanced_lines(text, 20, len)
    assert len(balanced) == 2 and " ".join(balanced) == text
    assert max(map(len, balanced)) < 20 and min(map(len, balanced)) > 3


def test_a_line_never_starts_with_a_dash():
    assert balanced_lines("Tư pháp - Hộ tịch", 10, len) == ["Tư pháp -", "Hộ tịch"]
    assert greedy_lines("Công an – Cư trú", 9, len) == ["Công an –", "Cư trú"]
    assert greedy_lines("Giáo dục / Đào tạo", 10, len) == ["Giáo dục /", "Đào tạo"]
    assert greedy_lines("- a", 1, len) == ["-", "a"]  # a dash that opens the text stays where it is


@given(WORDS, st.integers(min_value=1, max_value=40))
def test_wrapping_keeps_every_word_in_order_and_no_more_lines_than_greedy(text, width):
    greedy = greedy_lines(text, width, len)
    balanced = balanced_lines(text, width, len)
    assert " ".join(balanced) == " ".join(greedy) == " ".join(text.split())
    assert len(balanced) == len(greedy)
    for index, line in enumerate(balanced):
        # Too wide only when it cannot be broken: one word, and the dashes kept with it.
        assert len(line) <= width or all(word in NO_BREAK_BEFORE for word in line.split()[1:])
        assert index == 0 or line.split()[0] not in NO_BREAK_BEFORE


def test_ellipsize_cuts_only_what_does_not_fit():
    assert ellipsize("Tư pháp", 7, len) == "Tư pháp"
    assert ellipsize("Văn phòng đăng ký đất đai", 12, len) == "Văn phòng đ" + ELLIPSIS
    # What the cut leaves at the end goes: spaces, commas, dashes.
    assert ellipsize("Cán bộ đi họp, quay lại lúc 14 giờ", 15, len) == "Cán bộ đi họp" + ELLIPSIS
    assert ellipsize("Thuế - Lệ phí", 8, len) == "Thuế" + ELLIPSIS
    assert ellipsize("Văn", 0, len) == ELLIPSIS


@given(st.text(min_size=0, max_size=30), st.integers(min_value=1, max_value=30))
def test_ellipsize_always_fits(text, width):
    cut = ellipsize(text, width, len)
    assert len(cut) <= width or cut == ELLIPSIS
    assert cut == text or (cut.endswith(ELLIPSIS) and text.startswith(cut[:-1]))
