"""``qms-kiosk``: run the kiosk, or print a test ticket.

    qms-kiosk [--config /etc/qms/node.toml] [--hub URL] [--token-file F] [--client-id ID]
              [--printer URL] [--windowed] [--size WxH] [--rotation DEG] [--screenshot PATH]
    qms-kiosk print-test [--config ...] [--printer URL]

Settings come from the node's settings file (``appliance.node_config``); the
options override them. Under systemd the unit sets ``SDL_VIDEODRIVER=kmsdrm``;
on a desktop ``--windowed`` opens a window (1024x600 unless ``--size``).
Without a screen (``SDL_VIDEODRIVER=dummy`` or ``offscreen``) a size given with
``--size`` or in the settings file is the picture's size, full screen or not.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from appliance.node_config import NodeConfig, NodeConfigError, load_node_config, token_client_id
from display.pygame_import import import_pygame
from display.video_driver import screenless

log = logging.getLogger("qms.kiosk")


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
        if width <= 0 or height <= 0:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 800x480, not {text!r}") from None
    return width, height


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qms-kiosk", description="The ticket kiosk of the queue system.")
    parser.add_argument("command", nargs="?", choices=("run", "print-test"), default="run",
                        help="run the kiosk (default), or print a sample ticket to the configured printer")
    parser.add_argument("--config", help="the node's settings file (default /etc/qms/node.toml if present)")
    parser.add_argument("--hub", help="the hub's WebSocket URL, e.g. wss://hub.local:3001/ws")
    parser.add_argument("--token-file", help="the device token file (or set QMS_TOKEN)")
    parser.add_argument("--client-id", help="this kiosk's id (default: the one its token names)")
    parser.add_argument("--printer", help="usb:VID:PID | network:HOST[:PORT] | serial:DEV[:BAUD] | file:PATH | "
                                          "virtual:DIR")
    parser.add_argument("--windowed", action="store_true", help="a window instead of the full screen")
    parser.add_argument("--size", type=_size, help="screen or window size, WIDTHxHEIGHT")
    parser.add_argument("--rotation", type=int, choices=(0, 90, 180, 270), help="turn the picture (portrait)")
    parser.add_argument("--screenshot", help="write the screen to this PNG after each change")
    parser.add_argument("--language", choices=("vi", "en"), help="first language on screen")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def _config(args: argparse.Namespace) -> NodeConfig:
    config = load_node_config(args.config)
    if config.role != "kiosk" and args.config is not None:
        raise NodeConfigError(f"{args.config}: role is {config.role!r}, not 'kiosk'")
    changes = {}
    if args.hub:
        changes["hub_url"] = args.hub
    if args.token_file:
        changes["token_file"] = args.token_file
    if args.client_id:
        changes["client_id"] = args.client_id
    if args.language:
        changes["language"] = args.language
    config = replace(config, **changes)
    if args.printer:
        config = replace(config, kiosk=replace(config.kiosk, printer=args.printer))
    display = config.display
    if args.windowed:
        display = replace(display, fullscreen=False)
    if args.size:
        display = replace(display, width=args.size[0], height=args.size[1])
    if display.fullscreen and display.width and display.height and screenless():
        # Without a screen, a window of the size asked for is the same picture at the right size.
        display = replace(display, fullscreen=False)
    if args.rotation is not None:
        display = replace(display, rotation=args.rotation)
    if args.screenshot:
        display = replace(display, screenshot=args.screenshot)
    return replace(config, display=display)


def settings_from_config(config: NodeConfig):
    """The app's settings: the token read, the client id settled, the fonts found and checked."""
    from display.fonts import configured_fonts as checked_fonts
    from kiosk_node.app import KioskSettings
    from kiosk_node.printer import parse_printer_url
    from protocol.client import HubClientConfig

    parse_printer_url(config.kiosk.printer)  # a bad URL is refused now, with the others, not at the first ticket
    token = config.read_token()
    client_id = config.client_id or token_client_id(token)
    if not client_id:
        raise NodeConfigError("client_id is not set in node.toml and the token names none: use --client-id")
    client = HubClientConfig(url=config.hub_url, token=token, client_type="kiosk", client_id=client_id,
                             location=config.location, ca_file=config.ca_file or None)
    kiosk, display = config.kiosk, config.display
    return KioskSettings(
        client=client,
        fonts=checked_fonts(kiosk.font, kiosk.font_bold),
        printer=kiosk.printer,
        paper_width_dots=kiosk.paper_width_dots,
        printer_profile=kiosk.printer_profile,
        printer_timeout=kiosk.printer_timeout,
        result_seconds=kiosk.result_seconds,
        language=config.language,
        size=(display.width, display.height),
        fullscreen=display.fullscreen,
        rotation=display.rotation,
        screenshot=Path(display.screenshot) if display.screenshot else None,
        gpio=kiosk.gpio,
    )


def print_test(config: NodeConfig) -> int:
    from display.fonts import configured_fonts as checked_fonts
    from kiosk_node.printer import PrinterFault, open_printer
    from kiosk_node.ticket import TicketContext, render_ticket, sample_ticket

    kiosk = config.kiosk
    printer = open_printer(kiosk.printer, paper_width_dots=kiosk.paper_width_dots, profile=kiosk.printer_profile,
                           timeout=kiosk.printer_timeout)
    context = TicketContext(site_name="Trung tâm Phục vụ hành chính công", width=kiosk.paper_width_dots,
                            fonts=checked_fonts(kiosk.font, kiosk.font_bold), public_url="https://example.gov.vn")
    # The Pi's clock may be wrong without the hub; a test ticket says so by being a test ticket.
    image = render_ticket(sample_ticket(datetime.now(UTC)), context, config.language, test_print=True)
    try:
        paper_low = printer.check()
        report = printer.print_image(image, "print-test")
    except PrinterFault as fault:
        from kiosk_node.i18n import problem_advice, problem_title

        print(f"qms-kiosk: {printer.description}: {problem_title(fault.code)} ({fault.code}): {fault.detail}\n"
              f"  {problem_advice(fault.code)}", file=sys.stderr)
        return 1
    finally:
        printer.close()
    print(f"printed a test ticket ({image.width}x{image.height} dots) to {printer.description}"
          + (f" as {report.name}" if report.name else "") + ("; paper is running low" if paper_low else ""))
    return 0


def run(settings) -> int:
    from kiosk_node.app import KioskApp

    app = KioskApp(settings)
    # systemd stops the service with SIGTERM: finish the frame, close the connection, release the pins.
    signal.signal(signal.SIGTERM, lambda *_: app.stop())
    signal.signal(signal.SIGINT, lambda *_: app.stop())
    with app:
        log.info("kiosk %s started: hub %s, printer %s", settings.client.client_id, settings.client.url,
                 app.printer.description)
        app.run()
    log.info("kiosk stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    # Before anything imports pygame: without pkg_resources, numpy and the mixer, unused here (no kiosk speaks).
    import_pygame(sound=False)
    from display.fonts import FontNotFound
    from kiosk_node.printer import PrinterUrlError

    try:
        config = _config(args)
        if args.command == "print-test":
            return print_test(config)
        settings = settings_from_config(config)
    # ValueError: HubClientConfig's refusal of a hub URL or CA file.
    except (NodeConfigError, FontNotFound, PrinterUrlError, ValueError) as exc:
        print(f"qms-kiosk: {exc}", file=sys.stderr)
        return 2
    return run(settings)


if __name__ == "__main__":
    sys.exit(main())
