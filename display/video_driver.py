"""Whether SDL draws to a real screen, going by ``SDL_VIDEODRIVER``: every node's command line asks."""

from __future__ import annotations

import os

# SDL video drivers with no screen behind them: full screen there takes the driver's one mode
# (1024x768 for dummy) instead of the size asked for.
SCREENLESS_VIDEO_DRIVERS = ("dummy", "offscreen")


def screenless() -> bool:
    """Whether SDL draws to no screen (tests, screenshots), going by ``SDL_VIDEODRIVER``."""
    return os.environ.get("SDL_VIDEODRIVER", "").strip().lower() in SCREENLESS_VIDEO_DRIVERS
