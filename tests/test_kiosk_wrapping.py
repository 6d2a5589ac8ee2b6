"""Word wrapping as the kiosk's screen and ticket use it, with a ruler of one unit per character."""

from kiosk_node.wrapping import balanced_lines, greedy_lines


def test_greedy_packs_and_keeps_an_overlong_word_whole():
    assert greedy_lines("Đăng ký đất đai", 8, len) == ["Đăng ký", "đất đai"]
    assert greedy_lines("Chứng-thực-bản-sao", 5, len) == ["Chứng-thực-bản-sao"]
    assert greedy_lines("", 10, len) == []


def test_balanced_leaves_no_lone_last_word():
    text = "Đăng ký đất đai tài sản"
    assert greedy_lines(text, 20, len) == ["Đăng ký đất đai tài", "sản"]
    balanced = balanced_lines(text, 20, len)
    assert len(balanced) == 2 and " ".join(balanced) == text
    assert max(map(len, balanced)) < 20 and min(map(len, balanced)) > 3
