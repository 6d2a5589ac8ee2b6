"""Physical buttons, the status LED and the paper-low sensor, through gpiozero.

gpiozero calls ``when_pressed`` and friends on its own threads; here they do
nothing but hand a :data:`GpioEvent` to ``on_event`` (the app puts it on a
queue the frame loop drains), so the kiosk's state is only ever touched by the
frame loop.

Wiring (BCM numbers from ``[kiosk.gpio]``): each button between its pin and
ground (the internal pull-up is used), a procedure's (``buttons``) or the
priority button (``priority_button``, as the on-screen "Ưu tiên" entry: the
screen then asks which priority); the LED, with its resistor, between its
pin and ground; a paper-low sensor that closes to ground when the paper runs
low. ``pin_factory = "mock"`` (or ``GPIOZERO_PIN_FACTORY=mock``) uses
gpiozero's MockFactory, so all of this runs on a PC and in tests.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from appliance.node_config import GpioConfig

log = logging.getLogger("qms.kiosk.gpio")

# Debounce for mechanical buttons, seconds.
BOUNCE_TIME = 0.05
SLOW_BLINK = (1.0, 1.0)
FAST_BLINK = (0.15, 0.15)


@dataclass(frozen=True)
class ButtonPressed:
    procedure_id: int


@dataclass(frozen=True)
class PriorityPressed:
    pass


@dataclass(frozen=True)
class PaperLow:
    low: bool


GpioEvent = ButtonPressed | PriorityPressed | PaperLow


class GpioUnavailable(Exception):
    """GPIO is configured but cannot be used (not a Raspberry Pi, no permission, no driver)."""


def gpio_configured(config: GpioConfig) -> bool:
    return bool(config.buttons or config.priority_button or config.status_led or config.paper_low)


def pin_factory(name: str) -> Any:
    """gpiozero's pin factory ``name``: None for gpiozero's own choice (which honours GPIOZERO_PIN_FACTORY)."""
    if not name:
        return None
    if name == "mock":
        from gpiozero.pins.mock import MockFactory

        return MockFactory()
    # Here, not at the top: importlib.metadata costs every kiosk's start ~20 ms, and only a named factory needs it.
    from importlib.metadata import entry_points

    for entry in entry_points(group="gpiozero_pin_factories"):
        if entry.name == name.lower():
            return entry.load()()
    raise GpioUnavailable(f"unknown gpiozero pin factory {name!r}")


class PinDevices:
    """gpiozero devices opened together (in :meth:`_opening`) and released together by :meth:`close`."""

    _devices: list
    _log = log

    @contextlib.contextmanager
    def _opening(self) -> Iterator[None]:
        """Around opening the devices: on any failure the ones already open are released, as GpioUnavailable."""
        try:
            yield
        except GpioUnavailable:
            self.close()
            raise
        except Exception as exc:  # noqa: BLE001 - gpiozero raises many kinds (BadPinFactory, PinInUse, ...)
            self.close()
            raise GpioUnavailable(f"{type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        for device in reversed(self._devices):
            try:
                device.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                self._log.debug("closing %r failed", device, exc_info=True)
        self._devices.clear()


class GpioPanel(PinDevices):
    """The kiosk's GPIO devices; :meth:`close` releases the pins."""

    def __init__(self, config: GpioConfig, on_event: Callable[[GpioEvent], None]):
        try:
            from gpiozero import LED, Button, DigitalInputDevice
        except ImportError as exc:
            raise GpioUnavailable(f"gpiozero is not installed: {exc}") from None
        self._devices: list = []
        self._led_mode: str | None = None
        with self._opening():
            self.factory = pin_factory(config.pin_factory)
            self.buttons: dict[int, Button] = {}
            for procedure, pin in sorted(config.buttons.items()):
                try:
                    procedure_id = int(procedure)
                except ValueError:
                    raise GpioUnavailable(f"[kiosk.gpio] buttons: {procedure!r} is not a procedure id") from None
                button = Button(pin, pull_up=True, bounce_time=BOUNCE_TIME, pin_factory=self.factory)
                # partial, not a lambda with defaults: gpiozero would pass the device to a one-argument callable.
                button.when_pressed = functools.partial(on_event, ButtonPressed(procedure_id))
                self.buttons[procedure_id] = button
                self._devices.append(button)
            self.priority_button = None
            if config.priority_button:
                priority = Button(config.priority_button, pull_up=True, bounce_time=BOUNCE_TIME,
                                  pin_factory=self.factory)
                priority.when_pressed = functools.partial(on_event, PriorityPressed())
                self.priority_button = priority
                self._devices.append(priority)
            self.led = LED(config.status_led, pin_factory=self.factory) if config.status_led else None
            if self.led is not None:
                self._devices.append(self.led)
            self.paper_sensor = None
            if config.paper_low:
                sensor = DigitalInputDevice(config.paper_low, pull_up=True, bounce_time=BOUNCE_TIME,
                                            pin_factory=self.factory)
                sensor.when_activated = functools.partial(on_event, PaperLow(True))
                sensor.when_deactivated = functools.partial(on_event, PaperLow(False))
                self.paper_sensor = sensor
                self._devices.append(sensor)

    @property
    def paper_low(self) -> bool:
        return bool(self.paper_sensor is not None and self.paper_sensor.is_active)

    def set_led(self, mode: str) -> None:
        """``on`` (steady), ``slow_blink`` or ``fast_blink``; only a change touches the pin."""
        if self.led is None or mode == self._led_mode:
            return
        self._led_mode = mode
        if mode == "on":
            self.led.on()
        elif mode == "slow_blink":
            self.led.blink(*SLOW_BLINK)
        else:
            self.led.blink(*FAST_BLINK)

    @property
    def led_mode(self) -> str | None:
        return self._led_mode
