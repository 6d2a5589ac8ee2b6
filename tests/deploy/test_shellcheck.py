"""Every shell script in the repository passes shellcheck, and bash -n."""

from __future__ import annotations

import subprocess

from support.deploy import REPO, require_tool, run

SKIPPED_DIRS = {".git", ".venv", "node_modules", "var", "dist", "build"}


def shell_scripts() -> list:
    """Tracked or new files ending in .sh or starting with a bash/sh shebang."""
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    scripts = []
    for name in listed:
        path = REPO / name
        if set(path.relative_to(REPO).parts) & SKIPPED_DIRS or not path.is_file():
            continue
        with open(path, "rb") as f:
            first = f.readline(80)
        if name.endswith(".sh") or first.startswith((b"#!/bin/bash", b"#!/usr/bin/env bash", b"#!/bin/sh")):
            scripts.append(path)
    return sorted(scripts)


def test_the_deploy_scripts_are_found():
    names = {p.name for p in shell_scripts()}
    assert {"install.sh", "update.sh", "site_ca.sh", "qms-lib.sh", "firstrun.sh", "firstboot.sh"} <= names


def test_shellcheck_is_clean():
    shellcheck = require_tool("shellcheck")
    scripts = shell_scripts()
    # -x follows "source" lines; run from the repository so their paths resolve.
    done = run([shellcheck, "-x", "--severity=style", *[p.relative_to(REPO) for p in scripts]], cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr


def test_bash_parses_every_script():
    for script in shell_scripts():
        done = run(["bash", "-n", script])
        assert done.returncode == 0, f"{script}: {done.stderr}"
