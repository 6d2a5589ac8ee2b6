"""Four physical rating buttons and an LED beside them, through gpiozero (optional).

Some counters have four big arcade buttons under the screen instead of (or
besides) the touchscreen. gpiozero calls ``when_pressed`` on its own thread;
here that only hands a :class:`RatingPressed` to ``on_press`` (the app queues
it for the frame loop), so the display's state is only touched by the frame
loop. The LED is lit while a rating is asked for and blinks for the thanks.

Wiring (BCM numbers from ``[counter.gpio]``): each button between its pin and
ground (the internal pull-up is used); the LED, with its resistor, between
its pin and ground. ``pin_factory = "mock"`` (or ``GPIOZERO_PIN_FACTORY=mock``)
uses gpiozero's MockFactory: on a PC, in tests, for a technician's dry run.
The pin factories and debounce are the kiosk's (:mod:`kiosk_node.gpio`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

from appliance.node_config import CounterGpioConfig
from counter_node.model import LedMode
from kiosk_node.gpio import BOUNCE_TIME, GpioUnavailable, PinDevices, pin_factory

log = logging.getLogger("qms.counter.gpio")

BLINK = (0.25, 0.25)

__all__ = ["CounterGpio", "GpioUnavailable", "RatingPressed", "gpio_configured"]


@dataclass(frozen=True)
class RatingPressed:
    score: int


def gpio_configured(config: CounterGpioConfig) -> bool:
    return bool(config.buttons or config.status_led)


class CounterGpio(PinDevices):
    """The display's buttons and LED; :meth:`close` releases the pins."""

    _log = log

    def __init__(self, config: CounterGpioConfig, on_press: Callable[[RatingPressed], None]):
        try:
            from gpiozero import LED, Button
        except ImportError as exc:
            raise GpioUnavailable(f"gpiozero is not installed: {exc}") from None
        self._devices: list = []
        self._led_mode: LedMode | None = None
        with self._opening():
            self.factory = pin_factory(config.pin_factory)
            self.buttons: dict[int, Button] = {}
            for score_text, pin in sorted(config.buttons.items()):
                try:
                    score = int(score_text)
                except ValueError:
                    score = 0
                if score not in (1, 2, 3, 4):
                    raise GpioUnavailable(f"[counter.gpio] buttons: {score_text!r} is not a score 1 to 4")
                button = Button(pin, pull_up=True, bounce_time=BOUNCE_TIME, pin_factory=self.factory)
                # partial, not a lambda: gpiozero would pass the device to a one-argument callable.
                button.when_pressed = functools.partial(on_press, RatingPressed(score))
                self.buttons[score] = button
                self._devices.append(button)
            self.led = LED(config.status_led, pin_factory=self.factory) if config.status_led else None
            if self.led is not None:
                self._devices.append(self.led)

    def set_led(self, mode: LedMode) -> None:
        """Only a change touches the pin."""
        if self.led is None or mode == self._led_mode:
            return
        self._led_mode = mode
        if mode == "on":
            self.led.on()
        elif mode == "blink":
            self.led.blink(*BLINK)
        else:
            self.led.off()

    @property
    def led_mode(self) -> LedMode | None:
        return self._led_mode
