#!/usr/bin/env python3
"""qms-diagnose: what a technician needs to know about a hub, kiosk or TV, on one screen.

    qms-diagnose                 # on the device (sudo shows the journal of every unit)
    qms-diagnose --hub-url wss://192.168.1.10:3001/ws    # try another address

Prints the device's role, its service, the hub connection (GET /healthz with the
site CA), on the hub why it last refused to start and its backups, the device
token's expiry, the printer, the audio devices, versions and the last errors
from the journal. Each check says OK, WARN or FAIL; the exit code
is 1 when any check failed. Uses only Python's standard library and the system's
python3, so it works when the program's own venv is what is broken, and degrades
to "unknown" on a machine without systemd.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import shutil
import socket
import ssl
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

HUB_PORT = 3001
# The devices that connect to the hub (each with /etc/qms/node.toml and a token).
NODE_ROLES = ("kiosk", "tv", "counter")
TOKEN_WARN_DAYS = 30
HUB_DATA = "/var/lib/qms"
# What qms-hub writes in its data folder when it refuses to start (hub/database_check.py).
START_FAILURE_FILE = HUB_DATA + "/start-failure.txt"
REFUSAL_MARK = "refused to start: "
BACKUP_NAME_PREFIX = "qms-"
BACKUP_WARN_DAYS = 2


class Report:
    def __init__(self) -> None:
        self.failures = 0

    def section(self, title: str) -> None:
        print(f"\n== {title}")

    def ok(self, text: str) -> None:
        print(f"  OK    {text}")

    def warn(self, text: str) -> None:
        print(f"  WARN  {text}")

    def fail(self, text: str) -> None:
        self.failures += 1
        print(f"  FAIL  {text}")

    def info(self, text: str) -> None:
        for line in text.splitlines() or [""]:
            print(f"        {line}")


class Device:
    """Paths of the device, under --root for a staging folder."""

    def __init__(self, root: str) -> None:
        self.root = Path(root)
        self.live = self.root == Path("/")

    def path(self, device_path: str) -> Path:
        return self.root / device_path.lstrip("/")

    def read(self, device_path: str) -> str | None:
        try:
            return self.path(device_path).read_text(encoding="utf-8-sig")
        except OSError:
            return None

    def systemd_running(self) -> bool:
        return self.live and Path("/run/systemd/system").is_dir() and shutil.which("systemctl") is not None


def run(argv: list[str], timeout: float = 10) -> tuple[int, str]:
    """(exit code, output); 127 when the program is not installed."""
    if shutil.which(argv[0]) is None:
        return 127, f"{argv[0]} is not installed"
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return 124, f"{argv[0]} did not answer within {timeout:g}s"
    except OSError as exc:
        return 126, str(exc)
    return done.returncode, (done.stdout + done.stderr).strip()


def load_toml(device: Device, device_path: str, report: Report) -> dict | None:
    text = device.read(device_path)
    if text is None:
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        report.fail(f"{device_path} is not valid TOML: {exc}")
        return None


def role_of(device: Device, node: dict | None) -> str:
    text = device.read("/etc/qms/role")
    if text and text.strip() in ("hub", *NODE_ROLES):
        return text.strip()
    if node and node.get("role") in NODE_ROLES:
        return node["role"]
    if device.path("/etc/qms/site.toml").exists():
        return "hub"
    return "unknown"


def check_device(device: Device, role: str, report: Report) -> None:
    report.section("Device")
    hostname = (device.read("/etc/hostname") or "").strip() if not device.live else socket.gethostname()
    report.info(f"role: {role}    hostname: {hostname or '?'}")
    model = (device.read("/proc/device-tree/model") or "").rstrip("\0").strip() if device.live else ""
    os_name = "?"
    for line in (device.read("/etc/os-release") or "").splitlines():
        if line.startswith("PRETTY_NAME="):
            os_name = line.split("=", 1)[1].strip().strip('"')
    report.info(f"hardware: {model or platform.machine()}    system: {os_name}    kernel: {platform.release()}")
    now = datetime.now().astimezone()
    synced = "unknown"
    if device.systemd_running():
        code, out = run(["timedatectl", "show", "--property=NTPSynchronized", "--value"])
        if code == 0:
            synced = out
    report.info(f"clock: {now:%Y-%m-%d %H:%M:%S %Z}    NTP synchronized: {synced}")
    if synced == "no":
        report.warn("the clock is not synchronized: certificates and the day's numbering depend on it")
    if role == "unknown":
        report.fail("no /etc/qms/role, node.toml or site.toml: this device was not installed (deploy/install.sh)")


def check_service(device: Device, role: str, report: Report) -> None:
    report.section("Service")
    if role not in ("hub", *NODE_ROLES):
        report.info("no role, no service")
        return
    unit = f"qms-{role}.service"
    if not device.systemd_running():
        report.warn(f"systemd is not running here: the state of {unit} is unknown")
        return
    code, out = run(["systemctl", "show", unit, "--property=ActiveState,SubState,Result,NRestarts,"
                     "ActiveEnterTimestamp,UnitFileState,StatusText"])
    values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    state = f"{values.get('ActiveState', '?')} ({values.get('SubState', '?')})"
    details = (f"enabled: {values.get('UnitFileState', '?')}, since {values.get('ActiveEnterTimestamp') or '-'}, "
               f"restarts: {values.get('NRestarts', '?')}")
    if values.get("ActiveState") == "active":
        report.ok(f"{unit} {state}; {details}")
    else:
        report.fail(f"{unit} {state}, last result {values.get('Result', '?')}; {details}")
    if values.get("StatusText"):
        report.info(f"status: {values['StatusText']}")
    release = device.path("/opt/qms/venv")
    if not release.exists():
        report.fail("/opt/qms/venv is missing: the program is not installed")


def healthz_url(hub_url: str) -> str:
    parts = urlsplit(hub_url)
    scheme = {"wss": "https", "ws": "http", "https": "https", "http": "http"}.get(parts.scheme)
    if scheme is None or not parts.hostname:
        raise ValueError(f"not a ws:// or wss:// address: {hub_url!r}")
    return f"{scheme}://{parts.netloc}/healthz"


def check_hub(device: Device, role: str, node: dict | None, hub_url: str | None, report: Report) -> None:
    report.section("Hub connection")
    ca_file = ""
    check_hostname = True
    if hub_url:
        ca_file = (node or {}).get("ca_file", "") or ("/etc/qms/site-ca.crt" if role == "hub" else "")
    elif role == "hub":
        # The hub itself: its own port on loopback, TLS if hub.env names a certificate.
        env = device.read("/etc/qms/hub.env") or ""
        tls = "--tls-cert" in env
        hub_url = f"{'wss' if tls else 'ws'}://127.0.0.1:{HUB_PORT}/ws"
        ca_file = "/etc/qms/site-ca.crt" if tls else ""
        # Loopback is not among the certificate's names; the CA signature is still checked.
        check_hostname = False
    elif node:
        hub_url = node.get("hub_url", "")
        ca_file = node.get("ca_file", "")
    if not hub_url:
        report.fail("no hub address: /etc/qms/node.toml has no hub_url")
        return
    try:
        url = healthz_url(hub_url)
    except ValueError as exc:
        report.fail(str(exc))
        return
    context = None
    if url.startswith("https:"):
        cafile = str(device.path(ca_file)) if ca_file else None
        if cafile and not Path(cafile).is_file():
            report.fail(f"the site CA {ca_file} is missing")
            return
        try:
            context = ssl.create_default_context(cafile=cafile)
        except ssl.SSLError as exc:
            report.fail(f"the site CA {ca_file} is not a usable certificate: {exc.reason or exc}")
            return
        context.check_hostname = check_hostname
        report.info(f"trusting: {ca_file or 'the system CA store'}")
    report.info(f"GET {url}")
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as response:
            body = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        report.fail(f"the hub answered HTTP {exc.code}")
        return
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, ssl.SSLCertVerificationError):
            report.fail(f"the hub's certificate was refused: {reason.verify_message}")
            report.info("is it signed by this site's CA, with this address among its names, and is the clock\n"
                        "above right? (a device with a wrong date refuses a valid certificate)")
        elif isinstance(reason, socket.gaierror):
            report.fail(f"the hub's name does not resolve: {urlsplit(url).hostname}")
        elif isinstance(reason, ConnectionRefusedError):
            report.fail("the hub's machine answers but nothing listens on its port (qms-hub stopped?)")
        elif isinstance(reason, (TimeoutError, socket.timeout)):
            report.fail("no answer within 5 s (wrong address, Wi-Fi down, or a firewall)")
        else:
            report.fail(f"cannot reach the hub: {reason}")
        return
    status = body.get("status", "?")
    line = (f"hub {status}, version {body.get('version', '?')}, "
            f"{body.get('connected_clients', '?')} devices connected")
    if status == "ok":
        report.ok(line)
    else:
        report.fail(line)


def check_token(device: Device, node: dict, report: Report) -> None:
    report.section("Device token")
    token_file = node.get("token_file", "/etc/qms/device.token")
    try:
        token = device.path(token_file).read_text(encoding="utf-8").strip()
    except PermissionError:
        report.warn(f"{token_file} is not readable by this user (run with sudo)")
        return
    except OSError:
        report.fail(f"{token_file} is missing: make one with 'qms-hub token' and copy it here")
        return
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
    except (IndexError, ValueError, KeyError, TypeError):
        report.fail(f"{token_file} does not hold a token")
        return
    days = (expires - datetime.now(UTC)).days
    text = f"for {claims.get('role', '?')} {claims.get('client_id', '?')}, expires {expires:%Y-%m-%d} ({days} days)"
    if days < 0:
        report.fail("expired: " + text)
    elif days < TOKEN_WARN_DAYS:
        report.warn(text + ": make a new one soon")
    else:
        report.ok(text)
    if node.get("client_id") and claims.get("client_id") != node["client_id"]:
        report.fail(f"the token is for {claims.get('client_id')!r} but node.toml says {node['client_id']!r}")


def last_refusal(journal: str) -> str | None:
    """The hub's last "refused to start" line in journal output, without the journal's prefix."""
    found = None
    for line in journal.splitlines():
        if REFUSAL_MARK in line:
            found = line[line.index(REFUSAL_MARK):]
    return found


def backup_folder(device: Device) -> str:
    """The hub's daily backup folder: site.toml's [backup] directory, else the one beside its data folder."""
    text = device.read("/etc/qms/site.toml") or ""
    try:
        directory = (tomllib.loads(text).get("backup") or {}).get("directory")
    except tomllib.TOMLDecodeError:
        directory = None
    return directory if isinstance(directory, str) and directory else HUB_DATA + "-backups"


def check_hub_data(device: Device, report: Report) -> None:
    """Why the hub last refused to start (it stops retrying after a few tries), and the backups it can restore."""
    report.section("Hub data")
    refusal = None
    try:
        note = device.path(START_FAILURE_FILE).read_text(encoding="utf-8").strip()
        refusal = last_refusal(note) or note or None
    except PermissionError:
        report.warn(f"{START_FAILURE_FILE} is not readable by this user (run with sudo)")
    except OSError:
        pass
    limit_hit = False
    if device.systemd_running():
        code, out = run(["systemctl", "show", "qms-hub.service", "--property=Result,ActiveState"])
        values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        limit_hit = values.get("Result") == "start-limit-hit"
        active = values.get("ActiveState") == "active"
        code, out = run(["journalctl", "--no-pager", "-o", "cat", "-n", "300", "-u", "qms-hub.service"])
        if code == 0 and not active:
            refusal = last_refusal(out) or refusal
        if active:
            refusal = None  # an old note: the hub started since
    if refusal:
        report.fail("the hub refused to start: " + refusal.removeprefix(REFUSAL_MARK))
        report.info("What to do: do what the line says after the last colon; then start the hub again:\n"
                    "  sudo systemctl reset-failed qms-hub && sudo systemctl start qms-hub")
        if limit_hit:
            report.info("(systemd stopped retrying after a few tries: it waits for you)")
    elif limit_hit:
        report.fail("qms-hub failed to start too often and systemd stopped retrying: see the journal below")
    else:
        report.ok("no refused start recorded")
    folder = backup_folder(device)
    try:
        backups = sorted(p for p in device.path(folder).iterdir()
                         if p.name.startswith(BACKUP_NAME_PREFIX) and p.name.endswith(".db"))
    except PermissionError:
        report.warn(f"{folder} is not readable by this user (run with sudo)")
        return
    except OSError:
        backups = []
    if not backups:
        report.warn(f"no backup in {folder} yet (the hub makes one a day; qms-hub backup makes one now)")
        return
    newest = backups[-1]
    age = datetime.now() - datetime.fromtimestamp(newest.stat().st_mtime)
    text = f"{len(backups)} backup(s) in {folder}; newest {newest.name} ({age.days} days old)"
    if age.days >= BACKUP_WARN_DAYS:
        report.warn(text + ": is the daily backup failing? (admin console alerts, journal)")
    else:
        report.ok(text)


def usb_devices() -> list[dict[str, str | bool]]:
    """Each USB device's sysfs names ("" where unreadable), and "printer": whether it has a printer interface."""
    found = []
    for dev in sorted(Path("/sys/bus/usb/devices").glob("*")):
        vendor = dev / "idVendor"
        if not vendor.exists():
            continue
        info: dict[str, str | bool] = {"path": dev.name}
        for name in ("idVendor", "idProduct", "manufacturer", "product", "busnum", "devnum"):
            try:
                info[name] = (dev / name).read_text().strip()
            except OSError:
                info[name] = ""
        info["printer"] = any((iface / "bInterfaceClass").read_text().strip() == "07"
                              for iface in dev.glob(f"{dev.name}:*") if (iface / "bInterfaceClass").exists())
        found.append(info)
    return found


