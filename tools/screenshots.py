"""Pictures of the kiosk and the TV without a screen: ``make screenshots``.

    python -m tools.screenshots [--out-dir var/screenshots] [--kiosk-size 800x480] [--tv-size 1920x1080]

What it runs, all from the venv this Python belongs to, on SDL's ``dummy`` video driver:

1. ``qms-hub --data-dir OUT/hub serve --host 127.0.0.1 --port 0`` (the sample site, a free port);
2. ``qms-hub token`` for a kiosk and a TV;
3. ``qms-kiosk --hub ... --token-file ... --size ... --screenshot OUT/kiosk.png`` (tickets, if
   any, to ``virtual:OUT/tickets``) and ``qms-tv ... --voice none --screenshot OUT/tv.png``;

then it waits until both have registered with the hub and drawn the hall, and stops all three.
Each program's output is in ``OUT/<name>.log``. Exit status 0 when both pictures are there, 1 if not
(the message says which program and shows the end of its log).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import struct
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT = 60.0
# After both are registered: how long to wait for the picture of the hall (a frame or two, normally).
SETTLE_SECONDS = 2.0
STOP_TIMEOUT = 15.0


class ScreenshotError(Exception):
    """What went wrong, for the person who ran it."""


@dataclass
class Program:
    name: str
    process: subprocess.Popen
    log: Path

    def check_running(self) -> None:
        if self.process.poll() is not None:
            raise ScreenshotError(f"{self.name} exited with status {self.process.returncode}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "  (no log)"
        return "\n".join(f"  {line}" for line in text.splitlines()[-lines:])


def _size(text: str) -> str:
    if not re.fullmatch(r"[1-9][0-9]*x[1-9][0-9]*", text):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 800x480, not {text!r}")
    return text


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's header."""
    with open(path, "rb") as f:
        header = f.read(24)
    if len(header) < 24 or header[:8] != b"\x89PNG\r\n\x1a\n":
        raise ScreenshotError(f"{path} is not a PNG")
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def _tool(name: str) -> str:
    # The programs of the venv this Python runs in (make screenshots: .venv/bin).
    path = Path(sys.executable).with_name(name)
    if not path.exists():
        raise ScreenshotError(f"{path} is missing: install the project with its kiosk and tv extras "
                              "(make screenshots does)")
    return str(path)


def _start(name: str, argv: list[str], out_dir: Path, env: dict[str, str]) -> Program:
    log = out_dir / f"{name}.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    return Program(name, process, log)


def _wait_for_port(hub: Program, deadline: float) -> int:
    while time.monotonic() < deadline:
        hub.check_running()
        log = hub.log.read_text(encoding="utf-8", errors="replace")
        found = re.search(r"serving .* on wss?://\S*:(\d+)/ws", log)
        if found:
            return int(found.group(1))
        time.sleep(0.05)
    raise ScreenshotError(f"the hub did not start within {START_TIMEOUT:g} s:\n{hub.log_tail()}")


def _registered(port: int) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    try:
        with opener.open(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return int(json.load(response)["connected_clients"])
    except (OSError, ValueError, KeyError):
        return 0


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _stop(programs: list[Program]) -> None:
    for program in reversed(programs):
        if program.process.poll() is None:
            program.process.send_signal(signal.SIGTERM)
    for program in reversed(programs):
        try:
            program.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            program.process.kill()
            program.process.wait()


def take(out_dir: Path, kiosk_size: str, tv_size: str) -> dict[str, Path]:
    """Run the hub, a kiosk and a TV; the pictures, by program name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    hub_data = out_dir / "hub"
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy", "PYGAME_HIDE_SUPPORT_PROMPT": "1"}
    # Not a systemd service, whatever the shell it runs in is.
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "QMS_TOKEN"):
        env.pop(name, None)
    qms_hub = _tool("qms-hub")
    tokens = {}
    for role in ("kiosk", "tv"):
        token_file = out_dir / f"{role}.token"
        done = subprocess.run([qms_hub, "--data-dir", str(hub_data), "token", "--role", role, "--client-id",
                               f"{role}-screenshot", "--ttl-days", "1"], capture_output=True, text=True, env=env,
                              check=False)
        if done.returncode != 0:
            raise ScreenshotError(f"qms-hub token failed: {done.stderr.strip()}")
        token_file.write_text(done.stdout)
        tokens[role] = token_file
    pictures = {"kiosk": out_dir / "kiosk.png", "tv": out_dir / "tv.png"}
    for picture in pictures.values():
        picture.unlink(missing_ok=True)

    programs: list[Program] = []
    try:
        hub = _start("hub", [qms_hub, "--data-dir", str(hub_data), "serve", "--host", "127.0.0.1", "--port", "0"],
                     out_dir, env)
        programs.append(hub)
        deadline = time.monotonic() + START_TIMEOUT
        port = _wait_for_port(hub, deadline)
        url = f"ws://127.0.0.1:{port}/ws"
        programs.append(_start("kiosk", [
            _tool("qms-kiosk"), "--hub", url, "--token-file", str(tokens["kiosk"]), "--size", kiosk_size,
            "--printer", f"virtual:{out_dir / 'tickets'}", "--screenshot", str(pictures["kiosk"]),
        ], out_dir, env))
        programs.append(_start("tv", [
            _tool("qms-tv"), "--hub", url, "--token-file", str(tokens["tv"]), "--voice", "none", "--size", tv_size,
            "--screenshot", str(pictures["tv"]),
        ], out_dir, env))
        while _registered(port) < 2:
            for program in programs:
                program.check_running()
            if time.monotonic() > deadline:
                raise ScreenshotError(f"the kiosk and the TV did not both connect within {START_TIMEOUT:g} s:\n"
                                      + "\n".join(f"{p.name}:\n{p.log_tail(5)}" for p in programs[1:]))
            time.sleep(0.1)
        # Both have drawn a frame since they registered, or have had ample time to.
        registered_at = time.time()
        settle_until = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < settle_until:
            if all(_mtime(p) > registered_at for p in pictures.values()):
                break
            time.sleep(0.05)
        for program in programs:
            program.check_running()
        missing = [name for name, picture in pictures.items() if not picture.exists()]
        if missing:
            raise ScreenshotError(f"no picture from {' and '.join(missing)}:\n"
                                  + "\n".join(p.log_tail(5) for p in programs if p.name in missing))
    finally:
        _stop(programs)
    return pictures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.screenshots", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", default="var/screenshots", help="where the pictures go (default var/screenshots)")
    parser.add_argument("--kiosk-size", type=_size, default="800x480", help="the kiosk's screen (default 800x480)")
    parser.add_argument("--tv-size", type=_size, default="1920x1080", help="the TV's screen (default 1920x1080)")
    args = parser.parse_args(argv)
    try:
        pictures = take(Path(args.out_dir), args.kiosk_size, args.tv_size)
    except ScreenshotError as exc:
        print(f"screenshots: {exc}", file=sys.stderr)
        return 1
    for name, picture in pictures.items():
        width, height = png_size(picture)
        print(f"{name}: {picture} ({width}x{height})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
