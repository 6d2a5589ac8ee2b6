"""Vietnamese number reading: the tricky cases from 0 to 9999 by table, and properties over all of them."""

from __future__ import annotations

import unicodedata

import pytest

from audio.numbers import (
    MAX_NUMBER,
    NORTH,
    SOUTH,
    STANDARD,
    NumberStyle,
    number_words,
    read_number,
    speakable,
    style_for_dialect,
    vocabulary,
)

# (number, standard reading). The north and south readings follow by swapping
# "lẻ" -> "linh" and "nghìn" -> "ngàn"; both are checked below.
TABLE = [
    (0, "không"),
    (1, "một"),
    (4, "bốn"),
    (5, "năm"),
    (9, "chín"),
    (10, "mười"),
    (11, "mười một"),  # not "mười mốt": mốt only after mươi
    (14, "mười bốn"),  # not "mười tư": tư only after mươi
    (15, "mười lăm"),  # lăm after mười too
    (19, "mười chín"),
    (20, "hai mươi"),  # mươi (level tone), not mười
    (21, "hai mươi mốt"),
    (24, "hai mươi tư"),
    (25, "hai mươi lăm"),
    (30, "ba mươi"),
    (41, "bốn mươi mốt"),
    (44, "bốn mươi tư"),
    (45, "bốn mươi lăm"),
    (55, "năm mươi lăm"),
    (91, "chín mươi mốt"),
    (99, "chín mươi chín"),
    (100, "một trăm"),
    (101, "một trăm lẻ một"),  # một after lẻ
    (104, "một trăm lẻ bốn"),  # bốn after lẻ
    (105, "một trăm lẻ năm"),  # năm after lẻ, not lăm
    (110, "một trăm mười"),
    (111, "một trăm mười một"),
    (114, "một trăm mười bốn"),
    (115, "một trăm mười lăm"),
    (120, "một trăm hai mươi"),
    (121, "một trăm hai mươi mốt"),
    (124, "một trăm hai mươi tư"),
    (125, "một trăm hai mươi lăm"),
    (200, "hai trăm"),
    (305, "ba trăm lẻ năm"),
    (999, "chín trăm chín mươi chín"),
    (1000, "một nghìn"),
    (1001, "một nghìn không trăm lẻ một"),
    (1005, "một nghìn không trăm lẻ năm"),
    (1010, "một nghìn không trăm mười"),
    (1015, "một nghìn không trăm mười lăm"),
    (1021, "một nghìn không trăm hai mươi mốt"),
    (1100, "một nghìn một trăm"),
    (1105, "một nghìn một trăm lẻ năm"),
    (1111, "một nghìn một trăm mười một"),
    (2000, "hai nghìn"),
    (2024, "hai nghìn không trăm hai mươi tư"),
    (2500, "hai nghìn năm trăm"),
    (5005, "năm nghìn không trăm lẻ năm"),
    (5555, "năm nghìn năm trăm năm mươi lăm"),
    (9999, "chín nghìn chín trăm chín mươi chín"),
]


@pytest.mark.parametrize(("number", "reading"), TABLE)
def test_standard_reading(number: int, reading: str) -> None:
    assert read_number(number) == reading
    assert read_number(number, STANDARD) == reading


@pytest.mark.parametrize(("number", "reading"), TABLE)
def test_north_says_linh_and_south_says_ngan(number: int, reading: str) -> None:
    assert read_number(number, NORTH) == reading.replace("lẻ", "linh")
    assert read_number(number, SOUTH) == reading.replace("nghìn", "ngàn")


def test_the_examples_of_the_issue() -> None:
    assert read_number(105, NORTH) == "một trăm linh năm"
    assert read_number(1005, SOUTH) == "một ngàn không trăm lẻ năm"
    assert read_number(14) != read_number(44) == "bốn mươi tư"


