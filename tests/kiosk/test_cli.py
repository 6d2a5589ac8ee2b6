"""``qms-kiosk``: print-test, settings and their errors, and the real program against a hub, stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from support.display_helpers import font_without
from support.escpos import decode_escpos, same_picture

from kiosk_node.cli import main, token_client_id


def test_print_test_prints_a_sample_ticket_to_the_configured_printer(tmp_path, capsys):
    config = tmp_path / "node.toml"
    config.write_text(textwrap.dedent(f"""\
        role = "kiosk"
        [kiosk]
        printer = "virtual:{tmp_path / 'tickets'}"
        paper_width_dots = 384
    """), encoding="utf-8")
    assert main(["print-test", "--config", str(config)]) == 0
    (binary,) = sorted((tmp_path / "tickets").glob("*.bin"))
    assert "print-test" in binary.name
    raster = decode_escpos(binary.read_bytes())
    assert raster.width == 384
    assert same_picture(raster, Image.open(binary.with_suffix(".png")))
    assert "printed a test ticket" in capsys.readouterr().out


def test_print_test_reports_a_fault_and_what_to_do(tmp_path, capsys):
    assert main(["print-test", "--printer", f"virtual:{tmp_path}?fault=paper_out"]) == 1
    err = capsys.readouterr().err
    assert "Máy in hết giấy (paper_out)" in err and "thay cuộn giấy" in err


def test_bad_printer_url_is_refused(tmp_path, capsys):
    assert main(["print-test", "--printer", "lpt1"]) == 2
    assert "expected usb:VID:PID" in capsys.readouterr().err


def test_a_tv_settings_file_is_refused(tmp_path, capsys):
    config = tmp_path / "node.toml"
    config.write_text('role = "tv"\n', encoding="utf-8")
    assert main(["--config", str(config)]) == 2
    assert "not 'kiosk'" in capsys.readouterr().err


def test_a_missing_token_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("QMS_TOKEN", raising=False)
    assert main(["--token-file", str(tmp_path / "none.token"), "--windowed"]) == 2
    assert "cannot read the device token" in capsys.readouterr().err


def test_the_client_id_comes_from_the_token(hall):
    token = hall.token("kiosk", client_id="kiosk-lobby")
    assert token_client_id(token) == "kiosk-lobby"
    assert token_client_id("Bearer " + token) == "kiosk-lobby"
    assert token_client_id("not a token") is None
    assert token_client_id(hall.token("admin")) is None


async def test_the_program_runs_against_a_hub_and_stops_on_sigterm(hall, tmp_path):
    token_file = tmp_path / "device.token"
    token_file.write_text(hall.tokens.issue("kiosk", client_id="kiosk-cli", ttl=timedelta(hours=1)) + "\n")
    screenshot = tmp_path / "screen.png"
    # systemd's side of Type=notify with WatchdogSec=: a datagram socket and the watchdog period.
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.setblocking(False)
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "PYGAME_HIDE_SUPPORT_PROMPT": "1",
           "NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "200000"}
    for name in ("QMS_TOKEN", "WATCHDOG_PID"):
        env.pop(name, None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kiosk_node.cli", "--hub", hall.url, "--token-file", str(token_file), "--windowed",
        "--size", "1024x600", "--printer", f"virtual:{tmp_path / 'tickets'}", "--screenshot", str(screenshot),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    told: list[str] = []

    def read_notifications() -> None:
        while True:
            try:
                told.append(notify.recv(4096).decode())
            except BlockingIOError:
                return

    try:
        for _ in range(500):
            read_notifications()
            if "kiosk-cli" in hall.hub.clients.by_id and screenshot.exists() and told.count("WATCHDOG=1") >= 2:
                picture = Image.open(screenshot)
                if picture.convert("RGB").getpixel((3, 3)) != (33, 43, 54):  # past the "unreachable" screen
                    break
            await asyncio.sleep(0.02)
        assert "kiosk-cli" in hall.hub.clients.by_id, "the kiosk did not register"
        assert Image.open(screenshot).size == (1024, 600)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(process.communicate(), 20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        read_notifications()
        notify.close()
    assert process.returncode == 0, stderr.decode()
    assert "kiosk stopped" in stderr.decode()
    assert told[0].startswith("READY=1\nSTATUS=kiosk kiosk-cli: screen up")
    assert told.count("WATCHDOG=1") >= 2  # pinged from the frame loop, every 0.1 s here
    assert told[-1] == "STOPPING=1"
    for _ in range(100):  # the hub notices the close
        if "kiosk-cli" not in hall.hub.clients.by_id:
            break
        await asyncio.sleep(0.02)
    assert "kiosk-cli" not in hall.hub.clients.by_id


def test_the_console_script_is_installed():
    script = Path(sys.executable).with_name("qms-kiosk")
    if not script.exists():
        pytest.skip("the project is not installed in this environment (pip install -e .)")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=True)
    assert "print-test" in result.stdout


def test_the_kiosks_settings_reach_the_app(tmp_path, monkeypatch):
    from appliance.node_config import NodeConfigError, parse_node_config
    from display.fonts import find_fonts
    from kiosk_node.cli import settings_from_config

    monkeypatch.setenv("QMS_TOKEN", "x.eyJjbGllbnRfaWQiOiJraW9zay10b2tlbiJ9.y")  # names client_id kiosk-token
    regular = find_fonts().regular
    config = parse_node_config(textwrap.dedent(f"""\
        hub_url = "ws://hub.local:3001/ws"
        location = "Sảnh B"
        language = "en"
        [display]
        fullscreen = false
        width = 800
        height = 480
        rotation = 270
        [kiosk]
        printer = "network:10.0.0.9?status=0"
        paper_width_dots = 384
        printer_profile = "TM-T20II"
        printer_timeout = 2.5
        result_seconds = 4
        font = "{regular}"
        [kiosk.gpio]
        pin_factory = "mock"
        buttons = {{ "201" = 17 }}
        priority_button = 23
    """))
    settings = settings_from_config(config)
    assert settings.client.client_id == "kiosk-token" and settings.client.location == "Sảnh B"
    assert (settings.printer, settings.paper_width_dots, settings.printer_profile, settings.printer_timeout) == \
        ("network:10.0.0.9?status=0", 384, "TM-T20II", 2.5)
    assert (settings.result_seconds, settings.language, settings.size, settings.rotation, settings.fullscreen) == \
        (4.0, "en", (800, 480), 270, False)
    assert settings.fonts.regular == regular and settings.gpio.buttons == {"201": 17}
    assert settings.gpio.priority_button == 23
    with pytest.raises(NodeConfigError, match="priority_button: expected a whole number"):
        parse_node_config('[kiosk.gpio]\npriority_button = "yes"\n')


@pytest.mark.parametrize("driver, options, fullscreen", [
    # No screen: full screen would take the dummy driver's 1024x768; the size asked for holds.
    ("dummy", ["--size", "800x480"], False),
    ("offscreen", ["--size", "1920x1080"], False),
    # No size: full screen, at whatever size there is.
    ("dummy", [], True),
    # A real screen: full screen in the mode asked for, or a window when asked.
    ("kmsdrm", ["--size", "800x480"], True),
    ("x11", ["--windowed", "--size", "800x480"], False),
])
def test_the_size_holds_without_a_screen(monkeypatch, driver, options, fullscreen):
    from kiosk_node.cli import _config, build_parser

    monkeypatch.setenv("SDL_VIDEODRIVER", driver)
    display = _config(build_parser().parse_args(options)).display
    assert display.fullscreen is fullscreen
    if "--size" in options:
        width, height = options[options.index("--size") + 1].split("x")
        assert (display.width, display.height) == (int(width), int(height))


def test_a_configured_font_that_is_not_there_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("QMS_TOKEN", "x.eyJjbGllbnRfaWQiOiJraW9zay10b2tlbiJ9.y")
    config = tmp_path / "node.toml"
    config.write_text(f'[kiosk]\nfont = "{tmp_path / "missing.ttf"}"\n', encoding="utf-8")
    assert main(["--config", str(config), "--windowed"]) == 2
    assert "missing.ttf does not exist" in capsys.readouterr().err


def test_a_configured_font_without_every_vietnamese_letter_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("QMS_TOKEN", "x.eyJjbGllbnRfaWQiOiJraW9zay10b2tlbiJ9.y")
    font = font_without("ặỮ", tmp_path / "without-two.ttf")
    config = tmp_path / "node.toml"
    config.write_text(f'[kiosk]\nfont = "{font}"\nprinter = "virtual:{tmp_path}"\n', encoding="utf-8")
    assert main(["--config", str(config), "--windowed"]) == 2
    error = capsys.readouterr().err
    assert "without-two.ttf: no glyph for 'ặỮ'" in error and "apt-get install fonts-dejavu-core" in error
    assert main(["--config", str(config), "print-test"]) == 2  # a test ticket would print boxes too
    assert "no glyph for 'ặỮ'" in capsys.readouterr().err
