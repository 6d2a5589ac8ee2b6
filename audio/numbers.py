"""Vietnamese reading of whole numbers, done here so every speech engine says them right.

espeak-ng and piper voices each have their own (and sometimes wrong) idea of how
"105" or "1005" is read aloud; the hall must hear the same words whatever the
engine. So every number is turned into words before any engine sees the text.

The rules, for one group of three digits (hundreds, tens, units):

- tens 0 with units present: "lẻ" (or "linh" in the north) before the unit,
  but only when something precedes it in the number: 105 "một trăm lẻ năm",
  while 5 on its own is just "năm";
- tens 1: "mười" (falling tone); tens 2..9: digit + "mươi" (level tone);
- units 1 reads "mốt" after "mươi" (tens >= 2) but "một" after "mười" and "lẻ";
- units 4 reads "tư" after "mươi" (tens >= 2) but "bốn" after "mười" and "lẻ";
- units 5 reads "lăm" after any tens, "mười" included (15 "mười lăm"), but
  "năm" after "lẻ" and on its own;
- a group after a higher one is read in full, "không trăm" included:
  1005 "một nghìn không trăm lẻ năm", 1010 "một nghìn không trăm mười";
- an all-zero group after a higher one is skipped: 1000 "một nghìn",
  1000005 "một triệu không trăm lẻ năm".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

MAX_NUMBER = 999_999_999

Dialect = Literal["standard", "north", "south"]


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


DIGITS: tuple[str, ...] = tuple(
    _nfc(word) for word in ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")
)
TEN = _nfc("mười")  # the tens word for 1x
TENS = _nfc("mươi")  # the tens word for 2x..9x
ONE_AFTER_TENS = _nfc("mốt")
FOUR_AFTER_TENS = _nfc("tư")
FIVE_AFTER_TENS = _nfc("lăm")
HUNDRED = _nfc("trăm")
MILLION = _nfc("triệu")


@dataclass(frozen=True)
class NumberStyle:
    """The two words that differ between the regions: the "zero tens" word and "thousand"."""

    odd_word: Literal["lẻ", "linh"] = "lẻ"
    thousand_word: Literal["nghìn", "ngàn"] = "nghìn"

    def __post_init__(self) -> None:
        # Callers may pass decomposed text (e.g. from a config file); keep the style NFC.
        object.__setattr__(self, "odd_word", _nfc(self.odd_word))
        object.__setattr__(self, "thousand_word", _nfc(self.thousand_word))
        if self.odd_word not in (_nfc("lẻ"), "linh"):
            raise ValueError(f"odd_word must be 'lẻ' or 'linh', not {self.odd_word!r}")
        if self.thousand_word not in (_nfc("nghìn"), _nfc("ngàn")):
            raise ValueError(f"thousand_word must be 'nghìn' or 'ngàn', not {self.thousand_word!r}")


STANDARD = NumberStyle(odd_word="lẻ", thousand_word="nghìn")
NORTH = NumberStyle(odd_word="linh", thousand_word="nghìn")
SOUTH = NumberStyle(odd_word="lẻ", thousand_word="ngàn")

_STYLES: dict[str, NumberStyle] = {"standard": STANDARD, "north": NORTH, "south": SOUTH}


def style_for_dialect(dialect: str) -> NumberStyle:
    """The number style of a configured dialect: "standard", "north" or "south"."""
    try:
        return _STYLES[dialect]
    except KeyError:
        raise ValueError(f"unknown dialect {dialect!r}; expected one of {', '.join(_STYLES)}") from None


def vocabulary(style: NumberStyle = STANDARD) -> tuple[str, ...]:
    """Every word read_number() can produce in this style, each once (the clips to pre-synthesize)."""
    return (*DIGITS, TEN, TENS, ONE_AFTER_TENS, FOUR_AFTER_TENS, FIVE_AFTER_TENS,
            HUNDRED, style.odd_word, style.thousand_word, MILLION)


def _read_group(group: int, style: NumberStyle, *, full: bool) -> list[str]:
    """Words for 1..999; ``full`` when a higher group precedes it (then hundreds are always said)."""
    hundreds, rest = divmod(group, 100)
    tens, units = divmod(rest, 10)
    words: list[str] = []
    if full or hundreds:
        words += [DIGITS[hundreds], HUNDRED]
    if tens == 0:
        if units:
            if words:
                words.append(style.odd_word)
            words.append(DIGITS[units])
        return words
    if tens == 1:
        words.append(TEN)
    else:
        words += [DIGITS[tens], TENS]
    if units == 1:
        words.append(ONE_AFTER_TENS if tens >= 2 else DIGITS[1])
    elif units == 4:
        words.append(FOUR_AFTER_TENS if tens >= 2 else DIGITS[4])
    elif units == 5:
        words.append(FIVE_AFTER_TENS)
    elif units:
        words.append(DIGITS[units])
    return words


def number_words(n: int, style: NumberStyle = STANDARD) -> list[str]:
    """read_number() as a list of single words (how the phrase cache assembles a number)."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"read_number needs an int, not {type(n).__name__}")
    if not 0 <= n <= MAX_NUMBER:
        raise ValueError(f"read_number reads 0..{MAX_NUMBER:_}, not {n}")
    if n == 0:
        return [DIGITS[0]]
    millions, rest = divmod(n, 1_000_000)
    thousands, units = divmod(rest, 1000)
    words: list[str] = []
    for group, scale in ((millions, MILLION), (thousands, style.thousand_word), (units, None)):
        if group == 0:
            continue
        words += _read_group(group, style, full=bool(words))
        if scale:
            words.append(scale)
    return words


def read_number(n: int, style: NumberStyle = STANDARD) -> str:
    """The Vietnamese reading of 0..999_999_999, NFC: 105 -> "một trăm lẻ năm"."""
    return " ".join(number_words(n, style))


_DIGIT_RUN = re.compile(r"\d+")


def speakable(text: str, style: NumberStyle = STANDARD) -> str:
    """``text`` (NFC) with every run of ASCII digits read out in words.

    For free text (ANNOUNCEMENT messages, ``qms-tv say``) and for an announcement
    whose template is not known. A run too long for read_number (more than nine
    digits) is read digit by digit, which is how people read long codes anyway.
    """

    def words(match: re.Match[str]) -> str:
        digits = match.group()
        if not digits.isascii():
            return digits  # other scripts' digits: leave to the engine
        spoken = " ".join(DIGITS[int(d)] for d in digits) if len(digits) > 9 else read_number(int(digits), style)
        # "A12" must become "A mười hai", not "Amười hai".
        before = match.string[match.start() - 1] if match.start() else " "
        after = match.string[match.end()] if match.end() < len(match.string) else " "
        return (" " if before.isalpha() else "") + spoken + (" " if after.isalpha() else "")

    return _nfc(_DIGIT_RUN.sub(words, _nfc(text)))
