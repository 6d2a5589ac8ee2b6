"""The hall TV: shows the hall's lines and counters (or a room's), highlights and speaks each call, shows announcements.

* :mod:`tv_node.view` -- pure: what is on screen, from the hub mirror and the hub's clock.
* :mod:`tv_node.render` -- draws a view with pygame, redrawing only the regions that changed
  (fonts, text cache, fitting and wrapping: the shared :mod:`display` package).
* :mod:`tv_node.speech` -- hands calls to the audio package (or a fake) without blocking a frame.
* :mod:`tv_node.app` -- the frame loop: poll the hub client, build the view, draw, speak.
* :mod:`tv_node.cli` -- ``qms-tv``.
"""

import os

# pygame prints a banner on import unless told not to; a service's journal does not need it.
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
