"""The kiosk's own texts (kiosk_node.i18n): Vietnamese first and spelt as the hall says it, NFC, and every
character in the font the kiosk draws and prints with (regular and bold), so no box appears on screen or paper.

The font check is display.fonts' own (the character map, read by pygame.freetype); tests/display/test_fonts.py
shows it catches a missing letter.
"""

from __future__ import annotations

import unicodedata

import pytest

from display.fonts import find_fonts, missing_glyphs
from kiosk_node import i18n
from kiosk_node.model import PRIORITY_REASONS


def every_text() -> list[str]:
    texts = []
    for key in i18n.TEXT_KEYS:
        for language in i18n.LANGUAGES:
            template = i18n.text(key, language)
            # The filled-in parts are digits and names from the hub: the template's own characters are what
            # the kiosk adds.
            texts.append(template.replace("{", "").replace("}", ""))
    return texts


@pytest.mark.parametrize("face", ["regular", "bold"])
def test_every_character_of_every_text_is_in_the_font(face):
    fonts = find_fonts()
    characters = sorted(set("".join(every_text())))
    assert missing_glyphs(fonts.face(face == "bold"), characters) == []


def test_every_text_is_nfc():
    for text in every_text():
        assert unicodedata.is_normalized("NFC", text), text


def test_the_menus_texts_read_as_in_the_hall():
    assert i18n.text("priority_entry") == ("Ưu tiên: người cao tuổi, người khuyết tật, phụ nữ mang thai, trẻ em, "
                                           "người có công")
    assert [i18n.priority_reason(r, "vi") for r in PRIORITY_REASONS] == [
        "Người cao tuổi", "Người khuyết tật", "Phụ nữ mang thai", "Trẻ em", "Người có công"]
    assert i18n.priority_reason("other", "vi") == i18n.priority_reason("no-such-reason", "vi") \
        == "Đối tượng ưu tiên khác"
    assert i18n.text("back") == "‹ Quay lại"
    assert i18n.text("next_page") == "Trang sau ›" and i18n.text("previous_page") == "‹ Trang trước"
    assert i18n.text("priority_mark") == i18n.text("priority_mark", "en") == "ƯU TIÊN"
    assert i18n.field_procedures(1, "vi") == "1 thủ tục" and i18n.field_procedures(5, "en") == "5 services"


def test_where_a_queue_is_served_names_every_counter():
    assert i18n.counters_label((2, 5), "Tư pháp - Hộ tịch", "vi") == "Quầy 2, 5 – Tư pháp - Hộ tịch"
    assert i18n.counters_label((2, 5), "Tư pháp - Hộ tịch", "en") == "Counters 2, 5 – Tư pháp - Hộ tịch"
    assert i18n.counters_label((1,), "Đất đai", "en") == "Counter 1 – Đất đai"
    assert i18n.counters_label((2, 5), "Tư pháp - Hộ tịch", "vi", short=True) == "Quầy 2, 5"
