"""A device's own settings: ``/etc/qms/node.toml``, shared by the kiosk, the TV and the counter display.

Typed, with defaults, so a node starts with a file that names only what
differs (the hub's address, the device's id and token). Written by the
deploy scripts at first boot; read at start. A bad file is refused with the
key and the reason, like the hub's site file.

```toml
role = "kiosk"                          # kiosk | tv | counter
hub_url = "wss://hub.local:3001/ws"
token_file = "/etc/qms/device.token"
client_id = "kiosk-001"
location = "main-hall"
ca_file = "/etc/qms/site-ca.crt"        # the site CA the hub's certificate is checked against
language = "vi"                         # first language on screen: vi | en

[display]
fullscreen = true
width = 0                               # 0: the screen's own size
height = 0
rotation = 0                            # 0 | 90 | 180 | 270 (portrait kiosks)
screenshot = ""                         # write a PNG here after each change (support, docs)

[kiosk]
printer = "virtual:/var/lib/qms-kiosk/tickets"   # usb:VID:PID | network:HOST[:PORT] | serial:DEV[:BAUD]
                                                 # | file:PATH | virtual:DIR
paper_width_dots = 576                  # 80 mm paper at 203 dpi; 384 for 58 mm
printer_profile = ""                    # python-escpos profile name (e.g. "TM-T20II"); "": generic
printer_timeout = 5                     # seconds a printer may take to answer before it is reported
result_seconds = 6                      # how long "Số của bạn" stays on screen
font = ""                               # TTF with Vietnamese letters; "": DejaVu Sans or Noto Sans
font_bold = ""

[kiosk.gpio]
pin_factory = ""                        # "" (gpiozero's default), "lgpio", "mock"
status_led = 0                          # BCM pin; 0: none
paper_low = 0                           # BCM pin of a paper-low sensor; 0: none
buttons = { "101" = 17, "201" = 27 }    # procedure id -> BCM pin of its physical button
priority_button = 0                     # BCM pin of the "Ưu tiên" (priority) button; 0: none

[tv]
voice = "espeak"                        # a piper .onnx voice file | "espeak" | "none"
repeat = 2                              # each announcement is spoken this many times
dialect = "standard"                    # how numbers are read: standard "lẻ"+"nghìn",
                                        # north "linh"+"nghìn", south "lẻ"+"ngàn"
chime = true
volume = 1.0

[counter]
state_dir = "/var/lib/qms-counter"      # ratings not yet acknowledged by the hub are kept here
ask_seconds = 30                        # how long the rating choices wait for a tap
thanks_seconds = 4                      # how long "Cảm ơn quý khách" stays
font = ""                               # as for the kiosk
font_bold = ""

[counter.gpio]
pin_factory = ""                        # "" (gpiozero's default), "lgpio", "mock"
status_led = 0                          # BCM pin of the LED beside the buttons; 0: none
buttons = { "4" = 5, "3" = 6, "2" = 13, "1" = 19 }   # score (4 Rất hài lòng .. 1 Không hài lòng) -> BCM pin
```
"""

from __future__ import annotations

import base64
import json
import os
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

DEFAULT_PATH = Path("/etc/qms/node.toml")


class NodeConfigError(Exception):
    """One line a technician can act on: '<file>: <key>: <reason>'."""


@dataclass(frozen=True)
class DisplayConfig:
    fullscreen: bool = True
    width: int = 0
    height: int = 0
    rotation: Literal[0, 90, 180, 270] = 0
    screenshot: str = ""


@dataclass(frozen=True)
class GpioConfig:
    pin_factory: str = ""
    status_led: int = 0
    paper_low: int = 0
    buttons: dict[str, int] = field(default_factory=dict)
    priority_button: int = 0


@dataclass(frozen=True)
class KioskConfig:
    # The kiosk unit's StateDirectory: writable under its sandbox.
    printer: str = "virtual:/var/lib/qms-kiosk/tickets"
    paper_width_dots: int = 576
    printer_profile: str = ""
    printer_timeout: float = 5.0
    result_seconds: float = 6.0
    font: str = ""
    font_bold: str = ""
    gpio: GpioConfig = GpioConfig()


