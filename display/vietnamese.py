"""What Vietnamese text is to a screen: the letters a font must have, and the normal form text is drawn in.

The letter set is built from Unicode's own composition (each vowel's marks
plus each tone, normalised to NFC), not typed by hand, so it cannot miss one.
Text is drawn in NFC: without shaping (SDL_ttf built without HarfBuzz,
Pillow's basic layout) a letter written as base + combining marks is drawn
with its marks misplaced, while its precomposed form (which every Vietnamese
letter has) is one glyph, and the one the font check has looked for.
"""

from __future__ import annotations

import string
import unicodedata
from functools import lru_cache

# The twelve vowels of Vietnamese as base letter + the marks that make them (breve, circumflex, horn).
VOWELS: dict[str, str] = {
    "a": "a", "ă": "a\u0306", "â": "a\u0302", "e": "e", "ê": "e\u0302", "i": "i",
    "o": "o", "ô": "o\u0302", "ơ": "o\u031b", "u": "u", "ư": "u\u031b", "y": "y",
}
# No tone, then the five tone marks: huyền, sắc, hỏi, ngã, nặng.
TONES: tuple[str, ...] = ("", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323")
# Drawn besides letters: digits, punctuation, and the few symbols the screens use.
EXTRA_CHARACTERS = string.digits + " .,:;-–—/()!?\"'%&+…•"


@lru_cache(maxsize=1)
def vietnamese_letters() -> str:
    """Every letter a Vietnamese text can contain, lower then upper case, each one precomposed character.

    The 12 vowels with each of the 6 tones (72), đ, and the other 20 Latin
    letters (f, j, w, z appear in names and loanwords): 93 in each case, 186
    in all, of which 134 are outside ASCII (U+00C0..U+1EF9).
    """
    lower: list[str] = []
    for marks in VOWELS.values():
        for tone in TONES:
            letter = unicodedata.normalize("NFC", marks + tone)
            if len(letter) != 1:  # pragma: no cover - Unicode has every Vietnamese letter precomposed
                raise AssertionError(f"no precomposed form for {marks + tone!r}")
            lower.append(letter)
    lower.append("\u0111")  # đ: a letter of its own, not a d with a mark
    lower.extend(c for c in string.ascii_lowercase if c not in lower)
    return "".join(dict.fromkeys(lower + [c.upper() for c in lower]))


def required_characters() -> str:
    """What a font must have a glyph for: every Vietnamese letter and :data:`EXTRA_CHARACTERS`."""
    return "".join(dict.fromkeys(vietnamese_letters() + EXTRA_CHARACTERS))


def nfc(text: str) -> str:
    """``text`` as it is drawn: NFC, every Vietnamese letter one precomposed character."""
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)
