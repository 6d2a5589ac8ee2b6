"""A screen mounted sideways or upside down: the canvas is drawn upright, turned onto it, and taps turned back.

A kiosk in portrait has a landscape panel turned a quarter: its picture is
drawn on an upright canvas of the turned size (``logical``), turned by
``degrees`` clockwise onto the panel (``physical``), and a touch on the panel
is mapped back to where it lands on the canvas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pygame

DEGREES = (0, 90, 180, 270)


@dataclass(frozen=True)
class Rotation:
    """How the canvas is turned onto a physical screen of ``physical`` size: ``degrees`` clockwise."""

    degrees: int
    physical: tuple[int, int]

    def __post_init__(self) -> None:
        if self.degrees not in DEGREES:
            raise ValueError(f"rotation must be one of {DEGREES}, not {self.degrees}")

    @property
    def logical(self) -> tuple[int, int]:
        """The upright canvas's size."""
        width, height = self.physical
        return (height, width) if self.degrees in (90, 270) else (width, height)

    def to_logical(self, x: float, y: float) -> tuple[float, float]:
        """A point on the physical screen (a tap) on the upright canvas."""
        width, height = self.physical
        if self.degrees == 90:
            return y, width - 1 - x
        if self.degrees == 180:
            return width - 1 - x, height - 1 - y
        if self.degrees == 270:
            return height - 1 - y, x
        return x, y

    def to_physical(self, x: float, y: float) -> tuple[float, float]:
        """A point on the canvas, where it appears on the physical screen."""
        width, height = self.physical
        if self.degrees == 90:
            return width - 1 - y, x
        if self.degrees == 180:
            return width - 1 - x, height - 1 - y
        if self.degrees == 270:
            return y, height - 1 - x
        return x, y

    def turn(self, canvas: pygame.Surface) -> pygame.Surface:
        """The upright canvas as the physical screen shows it (the canvas itself when not turned)."""
        if self.degrees == 0:
            return canvas
        import pygame

        return pygame.transform.rotate(canvas, -self.degrees)
