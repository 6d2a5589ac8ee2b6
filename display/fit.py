"""Choosing a type size: the largest at which a text fits its box, and the text cut to fit when none does.

The algorithms only measure, through a :class:`Ruler` (the pygame text cache
is one) or a plain predicate, so the kiosk's Pillow ticket uses
:func:`largest_fitting` too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from display.wrap import ellipsize, greedy_lines, words_split

# Each try is this much smaller than the last: small enough steps that the size found is close to the largest.
SHRINK = 0.92

Size = TypeVar("Size", int, float)


class Ruler(Protocol):
    """Measures text at a size and face (:class:`display.text_cache.TextCache` is one)."""

    def width(self, text: str, size: int, bold: bool = False) -> int: ...

    def line_height(self, size: int, bold: bool = False) -> int: ...

    def lines(self, text: str, size: int, width: int, bold: bool = False) -> list[str]:
        """``text`` in balanced lines no wider than ``width`` (:func:`display.wrap.balanced_lines`).

        A ruler for :func:`fit_lines` with ``keep_words`` also takes ``max_lines=`` (up to that many
        lines to keep common words whole), as :class:`display.text_cache.TextCache` does.
        """
        ...


def largest_fitting(fits: Callable[[Size], bool], largest: Size, smallest: Size, *, step: float = SHRINK) -> Size:
    """The first size from ``largest`` down, each ``step`` times the last, at which ``fits(size)``.

    Stops at ``smallest`` whether it fits or not. Whole sizes stay whole
    (rounded down), fractional ones fractional.
    """
    size = largest
    while size > smallest and not fits(size):
        size = max(smallest, type(largest)(size * step))
    return size


def fit_width(ruler: Ruler, text: str, max_width: int, largest: int, smallest: int, *, bold: bool = False) -> int:
    """The largest size up to ``largest`` (at least ``smallest``) at which ``text`` is one line ``max_width`` wide.

    Each try goes straight to the size the last one's overflow suggests, so a
    few measurements find it.
    """
    size = int(largest)
    width = ruler.width(text, size, bold)
    while width > max_width and size > smallest:
        size = max(int(smallest), min(size - 1, int(size * max_width / width)))
        width = ruler.width(text, size, bold)
    return size


def fit_lines(ruler: Ruler, text: str, width: int, height: int, largest: int, smallest: int, *, bold: bool = False,
              max_lines: int = 3, one_line: float | None = None, keep_words: bool = False) -> tuple[int, list[str]]:
    """The largest size (and its balanced lines) at which ``text`` fits the box; at ``smallest``, cut to fit.

    With ``one_line`` (a share of ``largest``, e.g. 0.8), the text stays on one
    line while that line can be at least that big: a name broken in two reads
    worse than a slightly smaller one. With ``keep_words``, common words are
    kept whole ("tài sản" rather than "tài" / "sản") where the box allows: the
    text may take more lines than it needs (up to ``max_lines``), and is set
    at a smaller size (down to ``smallest``) rather than split one.
    """
    if one_line is not None:
        single = fit_width(ruler, text, width, largest, smallest, bold=bold)
        if single >= one_line * largest and ruler.width(text, single, bold) <= width \
                and ruler.line_height(single, bold) <= height:
            return single, [text]

    def wrapped(size: int) -> list[str]:
        if not keep_words:
            return ruler.lines(text, size, width, bold)
        room = max(1, min(max_lines, height // max(1, ruler.line_height(size, bold))))
        return ruler.lines(text, size, width, bold, max_lines=room)  # type: ignore[call-arg]

    def fits(size: int) -> bool:
        lines = wrapped(size)
        return len(lines) <= max_lines and len(lines) * ruler.line_height(size, bold) <= height \
            and all(ruler.width(line, size, bold) <= width for line in lines)

    size = largest_fitting(fits, largest, smallest)
    if keep_words and words_split(wrapped(size)):
        whole = largest_fitting(lambda s: fits(s) and not words_split(wrapped(s)), size, smallest)
        if fits(whole) and not words_split(wrapped(whole)):
            size = whole
    lines = wrapped(size)
    if not fits(size):
        keep = max(1, min(max_lines, height // max(1, ruler.line_height(size, bold))))
        lines = cut_lines(" ".join(lines), width, keep, lambda line: ruler.width(line, size, bold))
    return size, lines


def cut_lines(text: str, width: int, max_lines: int, measure: Callable[[str], float]) -> list[str]:
    """``text`` in at most ``max_lines`` lines of ``width``, cut to fit: the words left over go on the last
    line, and a line too wide (that one, or a single over-long word) ends in "…"."""
    lines = greedy_lines(text, width, measure)
    if len(lines) > max_lines:
        lines = [*lines[:max_lines - 1], " ".join(lines[max_lines - 1:])]
    return [ellipsize(line, width, measure) for line in lines]
