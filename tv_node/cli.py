"""``qms-tv``: the hall display, and ``qms-tv say`` for technicians.

    qms-tv [--config /etc/qms/node.toml] [--hub URL] [--token-file F] [--client-id ID]
           [--voice PATH|espeak|none] [--windowed] [--size WxH] [--screenshot PATH] [--font PATH]
    qms-tv [--config F] [--voice V] say "TEXT" [say's own options, see qms-tv say --help]

Settings come from the node file (``[tv]``, ``[display]``, the hub address
and token); the options override them. Without a client id in either, the
one the device token names is used (the hub only accepts that one anyway).

Without a screen (``SDL_VIDEODRIVER=dummy`` or ``offscreen``) a size given
with ``--size`` or in the node file is the picture's size, full screen or not.

Exit status: 0 after a normal stop (SIGTERM, the window closed), 1 on a bad
setting (the message says which), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from dataclasses import replace

from appliance.node_config import NodeConfig, NodeConfigError, load_node_config, token_client_id
from display.pygame_import import import_pygame
from display.video_driver import screenless

log = logging.getLogger("qms.tv")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qms-tv", description="The hall TV: shows and speaks each call.",
        epilog='qms-tv [--config F] [--voice V] say "TEXT" speaks a text the way calls are spoken '
               "(qms-tv say --help for its options).")
    parser.add_argument("--config", metavar="FILE", help="the node settings file (default: /etc/qms/node.toml)")
    parser.add_argument("--hub", metavar="URL", help="the hub's WebSocket address, e.g. wss://hub.local:3001/ws")
    parser.add_argument("--token-file", metavar="FILE", help="the device token file")
    parser.add_argument("--client-id", metavar="ID", help="this TV's id (default: the one its token names)")
    parser.add_argument("--voice", metavar="PATH|espeak|none", help="a piper .onnx voice, espeak, or none")
    parser.add_argument("--windowed", action="store_true", help="a window instead of full screen")
    parser.add_argument("--size", metavar="WxH", type=_size, help="screen or window size, e.g. 1280x720")
    parser.add_argument("--screenshot", metavar="PATH", help="write the screen to this PNG after each change")
    parser.add_argument("--font", metavar="PATH", action="append", default=[],
                        help="a TTF to try before DejaVu Sans and Noto Sans (repeatable)")
    parser.add_argument("--speech-cache", metavar="DIR", help="where spoken pieces are kept between starts")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging detail")
    return parser


def split_say(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """``[options] say [say's arguments]`` -> (options, say's arguments); None when there is no ``say``.

    Split by hand rather than with an argparse sub-command: everything after
    ``say`` (``--help`` included) belongs to audio.say's own parser.
    """
    takes_value = {action for a in build_parser()._actions if a.nargs is None and a.option_strings
                   for action in a.option_strings}
    index = 0
    while index < len(argv):
        token = argv[index]
        if token == "say":
            return argv[:index], argv[index + 1:]
        if token == "--":
            break
        index += 2 if token in takes_value else 1
    return argv, None


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 1920x1080, not {text!r}") from None
    if width < 320 or height < 240:
        raise argparse.ArgumentTypeError(f"{text}: too small for a hall display")
    return width, height


def main(argv: list[str] | None = None) -> int:
    options, say_args = split_say(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(options)
    # Before anything imports pygame: without pkg_resources, and without numpy, which the speech
    # imports in its own thread once the board is on screen (tv_node.speech.BackgroundSpeaker).
    import_pygame()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_node_config(args.config)
    except NodeConfigError as error:
        print(f"qms-tv: {error}", file=sys.stderr)
        return 1
    if args.voice:
        config = replace(config, tv=replace(config.tv, voice=args.voice))
    if say_args is not None:
        return _say(config, say_args)
    return _run_tv(config, args)


def _say(config: NodeConfig, say_args: list[str]) -> int:
    from audio import say

    tv = config.tv
    return say.main(say_args, voice=tv.voice, repeat=tv.repeat, dialect=tv.dialect, chime=tv.chime,
                    volume=tv.volume)


def _run_tv(config: NodeConfig, args: argparse.Namespace) -> int:
    from display.fonts import DEFAULT_FONT_PATHS, FontNotFound, find_fonts
    from protocol.client import HubClientConfig, ThreadedHubClient
    from tv_node.app import DisplayScreen, TvApp
    from tv_node.speech import AnnouncerSpeaker, BackgroundSpeaker

    if args.hub:
        config = replace(config, hub_url=args.hub)
    if args.token_file:
        config = replace(config, token_file=args.token_file)
    try:
        token = config.read_token()
        fonts = find_fonts([*args.font, *DEFAULT_FONT_PATHS])
        client_id = args.client_id or config.client_id or token_client_id(token)
        if not client_id:
            raise NodeConfigError("client_id: not set in the node file, not given with --client-id, "
                                  "and the token names none")
        hub_config = HubClientConfig(url=config.hub_url, token=token, client_type="tv", client_id=client_id,
                                     location=config.location, ca_file=config.ca_file or None)
    except (NodeConfigError, FontNotFound, ValueError) as error:
        print(f"qms-tv: {error}", file=sys.stderr)
        return 1

    display = config.display
    size = args.size or (display.width, display.height)
    # Without a screen, a window of the size asked for is the same picture at the right size.
    fullscreen = display.fullscreen and not args.windowed and not (size[0] and size[1] and screenless())
    screenshot = args.screenshot or display.screenshot or None
    tv = config.tv
    speaker = BackgroundSpeaker(
        lambda: AnnouncerSpeaker(tv.voice, dialect=tv.dialect, repeat=tv.repeat, chime=tv.chime, volume=tv.volume,
                                 cache_dir=args.speech_cache),
        describe=lambda ready: f"{ready.describe()}, dialect {tv.dialect}, said {tv.repeat} time(s)")
    screen = DisplayScreen(size, fullscreen=fullscreen, title=f"qms-tv {client_id}")
    client = ThreadedHubClient(hub_config)
    app = TvApp(client, screen, fonts, speaker, screenshot=screenshot, windowed=not fullscreen)

    def request_stop(signum, frame):  # noqa: ARG001 - the signal handler's signature
        app.quit_requested = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    log.info("qms-tv %s: hub %s, screen %dx%d%s", client_id, config.hub_url, *screen.surface.get_size(),
             "" if fullscreen else " (window)")
    client.start()
    try:
        app.run()
    finally:
        client.stop()
        app.close()
        screen.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
