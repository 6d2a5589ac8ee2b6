"""``qms-hub`` as a technician runs it, in real subprocesses: ``serve`` until healthy, one-off commands.

For the data-safety tests: a start refused on a bad database, a backup taken from
a serving hub, a restore, the ``user`` commands. Commands run with the test's own
interpreter (``python -m hub.cli``) from the repository, optionally wrapped (``unshare``
for a read-only file system, ``setpriv`` to drop root's power to ignore file modes).
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from support import REPO_ROOT

QMS_HUB = (sys.executable, "-m", "hub.cli")
# How long a refused start may take before the test calls it a hang (a bound on failure, not a speed check).
COMMAND_TIMEOUT = 60


def qms_hub(*args: str | Path, stdin: str | None = None, wrap: tuple[str, ...] = (),
            timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run one ``qms-hub`` command to its end."""
    return subprocess.run([*wrap, *QMS_HUB, *map(str, args)], input=stdin, capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=timeout, check=False)


async def qms_hub_async(*args: str | Path, stdin: str | None = None) -> tuple[int, str, str]:
    """The same, awaited: a hub on the test's event loop keeps serving meanwhile."""
    process = await asyncio.create_subprocess_exec(
        *QMS_HUB, *map(str, args), cwd=REPO_ROOT, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(stdin.encode() if stdin else None), COMMAND_TIMEOUT)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


class ServingHub:
    """``qms-hub serve`` in a subprocess, waited for until /healthz answers."""

    def __init__(self, data_dir: Path, port: int, log_path: Path, *extra: str):
        self.data_dir, self.port, self.log_path, self.extra = data_dir, port, log_path, extra
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self) -> None:
        with open(self.log_path, "ab") as log:  # the child has its own copy of the file
            self.proc = subprocess.Popen(
                [*QMS_HUB, "--data-dir", str(self.data_dir), "serve", "--host", "127.0.0.1",
                 "--port", str(self.port), *self.extra],
                stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited early: {self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as response:
                    if json.load(response)["database"] == "ok":
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("hub did not become healthy")

    def stop(self) -> int | None:
        """SIGTERM and wait; the exit code (None if it was not running)."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)
