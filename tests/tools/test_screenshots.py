"""``make screenshots`` as the README shows it: a kiosk and a TV drawn with no screen, at the sizes asked for.

The commands are read from the README and run with make, as a new user would paste
them; only the venv (this one, not reinstalled) and the output folder differ.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from support import REPO_ROOT

DEFAULT_SIZES = {"KIOSK_SIZE": "800x480", "TV_SIZE": "1920x1080"}


def documented_commands() -> list[list[str]]:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    commands = [shlex.split(line.split("#", 1)[0]) for line in readme.splitlines()
                if line.startswith("make screenshots")]
    assert commands, "the README shows no make screenshots"
    return commands


def test_the_readme_says_where_the_pictures_go_and_their_size():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    line = next(line for line in readme.splitlines() if line.startswith("make screenshots  "))
    assert f"var/screenshots/kiosk.png ({DEFAULT_SIZES['KIOSK_SIZE']})" in line
    assert f"var/screenshots/tv.png ({DEFAULT_SIZES['TV_SIZE']})" in line


@pytest.mark.slow  # a hub, a kiosk and a TV started and stopped: about 6 s
@pytest.mark.parametrize("command", documented_commands(), ids=" ".join)
def test_make_screenshots_draws_both_at_their_sizes(tmp_path, command):
    venv = Path(sys.prefix)
    shots = tmp_path / "shots"
    env = {**os.environ, "VENV": str(venv), "SHOTS": str(shots)}
    for name in ("SDL_VIDEODRIVER", "DISPLAY", "WAYLAND_DISPLAY", "NOTIFY_SOCKET", "QMS_TOKEN"):
        env.pop(name, None)
    assert command[:2] == ["make", "screenshots"]
    # -o: this venv has the packages already; make must not reinstall into it.
    done = subprocess.run(["make", "--no-print-directory", "-o", f"{venv}/.installed-nodes", *command[1:]],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    sizes = {**DEFAULT_SIZES, **dict(arg.split("=", 1) for arg in command[2:])}
    for name, key in (("kiosk", "KIOSK_SIZE"), ("tv", "TV_SIZE")):
        picture = shots / f"{name}.png"
        width, height = (int(n) for n in sizes[key].split("x"))
        # Full screen on SDL's dummy driver would be 1024x768 whatever was asked.
        assert Image.open(picture).size == (width, height), name
        assert f"{name}: {picture} ({width}x{height})" in done.stdout
        log = (shots / f"{name}.log").read_text(encoding="utf-8")
        assert re.search(rf"registered with ws://127\.0\.0\.1:\d+/ws as {name}-screenshot", log), log
    hub_log = (shots / "hub.log").read_text(encoding="utf-8")
    assert "hub.stopped" in hub_log, "the hub was stopped, not left running"