@dataclass(frozen=True)
class TvConfig:
    voice: str = "espeak"
    repeat: int = 2
    dialect: Literal["standard", "north", "south"] = "standard"
    chime: bool = True
    volume: float = 1.0


@dataclass(frozen=True)
class CounterGpioConfig:
    pin_factory: str = ""
    status_led: int = 0
    # Score ("4" Rất hài lòng ... "1" Không hài lòng) -> BCM pin of its button.
    buttons: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CounterConfig:
    # The counter unit's StateDirectory: the ratings the hub has not acknowledged yet survive a restart there.
    state_dir: str = "/var/lib/qms-counter"
    ask_seconds: float = 30.0
    thanks_seconds: float = 4.0
    font: str = ""
    font_bold: str = ""
    gpio: CounterGpioConfig = CounterGpioConfig()


@dataclass(frozen=True)
class NodeConfig:
    role: Literal["kiosk", "tv", "counter"] = "kiosk"
    hub_url: str = "ws://127.0.0.1:3001/ws"
    token_file: str = "/etc/qms/device.token"
    client_id: str = ""
    location: str = ""
    ca_file: str = ""
    language: Literal["vi", "en"] = "vi"
    display: DisplayConfig = DisplayConfig()
    kiosk: KioskConfig = KioskConfig()
    tv: TvConfig = TvConfig()
    counter: CounterConfig = CounterConfig()

    def read_token(self) -> str:
        """The device token, from ``token_file`` (or the QMS_TOKEN environment variable)."""
        token = os.environ.get("QMS_TOKEN")
        if token:
            return token.strip()
        try:
            return Path(self.token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise NodeConfigError(f"{self.token_file}: cannot read the device token: {exc.strerror}") from None


def token_claims(token: str) -> dict[str, Any]:
    """The claims of a device token (a JWT), read without checking its signature (the hub does); {} if unreadable."""
    try:
        part = token.removeprefix("Bearer ").strip().split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def token_client_id(token: str) -> str | None:
    """The ``client_id`` a device token names, or None."""
    client_id = token_claims(token).get("client_id")
    return client_id if isinstance(client_id, str) and client_id else None


def _convert(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise NodeConfigError(f"{where}: expected a table")
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise NodeConfigError(f"{where}{unknown[0]}: unknown key (known: {', '.join(sorted(known))})")
    values: dict[str, Any] = {}
    for name, value in data.items():
        values[name] = _value(hints[name], value, f"{where}{name}")
    return cls(**values)


def _value(hint: Any, value: Any, where: str) -> Any:
    if isinstance(hint, type) and is_dataclass(hint):
        return _convert(hint, value, where + ".")
    origin = get_origin(hint)
    if origin is Literal:
        allowed = get_args(hint)
        if value not in allowed or isinstance(value, bool):
            raise NodeConfigError(f"{where}: must be one of {', '.join(map(repr, allowed))}")
        return value
    if origin is dict:
        if not isinstance(value, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value.values()
        ):
            raise NodeConfigError(f"{where}: expected a table of whole numbers")
        return {str(k): v for k, v in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise NodeConfigError(f"{where}: expected true or false")
        return value
    if hint is int:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise NodeConfigError(f"{where}: expected a whole number >= 0")
        return value
    if hint is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise NodeConfigError(f"{where}: expected a number >= 0")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise NodeConfigError(f"{where}: expected a string")
        return value
    raise NodeConfigError(f"{where}: unsupported setting")  # pragma: no cover - a new field of a new type


def parse_node_config(text: str, source: str = "<node.toml>") -> NodeConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise NodeConfigError(f"{source}: {exc}") from None
    try:
        return _convert(NodeConfig, data, "")
    except NodeConfigError as exc:
        raise NodeConfigError(f"{source}: {exc}") from None


def load_node_config(path: str | os.PathLike | None = None) -> NodeConfig:
    """The node's settings; the defaults when no file is given and the default file is absent."""
    if path is None:
        if not DEFAULT_PATH.exists():
            return NodeConfig()
        path = DEFAULT_PATH
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise NodeConfigError(f"{path}: {exc.strerror}") from None
    return parse_node_config(text, str(path))
