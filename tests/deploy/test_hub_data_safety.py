"""The hub's unit and install for data safety and time, and qms-diagnose telling why the hub will not start.

* qms-hub.service stops retrying a start that cannot succeed (a refused database) after a
  few tries, yet a hang now and then (the watchdog) never reaches that limit; it waits for
  the time (time-sync.target) and has systemd make its backup folder.
* install.sh enables systemd-time-wait-sync.service on the hub, with a bounded wait (a
  hall without internet must still get its hub), and a second run changes nothing.
* qms-diagnose on a hub's staging root reads the line a real refused ``qms-hub serve`` left,
  says what to do, and lists the backups.
"""

from __future__ import annotations

import configparser
import importlib.util
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO_ROOT, free_port
from support.deploy import DEPLOY, SYSTEMD, make_staging_root, make_wheelhouse, require_tool, run_ok
from support.hub_process import qms_hub

SECONDS = {"s": 1, "min": 60}


def seconds(value: str) -> int:
    for suffix, factor in sorted(SECONDS.items(), key=lambda item: -len(item[0])):
        if value.endswith(suffix):
            return int(value[: -len(suffix)]) * factor
    return int(value)


def hub_unit() -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in (SYSTEMD / "qms-hub.service").read_text().splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
        elif line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            current.setdefault(key, []).append(value)
    return sections


def test_the_hub_stops_retrying_a_start_that_cannot_succeed_but_not_a_hang_now_and_then():
    unit = hub_unit()
    burst = int(unit["Unit"]["StartLimitBurst"][0])
    interval = seconds(unit["Unit"]["StartLimitIntervalSec"][0])
    restart = seconds(unit["Service"]["RestartSec"][0])
    watchdog = seconds(unit["Service"]["WatchdogSec"][0])
    assert 2 <= burst <= 10
    # A refused start exits at once: `burst` of them, RestartSec apart, fall within the interval...
    assert burst * restart < interval
    # ...while a hung loop killed by the watchdog takes WatchdogSec each: never `burst` within it.
    assert (burst - 1) * watchdog > interval


def test_the_hub_waits_for_the_time_and_gets_its_backup_folder():
    unit = hub_unit()
    assert "time-sync.target" in " ".join(unit["Unit"]["After"]).split()
    assert unit["Unit"]["Wants"] == ["time-sync.target"]
    assert unit["Service"]["StateDirectory"][0].split() == ["qms", "qms-backups"]
    assert unit["Service"]["StateDirectoryMode"] == ["0700"]


@pytest.mark.slow
def test_install_enables_the_bounded_wait_for_the_time_once(tmp_path):
    for tool in ("systemd-sysusers", "systemctl"):
        require_tool(tool)
    root = make_staging_root(tmp_path / "root")
    wheelhouse = make_wheelhouse(tmp_path / "wheelhouse")
    args = ["bash", DEPLOY / "install.sh", "--root", root, "--role", "hub", "--wheelhouse", wheelhouse]
    first = run_ok(args).stdout
    link = root / "etc/systemd/system/sysinit.target.wants/systemd-time-wait-sync.service"
    assert os.readlink(link) == "/lib/systemd/system/systemd-time-wait-sync.service"
    drop_in = configparser.ConfigParser()
    drop_in.read(root / "etc/systemd/system/systemd-time-wait-sync.service.d/qms.conf")
    assert seconds(drop_in["Service"]["TimeoutStartSec"]) <= 300
    assert "linked /etc/systemd/system/sysinit.target.wants/systemd-time-wait-sync.service" in first
    second = run_ok(args).stdout
    assert "Done: 0 changes." in second
    assert "= /etc/systemd/system/sysinit.target.wants/systemd-time-wait-sync.service ->" in second


# --- qms-diagnose on the hub -----------------------------------------------------------------------------------


def diagnose(root: Path) -> tuple[int, str]:
    done = subprocess.run([sys.executable, str(DEPLOY / "diagnose.py"), "--root", str(root)], capture_output=True,
                          text=True, timeout=60, check=False)
    return done.returncode, done.stdout + done.stderr


def section(output: str, title: str) -> str:
    return output.split(f"== {title}\n", 1)[1].split("\n== ", 1)[0]


def hub_root(tmp_path: Path) -> Path:
    root = make_staging_root(tmp_path / "root")
    (root / "etc/qms").mkdir()
    (root / "etc/qms/role").write_text("hub\n")
    site = (REPO_ROOT / "hub/sample_site.toml").read_text(encoding="utf-8")
    (root / "etc/qms/site.toml").write_text(site + '\n[backup]\ndirectory = "/var/lib/qms-backups"\n',
                                            encoding="utf-8")
    return root


def test_diagnose_shows_why_the_hub_refused_to_start_and_what_to_do(tmp_path):
    root = hub_root(tmp_path)
    data = root / "var/lib/qms"
    data.mkdir(parents=True)
    (data / "qms.db").write_bytes(b"")  # the 0-byte database of the issue
    refused = qms_hub("--data-dir", data, "serve", "--port", str(free_port()))
    assert refused.returncode == 2

    code, output = diagnose(root)
    hub_data = section(output, "Hub data")
    assert f"FAIL  the hub refused to start: {data / 'qms.db'}: is empty (0 bytes)" in hub_data
    assert "restore" in hub_data
    assert "sudo systemctl reset-failed qms-hub && sudo systemctl start qms-hub" in hub_data
    assert "WARN  no backup in /var/lib/qms-backups yet" in hub_data
    assert code == 1


def test_diagnose_lists_the_backups_and_is_quiet_when_the_hub_started(tmp_path):
    root = hub_root(tmp_path)
    data = root / "var/lib/qms"
    data.mkdir(parents=True)
    with sqlite3.connect(data / "qms.db"):
        pass
    backups = root / "var/lib/qms-backups"
    backups.mkdir(parents=True)
    for name in ("qms-20250720-023000.db", "qms-20250721-023000.db"):
        (backups / name).write_bytes(b"SQLite format 3\0")
    _, output = diagnose(root)
    hub_data = section(output, "Hub data")
    assert "OK    no refused start recorded" in hub_data
    assert "2 backup(s) in /var/lib/qms-backups; newest qms-20250721-023000.db" in hub_data


def test_the_refusal_is_found_in_the_journal_too():
    spec = importlib.util.spec_from_file_location("qms_diagnose", DEPLOY / "diagnose.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    journal = (
        "qms-hub: serving Trung tâm on ws://0.0.0.0:3001/ws (data in /var/lib/qms)\n"
        "qms-hub: refused to start: /var/lib/qms/qms.db: is damaged (database disk image is malformed): restore "
        "the last backup: sudo /opt/qms/venv/bin/qms-hub --data-dir /var/lib/qms restore "
        "/var/lib/qms-backups/qms-20250721-023000.db --config /etc/qms/site.toml (backups are in "
        "/var/lib/qms-backups)\n"
        "qms-hub.service: Start request repeated too quickly.\n"
    )
    found = module.last_refusal(journal)
    assert found.startswith("refused to start: /var/lib/qms/qms.db: is damaged")
    assert found.endswith("(backups are in /var/lib/qms-backups)")
    assert module.last_refusal("nothing here\n") is None
