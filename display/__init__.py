"""What every pygame node (kiosk, hall TV, counter display) needs to put Vietnamese text on a screen.

* :mod:`display.vietnamese` -- the Vietnamese letters, and the normal form (NFC) text is drawn in.
* :mod:`display.fonts` -- finds a TrueType font that has a glyph for every Vietnamese letter.
* :mod:`display.wrap` -- balanced word wrap and ellipsis, for any ruler (pygame or Pillow).
* :mod:`display.fit` -- the largest type size at which a text fits a box.
* :mod:`display.text_cache` -- pygame fonts and rendered text, cached and bounded.
* :mod:`display.rotation` -- an upright canvas turned onto a screen mounted sideways, and taps turned back.
* :mod:`display.screenshot` -- the screen as a PNG, replaced atomically.
* :mod:`display.video_driver` -- whether SDL draws to a real screen or to none (tests, screenshots).

Nothing is imported here: :mod:`display.wrap` and :mod:`display.fit` serve the
kiosk's Pillow ticket too, and only :mod:`display.text_cache` loads pygame when
imported (:mod:`display.fonts`, :mod:`display.rotation` and :mod:`display.screenshot` load it when used).
"""