@pytest.mark.parametrize(("number", "reading"), [
    (10_000, "mười nghìn"),
    (10_005, "mười nghìn không trăm lẻ năm"),
    (21_000, "hai mươi mốt nghìn"),
    (100_000, "một trăm nghìn"),
    (1_000_000, "một triệu"),
    (1_000_005, "một triệu không trăm lẻ năm"),  # an all-zero thousands group is skipped
    (1_005_000, "một triệu không trăm lẻ năm nghìn"),
    (MAX_NUMBER, "chín trăm chín mươi chín triệu chín trăm chín mươi chín nghìn chín trăm chín mươi chín"),
])
def test_past_ten_thousand(number: int, reading: str) -> None:
    assert read_number(number) == reading


def test_dialect_names_and_bad_styles() -> None:
    assert style_for_dialect("standard") == STANDARD == NumberStyle()
    assert style_for_dialect("north") == NORTH
    assert style_for_dialect("south") == SOUTH
    with pytest.raises(ValueError, match="unknown dialect"):
        style_for_dialect("central")
    with pytest.raises(ValueError, match="odd_word"):
        NumberStyle(odd_word="linh ")  # type: ignore[arg-type]
    # A style given in decomposed form (e.g. read from a file) still produces NFC output.
    decomposed = NumberStyle(odd_word=unicodedata.normalize("NFD", "lẻ"))  # type: ignore[arg-type]
    assert read_number(105, decomposed) == "một trăm lẻ năm"


@pytest.mark.parametrize("bad", [-1, MAX_NUMBER + 1])
def test_out_of_range_is_refused(bad: int) -> None:
    with pytest.raises(ValueError):
        read_number(bad)


@pytest.mark.parametrize("bad", [True, 1.0, "5", None])
def test_only_ints_are_read(bad: object) -> None:
    with pytest.raises(TypeError):
        read_number(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("style", [STANDARD, NORTH, SOUTH], ids=["standard", "north", "south"])
def test_properties_over_every_number_to_9999(style: NumberStyle) -> None:
    known = set(vocabulary(style))
    seen: dict[str, int] = {}
    for number in range(10_000):
        reading = read_number(number, style)
        assert reading == unicodedata.normalize("NFC", reading), number
        assert reading == reading.strip() and "  " not in reading, number
        words = reading.split(" ")
        assert words == number_words(number, style)
        assert set(words) <= known, (number, set(words) - known)
        # Structure without a parser: "mốt", "tư" and "lăm" only ever follow a tens word.
        for index, word in enumerate(words):
            if word in ("mốt", "tư"):
                assert words[index - 1] == "mươi", (number, reading)
            if word == "lăm":
                assert words[index - 1] in ("mươi", "mười"), (number, reading)
            if word == "mười":
                assert index == 0 or words[index - 1] in ("trăm", style.thousand_word), (number, reading)
        # Different numbers must sound different.
        assert reading not in seen, (number, seen.get(reading), reading)
        seen[reading] = number


def test_vocabulary_is_exactly_what_the_readings_use() -> None:
    used = {word for number in range(10_000) for word in read_number(number).split()}
    used |= set(read_number(1_000_000).split())
    assert used == set(vocabulary(STANDARD))


def test_speakable_reads_digit_runs_in_text() -> None:
    assert speakable("Mời khách hàng số 105 đến quầy 3") == "Mời khách hàng số một trăm lẻ năm đến quầy ba"
    assert speakable("Quầy A12, tầng 2.") == "Quầy A mười hai, tầng hai."
    assert speakable("số 1005", SOUTH) == "số một ngàn không trăm lẻ năm"
    # Too long to be a quantity: read digit by digit, like a phone number.
    assert speakable("0912345678901") == "không chín một hai ba bốn năm sáu bảy tám chín không một"
    # NFC out even when the input was decomposed.
    assert speakable(unicodedata.normalize("NFD", "Mời số 7")) == unicodedata.normalize("NFC", "Mời số bảy")