def check_printer(device: Device, node: dict, report: Report) -> None:
    report.section("Printer")
    printer = (node.get("kiosk") or {}).get("printer", "virtual:/var/lib/qms-kiosk/tickets")
    kind, _, rest = printer.partition(":")
    report.info(f"printer = {printer!r}")
    usb = usb_devices()
    printers = [d for d in usb if d["printer"]]
    for d in printers:
        report.info(f"USB printer found: {d['idVendor']}:{d['idProduct']} {d['manufacturer']} {d['product']}".rstrip())
    if kind == "usb":
        wanted = [part.lower().removeprefix("0x").zfill(4) for part in rest.split(":")[:2]]
        match = [d for d in usb if [d["idVendor"], d["idProduct"]] == wanted]
        if match:
            node_path = Path(f"/dev/bus/usb/{int(match[0]['busnum']):03d}/{int(match[0]['devnum']):03d}")
            group = _group_of(node_path)
            if group == "lp":
                report.ok(f"USB printer {':'.join(wanted)} is plugged in ({node_path}, group lp)")
            else:
                report.fail(f"USB printer {':'.join(wanted)} is plugged in but {node_path} is in group {group}, "
                            "not lp: is /etc/udev/rules.d/70-qms-printer.rules there? (then unplug and replug)")
        else:
            report.fail(f"no USB device {':'.join(wanted)} plugged in (cable, power, or another printer model?)")
    elif kind == "file":
        path = Path(rest)
        if path.exists():
            report.ok(f"{rest} exists (group {_group_of(path)})")
        else:
            report.fail(f"{rest} does not exist (printer unplugged or off?)")
    elif kind == "network":
        host, _, port = rest.partition(":")
        try:
            with socket.create_connection((host, int(port or 9100)), timeout=3):
                report.ok(f"{host}:{port or 9100} accepts connections")
        except (OSError, ValueError) as exc:
            report.fail(f"cannot connect to {host}:{port or 9100}: {exc}")
    elif kind == "serial":
        dev = rest.split(":")[0]
        if Path(dev).exists():
            report.ok(f"{dev} exists (group {_group_of(Path(dev))})")
        else:
            report.fail(f"{dev} does not exist (USB-serial adapter unplugged?)")
    elif kind == "virtual":
        report.warn(f"no real printer: tickets are written as files to {rest}")
    else:
        report.fail(f"unknown printer kind {kind!r}")


