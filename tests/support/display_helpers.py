"""Fonts for tests of the display package and the nodes that use it: a real font with letters taken out.

Made with fontTools' subsetter from the font the nodes would choose, so the
check that refuses an incomplete font is tested on a font that is otherwise
real (outlines, metrics, a .notdef box) rather than on a file that is not a font.
"""

from __future__ import annotations

from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

from display.fonts import find_fonts
from display.vietnamese import required_characters

# A code point no font maps (plane 16 private use): every font draws it as its .notdef glyph.
UNMAPPED = "\U0010FFFD"


def font_without(letters: str, target: Path, source: Path | None = None) -> Path:
    """``source`` (default: the regular face :func:`display.fonts.find_fonts` picks) without ``letters``."""
    keep = [ord(c) for c in required_characters() if c not in letters]
    options = subset.Options()
    options.notdef_outline = True  # keep the .notdef box, as real fonts have
    options.layout_features = []  # no composition from combining marks to rescue the dropped letters
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=keep)
    font = TTFont(str(source or find_fonts().regular))
    subsetter.subset(font)
    target.parent.mkdir(parents=True, exist_ok=True)
    font.save(str(target))
    return target
