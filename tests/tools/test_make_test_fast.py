"""``make test-fast``: the suite without its slow tests; ``make test`` (what CI runs) keeps them all."""

from __future__ import annotations

import shlex
import subprocess
import sys

from support import REPO_ROOT


def make_dry_run(target: str) -> list[str]:
    """The pytest command line ``make TARGET`` runs."""
    done = subprocess.run(["make", "--no-print-directory", "-n", target], cwd=REPO_ROOT,
                          capture_output=True, text=True, check=True)
    (line,) = [line for line in done.stdout.splitlines() if " -m pytest" in line]
    return shlex.split(line)[3:]


def collected(*args: str) -> set[str]:
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return {line for line in done.stdout.splitlines() if "::" in line}


def test_make_test_runs_everything():
    assert make_dry_run("test") == []


def test_every_test_named_in_slow_tests_exists():
    args = make_dry_run("test-fast")
    assert args[:2] == ["-m", "not slow"]
    for arg in args[2:]:
        option, target = arg.split("=", 1)
        path, _, name = target.partition("::")
        assert (REPO_ROOT / path).is_file(), f"{arg}: no such file (renamed? fix SLOW_TESTS in the Makefile)"
        if option == "--deselect":
            assert f"def {name}(" in (REPO_ROOT / path).read_text(encoding="utf-8"), f"{arg}: no such test"


def test_the_fast_subset_leaves_out_the_slow_tests_and_keeps_the_quick_ones():
    folders = ["tests/deploy", "tests/console", "tests/tv/test_bench.py", "tests/tools"]
    fast = collected(*make_dry_run("test-fast"), *folders)
    everything = collected(*folders)
    left_out = everything - fast
    for slow in ("tests/deploy/test_install.py::test_kiosk",
                 "tests/deploy/test_update.py::test_old_releases_are_pruned",
                 "tests/deploy/test_flash.py::test_first_boot_installs_the_device_from_the_card",
                 "tests/console/test_browser.py::", "tests/console/test_screenshots.py::",
                 "tests/tv/test_bench.py::test_idle_cpu_is_read_from_a_running_qms_tv",
                 "tests/tools/test_screenshots.py::test_make_screenshots_draws_both_at_their_sizes"):
        assert any(test.startswith(slow) for test in left_out), f"{slow} is in make test-fast"
        assert not any(test.startswith(slow) for test in fast)
    for quick in ("tests/deploy/test_flash.py::test_a_fleet", "tests/deploy/test_shellcheck.py::",
                  "tests/deploy/test_install.py::test_bad_arguments_are_refused", "tests/console/test_http.py::",
                  "tests/tools/test_make_deps.py::"):
        assert any(test.startswith(quick) for test in fast), f"{quick} is missing from make test-fast"
