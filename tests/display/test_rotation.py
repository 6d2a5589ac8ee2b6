"""A turned screen (display.rotation): what is drawn on the upright canvas is where a finger touches it."""

from __future__ import annotations

import os

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame  # noqa: E402
import pytest  # noqa: E402

from display.rotation import Rotation  # noqa: E402


@pytest.mark.parametrize("degrees", [0, 90, 180, 270])
def test_taps_are_turned_back_to_where_things_were_drawn(degrees):
    rotation = Rotation(degrees, (800, 480))
    width, height = rotation.logical
    assert (width, height) == ((480, 800) if degrees in (90, 270) else (800, 480))
    canvas = pygame.Surface((width, height))
    for point in [(0, 0), (width - 1, 0), (10, height - 5), (width // 3, height // 2)]:
        assert rotation.to_logical(*rotation.to_physical(*point)) == point
        canvas.fill((0, 0, 0))
        canvas.set_at(point, (255, 0, 0))
        # Where the turned picture has the dot is where a finger will touch it.
        turned = rotation.turn(canvas)
        assert turned.get_size() == (800, 480)
        x, y = rotation.to_physical(*point)
        assert turned.get_at((int(x), int(y)))[:3] == (255, 0, 0), (degrees, point)


def test_an_unturned_canvas_is_the_screen_itself():
    canvas = pygame.Surface((800, 480))
    assert Rotation(0, (800, 480)).turn(canvas) is canvas


def test_only_quarter_turns():
    with pytest.raises(ValueError, match="0, 90, 180, 270"):
        Rotation(45, (800, 480))
