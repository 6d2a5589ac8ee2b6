"""``qms-hub`` as a technician runs it: tokens, users and LOGIN, a bad site file, TLS."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import stat
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
import trustme
from support import REPO_ROOT, HallHarness, TestClient, free_port, start_hub
from websockets.asyncio.client import connect

from hub.auth import TokenAuthority

ROOT = REPO_ROOT


def qms_hub(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hub.cli", *args], input=stdin, capture_output=True, text=True,
                          cwd=ROOT, timeout=60)


def test_token_command_signs_with_the_data_dir_secret(tmp_path):
    data_dir = tmp_path / "data"
    result = qms_hub("--data-dir", str(data_dir), "token", "--role", "kiosk", "--client-id", "kiosk-001",
                     "--ttl-days", "30")
    assert result.returncode == 0, result.stderr
    identity = TokenAuthority.from_data_dir(data_dir).verify(result.stdout.strip())
    assert (identity.role, identity.client_id) == ("kiosk", "kiosk-001")
    secret = data_dir / "token-secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    officer = qms_hub("--data-dir", str(data_dir), "token", "--role", "officer", "--username", "officer01",
                      "--user-id", "789", "--counter-id", "2")
    assert TokenAuthority.from_data_dir(data_dir).verify(officer.stdout.strip()).counter_id == 2
    # A device token without its id is refused with a reason, not a traceback.
    refused = qms_hub("--data-dir", str(data_dir), "token", "--role", "tv")
    assert refused.returncode == 2 and "client_id" in refused.stderr and "Traceback" not in refused.stderr


def test_bad_site_file_is_refused_with_line_and_reason(tmp_path):
    site = tmp_path / "site.toml"
    site.write_text(textwrap.dedent("""\
        site_name = "Trung tâm"

        [[counters]]
        id = 1
        name = ""
        [[counters.procedures]]
        id = 1
        name = "Cấp giấy phép"
    """), encoding="utf-8")
    result = qms_hub("--data-dir", str(tmp_path / "data"), "serve", "--config", str(site), "--port", "0")
    assert result.returncode == 2
    assert f"{site}:5:" in result.stderr and "name" in result.stderr


async def test_user_add_then_login(tmp_path):
    data_dir = tmp_path / "data"
    added = qms_hub("--data-dir", str(data_dir), "user", "add", "officer01", "--role", "officer",
                    "--counter-id", "1", "--full-name", "Nguyễn Văn A", stdin="mật-khẩu-dài\n")
    assert added.returncode == 0, added.stderr
    duplicate = qms_hub("--data-dir", str(data_dir), "user", "add", "officer01", "--role", "admin",
                        stdin="mật-khẩu-dài\n")
    assert duplicate.returncode == 2 and "exists" in duplicate.stderr
    short = qms_hub("--data-dir", str(data_dir), "user", "add", "x", "--role", "admin", stdin="123\n")
    assert short.returncode == 2

    hub = await start_hub(data_dir)
    hall = HallHarness(hub)
    try:
        client = await hall.raw()
        await client.send("LOGIN", {"username": "officer01", "password": "sai"})
        error = await client.expect("ERROR")
        assert error["error_code"] == "AUTH_FAILED" and "mật khẩu" in error["message"]
        # Not logged in: actions are refused.
        await client.send("CALL_TICKET", {"counter_id": 1})
        assert (await client.expect("ERROR"))["error_code"] == "AUTH_FAILED"

        await client.send("LOGIN", {"username": "officer01", "password": "mật-khẩu-dài"})
        login = await client.expect("LOGIN_OK")
        assert (login["role"], login["counter_id"], login["full_name"]) == ("officer", 1, "Nguyễn Văn A")
        await client.send("REGISTER_CLIENT", {"client_type": "officer", "client_id": "officer-counter-1"})
        await client.expect("CONNECTION_ACK")
        await client.send("CALL_TICKET", {"counter_id": 1})
        assert (await client.expect("ERROR"))["error_code"] == "QUEUE_EMPTY"  # allowed, just nobody waiting

        # The token works on a new connection too.
        other = await hall.raw()
        await other.send("AUTH", {"token": login["token"], "role": "officer", "counter_id": 1})
        assert (await other.expect("AUTH_OK"))["username"] == "officer01"
    finally:
        await hall.close_all()
        await hub.stop()


@pytest.fixture
def busy_port():
    """A port something else already listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def test_a_busy_port_is_named_with_how_to_pick_another(tmp_path, busy_port):
    result = qms_hub("--data-dir", str(tmp_path / "data"), "serve", "--host", "127.0.0.1", "--port", str(busy_port))
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last == (f"qms-hub: port {busy_port} is already in use on 127.0.0.1 (another qms-hub, or a make run "
                    f"still running?): stop that program, or serve on another port: qms-hub serve --port "
                    f"{busy_port + 1}, or make run PORT={busy_port + 1}")
    assert "Errno" not in result.stderr and "Traceback" not in result.stderr


