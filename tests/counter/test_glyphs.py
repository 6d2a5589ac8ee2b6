"""Every text the counter display shows is NFC Vietnamese the display's font can draw, letter by letter.

The live tests check the texts of each screen as drawn (hub names included);
here every fixed text, with sample values, against both faces of the font the
display would choose, and against the letter set every accepted font must
have (so a font the display accepts draws them too).
"""

from __future__ import annotations

import unicodedata

import pytest

from counter_node import texts
from display.fonts import find_fonts, missing_glyphs
from display.vietnamese import required_characters
from hub.ratings import SCORES_VI


def test_every_text_is_nfc_and_within_the_letters_every_accepted_font_has():
    every = texts.every_text()
    assert len(every) >= 20
    for text in every:
        assert unicodedata.is_normalized("NFC", text), text
        outside = sorted(set(text) - set(required_characters()))
        assert not outside, f"{text!r}: {outside} is not among the characters a font is checked for"


@pytest.mark.parametrize("bold", [False, True], ids=["regular", "bold"])
def test_the_chosen_font_has_a_glyph_for_every_letter_shown(bold):
    face = find_fonts().face(bold)
    letters = sorted(set("".join(texts.every_text())))
    assert missing_glyphs(face, letters) == []


def test_the_choices_are_named_as_the_hubs_reports_name_them():
    assert texts.SCORE_LABELS == SCORES_VI
    assert sorted(texts.SCORES) == sorted(SCORES_VI)


def test_the_two_line_forms_say_the_same_and_keep_words_whole():
    assert " ".join(texts.ASK_LINES) == texts.ASK
    for score, lines in texts.SCORE_LINES.items():
        assert " ".join(lines) == texts.SCORE_LABELS[score]
        # "hài lòng" is one word written as two syllables: a line never ends between them.
        assert not any(line.endswith("hài") for line in lines)
