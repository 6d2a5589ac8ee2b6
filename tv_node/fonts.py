"""The TV's font: a TrueType font that has every Vietnamese letter.

The hall reads counter names, reasons and announcements in Vietnamese; a font
without, say, "ẫ" would draw an empty box in the middle of a word. The TV
takes the first font from a list that has a glyph for every Vietnamese letter
(checked against the font's character map at start), so a wrong or partial
font is refused with a message naming what was tried, never drawn with holes.

Debian packages: ``fonts-dejavu-core`` (DejaVu Sans) or ``fonts-noto-core``
(Noto Sans). ``qms-tv --font PATH`` puts a font of your own first.
"""

from __future__ import annotations

import os
import string
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# Regular face first; the bold face is found beside it (see bold_companion).
DEFAULT_FONT_PATHS: tuple[str, ...] = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/opentype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
)

# The vowels of Vietnamese, as base letter + the marks that make it (NFD).
_VOWELS = {
    "a": "a", "ă": "a\u0306", "â": "a\u0302", "e": "e", "ê": "e\u0302", "i": "i",
    "o": "o", "ô": "o\u0302", "ơ": "o\u031b", "u": "u", "ư": "u\u031b", "y": "y",
}
# No tone, huyền, sắc, hỏi, ngã, nặng.
_TONES = ("", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323")


class FontNotFound(Exception):
    """No usable font: says which files were tried and why each was refused."""


@lru_cache(maxsize=1)
def vietnamese_letters() -> tuple[str, ...]:
    """Every letter a Vietnamese text can contain, lower and upper case, each one precomposed character.

    The 12 vowels with each of the 6 tones (72), đ, and the Latin letters
    (f, j, w, z appear in names and loanwords); built from the marks with
    unicodedata, so the list does not depend on a table typed by hand.
    """
    lower: list[str] = []
    for decomposed in _VOWELS.values():
        for tone in _TONES:
            letter = unicodedata.normalize("NFC", decomposed + tone)
            if len(letter) != 1:  # pragma: no cover - every Vietnamese letter has a precomposed form
                raise AssertionError(f"no precomposed form for {decomposed + tone!r}")
            lower.append(letter)
    lower.append("\u0111")  # đ (a letter of its own, not a d with a mark)
    lower.extend(c for c in string.ascii_lowercase if c not in lower)
    upper = [c.upper() for c in lower]
    return tuple(dict.fromkeys(lower + upper))


# Also drawn on the TV: digits, punctuation, and the few symbols the layout uses.
EXTRA_CHARACTERS = string.digits + " .,:;-–—/()!?\"'%&+…•"


@dataclass(frozen=True)
class FontChoice:
    regular: Path
    bold: Path | None  # None: the regular face made bold by the renderer


def bold_companion(regular: Path) -> Path | None:
    """``DejaVuSans.ttf`` -> ``DejaVuSans-Bold.ttf``, ``NotoSans-Regular.ttf`` -> ``NotoSans-Bold.ttf``."""
    stem = regular.stem
    for suffix in ("-Regular", "-Book", "-Medium", ""):
        if suffix and not stem.endswith(suffix):
            continue
        base = stem[: len(stem) - len(suffix)] if suffix else stem
        for bold in ("-Bold", "Bold"):
            candidate = regular.with_name(base + bold + regular.suffix)
            if candidate.is_file():
                return candidate
    return None


def missing_glyphs(path: str | os.PathLike, characters: Iterable[str]) -> list[str]:
    """The characters the font's character map has no glyph for (pygame.freetype)."""
    import pygame.freetype

    if not pygame.freetype.get_init():
        pygame.freetype.init()
    face = pygame.freetype.Font(os.fspath(path), 24)
    chars = list(characters)
    # get_metrics gives None for a character the font maps to no glyph.
    return [c for c, metrics in zip(chars, face.get_metrics("".join(chars))) if metrics is None]


def find_fonts(paths: Sequence[str | os.PathLike] | None = None) -> FontChoice:
    """The first font in ``paths`` (default :data:`DEFAULT_FONT_PATHS`) that has every Vietnamese letter."""
    candidates = [Path(p) for p in (paths if paths else DEFAULT_FONT_PATHS)]
    needed = vietnamese_letters() + tuple(EXTRA_CHARACTERS)
    refused: list[str] = []
    for candidate in candidates:
        if not candidate.is_file():
            refused.append(f"{candidate}: no such file")
            continue
        try:
            missing = missing_glyphs(candidate, needed)
        except Exception as exc:  # noqa: BLE001 - not a font, unreadable: say so and try the next
            refused.append(f"{candidate}: not a readable font ({exc})")
            continue
        if missing:
            refused.append(f"{candidate}: no glyph for {''.join(missing[:12])!r}"
                           + (f" and {len(missing) - 12} more" if len(missing) > 12 else ""))
            continue
        bold = bold_companion(candidate)
        if bold is not None and missing_glyphs(bold, needed):
            bold = None
        return FontChoice(candidate, bold)
    raise FontNotFound(
        "no font with every Vietnamese letter: " + "; ".join(refused)
        + ". Install the Debian package fonts-dejavu-core (or fonts-noto-core), or give one with --font PATH."
    )
