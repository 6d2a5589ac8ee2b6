"""``qms-central serve`` ends cleanly on Ctrl-C and on a service manager's SIGTERM, however it was started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from support import REPO_ROOT, free_port


def ignoring_sigint() -> None:
    # What a background job of a non-interactive shell (`cmd &` in a script) inherits.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_stops_cleanly_even_when_started_with_sigint_ignored(tmp_path, sent):
    secret = tmp_path / "central.secret"
    secret.write_text(os.urandom(32).hex(), encoding="utf-8")
    # The page connects to PostgreSQL per request only: none is needed to start and stop.
    process = subprocess.Popen(
        [sys.executable, "-m", "central.cli", "serve", "--url", "postgresql://nobody@127.0.0.1:9/none",
         "--secret-file", str(secret), "--host", "127.0.0.1", "--port", str(free_port())],
        cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True, preexec_fn=ignoring_sigint)
    try:
        assert process.stderr is not None
        assert "serving the province page" in process.stderr.readline()
        process.send_signal(sent)
        assert process.wait(30) == 0
    finally:
        process.kill()