def _group_of(path: Path) -> str:
    try:
        import grp

        return grp.getgrgid(path.stat().st_gid).gr_name
    except (OSError, KeyError):
        return "?"


def check_audio(report: Report) -> None:
    report.section("Audio")
    code, out = run(["aplay", "-l"])
    if code == 127:
        report.warn("aplay is not installed (Debian package alsa-utils)")
    elif code != 0 or "card" not in out:
        report.fail("no sound card found" + (f": {out}" if out else ""))
    else:
        report.ok("sound cards:")
        report.info("\n".join(line for line in out.splitlines() if line.startswith("card")))


def check_versions(device: Device, report: Report) -> None:
    report.section("Versions")
    report.info(f"system python: {platform.python_version()}")
    venv = device.path("/opt/qms/venv")
    if venv.is_symlink():
        report.info(f"release: {os.readlink(venv)}")
    previous = device.path("/opt/qms/previous")
    if previous.is_symlink():
        report.info(f"previous release: {os.readlink(previous)} (qms-update --rollback)")
    python = venv / "bin" / "python"
    if not python.exists():
        report.fail("/opt/qms/venv/bin/python is missing")
        return
    code, out = run([str(python), "-c", "import importlib.metadata as m, platform; "
                     "print(m.version('qms-hall'), platform.python_version())"])
    if code == 0 and out:
        package, _, venv_python = out.partition(" ")
        report.ok(f"qms-hall {package} on python {venv_python}")
    else:
        report.fail(f"the program's venv does not start: {out}")


