"""Breaking text into lines that fit a width, evenly, and cutting what cannot fit with an ellipsis.

The same for a pygame screen and a Pillow ticket: only the ruler differs (a
:data:`Measure` gives the width of a line of text, in pixels or dots).
:func:`balanced_lines` also keeps common Vietnamese words of two or three
syllables ("bảo hiểm", "hộ kinh doanh") on one line where it can
(:mod:`display.vietnamese_words`); a break only ever falls at a space.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from display.vietnamese_words import break_costs

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


def balanced_lines(text: str, width: int, measure: Measure, *, max_lines: int | None = None) -> list[str]:
    """As few lines as fit ``width`` (as many as greedy packing needs), broken where it reads best.

    Of the ways to break the text into that many lines, each no wider than
    ``width``: one splitting the fewest common words (:mod:`display.vietnamese_words`),
    then the one whose widest line is narrowest (no lone last word), filled
    from the top. So a word is split only when the text cannot be set in that
    many lines otherwise; a single syllable wider than ``width`` keeps a line
    of its own. With ``max_lines``, the text may take more lines than it
    needs, up to that many, where that splits fewer words (the fewest lines
    that do): for a box with room to spare.
    """
    units = _units(text)
    lines = _greedy(units, width, measure)
    if len(lines) < 2:
        return lines
    most = max(len(lines), max_lines or 0)
    words = _words(units)
    if len(words) == len(units):
        return _narrowest(units, len(lines), width, measure)
    grouped = _greedy(words, width, measure)
    if len(grouped) <= most and all(measure(line) <= width for line in grouped):
        # Every word kept whole in as many lines, or in a few more that the box has room for: the usual
        # case, and a quick one.
        return _narrowest(words, len(grouped), width, measure)
    return _Breaker(units, width, measure).best(len(lines), most)


def words_split(lines: Sequence[str]) -> int:
    """How many common words these line breaks split (:func:`display.vietnamese_words.break_costs`)."""
    units = [unit for line in lines for unit in _units(line)]
    costs = break_costs(units)
    split, first = 0, 0
    for line in lines[:-1]:
        first += len(_units(line))
        split += costs[first] if first < len(costs) else 0
    return split


def _words(units: list[str]) -> list[str]:
    """``units`` with each common word's syllables joined into one unit."""
    costs = break_costs(units)
    words: list[str] = []
    for index, unit in enumerate(units):
        if costs[index]:
            words[-1] = f"{words[-1]} {unit}"
        else:
            words.append(unit)
    return words


def _narrowest(units: list[str], count: int, width: int, measure: Measure) -> list[str]:
    """Greedy packing at the narrowest width (found by bisection, to 4 units) that needs no more than
    ``count`` lines."""
    narrow, wide = width // count, width
    while wide - narrow > 4:
        middle = (narrow + wide) // 2
        if len(_greedy(units, middle, measure)) > count:
            narrow = middle
        else:
            wide = middle
    return _greedy(units, wide, measure)


class _Breaker:
    """The line breaks of :func:`balanced_lines` when some word must be split: the fewest words split
    (a break inside "kinh doanh" of "hộ kinh doanh" splits two), then the narrowest widest line
    (dynamic programming over the syllables, dashes kept on)."""

    def __init__(self, units: list[str], width: int, measure: Measure):
        self.units = units
        n = len(units)
        # What breaking before unit i costs: the words it splits (the end of the text costs nothing).
        self.split_cost = [*break_costs(units), 0]
        # Every line that may be set, measured once: for each first unit, (end, width) pairs. A line of
        # one unit is always allowed (a syllable wider than the line cannot be broken anyway).
        self.lines: list[list[tuple[int, float]]] = []
        for start in range(n):
            ends: list[tuple[int, float]] = []
            for end in range(start + 1, n + 1):
                line_width = measure(" ".join(units[start:end]))
                if end > start + 1 and line_width > width:
                    break
                ends.append((end, line_width if line_width <= width else 0.0))
            self.lines.append(ends)
        self.width = width

    def _fewest_splits(self, count: int, widest: float) -> list[list[float]]:
        """``table[i][k]``: the fewest words split setting ``units[i:]`` in exactly ``k`` lines no wider
        than ``widest`` (infinite when it cannot be done)."""
        n, inf, cost = len(self.units), float("inf"), self.split_cost
        table = [[inf] * (count + 1) for _ in range(n + 1)]
        table[n][0] = 0
        for start in range(n - 1, -1, -1):
            ends = [end for end, line_width in self.lines[start] if line_width <= widest]
            row = table[start]
            for lines in range(1, min(count, n - start) + 1):
                row[lines] = min((table[end][lines - 1] + cost[end] for end in ends), default=inf)
        return table

    def best(self, fewest_lines: int, most_lines: int) -> list[str]:
        """The lines: between ``fewest_lines`` and ``most_lines`` of them, the fewest that split the fewest words."""
        table = self._fewest_splits(most_lines, self.width)
        fewest, count = min((table[0][lines], lines) for lines in range(fewest_lines, most_lines + 1))
        # The narrowest widest line that still splits no more words: a bisection over the widths there are.
        candidates = sorted({w for ends in self.lines for _, w in ends} | {float(self.width)})
        low, high = 0, len(candidates) - 1
        while low < high:
            middle = (low + high) // 2
            if self._fewest_splits(count, candidates[middle])[0][count] <= fewest:
                high = middle
            else:
                low = middle + 1
        widest = candidates[low]
        table = self._fewest_splits(count, widest)
        # From the top, each line as long as it can be while the rest still comes out as well.
        lines: list[str] = []
        start, budget = 0, fewest
        for left in range(count, 0, -1):
            for end, line_width in reversed(self.lines[start]):
                if line_width <= widest and table[end][left - 1] + self.split_cost[end] <= budget:
                    lines.append(" ".join(self.units[start:end]))
                    budget -= self.split_cost[end]
                    start = end
                    break
        return lines


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
