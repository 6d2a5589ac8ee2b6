"""``make deps``: the Debian packages the tests use, installed by ``make test`` itself.

tools/debian_deps.sh runs here against stand-ins for dpkg-query, apt-get, sudo and id
on PATH, so nothing is installed and every case (root, sudo, neither) can be tried.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from support import REPO_ROOT

SCRIPT = REPO_ROOT / "tools" / "debian_deps.sh"
BASH = "/bin/bash"


def makefile_packages() -> list[str]:
    """DEBIAN_PACKAGES as make expands it."""
    done = subprocess.run(["make", "-s", "--no-print-directory", "-f", "Makefile", "-f", "-", "print-packages"],
                          input="print-packages:\n\t@echo $(DEBIAN_PACKAGES)\n", cwd=REPO_ROOT,
                          capture_output=True, text=True, check=True)
    return done.stdout.split()


def stand_in(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!{BASH}\n{body}\n")
    path.chmod(0o755)


@pytest.fixture
def machine(tmp_path):
    """A PATH of stand-ins: dpkg-query knows INSTALLED; apt-get, sudo and id log to calls.log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.log"
    (tmp_path / "installed").write_text("python3\nmake\n")
    stand_in(bin_dir, "dpkg-query", f"""
shift 2   # -W -f=FORMAT
for p in "$@"; do
    while read -r have; do
        if [ "$p" = "$have" ]; then echo "$p install ok installed"; continue 2; fi
    done < {tmp_path / 'installed'}
    echo "dpkg-query: no packages found matching $p" >&2
done
""")
    stand_in(bin_dir, "apt-get", f'echo "apt-get $* DEBIAN_FRONTEND=$DEBIAN_FRONTEND" >> {calls}')
    stand_in(bin_dir, "id", 'echo "${FAKE_UID:-0}"')

    def run(*packages: str, uid: int = 0, sudo: bool = False) -> subprocess.CompletedProcess:
        if sudo:
            stand_in(bin_dir, "sudo", f'echo "sudo $1" >> {calls}; export "$1"; shift; "$@"')
        env = {"PATH": str(bin_dir), "FAKE_UID": str(uid), "LC_ALL": "C"}
        return subprocess.run([BASH, str(SCRIPT), *packages], env=env, capture_output=True, text=True, check=False)

    def logged() -> list[str]:
        return calls.read_text().splitlines() if calls.exists() else []

    run.calls = logged  # type: ignore[attr-defined]
    return run


def test_nothing_missing_runs_no_apt_get(machine):
    done = machine("python3", "make")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert machine.calls() == []


def test_as_root_only_the_missing_packages_are_installed(machine):
    done = machine("python3", "mtools", "make", "fdisk")
    assert done.returncode == 0, done.stderr
    assert "installing mtools fdisk" in done.stdout
    assert machine.calls() == [
        "apt-get update -qq DEBIAN_FRONTEND=noninteractive",
        "apt-get install -y -qq --no-install-recommends --no-upgrade mtools fdisk DEBIAN_FRONTEND=noninteractive",
    ]


def test_a_user_with_sudo_installs_through_sudo(machine):
    done = machine("mtools", uid=1000, sudo=True)
    assert done.returncode == 0, done.stderr
    calls = machine.calls()
    assert calls[0] == "sudo DEBIAN_FRONTEND=noninteractive" and calls[1].startswith("apt-get update")
    assert calls[3] == "apt-get install -y -qq --no-install-recommends --no-upgrade mtools " \
                       "DEBIAN_FRONTEND=noninteractive"


def test_without_root_or_sudo_one_line_names_the_packages(machine):
    done = machine("python3", "mtools", "fdisk", uid=1000)
    assert done.returncode == 1 and machine.calls() == []
    assert done.stderr.count("\n") == 1
    assert "apt-get install mtools fdisk" in done.stderr and "python3" not in done.stderr


def test_a_failed_apt_get_says_what_it_could_not_install(machine, tmp_path):
    stand_in(tmp_path / "bin", "apt-get", 'echo "E: Unable to locate package $*" >&2; exit 100')
    done = machine("mtools")
    assert done.returncode == 1 and "could not install mtools" in done.stderr


def test_make_test_runs_deps_before_the_venv():
    # -n: what make would do for a fresh clone (no venv) and for this one.
    for venv in ("/nonexistent/venv", ".venv"):
        done = subprocess.run(["make", "--no-print-directory", "-n", "test", f"VENV={venv}"], cwd=REPO_ROOT,
                              capture_output=True,
                              text=True, check=True)
        lines = done.stdout.splitlines()
        assert lines[0].startswith("bash tools/debian_deps.sh "), lines[:3]
        assert lines[-1].endswith("-m pytest")
    done = subprocess.run(["make", "--no-print-directory", "-n", "test-fast"], cwd=REPO_ROOT,
                          capture_output=True, text=True, check=True)
    assert done.stdout.startswith("bash tools/debian_deps.sh ")


def test_the_package_list_covers_what_the_tests_name():
    from support.deploy import TOOL_PACKAGES

    packages = makefile_packages()
    assert set(TOOL_PACKAGES.values()) <= set(packages)
    assert {"python3-venv", "espeak-ng", "fonts-dejavu-core", "chromium", "chromium-driver"} <= set(packages)
    # Each package is documented by who needs it, in the comment above the list.
    makefile = (REPO_ROOT / "Makefile").read_text()
    comment = makefile.split("DEBIAN_PACKAGES :=", 1)[0].rsplit("\n\n", 1)[1]
    for package in packages:
        assert re.search(rf"(?<![\w-]){re.escape(package)}(?![\w-])", comment), f"{package} is not documented"


def test_ci_runs_make_test_and_installs_nothing_else():
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert ci.rstrip().endswith("exec make test")
    installs = re.findall(r"apt-get install[^\n]*", ci)
    assert all(line.split()[-2:] == ["make", ">/dev/null"] for line in installs), installs


def test_already_installed_is_quick_on_this_machine():
    # CI's machine has them all after the first make test: one dpkg-query, no apt-get, no output.
    if not Path("/usr/bin/dpkg-query").exists():
        pytest.skip("not a Debian machine")
    packages = makefile_packages()
    missing = subprocess.run(["dpkg-query", "-W", "-f=${Package}\n", *packages], capture_output=True, text=True,
                             check=False)
    if missing.returncode != 0:
        # Never under `make test` (its first step, `make deps`, installs them all): only a bare
        # `pytest` on a machine without them lands here, and there is nothing quick to check then.
        pytest.skip(f"some packages are not installed here: {missing.stderr.strip()}")
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(["make", "-s", "--no-print-directory", "deps"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True,
                          timeout=10, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
