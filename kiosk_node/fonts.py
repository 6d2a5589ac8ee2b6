"""The TrueType fonts the kiosk draws and prints with, and the Vietnamese letters they must cover.

A font without every Vietnamese letter would show boxes in procedure names
("Đăng ký khai sinh") on screen and on tickets, so the kiosk refuses to start
with one and says which package to install.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path

# Debian: fonts-dejavu-core, then fonts-noto-core. Both cover Vietnamese completely.
REGULAR_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
)
BOLD_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf",
)
INSTALL_HINT = "install fonts-dejavu-core (apt-get install fonts-dejavu-core) or set [kiosk] font in node.toml"

# The vowels Vietnamese writes, with their own diacritics (breve, circumflex, horn) but no tone.
VIETNAMESE_VOWELS = "aăâeêioôơuưy"
# The five tone marks (huyền, hỏi, ngã, sắc, nặng) as combining characters.
VIETNAMESE_TONES = ("\u0300", "\u0309", "\u0303", "\u0301", "\u0323")
# A code point no font maps (plane 16 private use): every font draws it as its .notdef glyph.
UNMAPPED = "\U0010FFFD"


class FontNotFound(Exception):
    """No usable font: one line a technician can act on."""


@dataclass(frozen=True)
class FontFiles:
    regular: Path
    bold: Path


def vietnamese_letters() -> str:
    """Every letter of Vietnamese, upper and lower case: the plain ASCII ones and the 134 precomposed ones.

    Built by composing each vowel with each tone and normalising to NFC, so
    the set is Unicode's own (U+00C0..U+1EF9), not a hand-typed list.
    """
    letters = set("abcdefghijklmnopqrstuvwxyz") | {"đ"}
    for vowel in VIETNAMESE_VOWELS:
        for tone in ("", *VIETNAMESE_TONES):
            letter = unicodedata.normalize("NFC", vowel + tone)
            if len(letter) != 1:  # pragma: no cover - Unicode has every one precomposed
                raise AssertionError(f"{vowel + tone!r} has no precomposed form")
            letters.add(letter)
    letters |= {letter.upper() for letter in letters}
    return "".join(sorted(letters))


def _first_existing(configured: str, candidates: tuple[str, ...]) -> Path | None:
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise FontNotFound(f"the configured font {configured} does not exist; {INSTALL_HINT}")
        return path
    for candidate in candidates:
        if os.path.isfile(candidate):
            return Path(candidate)
    return None


def find_fonts(regular: str = "", bold: str = "", *, regular_candidates: tuple[str, ...] = REGULAR_FONTS,
               bold_candidates: tuple[str, ...] = BOLD_FONTS) -> FontFiles:
    """The configured fonts, or the first installed of the known ones; the regular face stands in for bold."""
    regular_path = _first_existing(regular, regular_candidates)
    if regular_path is None:
        raise FontNotFound(f"no font with Vietnamese letters found (looked for {', '.join(regular_candidates)}); "
                           f"{INSTALL_HINT}")
    bold_path = _first_existing(bold, bold_candidates) or regular_path
    return FontFiles(regular=regular_path, bold=bold_path)


def missing_letters(path: str | os.PathLike) -> str:
    """The Vietnamese letters ``path`` has no glyph for.

    A missing letter is drawn as the font's .notdef glyph, the same picture as a
    code point no font maps; pygame cannot tell (its metrics describe .notdef),
    so the letters are drawn with Pillow and compared with that picture.
    """
    from PIL import ImageFont

    font = ImageFont.truetype(os.fspath(path), 24)

    def drawn(text: str) -> tuple:
        mask = font.getmask(text)
        return mask.size, bytes(mask)

    notdef = drawn(UNMAPPED)
    return "".join(letter for letter in vietnamese_letters() if drawn(letter) == notdef)


def checked_fonts(regular: str = "", bold: str = "") -> FontFiles:
    """:func:`find_fonts`, refusing a font that lacks a Vietnamese letter."""
    files = find_fonts(regular, bold)
    for path in {files.regular, files.bold}:
        missing = missing_letters(path)
        if missing:
            raise FontNotFound(f"{path} has no glyph for the Vietnamese letters {missing}; {INSTALL_HINT}")
    return files
