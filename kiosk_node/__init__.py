"""The ticket kiosk: a touchscreen, an ESC/POS thermal printer and optional GPIO buttons, as a hub client.

* :mod:`kiosk_node.model` -- what the kiosk does, as a pure state machine (no I/O).
* :mod:`kiosk_node.ui` -- draws the model with pygame and maps taps back to actions.
* :mod:`kiosk_node.ticket` -- the printed ticket as a Pillow image (printers cannot print Vietnamese text).
* :mod:`kiosk_node.printer` -- printers behind one interface: python-escpos, or a virtual twin that writes files.
* :mod:`kiosk_node.gpio` -- physical buttons, the status LED and the paper-low sensor (gpiozero).
* :mod:`kiosk_node.app` -- wires them to the hub client; one frame per :meth:`KioskApp.step`.
* :mod:`kiosk_node.cli` -- ``qms-kiosk``.
"""
