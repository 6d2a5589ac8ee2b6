"""Word wrapping shared by the screen (pygame) and the printed ticket (Pillow): only the ruler differs."""

from __future__ import annotations

from typing import Callable

Measure = Callable[[str], float]


def greedy_lines(text: str, width: float, measure: Measure) -> list[str]:
    """Words packed into lines no wider than ``width`` (a single over-long word keeps its own line)."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if line and measure(candidate) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    if line:
        lines.append(line)
    return lines


def balanced_lines(text: str, width: int, measure: Measure) -> list[str]:
    """As few lines as fit ``width``, evened out so the last line is not a lone word.

    The narrowest width that still needs no more lines than greedy packing,
    found by bisection, then packed greedily at that width.
    """
    lines = greedy_lines(text, width, measure)
    if len(lines) < 2:
        return lines
    narrow, wide = width // len(lines), width
    while wide - narrow > 4:
        middle = (narrow + wide) // 2
        if len(greedy_lines(text, middle, measure)) > len(lines):
            narrow = middle
        else:
            wide = middle
    return greedy_lines(text, wide, measure)
