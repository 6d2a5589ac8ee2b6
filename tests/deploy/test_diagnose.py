"""deploy/diagnose.py (qms-diagnose) on a staging root, against a real hub on loopback.

This machine runs no systemd: the service and journal checks must say so and go on.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path

from support import start_hub
from support.deploy import DEPLOY, make_staging_root, serving_context, site_ca


async def diagnose(root: Path, *args) -> tuple[int, str]:
    # A subprocess the event loop waits for: the hub in this loop keeps answering meanwhile.
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(DEPLOY / "diagnose.py"), "--root", str(root), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, output.decode()


def section(output: str, title: str) -> str:
    return output.split(f"== {title}\n", 1)[1].split("\n== ", 1)[0]


def kiosk_root(tmp_path: Path, site: Path, port: int, token: str) -> Path:
    root = make_staging_root(tmp_path / "root")
    (root / "etc/qms").mkdir()
    (root / "etc/qms/role").write_text("kiosk\n")
    (root / "etc/qms/site-ca.crt").write_bytes((site / "ca/site-ca.crt").read_bytes())
    (root / "etc/qms/device.token").write_text(token + "\n")
    (root / "etc/qms/node.toml").write_text(
        'role = "kiosk"\n'
        f'hub_url = "wss://localhost:{port}/ws"\n'
        'client_id = "kiosk-001"\n'
        'ca_file = "/etc/qms/site-ca.crt"\n'
        '[kiosk]\nprinter = "file:/nonexistent/usb/lp9"\n')
    return root


async def test_a_kiosk_that_reaches_its_hub(tmp_path):
    site = tmp_path / "site"
    site_ca("init", site)
    site_ca("hub-cert", site, "--dns", "localhost")
    hub = await start_hub(tmp_path / "data", host="127.0.0.1", ssl_context=serving_context(site))
    try:
        token = hub.tokens.issue("kiosk", client_id="kiosk-001", ttl=timedelta(days=400))
        root = kiosk_root(tmp_path, site, hub.port, token)
        code, output = await diagnose(root)
    finally:
        await hub.stop()
    assert "role: kiosk" in section(output, "Device")
    assert "OK    hub ok, version" in section(output, "Hub connection")
    assert "trusting: /etc/qms/site-ca.crt" in output
    assert "OK    for kiosk kiosk-001, expires" in section(output, "Device token")
    assert "FAIL  /nonexistent/usb/lp9 does not exist" in section(output, "Printer")
    # No systemd here: said, not crashed.
    assert "systemd is not running here" in section(output, "Service")
    assert "no journal here" in section(output, "Last errors (journal)")
    assert "/opt/qms/venv/bin/python is missing" in section(output, "Versions")
    assert code == 1 and "problem(s) found." in output


async def test_what_a_technician_sees_when_the_hub_is_away_or_foreign(tmp_path):
    site = tmp_path / "site"
    site_ca("init", site)
    site_ca("hub-cert", site, "--dns", "localhost")
    other = tmp_path / "other"
    site_ca("init", other)
    site_ca("hub-cert", other, "--dns", "localhost")
    # A hub with another site's certificate: the device refuses it and says why.
    hub = await start_hub(tmp_path / "data", host="127.0.0.1", ssl_context=serving_context(other))
    try:
        token = hub.tokens.issue("kiosk", client_id="kiosk-002", ttl=timedelta(days=10))
        root = kiosk_root(tmp_path, site, hub.port, token)
        code, output = await diagnose(root)
        assert "the hub's certificate was refused" in section(output, "Hub connection")
        tokens = section(output, "Device token")
        assert "WARN" in tokens and "make a new one soon" in tokens
        assert "is for 'kiosk-002' but node.toml says 'kiosk-001'" in tokens
        port = hub.port
    finally:
        await hub.stop()
    code, output = await diagnose(root, "--hub-url", f"wss://localhost:{port}/ws")
    assert "nothing listens on its port" in section(output, "Hub connection")
    assert code == 1


async def test_a_machine_that_was_never_installed(tmp_path):
    root = tmp_path / "empty"
    root.mkdir()
    code, output = await diagnose(root)
    assert "this device was not installed" in output and code == 1
