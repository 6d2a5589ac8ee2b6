"""Node boot: what ``qms-kiosk`` and ``qms-tv`` import before their first frame, with ``-X importtime``.

Each run starts the real console script (``.venv/bin/qms-tv`` or
``qms-kiosk``) under ``python -X importtime`` against a real hub, without a
screen (``SDL_VIDEODRIVER=dummy``), with ``NOTIFY_SOCKET`` set to a datagram
socket of this process. Both nodes send systemd's ``READY=1`` right after
their first frame (``sd_notify.ready``), so the imports that completed
before it are the run path: everything ``run`` needed to show its screen
(the TV's hub client thread included; the kiosk starts its own, with
asyncio and websockets, once the first frame is up). The figure is the sum of the top-level
imports' cumulative times; "to first frame" is process start to READY.
Then the node gets SIGTERM.

The baselines, same run: ``python -X importtime -c "import pygame"`` in the
same venv, pygame as it imports itself (``pkg_resources`` and numpy
included); and each node booted the same way but with pygame imported that
way before its entry point (``*_plain``): the boot without
``display.pygame_import``. The runs alternate, ``--runs`` times each, after one boot of
each node that is not counted: a device's first boot fills the caches in
``XDG_CACHE_HOME`` (python-escpos's printer database, the phrase cache)
that every later boot starts from, and so does each run here.

Bytecode as on a device: pip compiles every module of the wheels it
installs, so a device imports ``.pyc`` files and never compiles (its units
set ``PYTHONDONTWRITEBYTECODE=1`` only because /opt/qms is read-only). A
checkout imported with that variable set, as the tests and this shell may
do, would compile every module of the project on every boot, some 100-150
ms that no device spends. So the runs here write and read bytecode under
``PYTHONPYCACHEPREFIX`` in the run's own folder, filled by the warm-up boot
(and by the first ``import pygame`` baseline, not counted either).

``python -m bench.node_imports [--runs 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.harness import TOKEN_TTL, LoadMeter, ServerProcess, progress, running_hub, spread

READY_TIMEOUT = 60.0
# "import time: self [us] | cumulative | imported package"; a top-level import has one space before its name.
IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( +)(\S+)\s*$")
# Modules a node must not import before its first frame (the kiosk never uses numpy).
FORBIDDEN = {"kiosk": ("pkg_resources", "numpy"), "tv": ("pkg_resources", "numpy")}
FORBIDDEN_ANYWHERE = {name for names in FORBIDDEN.values() for name in names}
NODES = ("kiosk", "tv")


def parse_importtime(lines: Sequence[str]) -> dict[str, Any]:
    """Total import time (ms), the modules imported, and the ten costliest top-level imports."""
    total_us = 0
    modules: list[str] = []
    top: list[tuple[int, str]] = []
    previous_depth = 0
    for line in lines:
        found = IMPORT_LINE.match(line)
        if found is None:
            continue
        cumulative, depth, name = int(found.group(2)), len(found.group(3)), found.group(4)
        # A module is listed after what it imported. A refused import (None in sys.modules, as
        # display.pygame_import does) is listed too, with nothing under it: numpy and
        # pkg_resources never import nothing, so only one with lines under it counts as imported.
        if previous_depth > depth or name not in FORBIDDEN_ANYWHERE:
            modules.append(name)
        previous_depth = depth
        if depth == 1:
            total_us += cumulative
            top.append((cumulative, name))
    top.sort(reverse=True)
    return {"import_ms": total_us / 1000, "modules": modules,
            "costliest": [{"module": name, "ms": us / 1000} for us, name in top[:10]]}


def _script(name: str) -> str:
    script = Path(sys.executable).parent / name
    if not script.exists():
        raise RuntimeError(f"{script} is missing: install the project (make) first")
    return str(script)


def _device_token(node: str, hub: ServerProcess, work: Path) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    token_file = work / "device.token"
    token_file.write_text(hub.tokens().issue(node, client_id=f"{node}-boot", ttl=TOKEN_TTL))
    return token_file


# Written to stderr by the node at its first frame, just before READY=1: the import lines before it are
# the run path; what a thread of the node imports afterwards (the TV's speech) comes after it.
FIRST_FRAME_MARK = "qms-bench: first frame"


def _boot_wrapper(plain: bool) -> str:
    """``python -c`` code that runs a console script with sd_notify.ready marking stderr first.

    ``plain``: pygame imported first as it imports itself (pkg_resources, numpy): what the boot
    costs without display.pygame_import (which then has nothing left to do).
    """
    return ("import runpy, sys\n" + ("import pygame\n" if plain else "")
            + "from appliance import sd_notify\n"
            "_ready = sd_notify.ready\n"
            "def ready(*args, **kwargs):\n"
            f"    sys.stderr.write({FIRST_FRAME_MARK!r} + '\\n')\n"
            "    sys.stderr.flush()\n"
            "    return _ready(*args, **kwargs)\n"
            "sd_notify.ready = ready\n"
            "sys.argv[0] = sys.argv[1]\n"
            "del sys.argv[1]\n"
            "runpy.run_path(sys.argv[0], run_name='__main__')\n")


async def run_node(node: str, hub: ServerProcess, work: Path, cache: Path, *, plain: bool = False) -> dict[str, Any]:
    """One boot of ``qms-<node>`` up to its first frame; its import figures and the forbidden modules it imported.

    ``plain``: with pygame imported as it imports itself, before the node's own entry point runs.
    """
    token_file = _device_token(node, hub, work)
    notify_path = work / "notify"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.setblocking(False)
    env = dict(os.environ, SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy", NOTIFY_SOCKET=str(notify_path),
               XDG_CACHE_HOME=str(cache), **_bytecode_env(cache))
    env.pop("QMS_TOKEN", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    common = ["--config", os.devnull, "--hub", hub.url, "--token-file", str(token_file), "--windowed"]
    if node == "kiosk":
        args = [_script("qms-kiosk"), *common, "--size", "800x480", "--printer", f"virtual:{work / 'tickets'}"]
    else:
        args = [_script("qms-tv"), *common, "--size", "1920x1080"]
    lines: list[str] = []
    started = time.monotonic()
    args = ["-c", _boot_wrapper(plain), *args]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-X", "importtime", *args, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, cwd=work, env=env)
    assert process.stderr is not None
    stderr = process.stderr

    async def read_stderr() -> None:
        while line := await stderr.readline():
            lines.append(line.decode("utf-8", "replace").rstrip("\n"))

    reader = asyncio.create_task(read_stderr())
    loop = asyncio.get_running_loop()
    try:
        deadline = started + READY_TIMEOUT
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"qms-{node} exited ({process.returncode}) before its first frame: "
                                   + "\n".join(line for line in lines if not line.startswith("import time"))[-2000:])
            try:
                datagram = await asyncio.wait_for(loop.sock_recv(notify, 4096), 0.2)
            except TimeoutError:
                datagram = b""
            if b"READY=1" in datagram.split(b"\n"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"qms-{node} sent no READY=1 within {READY_TIMEOUT}s")
        to_first_frame = time.monotonic() - started
        # What was printed before the first frame's mark (the pipe may still be handing it over).
        while FIRST_FRAME_MARK not in lines:
            if time.monotonic() > deadline:
                raise RuntimeError(f"qms-{node} sent READY=1 but its first-frame mark never came")
            await asyncio.sleep(0.01)
        before_ready = lines[:lines.index(FIRST_FRAME_MARK)]
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()
        reader.cancel()
        notify.close()
    figures = parse_importtime(before_ready)
    figures["first_frame_ms"] = to_first_frame * 1000
    figures["imported"] = {name: name in figures["modules"] for name in sorted(FORBIDDEN_ANYWHERE)}
    figures["forbidden"] = [name for name in FORBIDDEN[node] if name in figures["modules"]]
    figures["module_count"] = len(figures.pop("modules"))
    return figures


def _bytecode_env(cache: Path) -> dict[str, str]:
    """Where the runs keep their compiled modules (see the module's docstring): the run's cache folder."""
    return {"PYTHONPYCACHEPREFIX": str(cache / "pycache")}


def _without_bytecode_ban(env: os._Environ[str] | dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in env.items() if key != "PYTHONDONTWRITEBYTECODE"}


async def bare_pygame(work: Path, cache: Path) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-X", "importtime", "-c", "import pygame", stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, cwd=work,
        env={**_without_bytecode_ban(os.environ), "PYGAME_HIDE_SUPPORT_PROMPT": "1", **_bytecode_env(cache)})
    _, err = await asyncio.wait_for(process.communicate(), READY_TIMEOUT)
    figures = parse_importtime(err.decode("utf-8", "replace").splitlines())
    figures["module_count"] = len(figures.pop("modules"))
    return figures


async def measure(runs: int = 3, log=progress) -> dict[str, Any]:
    samples: dict[str, list[dict[str, Any]]] = {"kiosk": [], "tv": [], "kiosk_plain": [], "tv_plain": [],
                                                "bare_pygame": []}
    meter = LoadMeter()
    async with running_hub() as hub:
        with tempfile.TemporaryDirectory(prefix="qms-bench-boot-") as tmp:
            # A device's first boot fills its caches (python-escpos's printer database, the phrase
            # cache); every later boot starts from them, with the bytecode pip compiled at install.
            # One boot of each kind, not counted, does both here.
            cache = Path(tmp) / "cache"
            for node in NODES:
                log(f"node imports: qms-{node}, warm-up boot (not counted) ...")
                await run_node(node, hub, Path(tmp) / f"{node}-warmup", cache)
                await run_node(node, hub, Path(tmp) / f"{node}-plain-warmup", cache, plain=True)
            await bare_pygame(Path(tmp), cache)
            for index in range(runs):
                for node in NODES:
                    log(f"node imports: qms-{node}, run {index + 1} of {runs} ...")
                    samples[node].append(await run_node(node, hub, Path(tmp) / f"{node}-{index}", cache))
                    samples[f"{node}_plain"].append(
                        await run_node(node, hub, Path(tmp) / f"{node}-plain-{index}", cache, plain=True))
                samples["bare_pygame"].append(await bare_pygame(Path(tmp), cache))
    load = meter.stop()
    result: dict[str, Any] = {"runs": runs, "load": load, "samples": samples}
    for name, rows in samples.items():
        result[name] = {"import_ms": spread([row["import_ms"] for row in rows]),
                        "costliest": rows[-1]["costliest"], "module_count": rows[-1]["module_count"]}
        if "forbidden" in rows[-1]:
            result[name]["first_frame_ms"] = spread([row["first_frame_ms"] for row in rows])
            result[name]["forbidden"] = sorted({module for row in rows for module in row["forbidden"]})
            result[name]["imported"] = {module: any(row["imported"][module] for row in rows)
                                        for module in sorted(FORBIDDEN_ANYWHERE)}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="Import time of the kiosk's and the TV's run path")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.runs)), indent=2))


if __name__ == "__main__":
    main()
