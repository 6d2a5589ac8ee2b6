"""``qms-counter``: the counter display facing the citizen, with the rating after each service.

    qms-counter [--config /etc/qms/node.toml] [--hub URL] [--token-file F] [--client-id ID]
                [--windowed] [--size WxH] [--screenshot PATH]

Settings come from the node file (``role = "counter"``, ``[counter]``,
``[display]``, the hub address and token); the options override them. The
counter is the one the device token names (``qms-hub token --role counter
--client-id counter-01 --counter-id 1``), and so is the client id unless the
node file or ``--client-id`` says otherwise (the hub accepts only the
token's). Under systemd the unit sets ``SDL_VIDEODRIVER=kmsdrm``; on a desk
``--windowed`` opens an 800x480 window (or ``--size``). Without a screen
(``SDL_VIDEODRIVER=dummy`` or ``offscreen``) a size given is the picture's.

Exit status: 0 after a normal stop (SIGTERM, the window closed), 2 on a bad
setting or usage (the message says which).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from appliance.node_config import NodeConfig, NodeConfigError, load_node_config, token_claims
from display.pygame_import import import_pygame
from display.video_driver import screenless

log = logging.getLogger("qms.counter")

# Below these a citizen could not finish reading or tapping.
MIN_ASK_SECONDS = 5.0
MIN_THANKS_SECONDS = 1.0


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 800x480, not {text!r}") from None
    if width < 320 or height < 240:
        raise argparse.ArgumentTypeError(f"{text}: too small for the counter display")
    return width, height


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qms-counter",
                                     description="The counter display: the number served, and the citizen's rating.")
    parser.add_argument("--config", metavar="FILE", help="the node settings file (default: /etc/qms/node.toml)")
    parser.add_argument("--hub", metavar="URL", help="the hub's WebSocket address, e.g. wss://hub.local:3001/ws")
    parser.add_argument("--token-file", metavar="FILE", help="the device token file (or set QMS_TOKEN)")
    parser.add_argument("--client-id", metavar="ID", help="this display's id (default: the one its token names)")
    parser.add_argument("--windowed", action="store_true", help="a window instead of full screen")
    parser.add_argument("--size", metavar="WxH", type=_size, help="screen or window size, e.g. 800x480")
    parser.add_argument("--screenshot", metavar="PATH", help="write the screen to this PNG after each change")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging detail")
    return parser


def _config(args: argparse.Namespace) -> NodeConfig:
    config = load_node_config(args.config)
    if config.role != "counter" and args.config is not None:
        raise NodeConfigError(f"{args.config}: role is {config.role!r}, not 'counter'")
    changes: dict[str, Any] = {}
    if args.hub:
        changes["hub_url"] = args.hub
    if args.token_file:
        changes["token_file"] = args.token_file
    if args.client_id:
        changes["client_id"] = args.client_id
    config = replace(config, **changes)
    display = config.display
    if args.windowed:
        display = replace(display, fullscreen=False)
    if args.size:
        display = replace(display, width=args.size[0], height=args.size[1])
    if display.fullscreen and display.width and display.height and screenless():
        # Without a screen, a window of the size asked for is the same picture at the right size.
        display = replace(display, fullscreen=False)
    if args.screenshot:
        display = replace(display, screenshot=args.screenshot)
    return replace(config, display=display)


def settings_from_config(config: NodeConfig):
    """The app's settings: the token read, the counter and client id settled, the fonts found and checked."""
    from counter_node.app import CounterSettings
    from display.fonts import configured_fonts
    from protocol.client import HubClientConfig

    counter = config.counter
    if counter.ask_seconds < MIN_ASK_SECONDS:
        raise NodeConfigError(f"[counter] ask_seconds: at least {MIN_ASK_SECONDS:g}, not {counter.ask_seconds:g}")
    if counter.thanks_seconds < MIN_THANKS_SECONDS:
        raise NodeConfigError(f"[counter] thanks_seconds: at least {MIN_THANKS_SECONDS:g}, "
                              f"not {counter.thanks_seconds:g}")
    token = config.read_token()
    claims = token_claims(token)
    counter_id = claims.get("counter_id")
    if type(counter_id) is not int or counter_id < 1:
        raise NodeConfigError(f"{config.token_file}: the token names no counter; make one with "
                              "qms-hub token --role counter --client-id ID --counter-id N")
    client_id = config.client_id or claims.get("client_id")
    if not isinstance(client_id, str) or not client_id:
        raise NodeConfigError("client_id is not set in node.toml and the token names none: use --client-id")
    client = HubClientConfig(url=config.hub_url, token=token, client_type="counter", client_id=client_id,
                             location=config.location, ca_file=config.ca_file or None)
    display = config.display
    return CounterSettings(
        client=client,
        counter_id=counter_id,
        fonts=configured_fonts(counter.font, counter.font_bold),
        state_dir=Path(counter.state_dir),
        ask_seconds=counter.ask_seconds,
        thanks_seconds=counter.thanks_seconds,
        size=(display.width, display.height),
        fullscreen=display.fullscreen,
        screenshot=Path(display.screenshot) if display.screenshot else None,
        gpio=counter.gpio,
    )


def run(settings) -> int:
    from counter_node.app import CounterApp

    app = CounterApp(settings)
    # systemd stops the service with SIGTERM: finish the frame, close the connection, write the outbox.
    signal.signal(signal.SIGTERM, lambda *_: app.stop())
    signal.signal(signal.SIGINT, lambda *_: app.stop())
    with app:
        log.info("counter display %s of counter %s started: hub %s, %d rating(s) waiting", settings.client.client_id,
                 settings.counter_id, settings.client.url, len(app.model.pending))
        app.run()
    log.info("counter display stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    import_pygame()  # before anything imports pygame: without pkg_resources and numpy, unused here
    from display.fonts import FontNotFound

    try:
        settings = settings_from_config(_config(args))
    # ValueError: HubClientConfig's refusal of a hub URL or CA file.
    except (NodeConfigError, FontNotFound, ValueError) as exc:
        print(f"qms-counter: {exc}", file=sys.stderr)
        return 2
    return run(settings)


if __name__ == "__main__":
    sys.exit(main())
