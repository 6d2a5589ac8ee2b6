"""pygame fonts and rendered text, cached: a frame renders only the text it has not drawn before.

Rendering text is the costly part of a frame, and a hall screen shows the
same names and numbers frame after frame. :class:`TextCache` keeps the
rendered surfaces keyed by text, size, face and colour (and the balanced line
breaks of a text at a size and width, and measured widths), each bounded and least recently used
first out, so a node that runs for months holds a fixed amount of memory.
Text is NFC-normalised before it is measured or drawn.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame  # noqa: E402 - after the environment setting above

from display.fonts import FontFiles  # noqa: E402
from display.vietnamese import nfc  # noqa: E402
from display.wrap import balanced_lines  # noqa: E402

Color = tuple[int, int, int]

# Rendered pieces kept: more than any screen shows at once, few enough to stay small on a Pi.
DEFAULT_CAPACITY = 512
# pygame cannot make a font smaller than this usefully: smaller requests get this size.
SMALLEST_SIZE = 6
# Measured widths kept per rendered piece (small numbers, many pieces of each text measured).
WIDTHS_PER_ENTRY = 8

Key = TypeVar("Key")
Value = TypeVar("Value")


class _Bounded(Generic[Key, Value]):
    """A dict of at most ``capacity`` entries that forgets the least recently used first."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self.capacity = capacity
        self._items: OrderedDict[Key, Value] = OrderedDict()

    def get(self, key: Key) -> Value | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: Key, value: Value) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class TextCache:
    """Fonts by size and face, rendered text and line breaks, for one set of :class:`FontFiles`.

    Also a :class:`display.fit.Ruler`: :mod:`display.fit` sizes text with it.
    """

    def __init__(self, fonts: FontFiles, *, capacity: int = DEFAULT_CAPACITY):
        self.files = fonts
        self._fonts: dict[tuple[int, bool], pygame.font.Font] = {}
        self._surfaces: _Bounded[tuple[str, int, bool, Color], pygame.Surface] = _Bounded(capacity)
        self._lines: _Bounded[tuple[str, int, bool, int, int | None], list[str]] = _Bounded(capacity)
        # Widths of texts: wrapping and fitting measure the same pieces of a name again and again.
        self._widths: _Bounded[tuple[str, int, bool], int] = _Bounded(WIDTHS_PER_ENTRY * capacity)

    @property
    def capacity(self) -> int:
        return self._surfaces.capacity

    @property
    def cached(self) -> int:
        """How many rendered pieces are kept now."""
        return len(self._surfaces)

    def clear(self) -> None:
        """Forget every rendered text and line break (the fonts stay loaded): the next frame starts cold."""
        self._surfaces.clear()
        self._lines.clear()
        self._widths.clear()

    def font(self, size: int, bold: bool = False) -> pygame.font.Font:
        """The font at ``size`` (at least :data:`SMALLEST_SIZE`); bold without a bold face is the regular made bold."""
        key = (max(SMALLEST_SIZE, int(size)), bold)
        font = self._fonts.get(key)
        if font is None:
            if not pygame.font.get_init():
                pygame.font.init()
            font = pygame.font.Font(os.fspath(self.files.face(bold)), key[0])
            if bold and self.files.bold is None:
                font.set_bold(True)
            self._fonts[key] = font
        return font

    def render(self, text: str, size: int, color: Color, bold: bool = False) -> pygame.Surface:
        """``text`` drawn antialiased in ``color`` on a transparent surface (shared: do not draw on it)."""
        text = nfc(text)
        key = (text, max(SMALLEST_SIZE, int(size)), bold, color)
        surface = self._surfaces.get(key)
        if surface is None:
            surface = self.font(size, bold).render(text, True, color)
            self._surfaces.put(key, surface)
        return surface

    def width(self, text: str, size: int, bold: bool = False) -> int:
        key = (text, max(SMALLEST_SIZE, int(size)), bold)
        width = self._widths.get(key)
        if width is None:
            width = self.font(size, bold).size(nfc(text))[0]
            self._widths.put(key, width)
        return width

    def line_height(self, size: int, bold: bool = False) -> int:
        """From one line's top to the next one's."""
        return self.font(size, bold).get_linesize()

    def measure(self, size: int, bold: bool = False) -> Callable[[str], int]:
        """A ruler for :mod:`display.wrap`: the width of a text at this size and face."""
        return lambda text: self.width(text, size, bold)

    def lines(self, text: str, size: int, width: int, bold: bool = False, *, max_lines: int | None = None
              ) -> list[str]:
        """``text`` in as few lines of ``width`` as it needs, evened out, common words kept whole where it can
        (up to ``max_lines`` lines for that: :func:`display.wrap.balanced_lines`)."""
        text = nfc(text)
        key = (text, max(SMALLEST_SIZE, int(size)), bold, int(width), max_lines)
        lines = self._lines.get(key)
        if lines is None:
            lines = balanced_lines(text, int(width), self.measure(size, bold), max_lines=max_lines)
            self._lines.put(key, lines)
        return list(lines)
