"""Every Vietnamese letter is drawn by the kiosk's fonts, on screen (pygame) and on tickets (Pillow).

Three independent checks per letter: the font's character map has it
(fontTools), Pillow's rendering of it is not the .notdef box, and it differs
from its base letter (the diacritics are really drawn). A font with two letters
removed (made here with fontTools' subsetter) shows that each check catches a
missing glyph.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pytest  # noqa: E402
from fontTools import subset  # noqa: E402
from fontTools.ttLib import TTFont  # noqa: E402
from PIL import ImageFont  # noqa: E402

from kiosk_node.fonts import FontNotFound, checked_fonts, find_fonts, missing_letters, vietnamese_letters  # noqa: E402

# A code point no font maps (plane 16 private use): it renders as the font's .notdef glyph.
UNMAPPED = "\U0010FFFD"
DROPPED = "ặỮ"


def base_letter(letter: str) -> str:
    """The letter without its tone and other marks ("ặ" -> "a"); "đ" stays (its bar is not a mark)."""
    return "".join(c for c in unicodedata.normalize("NFD", letter) if not unicodedata.combining(c))


def pillow_problems(path: Path) -> list[str]:
    """Letters Pillow draws as the .notdef box, or exactly like their base letter."""
    font = ImageFont.truetype(str(path), 40)

    def drawn(text: str) -> tuple:
        mask = font.getmask(text)
        return mask.size, bytes(mask)

    notdef = drawn(UNMAPPED)
    problems = []
    for letter in vietnamese_letters():
        picture = drawn(letter)
        if picture == notdef:
            problems.append(f"{letter} (U+{ord(letter):04X}) is drawn as .notdef")
        elif base_letter(letter) != letter and picture == drawn(base_letter(letter)):
            problems.append(f"{letter} (U+{ord(letter):04X}) is drawn without its marks")
    return problems


def cmap_missing(path: Path) -> str:
    cmap = TTFont(str(path)).getBestCmap()
    return "".join(letter for letter in vietnamese_letters() if ord(letter) not in cmap)


@pytest.fixture(scope="module")
def font_without_two_letters(tmp_path_factory) -> Path:
    source = find_fonts().regular
    target = tmp_path_factory.mktemp("fonts") / "without-two.ttf"
    keep = [ord(c) for c in vietnamese_letters() if c not in DROPPED] + [ord(" ")]
    options = subset.Options()
    options.notdef_outline = True  # keep the .notdef box, as real fonts have
    options.layout_features = []   # no composition from combining marks to rescue the dropped letters
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=keep)
    font = TTFont(str(source))
    subsetter.subset(font)
    font.save(str(target))
    return target


def test_the_letter_set_is_vietnamese():
    letters = vietnamese_letters()
    precomposed = [c for c in letters if ord(c) > 0x7F]
    # 12 vowels x 6 tone forms - 6 plain ASCII vowels = 66, and đ: 67 lower case, as many upper case.
    assert len(precomposed) == 134
    assert all(0x00C0 <= ord(c) <= 0x1EF9 for c in precomposed)
    assert all(unicodedata.is_normalized("NFC", c) for c in letters)
    for sample in "ăâđêôơưàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ":
        assert sample in letters and sample.upper() in letters
    assert "Đ" in letters and "f" in letters and "ç" not in letters


@pytest.mark.parametrize("face", ["regular", "bold"])
def test_the_kiosks_fonts_draw_every_vietnamese_letter(face):
    path = getattr(find_fonts(), face)
    assert cmap_missing(path) == ""
    assert pillow_problems(path) == []
    assert missing_letters(path) == ""  # what the kiosk checks at start


def pygame_notdef_letters(path: Path) -> str:
    """Letters pygame (SDL_ttf, the screen) draws as the .notdef box."""
    import pygame.font

    pygame.font.init()
    font = pygame.font.Font(str(path), 40)

    def drawn(text: str) -> bytes:
        return pygame.image.tobytes(font.render(text, False, (0, 0, 0), (255, 255, 255)), "RGB")

    notdef = drawn(UNMAPPED)
    return "".join(letter for letter in vietnamese_letters() if drawn(letter) == notdef)


def test_pygame_draws_every_letter_unlike_notdef():
    for path in {find_fonts().regular, find_fonts().bold}:
        assert pygame_notdef_letters(path) == "", path


def test_each_check_catches_a_missing_letter(font_without_two_letters):
    assert sorted(cmap_missing(font_without_two_letters)) == sorted(DROPPED)
    assert sorted(missing_letters(font_without_two_letters)) == sorted(DROPPED)
    assert sorted(pygame_notdef_letters(font_without_two_letters)) == sorted(DROPPED)
    problems = pillow_problems(font_without_two_letters)
    assert len(problems) == 2 and all(".notdef" in p for p in problems)
    assert {p[0] for p in problems} == set(DROPPED)


def test_a_font_without_vietnamese_is_refused_with_what_to_install(font_without_two_letters):
    with pytest.raises(FontNotFound, match="ặ") as refused:
        checked_fonts(str(font_without_two_letters))
    assert "fonts-dejavu-core" in str(refused.value)


def test_no_font_found_says_what_to_install(tmp_path):
    with pytest.raises(FontNotFound, match="apt-get install fonts-dejavu-core"):
        find_fonts(regular_candidates=(str(tmp_path / "none.ttf"),))
    with pytest.raises(FontNotFound, match="does not exist"):
        find_fonts(str(tmp_path / "configured.ttf"))


def test_a_missing_bold_face_falls_back_to_the_regular_one(tmp_path):
    regular = find_fonts().regular
    fonts = find_fonts(str(regular), bold_candidates=(str(tmp_path / "none.ttf"),))
    assert fonts.bold == fonts.regular == regular
