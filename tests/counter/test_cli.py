"""``qms-counter``: its settings and their errors, its way to the first frame, and the real program against a hub."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import sys
import textwrap
from datetime import timedelta

from PIL import Image
from support import REPO_ROOT, free_port
from support.boot import modules_at_first_frame

from appliance.node_config import parse_node_config
from counter_node.cli import main, settings_from_config, token_claims
from display.fonts import find_fonts


def unsigned_token(**claims: object) -> str:
    """A JWT-shaped token naming these claims (the CLI only reads them; the hub checks the signature)."""
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"x.{body}.y"


def test_the_settings_reach_the_app(monkeypatch):
    monkeypatch.setenv("QMS_TOKEN", unsigned_token(client_id="counter-05", counter_id=5, role="counter"))
    regular = find_fonts().regular
    config = parse_node_config(textwrap.dedent(f"""\
        role = "counter"
        hub_url = "ws://hub.local:3001/ws"
        location = "Quầy 5"
        [display]
        fullscreen = false
        width = 1024
        height = 600
        [counter]
        state_dir = "/tmp/qms-counter-test"
        ask_seconds = 20
        thanks_seconds = 3
        font = "{regular}"
        [counter.gpio]
        pin_factory = "mock"
        status_led = 26
        buttons = {{ "4" = 5, "3" = 6, "2" = 13, "1" = 19 }}
    """))
    settings = settings_from_config(config)
    assert (settings.counter_id, settings.client.client_id, settings.client.client_type) == (5, "counter-05", "counter")
    assert settings.client.location == "Quầy 5" and settings.client.url == "ws://hub.local:3001/ws"
    assert (str(settings.state_dir), settings.ask_seconds, settings.thanks_seconds) == ("/tmp/qms-counter-test", 20, 3)
    assert (settings.size, settings.fullscreen) == ((1024, 600), False)
    assert settings.fonts.regular == regular
    assert settings.gpio.buttons == {"4": 5, "3": 6, "2": 13, "1": 19} and settings.gpio.status_led == 26


def test_the_counter_comes_from_the_token(hall):
    token = hall.token("counter", client_id="counter-03", counter_id=3)
    assert (token_claims(token)["client_id"], token_claims(token)["counter_id"]) == ("counter-03", 3)
    assert token_claims("Bearer " + token)["counter_id"] == 3
    assert token_claims("not a token") == {}


def test_a_token_that_names_no_counter_is_refused(monkeypatch, capsys):
    monkeypatch.setenv("QMS_TOKEN", unsigned_token(client_id="tv-001", role="tv"))
    assert main(["--windowed"]) == 2
    assert "the token names no counter" in capsys.readouterr().err


def test_a_kiosk_settings_file_and_a_too_short_question_are_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QMS_TOKEN", unsigned_token(client_id="counter-01", counter_id=1))
    config = tmp_path / "node.toml"
    config.write_text('role = "kiosk"\n', encoding="utf-8")
    assert main(["--config", str(config)]) == 2
    assert "not 'counter'" in capsys.readouterr().err
    config.write_text('role = "counter"\n[counter]\nask_seconds = 2\n', encoding="utf-8")
    assert main(["--config", str(config)]) == 2
    assert "ask_seconds: at least 5" in capsys.readouterr().err
    config.write_text('role = "counter"\n[counter]\nbuttons = 3\n', encoding="utf-8")
    assert main(["--config", str(config)]) == 2
    assert "counter.buttons: unknown key" in capsys.readouterr().err


def test_the_first_frame_needs_neither_pkg_resources_nor_numpy(tmp_path):
    loaded = modules_at_first_frame("counter", tmp_path, free_port())
    assert "pygame" in loaded and "counter_node.app" in loaded  # it did get to its screen
    assert "pkg_resources" not in loaded and "numpy" not in loaded


async def test_the_program_runs_against_a_hub_and_stops_on_sigterm(hall, tmp_path):
    token_file = tmp_path / "device.token"
    token_file.write_text(hall.tokens.issue("counter", client_id="counter-cli", counter_id=4,
                                            ttl=timedelta(hours=1)) + "\n")
    config = tmp_path / "node.toml"
    config.write_text(f'role = "counter"\n[counter]\nstate_dir = "{tmp_path / "state"}"\n', encoding="utf-8")
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
        sys.executable, "-m", "counter_node.cli", "--config", str(config), "--hub", hall.url,
        "--token-file", str(token_file), "--size", "800x480", "--screenshot", str(screenshot),
        cwd=REPO_ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    told: list[str] = []

    def read_notifications() -> None:
        while True:
            try:
                told.append(notify.recv(4096).decode())
            except BlockingIOError:
                return

    try:
        for _ in range(1000):
            read_notifications()
            registered = "counter-cli" in hall.hub.clients.by_id and told.count("WATCHDOG=1") >= 2
            # Past "Mất kết nối" (slate) on the picture too.
            if registered and screenshot.exists() and \
                    Image.open(screenshot).convert("RGB").getpixel((3, 3)) != (33, 43, 54):
                break
            await asyncio.sleep(0.02)
        assert "counter-cli" in hall.hub.clients.by_id, "the display did not register"
        # Full screen under the dummy driver keeps the size asked for (not the driver's 1024x768).
        assert Image.open(screenshot).size == (800, 480)
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        read_notifications()
        notify.close()
    assert process.returncode == 0, stderr.decode()
    assert "counter display stopped" in stderr.decode()
    assert told[0].startswith("READY=1\nSTATUS=counter display counter-cli of counter 4: screen up")
    assert told.count("WATCHDOG=1") >= 2  # pinged from the frame loop, every 0.1 s here
    assert told[-1] == "STOPPING=1"
