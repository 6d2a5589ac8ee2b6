"""deploy/site_ca.sh: one CA per site, the hub's certificate signed by it, devices trusting only it.

The certificate is served by a real hub on loopback; clients are Python's ssl with
the site CA as their only trust anchor, as the nodes use it (ca_file in node.toml).
"""

from __future__ import annotations

import ssl
import stat
from pathlib import Path

import pytest
from support import start_hub
from support.deploy import DEPLOY, require_tool, run, run_ok, serving_context, site_ca
from websockets.asyncio.client import connect


def names(cert: Path) -> set[str]:
    text = run_ok(["openssl", "x509", "-in", cert, "-noout", "-ext", "subjectAltName"]).stdout
    return {n.strip().replace("IP Address:", "IP:") for n in text.splitlines()[1].split(",")}


@pytest.fixture
def site(tmp_path) -> Path:
    folder = tmp_path / "site"
    site_ca("init", folder, "--name", "Trung tâm Phục vụ hành chính công")
    site_ca("hub-cert", folder, "--dns", "localhost", "--dns", "hub.local", "--ip", "127.0.0.1")
    return folder


def test_the_ca_is_made_once(site):
    ca = site / "ca/site-ca.crt"
    before = ca.read_bytes()
    out = site_ca("init", site)
    assert out.startswith("kept:") and ca.read_bytes() == before
    assert stat.S_IMODE((site / "ca/site-ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(site.stat().st_mode) == 0o700
    text = run_ok(["openssl", "x509", "-in", ca, "-noout", "-text"]).stdout
    assert "CA:TRUE" in text and "Certificate Sign" in text


def test_the_hub_certificate_is_kept_or_reissued_for_new_names(site):
    cert = site / "tls/hub.crt"
    assert names(cert) == {"DNS:localhost", "DNS:hub.local", "IP:127.0.0.1"}
    assert stat.S_IMODE((site / "tls/hub.key").stat().st_mode) == 0o600
    before = cert.read_bytes()
    out = site_ca("hub-cert", site, "--ip", "127.0.0.1", "--dns", "hub.local", "--dns", "localhost")
    assert out.startswith("kept:") and cert.read_bytes() == before
    site_ca("hub-cert", site, "--dns", "localhost", "--dns", "hub.local", "--ip", "127.0.0.1", "--ip", "10.1.2.3")
    assert names(cert) == {"DNS:localhost", "DNS:hub.local", "IP:127.0.0.1", "IP:10.1.2.3"}
    run_ok(["openssl", "verify", "-CAfile", site / "ca/site-ca.crt", cert])


def test_a_hub_certificate_needs_a_ca_and_a_name(tmp_path):
    require_tool("openssl")
    done = run(["bash", DEPLOY / "site_ca.sh", "hub-cert", tmp_path / "nowhere", "--dns", "hub.local"])
    assert done.returncode != 0 and "run" in done.stderr and "init" in done.stderr
    site_ca("init", tmp_path / "site")
    done = run(["bash", DEPLOY / "site_ca.sh", "hub-cert", tmp_path / "site"])
    assert done.returncode != 0 and "--dns NAME and/or --ip ADDRESS" in done.stderr




async def test_devices_trust_the_hub_through_the_site_ca_only(site, tmp_path):
    hub = await start_hub(tmp_path / "data", host="127.0.0.1", ssl_context=serving_context(site))
    try:
        device = ssl.create_default_context(cafile=site / "ca/site-ca.crt")
        for url in (f"wss://localhost:{hub.port}/ws", f"wss://127.0.0.1:{hub.port}/ws"):
            async with connect(url, ssl=device) as ws:
                assert ws.protocol.state.name == "OPEN"
        # Another site's CA, or the system's CAs: refused.
        other = tmp_path / "other-site"
        site_ca("init", other)
        for stranger in (ssl.create_default_context(cafile=other / "ca/site-ca.crt"), ssl.create_default_context()):
            with pytest.raises(ssl.SSLCertVerificationError):
                async with connect(f"wss://localhost:{hub.port}/ws", ssl=stranger):
                    pass
        # A name the certificate does not carry: refused too.
        with pytest.raises(ssl.SSLCertVerificationError):
            async with connect(f"wss://127.0.0.1:{hub.port}/ws", ssl=device, server_hostname="hub-02.local"):
                pass
    finally:
        await hub.stop()
