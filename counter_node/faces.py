"""The four rating faces, drawn with pygame primitives: understood at a glance, without reading.

A round face with two eyes and a mouth, on the choice's colour: a broad open
smile on green (4, Rất hài lòng), a smile on light green (3, Hài lòng), a
slightly turned-down mouth on amber (2, Chưa hài lòng) and a frown on red
(1, Không hài lòng). The colours go from green to red the way traffic lights
do; the mouths carry the meaning for a person who does not tell red from
green. Nothing is downloaded: each face is drawn at four times its size and
smoothed down (pygame 2's primitives draw no antialiased thick curves), once
per size, and kept.
"""

from __future__ import annotations

from functools import lru_cache

import pygame

Color = tuple[int, int, int]

# The button's colour for each score (white text on each passes WCAG AA for large text).
SCORE_COLORS: dict[int, Color] = {
    4: (22, 120, 60),
    3: (70, 135, 30),
    2: (196, 110, 0),
    1: (176, 30, 40),
}
FACE_FILL: Color = (255, 214, 64)
FACE_EDGE: Color = (60, 40, 10)
FEATURES: Color = (50, 32, 8)
MOUTH_INSIDE: Color = (140, 30, 30)
# Drawn this many times larger, then smoothed down: antialiasing for circles and thick curves.
SUPERSAMPLE = 4
# How far the mouth's middle sits below (+) or above (-) its corners, as a share of the face's radius.
MOUTH_CURVE: dict[int, float] = {4: 0.34, 3: 0.22, 2: -0.08, 1: -0.24}


def _curve(center_x: float, corner_y: float, half_width: float, bend: float,
           steps: int = 24) -> list[tuple[float, float]]:
    """Points of a parabola from corner to corner whose middle is ``bend`` below the corners."""
    points = []
    for i in range(steps + 1):
        t = -1 + 2 * i / steps
        points.append((center_x + t * half_width, corner_y + bend * (1 - t * t)))
    return points


def draw_face(score: int, diameter: int) -> pygame.Surface:
    """The face for ``score`` (1..4), ``diameter`` pixels across, on a transparent surface."""
    return _draw_face(score, max(8, int(diameter))).copy()


@lru_cache(maxsize=16)
def _draw_face(score: int, diameter: int) -> pygame.Surface:
    if score not in MOUTH_CURVE:
        raise ValueError(f"no face for score {score}")
    big = diameter * SUPERSAMPLE
    surface = pygame.Surface((big, big), pygame.SRCALPHA)
    radius = big / 2
    center = (radius, radius)
    pygame.draw.circle(surface, FACE_EDGE, center, radius)
    pygame.draw.circle(surface, FACE_FILL, center, radius * 0.93)
    # Eyes: round, a little above the middle; a little smaller and lower for the unhappy faces.
    eye = radius * (0.11 if score >= 3 else 0.10)
    eye_y = radius * (0.72 if score >= 3 else 0.76)
    for eye_x in (radius * 0.65, radius * 1.35):
        pygame.draw.circle(surface, FEATURES, (eye_x, eye_y), eye)
    # Brows for the unhappy faces: slanted down towards the middle for 1, flat for 2.
    if score <= 2:
        tilt = radius * (0.12 if score == 1 else 0.0)
        thickness = max(2, round(radius * 0.07))
        for outer_x, inner_x in ((radius * 0.45, radius * 0.8), (radius * 1.55, radius * 1.2)):
            pygame.draw.line(surface, FEATURES, (outer_x, eye_y - radius * 0.26),
                             (inner_x, eye_y - radius * 0.26 + tilt), thickness)
    bend = MOUTH_CURVE[score] * radius
    corner_y = radius * (1.28 if bend > 0 else 1.45)
    half_width = radius * (0.48 if score == 4 else 0.42 if score == 3 else 0.36)
    mouth = _curve(radius, corner_y, half_width, bend)
    if score == 4:
        # Open, laughing: the curve closed by a straight upper lip.
        pygame.draw.polygon(surface, MOUTH_INSIDE, mouth)
        pygame.draw.polygon(surface, FEATURES, mouth, max(2, round(radius * 0.06)))
    else:
        thickness = max(2, round(radius * 0.09))
        pygame.draw.lines(surface, FEATURES, False, mouth, thickness)
        for end in (mouth[0], mouth[-1]):
            pygame.draw.circle(surface, FEATURES, end, thickness / 2)
    return pygame.transform.smoothscale(surface, (diameter, diameter))
