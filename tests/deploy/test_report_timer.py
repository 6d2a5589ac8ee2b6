"""The monthly report's units (systemd/qms-report.service and .timer): verify is silent, the sandbox holds, the
command is one ``qms-hub report`` understands and that works, and install.sh puts them on the hub only.

Verified as tests/deploy/test_systemd_units.py does (``systemd-analyze verify --root`` on a folder with
this machine's units and a stand-in for each ``ExecStart=`` binary).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from support.deploy import DEPLOY, REPO, SYSTEMD, make_staging_root, make_wheelhouse, require_tool, run, run_ok

from hub.cli import build_parser
from hub.database_check import prepare_database
from hub.site_config import sample_site

UNITS = ("qms-report.service", "qms-report.timer")
SYSTEM_UNIT_DIRS = [Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")]


def settings(name: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for raw in (SYSTEMD / name).read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def exec_start() -> list[str]:
    return shlex.split(settings("qms-report.service")["ExecStart"][0])


def verify_root(tmp_path: Path) -> Path:
    root = tmp_path / "verify-root"
    system = next((d for d in SYSTEM_UNIT_DIRS if (d / "sysinit.target").exists()), None)
    if system is None:
        pytest.fail("no sysinit.target under /usr/lib/systemd/system: apt-get install systemd")
    shutil.copytree(system, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    for name in (*UNITS, "qms-hub.service"):
        shutil.copy(SYSTEMD / name, root / "etc/systemd/system" / name)
    stand_in = root / exec_start()[0].lstrip("/")
    stand_in.parent.mkdir(parents=True, exist_ok=True)
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    return root


def test_verify_is_silent_and_the_sandbox_scores_like_the_hubs(tmp_path):
    root = verify_root(tmp_path)
    done = run([require_tool("systemd-analyze"), "verify", f"--root={root}", *UNITS])
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr
    done = run_ok([require_tool("systemd-analyze"), "security", "--offline=yes", f"--root={root}",
                   "qms-report.service"])
    score = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", done.stdout).group(1))
    assert score <= 2.0, done.stdout
    service = settings("qms-report.service")
    assert service["Type"] == ["oneshot"] and service["User"] == ["qms"]
    assert service["PrivateNetwork"] == ["yes"] and service["ProtectSystem"] == ["strict"]
    assert service["StateDirectory"][0].split() == ["qms", "qms-reports"]


def test_the_timer_fires_on_the_first_of_each_month_and_catches_up():
    timer = settings("qms-report.timer")
    assert timer["Unit"] == ["qms-report.service"] and timer["Persistent"] == ["true"]
    done = run_ok([require_tool("systemd-analyze"), "calendar", "--iterations=3", timer["OnCalendar"][0]])
    days = re.findall(r"\d{4}-\d{2}-(\d{2}) 01:30:00", done.stdout)
    assert days == ["01", "01", "01"], done.stdout


def test_the_units_command_is_the_report_command_and_it_writes_last_months_workbook(tmp_path):
    argv = exec_start()
    assert argv[0] == "/opt/qms/venv/bin/qms-hub"
    args = build_parser().parse_args(argv[1:])
    assert (args.command, args.month, args.by, args.format) == ("report", "last", "all", "xlsx")
    assert (args.data_dir, args.out, args.config) == ("/var/lib/qms", "/var/lib/qms-reports", "/etc/qms/site.toml")
    # The same command on this machine, its folders swapped for test ones (and the sample site for /etc/qms).
    data, out = tmp_path / "qms", tmp_path / "qms-reports"
    out.mkdir()
    prepare_database(data / "qms.db", "Trung tâm thử")
    local = [str(data) if a == "/var/lib/qms" else str(out) if a == "/var/lib/qms-reports" else a
             for a in argv[1:]]
    local = [a for i, a in enumerate(local) if a != "--config" and (i == 0 or local[i - 1] != "--config")]
    done = subprocess.run([sys.executable, "-m", "hub.cli", *local], capture_output=True, text=True, cwd=REPO,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    # Last month in the hall's time, as the command reckons it.
    last = datetime.now(sample_site().tz).date().replace(day=1) - timedelta(days=1)
    made = out / f"bao-cao-tat-ca-{last.replace(day=1).isoformat()}-den-{last.isoformat()}.xlsx"
    assert [p.name for p in out.iterdir()] == [made.name]
    assert "Theo cán bộ" in load_workbook(made).sheetnames


@pytest.mark.slow
def test_install_puts_the_timer_on_the_hub_and_takes_it_off_another_role(tmp_path):
    for name in ("systemd-sysusers", "systemctl"):
        require_tool(name)
    root = make_staging_root(tmp_path / "root")
    wheelhouse = make_wheelhouse(tmp_path / "wheelhouse")
    run_ok(["bash", DEPLOY / "install.sh", "--root", root, "--role", "hub", "--wheelhouse", wheelhouse])
    for name in UNITS:
        assert (root / "etc/systemd/system" / name).read_bytes() == (SYSTEMD / name).read_bytes()
    wants = root / "etc/systemd/system/timers.target.wants/qms-report.timer"
    assert wants.is_symlink() and str(wants.readlink()) == "/etc/systemd/system/qms-report.timer"
    again = run_ok(["bash", DEPLOY / "install.sh", "--root", root, "--role", "hub"]).stdout
    assert "Done: 0 changes." in again
    run_ok(["bash", DEPLOY / "install.sh", "--root", root, "--role", "tv", "--hub-url", "wss://hub.local:3001/ws",
            "--client-id", "tv-001"])
    assert not wants.is_symlink()
