"""Import pygame without what it drags in and a node never uses: each node's entry point calls this first.

``import pygame`` imports ``pygame.pkgdata``, which imports setuptools'
``pkg_resources`` (present in every venv, some 70-200 ms, more on a Pi) only to
look for its own data files, and ``pygame.surfarray`` and ``pygame.sndarray``,
which import numpy (another 100-200 ms). pygame guards each of these with
``try: ... except ImportError``, and without them it looks up its files by
path (what ``pkg_resources`` would have answered for an installed wheel) and
leaves ``surfarray``/``sndarray`` to be imported on first use.

:func:`import_pygame` imports pygame once with those modules refused, for the
length of pygame's own import only: afterwards anything may import them as
usual, and ``import pygame.sndarray`` (the TV's speech) works as before: the
TV's speech imports numpy in its own thread once the board is on screen
(``tv_node.speech.BackgroundSpeaker``). A program that wants numpy with
pygame from the start passes ``numpy=True``. A program that never plays a
sound (the kiosk) passes ``sound=False``: ``pygame.mixer`` and
``pygame.mixer_music`` are refused too, so SDL_mixer and its codec
libraries are not loaded (some 10 ms on a PC); ``pygame.mixer`` is then
pygame's own placeholder for a missing module until something does
``import pygame.mixer``, which works as usual. Call it before anything
imports pygame; once pygame is imported, it changes nothing.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

# Imported by pygame for no use of a node's: refused while pygame imports.
NEVER_NEEDED = ("pkg_resources",)
NUMPY = "numpy"
# Both: either one loads SDL_mixer (pygame.mixer imports pygame.mixer_music itself).
SOUND = ("pygame.mixer_music", "pygame.mixer")


def import_pygame(*, numpy: bool = False, sound: bool = True) -> ModuleType:
    """pygame, imported without ``pkg_resources`` (without numpy unless ``numpy``, without its mixer unless
    ``sound``); the module."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    # numpy's OpenBLAS starts a thread per core when loaded (some 60 ms on two busy cores, and
    # memory for each); a node does array arithmetic, never linear algebra: one is plenty.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    already = sys.modules.get("pygame")
    if already is not None:
        return already
    unwanted = (*NEVER_NEEDED, *(() if numpy else (NUMPY,)), *(() if sound else SOUND))
    refused = [name for name in unwanted if name not in sys.modules]
    for name in refused:
        # None in sys.modules makes `import name` raise ImportError, which pygame catches.
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        import pygame
    finally:
        for name in refused:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    return pygame
