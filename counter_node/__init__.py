"""The counter display: a small touchscreen facing the citizen at one counter, and the citizen's rating.

It shows the counter, the number being served and (where the site allows it)
the officer's name; after each finished service it asks for a rating with
four big faces, one tap, and keeps a rating the hub could not take yet until
the hub acknowledges it.

* :mod:`counter_node.texts` -- every fixed text it shows, Vietnamese.
* :mod:`counter_node.model` -- what it shows and does, as a pure state machine (no I/O, injectable time).
* :mod:`counter_node.outbox` -- the ratings not yet acknowledged, in a small file written off the frame loop.
* :mod:`counter_node.faces` -- the four faces, drawn with pygame primitives.
* :mod:`counter_node.ui` -- draws a view with pygame and maps taps back to scores.
* :mod:`counter_node.gpio` -- four optional rating buttons and an LED (gpiozero).
* :mod:`counter_node.app` -- wires them to the hub client; one frame per :meth:`CounterApp.step`.
* :mod:`counter_node.cli` -- ``qms-counter``.
"""

import os

# pygame prints a banner on import unless told not to; a service's journal does not need it.
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
