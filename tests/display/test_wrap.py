"""Word wrapping and ellipsis (display.wrap), with a ruler of one unit per character: the screen's and the ticket's.

Also the common Vietnamese words kept whole (display.vietnamese_words): a break falls between words
where it can, inside one only when the text cannot be set in as many lines otherwise, never inside a
syllable, and never past the width.
"""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from display.vietnamese_words import COMMON_WORDS, break_costs, word_spans
from display.wrap import ELLIPSIS, NO_BREAK_BEFORE, balanced_lines, ellipsize, greedy_lines, words_split

WORDS = st.lists(st.sampled_from(["Đăng", "ký", "đất", "đai", "-", "Hộ", "tịch", "–", "Chứng-thực-bản-sao", "/",
                                  "a", "Văn", "phòng", "hộ", "kinh", "doanh", "bảo", "hiểm", "xã", "hội,", "tài",
                                  "sản"]), min_size=0, max_size=14).map(" ".join)
# The brief's own list: each must be known, and kept whole.
BRIEF_WORDS = ["bảo hiểm", "đất đai", "thành lập", "bản sao", "tài sản", "khai sinh", "kết hôn", "chứng thực",
               "doanh nghiệp", "hộ kinh doanh", "giấy chứng nhận", "quyền sử dụng", "xã hội", "y tế", "hộ tịch",
               "tư pháp", "đăng ký", "thủ tục", "hành chính"]


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


@given(WORDS, st.integers(min_value=1, max_value=40), st.integers(min_value=0, max_value=3))
def test_wrapping_keeps_every_word_in_order_and_no_more_lines_than_greedy(text, width, spare):
    greedy = greedy_lines(text, width, len)
    balanced = balanced_lines(text, width, len)
    assert " ".join(balanced) == " ".join(greedy) == " ".join(text.split())
    assert len(balanced) == len(greedy)
    roomy = balanced_lines(text, width, len, max_lines=len(greedy) + spare)
    assert " ".join(roomy) == " ".join(text.split())
    assert len(greedy) <= len(roomy) <= max(len(greedy) + spare, 1)
    # A spare line is taken only to split fewer words.
    assert words_split(roomy) <= words_split(balanced)
    assert len(roomy) == len(balanced) or words_split(roomy) < words_split(balanced)
    for lines in (balanced, roomy):
        for index, line in enumerate(lines):
            # Too wide only when it cannot be broken: one word, and the dashes kept with it.
            assert len(line) <= width or all(word in NO_BREAK_BEFORE for word in line.split()[1:])
            assert index == 0 or line.split()[0] not in NO_BREAK_BEFORE


@given(WORDS, st.integers(min_value=1, max_value=40))
def test_a_word_is_split_only_when_the_lines_cannot_be_set_otherwise(text, width):
    """No layout in as many lines, each within the width, splits fewer words (checked by trying them all)."""
    from itertools import combinations

    balanced = balanced_lines(text, width, len)
    # The units the wrap works with: words, each lone dash kept with the word before it.
    joined: list[str] = []
    for unit in text.split():
        if unit in NO_BREAK_BEFORE and joined:
            joined[-1] += " " + unit
        else:
            joined.append(unit)
    if len(joined) > 12 or len(balanced) < 2:
        return
    best = None
    for breaks in combinations(range(1, len(joined)), len(balanced) - 1):
        edges = (0, *breaks, len(joined))
        lines = [" ".join(joined[a:b]) for a, b in zip(edges, edges[1:], strict=False)]
        if all(len(line) <= width or b - a == 1 for line, a, b in zip(lines, edges, edges[1:], strict=False)):
            split = words_split(lines)
            best = split if best is None else min(best, split)
    assert best is not None and words_split(balanced) == best


def test_common_words_stay_on_one_line():
    assert greedy_lines("Đăng ký đất đai tài sản", 20, len) == ["Đăng ký đất đai tài", "sản"]
    assert balanced_lines("Đăng ký đất đai tài sản", 20, len) == ["Đăng ký đất đai", "tài sản"]
    assert balanced_lines("Đăng ký thành lập hộ kinh doanh", 16, len) == ["Đăng ký", "thành lập", "hộ kinh doanh"]
    assert balanced_lines("Chứng thực bản sao từ bản chính", 18, len) == ["Chứng thực bản sao", "từ bản chính"]
    assert balanced_lines("Cấp đổi, cấp lại Giấy chứng nhận quyền sử dụng đất", 20, len) == [
        "Cấp đổi, cấp lại", "Giấy chứng nhận", "quyền sử dụng đất"]
    assert balanced_lines("Cấp sổ bảo hiểm xã hội, thẻ bảo hiểm y tế", 30, len) == [
        "Cấp sổ bảo hiểm xã hội,", "thẻ bảo hiểm y tế"]
    # Upper case and decomposed letters (NFD) make no difference.
    assert balanced_lines("ĐĂNG KÝ ĐẤT ĐAI TÀI SẢN", 20, len) == ["ĐĂNG KÝ ĐẤT ĐAI", "TÀI SẢN"]
    decomposed = unicodedata.normalize("NFD", "Đăng ký đất đai tài sản")
    assert balanced_lines(decomposed, 20, lambda line: len(unicodedata.normalize("NFC", line))) == [
        unicodedata.normalize("NFD", "Đăng ký đất đai"), unicodedata.normalize("NFD", "tài sản")]


def test_a_pair_too_wide_for_any_line_is_split_and_never_overflows():
    assert balanced_lines("bảo hiểm", 5, len) == ["bảo", "hiểm"]
    # Split where it costs least: "hộ | kinh doanh" (one word) rather than "hộ kinh | doanh" (two).
    assert balanced_lines("Đăng ký thành lập hộ kinh doanh", 12, len) == ["Đăng ký", "thành lập hộ", "kinh doanh"]
    # Two lines cannot hold it whole; with room for a third, it stays whole.
    assert balanced_lines("Đăng ký đất đai, tài sản gắn liền với đất", 22, len) == [
        "Đăng ký đất đai, tài", "sản gắn liền với đất"]
    assert balanced_lines("Đăng ký đất đai, tài sản gắn liền với đất", 22, len, max_lines=3) == [
        "Đăng ký đất đai,", "tài sản gắn liền", "với đất"]


def test_the_common_words_are_the_procedures_words():
    for word in BRIEF_WORDS:
        assert word in COMMON_WORDS, word
    for word in COMMON_WORDS:
        assert word == word.lower() and len(word.split()) in (2, 3) and " ".join(word.split()) == word, word
        assert unicodedata.is_normalized("NFC", word), word
    assert len(set(COMMON_WORDS)) == len(COMMON_WORDS)


def test_words_are_found_across_punctuation_but_never_run_past_it():
    syllables = ["Đăng", "ký", "đất", "đai,", "tài", "sản"]
    assert word_spans(syllables) == [(0, 2), (2, 4), (4, 6)]
    assert word_spans(["đai,", "tài"]) == []  # not one word across the comma
    assert word_spans(["Tư", "pháp -", "Hộ", "tịch"]) == [(0, 2), (2, 4)]
    # Words inside words count: a break inside "kinh doanh" of "hộ kinh doanh" splits both.
    assert break_costs(["thành", "lập", "hộ", "kinh", "doanh"]) == [0, 1, 0, 1, 2]
    assert words_split(["thành lập hộ", "kinh doanh"]) == 1 and words_split(["thành lập", "hộ kinh doanh"]) == 0


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
