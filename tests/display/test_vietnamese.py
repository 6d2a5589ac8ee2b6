"""The one Vietnamese letter set (display.vietnamese): all of it, checked against Unicode itself; NFC."""

from __future__ import annotations

import unicodedata

from display.vietnamese import EXTRA_CHARACTERS, nfc, required_characters, vietnamese_letters

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


def test_the_letters_are_all_of_them_and_nothing_else():
    letters = vietnamese_letters()
    assert len(letters) == len(set(letters)) == 2 * (12 * 6 + 1 + 20) == 186
    precomposed = {c for c in letters if ord(c) > 0x7F}
    # 12 vowels x 6 tone forms - the 6 plain ASCII vowels = 66, and đ: 67 lower case, as many upper case.
    assert len(precomposed) == 134
    assert all(0x00C0 <= ord(c) <= 0x1EF9 for c in precomposed)
    assert precomposed - {"đ", "Đ"} == vietnamese_vowels_from_unicode()
    assert all(len(c) == 1 and unicodedata.is_normalized("NFC", c) for c in letters)
    assert set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") <= set(letters)
    assert {"ặ", "Ặ", "ỵ", "Ỹ", "ữ", "Ờ", "đ", "Đ", "ẫ", "ơ", "Ư"} <= set(letters)
    assert "ç" not in letters and "ñ" not in letters


def test_a_font_must_also_have_the_digits_and_punctuation():
    required = required_characters()
    assert set(vietnamese_letters()) | set(EXTRA_CHARACTERS) == set(required)
    assert len(required) == len(set(required))
    assert set("0123456789.,:-–…") <= set(required)


def test_text_is_drawn_in_nfc():
    decomposed = unicodedata.normalize("NFD", "Người dùng Đặng Ỹ")
    assert decomposed != "Người dùng Đặng Ỹ"
    assert nfc(decomposed) == "Người dùng Đặng Ỹ"
    already = "Tư pháp - Hộ tịch"
    assert nfc(already) is already