def check_journal(device: Device, report: Report) -> None:
    report.section("Last errors (journal)")
    if not device.systemd_running() or shutil.which("journalctl") is None:
        report.warn("no journal here (systemd is not running): nothing to show")
        return
    code, out = run(["journalctl", "--no-pager", "-o", "short-iso", "-p", "err", "-n", "20", "-u", "qms-*"])
    if code != 0:
        report.warn(f"journalctl failed: {out}")
    elif not out or out.startswith("-- No entries --"):
        report.ok("no errors logged by the qms units")
    else:
        report.info(out)
    # The programs write "error ..."/"critical ..." lines to stdout, which journald files
    # under the unit at the default priority: show those too.
    code, out = run(["journalctl", "--no-pager", "-o", "short-iso", "-n", "2000", "-u", "qms-*"])
    if code == 0:
        lines = [line for line in out.splitlines() if ": error " in line or ": critical " in line]
        if lines:
            report.info("\n".join(lines[-20:]))
    if os.geteuid() != 0:
        report.info("(run with sudo to see every unit's entries)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qms-diagnose", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="/", help="read the device's files under this folder (tests)")
    parser.add_argument("--hub-url", help="check this hub address instead of the one in node.toml")
    args = parser.parse_args(argv)
    device = Device(args.root)
    report = Report()
    node = load_toml(device, "/etc/qms/node.toml", report)
    role = role_of(device, node)
    print(f"qms-diagnose on {socket.gethostname()} at {datetime.now().astimezone():%Y-%m-%d %H:%M:%S %Z}")
    check_device(device, role, report)
    check_service(device, role, report)
    check_hub(device, role, node, args.hub_url, report)
    if role == "hub":
        check_hub_data(device, report)
    if role in NODE_ROLES:
        if node is None:
            report.fail("/etc/qms/node.toml is missing")
        else:
            check_token(device, node, report)
            if role == "kiosk":
                check_printer(device, node, report)
    if role in ("kiosk", "tv"):
        check_audio(report)
    check_versions(device, report)
    check_journal(device, report)
    print()
    print(f"{report.failures} problem(s) found." if report.failures else "No problems found.")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