def test_make_run_serves_on_port_with_its_data_in_data(tmp_path, busy_port):
    # As the README documents it: make run PORT=... DATA=...; the venv is this one, left as it is (-o).
    venv = Path(sys.prefix)
    env = {**os.environ, "VENV": str(venv)}
    result = subprocess.run(["make", "--no-print-directory", "-o", f"{venv}/.installed-hub", "run",
                             f"PORT={busy_port}", f"DATA={tmp_path / 'hall'}"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert f"qms-hub: port {busy_port} is already in use" in result.stderr
    assert f"make run PORT={busy_port + 1}" in result.stderr
    planned = subprocess.run(["make", "--no-print-directory", "-n", "-o", f"{venv}/.installed-hub", "run",
                              "PORT=3999", "DATA=/srv/hall"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True)
    assert planned.stdout.strip() == f"{venv}/bin/qms-hub --data-dir /srv/hall serve --port 3999"


@pytest.fixture(scope="module")
def site_ca():
    return trustme.CA()


async def test_hub_serves_wss_with_a_site_certificate(tmp_path, site_ca):
    cert = site_ca.issue_cert("127.0.0.1", "localhost")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_context)
    hub = await start_hub(tmp_path / "data", ssl_context=server_context)
    try:
        token = hub.tokens.issue("tv", client_id="tv-hall-1", ttl=timedelta(hours=1))
        client_context = ssl.create_default_context()
        site_ca.configure_trust(client_context)
        async with connect(f"wss://localhost:{hub.port}/ws", ssl=client_context) as ws:
            client = TestClient(ws)
            await client.send("AUTH", {"token": token})
            await client.expect("AUTH_OK")
        # A client that trusts only another CA refuses the hub: the token never leaves it.
        stranger = ssl.create_default_context()
        trustme.CA().configure_trust(stranger)
        with pytest.raises(ssl.SSLCertVerificationError):
            async with connect(f"wss://localhost:{hub.port}/ws", ssl=stranger):
                pass
    finally:
        await hub.stop()


def test_serve_with_tls_from_the_command_line(tmp_path, site_ca):
    cert = site_ca.issue_cert("127.0.0.1", "localhost")
    cert_path, key_path = tmp_path / "hub.crt", tmp_path / "hub.key"
    cert.private_key_pem.write_to_path(str(key_path))
    cert.cert_chain_pems[0].write_to_path(str(cert_path))

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "--data-dir", str(tmp_path / "data"), "serve", "--host", "127.0.0.1",
         "--port", str(port), "--tls-cert", str(cert_path), "--tls-key", str(key_path), "--log-json"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        context = ssl.create_default_context()
        site_ca.configure_trust(context)

        async def health() -> dict:
            for _ in range(200):
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context,
                                                                   server_hostname="localhost")
                except OSError:
                    await asyncio.sleep(0.05)
                    continue
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
                await writer.drain()
                response = await reader.read()
                writer.close()
                return json.loads(response.split(b"\r\n\r\n", 1)[1])
            raise AssertionError("hub never answered over TLS")

        assert asyncio.run(health())["database"] == "ok"
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert any(e["message"] == "hub.started" and e["tls"] is True for e in events)
