"""display.pygame_import: pygame without pkg_resources (and numpy, and its mixer), all still importable afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

CHILD = """
import json, sys
from display.pygame_import import import_pygame
pygame = import_pygame(numpy={numpy})
seen = {{"pkg_resources": "pkg_resources" in sys.modules, "numpy": "numpy" in sys.modules}}
# pygame's own files are found without pkg_resources: its default font draws text.
pygame.font.init()
seen["drawn"] = pygame.font.Font(None, 24).render("Mời khách hàng số 105", True, (0, 0, 0)).get_width() > 0
# Nothing stays refused: sndarray (the TV's speech uses it) and numpy import as usual afterwards.
import pygame.sndarray
import numpy
seen["sndarray"] = pygame.sndarray.array.__module__
seen["refused_left"] = [name for name, module in sys.modules.items() if module is None]
seen["again"] = import_pygame() is pygame
print(json.dumps(seen))
"""


def imported(numpy: bool) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD.format(numpy=numpy)], capture_output=True, text=True,
                          timeout=60, check=True, env=dict(os.environ, SDL_VIDEODRIVER="dummy"))
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("numpy", [False, True])
def test_pygame_comes_without_pkg_resources_and_numpy_only_when_asked(numpy):
    seen = imported(numpy)
    assert seen["pkg_resources"] is False
    assert seen["numpy"] is numpy
    assert seen["drawn"] is True
    assert seen["sndarray"] == "pygame.sndarray"
    assert seen["refused_left"] == []
    assert seen["again"] is True


SILENT_CHILD = """
import json, sys
from display.pygame_import import import_pygame
pygame = import_pygame(sound=False)
seen = {"loaded": sorted(name for name in ("pygame.mixer", "pygame.mixer_music") if name in sys.modules),
        "placeholder": not pygame.mixer}
pygame.font.init()
seen["drawn"] = pygame.font.Font(None, 24).render("Mời khách hàng số 105", True, (0, 0, 0)).get_width() > 0
# Nothing stays refused: the mixer imports as usual afterwards and takes the placeholder's place.
import pygame.mixer
seen["mixer"] = pygame.mixer.__name__
seen["music"] = pygame.mixer.music.__name__
seen["refused_left"] = [name for name, module in sys.modules.items() if module is None]
print(json.dumps(seen))
"""


def test_pygame_comes_without_its_mixer_for_a_node_that_plays_no_sound():
    done = subprocess.run([sys.executable, "-c", SILENT_CHILD], capture_output=True, text=True, timeout=60,
                          check=True, env=dict(os.environ, SDL_VIDEODRIVER="dummy"))
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["loaded"] == [] and seen["placeholder"] is True
    assert seen["drawn"] is True
    assert (seen["mixer"], seen["music"]) == ("pygame.mixer", "pygame.mixer_music")
    assert seen["refused_left"] == []
