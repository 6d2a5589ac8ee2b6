"""Breaking text into lines that fit a width, evenly, and cutting what cannot fit with an ellipsis.

The same for a pygame screen and a Pillow ticket: only the ruler differs (a
:data:`Measure` gives the width of a line of text, in pixels or dots).
"""

from __future__ import annotations

from collections.abc import Callable

Measure = Callable[[str], float]

# A word that is only one of these never starts a line: "Tư pháp -" / "Hộ tịch", not "Tư pháp" / "- Hộ tịch".
NO_BREAK_BEFORE = frozenset({"-", "–", "—", "/"})
ELLIPSIS = "…"
# Dropped from the end of a cut text before the ellipsis: "Thuế…", not "Thuế -…"; "đi họp…", not "đi họp,…".
_CUT_TRAILING = " ,.;:–—-"


def _units(text: str) -> list[str]:
    """The words of ``text``, each dash standing alone kept with the word before it."""
    units: list[str] = []
    for word in text.split():
        if word in NO_BREAK_BEFORE and units:
            units[-1] = f"{units[-1]} {word}"
        else:
            units.append(word)
    return units


def _greedy(units: list[str], width: float, measure: Measure) -> list[str]:
    lines: list[str] = []
    line = ""
    for unit in units:
        candidate = f"{line} {unit}" if line else unit
        if line and measure(candidate) > width:
            lines.append(line)
            line = unit
        else:
            line = candidate
    if line:
        lines.append(line)
    return lines


def greedy_lines(text: str, width: float, measure: Measure) -> list[str]:
    """Words packed into lines no wider than ``width`` (a single over-long word keeps its own line)."""
    return _greedy(_units(text), width, measure)


def balanced_lines(text: str, width: int, measure: Measure) -> list[str]:
    """As few lines as fit ``width``, evened out so the last line is not a lone word.

    The narrowest width that still needs no more lines than greedy packing,
    found by bisection (to 4 units), then packed greedily at that width.
    """
    units = _units(text)
    lines = _greedy(units, width, measure)
    if len(lines) < 2:
        return lines
    narrow, wide = width // len(lines), width
    while wide - narrow > 4:
        middle = (narrow + wide) // 2
        if len(_greedy(units, middle, measure)) > len(lines):
            narrow = middle
        else:
            wide = middle
    return _greedy(units, wide, measure)


def ellipsize(text: str, width: float, measure: Measure) -> str:
    """``text`` if it fits ``width``, else its longest beginning that fits with "…" after it.

    Spaces and punctuation the cut leaves at the end go before the "…" is put on.
    """
    if measure(text) <= width:
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits with the ellipsis
        middle = (low + high + 1) // 2
        if measure(text[:middle] + ELLIPSIS) <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip(_CUT_TRAILING) + ELLIPSIS
