"""The font finder (display.fonts): the chosen font draws every Vietnamese letter; a font with holes is refused.

Independent checks per letter of the chosen font: its character map has it
(fontTools), Pillow (the ticket) and pygame (the screen) do not draw it as
the .notdef box, and it differs from its base letter (the marks are really
drawn). A font with two letters taken out (tests/support/display_helpers.py)
shows that each check, and the finder's own, catches a missing glyph.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame  # noqa: E402
import pytest  # noqa: E402
from fontTools.ttLib import TTFont  # noqa: E402
from PIL import ImageFont  # noqa: E402
from support.display_helpers import UNMAPPED, font_without  # noqa: E402

from display.fonts import (  # noqa: E402
    DEFAULT_FONT_PATHS,
    FontFiles,
    FontNotFound,
    bold_companion,
    configured_fonts,
    find_fonts,
    missing_glyphs,
)
from display.vietnamese import vietnamese_letters  # noqa: E402

DROPPED = "ặỮ"
DEJAVU_MONO = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
FACES = ["regular", "bold"]


def base_letter(letter: str) -> str:
    """The letter without its tone and other marks ("ặ" -> "a"); "đ" stays (its bar is not a mark)."""
    return "".join(c for c in unicodedata.normalize("NFD", letter) if not unicodedata.combining(c))


def cmap_missing(path: Path) -> str:
    cmap = TTFont(str(path)).getBestCmap()
    return "".join(letter for letter in vietnamese_letters() if ord(letter) not in cmap)


def pillow_problems(path: Path) -> list[str]:
    """Letters Pillow (the ticket) draws as the .notdef box, or exactly like their base letter."""
    font = ImageFont.truetype(str(path), 40)

    def drawn(text: str) -> tuple[tuple[int, int], bytes]:
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


def pygame_notdef_letters(path: Path) -> str:
    """Letters pygame (SDL_ttf, the screen) draws as the .notdef box."""
    pygame.font.init()
    font = pygame.font.Font(str(path), 40)

    def drawn(text: str) -> bytes:
        return pygame.image.tobytes(font.render(text, False, (0, 0, 0), (255, 255, 255)), "RGB")

    notdef = drawn(UNMAPPED)
    return "".join(letter for letter in vietnamese_letters() if drawn(letter) == notdef)


@pytest.fixture(scope="module")
def chosen() -> FontFiles:
    return find_fonts()


@pytest.fixture(scope="module")
def font_without_two_letters(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return font_without(DROPPED, tmp_path_factory.mktemp("fonts") / "without-two.ttf")


@pytest.mark.parametrize("face", FACES)
def test_the_chosen_font_has_every_vietnamese_letter(chosen, face):
    path = chosen.face(face == "bold")
    assert face == "regular" or chosen.bold is not None, "the Debian fonts have a bold face"
    assert cmap_missing(path) == ""
    assert missing_glyphs(path) == []  # what the nodes check at start
    assert missing_glyphs(path, vietnamese_letters()) == []


@pytest.mark.parametrize("face", FACES)
def test_the_chosen_font_draws_every_letter_with_its_marks_on_screen_and_ticket(chosen, face):
    path = chosen.face(face == "bold")
    assert pillow_problems(path) == []
    assert pygame_notdef_letters(path) == ""


def test_the_check_is_the_character_map(chosen):
    fox = "\U0001F98A"  # in no text font
    assert missing_glyphs(chosen.regular, "ặ" + fox + UNMAPPED) == [fox, UNMAPPED]
    assert missing_glyphs(chosen.regular, "") == []


def test_each_check_catches_a_missing_letter(font_without_two_letters):
    assert sorted(cmap_missing(font_without_two_letters)) == sorted(DROPPED)
    assert sorted(missing_glyphs(font_without_two_letters)) == sorted(DROPPED)
    assert sorted(pygame_notdef_letters(font_without_two_letters)) == sorted(DROPPED)
    problems = pillow_problems(font_without_two_letters)
    assert len(problems) == 2 and all(".notdef" in p for p in problems)
    assert {p[0] for p in problems} == set(DROPPED)


def test_a_font_with_holes_is_passed_over_for_the_next(font_without_two_letters, chosen):
    assert find_fonts([font_without_two_letters, *DEFAULT_FONT_PATHS]) == chosen
    if os.path.exists(DEJAVU_MONO):  # a real font with holes: 46 Vietnamese letters missing
        assert len(missing_glyphs(DEJAVU_MONO, vietnamese_letters())) == 46
        assert find_fonts([DEJAVU_MONO, *DEFAULT_FONT_PATHS]) == chosen


def test_no_usable_font_says_what_was_tried_and_what_to_install(tmp_path, font_without_two_letters):
    not_a_font = tmp_path / "notes.ttf"
    not_a_font.write_text("not a font")
    with pytest.raises(FontNotFound) as refused:
        find_fonts([tmp_path / "missing.ttf", not_a_font, font_without_two_letters])
    message = str(refused.value)
    assert "missing.ttf: no such file" in message
    assert "notes.ttf: not a readable font" in message
    assert f"without-two.ttf: no glyph for {DROPPED!r}" in message
    assert "apt-get install fonts-dejavu-core" in message and "--font" in message and "[kiosk] font" in message


def test_a_configured_font_is_refused_outright_when_missing_or_incomplete(tmp_path, font_without_two_letters,
                                                                           chosen):
    with pytest.raises(FontNotFound, match="does not exist; install the Debian package fonts-dejavu-core"):
        configured_fonts(tmp_path / "configured.ttf")
    with pytest.raises(FontNotFound, match=f"without-two.ttf: no glyph for {DROPPED!r}"):
        configured_fonts(font_without_two_letters)
    with pytest.raises(FontNotFound, match="bold.ttf does not exist"):
        configured_fonts(chosen.regular, tmp_path / "bold.ttf")
    with pytest.raises(FontNotFound, match="no glyph for"):
        configured_fonts("", font_without_two_letters)


def test_configured_fonts_default_to_the_finders_choice(chosen):
    assert configured_fonts() == chosen
    assert configured_fonts(str(chosen.regular)) == chosen
    assert chosen.bold is not None
    assert configured_fonts("", str(chosen.bold)) == chosen
    # The bold face named on its own is taken, whatever the regular one is.
    assert configured_fonts(chosen.regular, chosen.regular) == FontFiles(chosen.regular, chosen.regular)


def test_the_bold_face_is_the_one_beside_the_regular_one_or_none(tmp_path, chosen):
    assert chosen.bold == bold_companion(chosen.regular)
    noto = tmp_path / "NotoSans-Regular.ttf"
    noto.write_bytes(chosen.regular.read_bytes())
    assert bold_companion(noto) is None
    (tmp_path / "NotoSans-Bold.ttf").write_bytes(chosen.bold.read_bytes())
    assert bold_companion(noto) == tmp_path / "NotoSans-Bold.ttf"
    alone = tmp_path / "fonts" / "Alone.ttf"
    alone.parent.mkdir()
    alone.write_bytes(chosen.regular.read_bytes())
    fonts = find_fonts([alone])
    assert fonts == FontFiles(alone, None)
    assert fonts.face(bold=True) == fonts.face(bold=False) == alone


def test_a_bold_face_with_holes_is_not_used(tmp_path):
    regular = font_without("", tmp_path / "Family.ttf")
    font_without(DROPPED, tmp_path / "Family-Bold.ttf", source=find_fonts().bold)
    assert bold_companion(regular) == tmp_path / "Family-Bold.ttf"
    assert find_fonts([regular]) == FontFiles(regular, None)
