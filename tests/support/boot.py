"""What a node has imported by its first frame: the real entry point in a subprocess, stopped at READY=1.

Both nodes tell systemd ``READY=1`` right after their first frame
(``appliance.sd_notify.ready``). Here that call is replaced, in the child
only, by one that writes the names in ``sys.modules`` to a file and ends the
process: what the node imported on its way to the first frame, nothing after.
The node runs without a screen and with no hub to reach (a port nobody
listens on): both show their screen hub or no hub.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from hub.auth import TokenAuthority
from support import REPO_ROOT

CHILD = """
import json, os, sys
from appliance import sd_notify

def ready(status_text=None):
    loaded = sorted(name for name, module in sys.modules.items() if module is not None)
    with open(os.environ["QMS_TEST_MODULES_OUT"], "w", encoding="utf-8") as out:
        json.dump(loaded, out)
    os._exit(0)

sd_notify.ready = ready
from {node}_node.cli import main
sys.exit(main(sys.argv[1:]))
"""


def modules_at_first_frame(node: str, work: Path, hub_port: int, timeout: float = 60.0) -> set[str]:
    """The modules ``qms-<node>`` (``kiosk``, ``tv`` or ``counter``) had imported when it drew its first frame."""
    work.mkdir(parents=True, exist_ok=True)
    token_file = work / "device.token"
    # A counter display's token names its counter too.
    counter = {"counter_id": 1} if node == "counter" else {}
    token_file.write_text(TokenAuthority.from_data_dir(work / "hub").issue(node, client_id=f"{node}-boot",
                                                                             ttl=timedelta(hours=1), **counter))
    out = work / "modules.json"
    env = dict(os.environ, SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy", QMS_TEST_MODULES_OUT=str(out),
               XDG_CACHE_HOME=str(work / "cache"))
    for name in ("QMS_TOKEN", "NOTIFY_SOCKET"):
        env.pop(name, None)
    # The repository's packages, as the tests see them (a venv installed before a node was added lacks it).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    args = ["--config", os.devnull, "--hub", f"ws://127.0.0.1:{hub_port}/ws", "--token-file", str(token_file),
            "--windowed", "--size", "800x480"]
    if node == "kiosk":
        args += ["--printer", f"virtual:{work / 'tickets'}"]
    if node == "counter":
        # Its unacknowledged ratings go to [counter] state_dir: a folder of the test's, not /var/lib.
        config = work / "node.toml"
        config.write_text(f'role = "counter"\n[counter]\nstate_dir = "{work / "state"}"\n', encoding="utf-8")
        args[1] = str(config)
    done = subprocess.run([sys.executable, "-c", CHILD.format(node=node), *args], env=env, cwd=work,
                          capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0 or not out.exists():
        raise AssertionError(f"qms-{node} did not reach its first frame ({done.returncode}): {done.stderr[-2000:]}")
    return set(json.loads(out.read_text(encoding="utf-8")))


HUB_CHILD = """
import json, os, sys
from appliance import sd_notify

def ready(status_text=None):
    loaded = sorted(name for name, module in sys.modules.items() if module is not None)
    with open(os.environ["QMS_TEST_MODULES_OUT"], "w", encoding="utf-8") as out:
        json.dump(loaded, out)
    os._exit(0)

sd_notify.ready = ready
from hub.cli import main
sys.exit(main(sys.argv[1:]))
"""


def modules_when_the_hub_serves(work: Path, port: int, timeout: float = 60.0) -> set[str]:
    """The modules ``qms-hub serve`` had imported when it told systemd it was ready (serving)."""
    out = work / "modules.json"
    env = dict(os.environ, QMS_TEST_MODULES_OUT=str(out))
    env.pop("NOTIFY_SOCKET", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    args = ["--data-dir", str(work / "data"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    done = subprocess.run([sys.executable, "-c", HUB_CHILD, *args], env=env, cwd=work,
                          capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0 or not out.exists():
        raise AssertionError(f"qms-hub did not get to serving ({done.returncode}): {done.stderr[-2000:]}")
    return set(json.loads(out.read_text(encoding="utf-8")))
