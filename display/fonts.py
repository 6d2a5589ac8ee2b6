"""Finds the TrueType fonts a node draws with: only a font with a glyph for every Vietnamese letter will do.

Counter names, procedures, reasons and announcements are Vietnamese; a font
without, say, "ẫ" would draw an empty box in the middle of a word, on screen
and on a printed ticket. So a font is accepted only when its character map
has every Vietnamese letter (:func:`display.vietnamese.vietnamese_letters`)
and the digits and punctuation the screens use, and a node that finds none
refuses to start with a message naming what was tried and what to install.

Two ways to choose: :func:`find_fonts` takes the first usable font of a list
(``qms-tv --font PATH`` goes first, then the Debian fonts), passing over
fonts with holes; :func:`configured_fonts` takes the font a settings file
names (``[kiosk] font``) and refuses it outright when it is missing or
incomplete. Either way the bold face is the one installed beside the
regular face (``DejaVuSans-Bold.ttf`` beside ``DejaVuSans.ttf``), or none.

Debian packages: ``fonts-dejavu-core`` (DejaVu Sans) or ``fonts-noto-core`` (Noto Sans).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from display.vietnamese import required_characters

FontPath = str | os.PathLike[str]

# Regular faces, best first; the bold face is found beside each (see bold_companion).
DEFAULT_FONT_PATHS: tuple[str, ...] = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/opentype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
)
INSTALL_HINT = ("install the Debian package fonts-dejavu-core (apt-get install fonts-dejavu-core) or fonts-noto-core, "
                "or name a font that has every Vietnamese letter ([kiosk] font in node.toml; qms-tv --font PATH)")


class FontNotFound(Exception):
    """No usable font: says which files were tried, why each was refused, and what to install."""


@dataclass(frozen=True)
class FontFiles:
    """The font files a node draws with."""

    regular: Path
    # None: the font has no bold face; pygame emboldens the regular one, a Pillow ticket uses it as it is.
    bold: Path | None = None

    def face(self, bold: bool = False) -> Path:
        """The file for this face: the bold one when asked for and there is one, else the regular one."""
        return self.bold if bold and self.bold is not None else self.regular


def missing_glyphs(path: FontPath, characters: Iterable[str] | None = None) -> list[str]:
    """The characters (default: every Vietnamese letter, digits, punctuation) the font's character map lacks.

    Read with pygame.freetype, which reports no metrics for a character the
    font maps to no glyph (drawing such a character would give the font's
    .notdef box). Raises OSError or pygame.error when ``path`` is not a font.
    """
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame.freetype

    if not pygame.freetype.get_init():
        pygame.freetype.init()
    face = pygame.freetype.Font(os.fspath(path), 24)
    chars = list(required_characters() if characters is None else characters)
    return [c for c, metrics in zip(chars, face.get_metrics("".join(chars)), strict=True) if metrics is None]


def bold_companion(regular: Path) -> Path | None:
    """The bold face installed beside ``regular``: ``DejaVuSans.ttf`` -> ``DejaVuSans-Bold.ttf``,
    ``NotoSans-Regular.ttf`` -> ``NotoSans-Bold.ttf``; None when there is none."""
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


def refusal(path: Path) -> str | None:
    """Why ``path`` cannot be drawn with (no such file, not a font, the letters it lacks), or None if it can."""
    if not path.is_file():
        return "no such file"
    try:
        missing = missing_glyphs(path)
    except Exception as exc:  # not a font, unreadable: say so (the caller tries the next one)
        return f"not a readable font ({exc})"
    if missing:
        more = f" and {len(missing) - 12} more" if len(missing) > 12 else ""
        return f"no glyph for {''.join(missing[:12])!r}{more}"
    return None


def _usable_bold(regular: Path) -> Path | None:
    bold = bold_companion(regular)
    return bold if bold is not None and refusal(bold) is None else None


def find_fonts(paths: Sequence[FontPath] | None = None) -> FontFiles:
    """The first font in ``paths`` (default :data:`DEFAULT_FONT_PATHS`) with every Vietnamese letter.

    Fonts that are missing, unreadable or incomplete are passed over; when
    none is left, :class:`FontNotFound` lists each and why.
    """
    refused: list[str] = []
    for candidate in (Path(p) for p in (paths if paths else DEFAULT_FONT_PATHS)):
        reason = refusal(candidate)
        if reason is None:
            return FontFiles(candidate, _usable_bold(candidate))
        refused.append(f"{candidate}: {reason}")
    raise FontNotFound(f"no font with every Vietnamese letter: {'; '.join(refused)}; {INSTALL_HINT}")


def _configured(path: FontPath) -> Path:
    configured = Path(path)
    if not configured.is_file():
        raise FontNotFound(f"the configured font {configured} does not exist; {INSTALL_HINT}")
    reason = refusal(configured)
    if reason is not None:
        raise FontNotFound(f"the configured font {configured}: {reason}; {INSTALL_HINT}")
    return configured


def configured_fonts(regular: FontPath = "", bold: FontPath = "") -> FontFiles:
    """The fonts a settings file names, each refused unless it has every Vietnamese letter.

    An empty ``regular`` means the first usable default (:func:`find_fonts`);
    an empty ``bold`` the bold face beside the regular one, if any.
    """
    if regular:
        chosen = _configured(regular)
        files = FontFiles(chosen, _usable_bold(chosen))
    else:
        files = find_fonts()
    return replace(files, bold=_configured(bold)) if bold else files
