"""deploy/update.sh: a new wheelhouse becomes a new release; one that does not start is rolled back.

systemctl is replaced (QMS_SYSTEMCTL) by a stand-in that does what matters here: its
``restart`` runs the program /opt/qms/venv points at and succeeds only if the program
starts, as a Type=notify unit becomes active only after READY=1. Every call is logged.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.deploy import (
    DEPLOY,
    make_staging_root,
    make_wheelhouse,
    require_tool,
    run,
    run_ok,
)

# Every test installs a device first (a venv in a staging root, about 10 s): not in make test-fast.
pytestmark = pytest.mark.slow

STAND_IN = """#!/bin/bash
# systemctl stand-in for update.sh's tests.
echo "$*" >>"$QMS_TEST_LOG"
case "$1" in
    restart)
        if "$QMS_TEST_ROOT/opt/qms/venv/bin/qms-kiosk" >/dev/null 2>&1; then
            echo active >"$QMS_TEST_ROOT/state"
        else
            echo failed >"$QMS_TEST_ROOT/state"
            exit 1
        fi ;;
    is-active) [ "$(cat "$QMS_TEST_ROOT/state")" = active ] ;;
    show) echo 0 ;;
    *) exit 1 ;;
esac
"""


@pytest.fixture
def device(tmp_path):
    for name in ("systemd-sysusers", "systemctl"):
        require_tool(name)
    root = make_staging_root(tmp_path / "root")
    first = make_wheelhouse(tmp_path / "wh-1", marker="1")
    run_ok(["bash", DEPLOY / "install.sh", "--root", root, "--role", "kiosk", "--wheelhouse", first,
            "--hub-url", "wss://hub.local:3001/ws", "--client-id", "kiosk-001"])
    stand_in = tmp_path / "systemctl"
    stand_in.write_text(STAND_IN)
    stand_in.chmod(0o755)
    return root, tmp_path / "systemctl.log", stand_in


def update(device, *args):
    root, log, stand_in = device
    env = {**os.environ, "QMS_SYSTEMCTL": str(stand_in), "QMS_TEST_LOG": str(log), "QMS_TEST_ROOT": str(root)}
    return run(["bash", DEPLOY / "update.sh", "--root", root, "--settle", "0", *args], env=env)


def release(root: Path, link: str = "venv") -> str:
    return os.readlink(root / "opt/qms" / link).removeprefix("releases/")


def calls(device) -> list[str]:
    log = device[1]
    return log.read_text().splitlines() if log.exists() else []


def test_an_update_that_starts_is_kept(device, tmp_path):
    root = device[0]
    old = release(root)
    done = update(device, "--wheelhouse", make_wheelhouse(tmp_path / "wh-2", marker="2"))
    assert done.returncode == 0, done.stdout + done.stderr
    new = release(root)
    assert new != old and new.startswith("0.1.0-")
    assert release(root, "previous") == old
    assert "restart qms-kiosk.service" in calls(device)
    assert run_ok([root / "opt/qms/venv/bin/qms-kiosk"]).stdout.split()[1] == "2"


def test_an_update_that_does_not_start_is_rolled_back(device, tmp_path):
    root = device[0]
    old = release(root)
    done = update(device, "--wheelhouse", make_wheelhouse(tmp_path / "wh-bad", marker="broken"))
    assert done.returncode == 1
    assert "FAILED" in done.stdout and f"{old} is running again" in done.stdout
    assert release(root) == old
    assert not (root / "opt/qms/previous").exists()
    # Restarted on the new release (refused), then on the old one again.
    assert calls(device).count("restart qms-kiosk.service") == 2
    assert run_ok([root / "opt/qms/venv/bin/qms-kiosk"]).stdout.split()[1] == "1"


def test_the_running_wheelhouse_again_does_nothing(device, tmp_path):
    done = update(device, "--wheelhouse", tmp_path / "wh-1")
    assert done.returncode == 0 and "Already running" in done.stdout
    assert calls(device) == []


def test_rollback_goes_back_to_the_previous_release(device, tmp_path):
    root = device[0]
    old = release(root)
    assert update(device, "--wheelhouse", make_wheelhouse(tmp_path / "wh-2", marker="2")).returncode == 0
    new = release(root)
    done = update(device, "--rollback")
    assert done.returncode == 0, done.stdout + done.stderr
    assert release(root) == old and release(root, "previous") == new


def test_old_releases_are_pruned(device, tmp_path):
    root = device[0]
    for n in range(2, 6):
        assert update(device, "--wheelhouse", make_wheelhouse(tmp_path / f"wh-{n}", marker=str(n)),
                      "--keep", "3").returncode == 0
    kept = sorted(p.name for p in (root / "opt/qms/releases").iterdir())
    assert len(kept) == 3
    assert release(root) in kept and release(root, "previous") in kept


def test_nothing_to_roll_back_to(device):
    done = update(device, "--rollback")
    assert done.returncode != 0 and "no previous release" in done.stderr
