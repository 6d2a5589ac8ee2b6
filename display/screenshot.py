"""A node's screen written to a PNG that a support tool may be reading at that moment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pygame


def save_png(surface: pygame.Surface, path: str | os.PathLike[str]) -> None:
    """``surface`` as a PNG at ``path``: written beside it and renamed, so no reader sees half a picture."""
    import pygame

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".partial.png")
    pygame.image.save(surface, os.fspath(partial))
    os.replace(partial, path)
