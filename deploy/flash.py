#!/usr/bin/env python3
"""Prepare Raspberry Pi OS Lite images for the hall's devices: one per device, or a whole fleet.

    deploy/flash.py --image raspios-bookworm-arm64-lite.img --site SITE --wheelhouse dist/wheelhouse \\
        --ssh-key ~/.ssh/id_ed25519.pub --password-file tech-password.txt \\
        --fleet fleet.csv --out-dir images/

    deploy/flash.py ... --hostname kiosk-001 --role kiosk --hub hub.local --location "Sảnh A" \\
        --wifi-ssid HALL --wifi-psk '...' --out images/kiosk-001.img

    deploy/flash.py ... --fleet fleet.csv --only kiosk-002 --in-place     # reuse one image file

The per-device settings go onto the image's FAT boot partition, written with mtools
(``mcopy -i IMAGE@@OFFSET``) at the offset read from the MBR partition table: no
mounting, no loop devices, no root. What lands there (folder ``qms/`` and
``firstrun.sh``):

- ``firstrun.sh`` + three parameters in ``cmdline.txt``: run once early in the first
  boot, as Raspberry Pi Imager does on Bookworm (``systemd.run=``); it sets the
  hostname, the technician's account and SSH key, Wi-Fi (NetworkManager) and the time
  zone, and enables ``qms-firstboot.service``, then removes itself.
- ``qms/firstboot.sh``: run by that service at the next boot, with the network up; it
  calls ``qms/deploy/install.sh`` for the device's role, then deletes the secrets
  below from the boot partition and reboots into the installed device.
- ``qms/device.env`` (the settings), ``qms/node.toml`` (kiosk/TV/counter), ``qms/device.token``
  (signed with the site's secret by ``qms-hub token``), ``qms/site-ca.crt``; for the hub
  ``qms/site.toml``, ``qms/tls/hub.{crt,key}`` and ``qms/token-secret``;
  ``qms/wheelhouse/``, ``qms/deploy/``, ``qms/systemd/``.

The fleet file is CSV with a header row (comma or semicolon separated, UTF-8):
hostname, role (hub/kiosk/tv/counter), hub (the hub's address as devices use it; for the
hub row, its own addresses), client_id, location, wifi_ssid, wifi_psk; optional columns:
wifi_country, printer, voice, counter_id (a counter display's counter: its token names it).

The site folder (``--site``) is made once per site with ``deploy/site_ca.sh init``;
it holds the CA, the hub's certificate (made here for the hub's row if absent) and
``hub-data/token-secret``, which signs every device token. Keep it safe.
"""

from __future__ import annotations

import argparse
import csv
import io
import ipaddress
import json
import lzma
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from appliance.node_config import NodeConfigError, parse_node_config  # noqa: E402

SECTOR_BYTES = 512
# MBR partition types of FAT file systems (FAT12, FAT16 <32M, FAT16, FAT32 CHS, FAT32 LBA, FAT16 LBA).
FAT_TYPES = {0x01, 0x04, 0x06, 0x0B, 0x0C, 0x0E}
GPT_PROTECTIVE = 0xEE
BOOT_MOUNT = "/boot/firmware"
FIRSTRUN_PARAMS = [
    f"systemd.run={BOOT_MOUNT}/firstrun.sh",
    "systemd.run_success_action=reboot",
    "systemd.unit=kernel-command-line.target",
]
HOSTNAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$")
ROLES = ("hub", "kiosk", "tv", "counter")


class FlashError(Exception):
    """A message for the technician: what is wrong and what to do."""


# --- the disk image -------------------------------------------------------------------------------


def _open_image(image: Path) -> io.BufferedIOBase:
    """The image's bytes, decompressed on the fly from an .img.xz."""
    return lzma.open(image, "rb") if image.suffix == ".xz" else open(image, "rb")


def boot_partition_offset(image: Path) -> int:
    """Byte offset of the first FAT partition, from the image's MBR partition table (.img or .img.xz)."""
    try:
        with _open_image(image) as f:
            mbr = f.read(SECTOR_BYTES)
    except (lzma.LZMAError, EOFError) as exc:
        raise FlashError(f"{image}: not a readable .xz file ({exc})") from None
    except OSError as exc:
        raise FlashError(f"{image}: cannot read it: {exc.strerror or exc}") from None
    if len(mbr) < SECTOR_BYTES or mbr[510:512] != b"\x55\xaa":
        raise FlashError(f"{image}: no MBR partition table (is it a Raspberry Pi OS .img, decompressed?)")
    for index in range(4):
        entry = mbr[446 + 16 * index: 446 + 16 * (index + 1)]
        kind = entry[4]
        start = int.from_bytes(entry[8:12], "little")
        sectors = int.from_bytes(entry[12:16], "little")
        if kind == GPT_PROTECTIVE:
            raise FlashError(f"{image}: GPT partition table; Raspberry Pi OS images use MBR")
        if kind in FAT_TYPES and start and sectors:
            return start * SECTOR_BYTES
    raise FlashError(f"{image}: no FAT partition in the partition table")


def check_image(image: Path) -> None:
    """Refuse a bad base image before anything is copied from it, naming it.

    A decompressed .img is checked whole (partition table, boot partition, cmdline.txt); of an
    .img.xz only the partition table is, as the rest needs decompressing: its copy is checked
    next, and removed if it fails.
    """
    if not image.is_file():
        raise FlashError(f"{image}: no such image")
    offset = boot_partition_offset(image)
    if image.suffix != ".xz":
        check_boot_partition(FatImage(image, offset), image)


def check_boot_partition(fat: FatImage, source: Path) -> None:
    if not fat.exists("/cmdline.txt"):
        raise FlashError(f"{source}: the boot partition has no cmdline.txt (not a Raspberry Pi OS image?)")


def copy_image(source: Path, target: Path) -> None:
    """Copy (or decompress an .xz) leaving runs of zeros as holes: a 2.7 GB image with 2 GB of zeros."""
    chunk_bytes = 1 << 20
    try:
        with _open_image(source) as src, open(target, "wb") as dst:
            while chunk := src.read(chunk_bytes):
                if chunk.count(0) == len(chunk):
                    dst.seek(len(chunk), os.SEEK_CUR)
                else:
                    dst.write(chunk)
            dst.truncate()
    except (lzma.LZMAError, EOFError) as exc:
        raise FlashError(f"{source}: the .xz file is damaged ({exc})") from None
    except OSError as exc:
        raise FlashError(f"cannot copy {source} to {target}: {exc.strerror or exc}") from None


class FatImage:
    """The boot partition of an image file, through mtools."""

    def __init__(self, image: Path, offset: int | None = None):
        for tool in ("mcopy", "mtype", "mdir", "mdeltree", "mmd"):
            if shutil.which(tool) is None:
                raise FlashError(f"{tool} is missing: install the Debian package mtools")
        self.spec = f"{image}@@{boot_partition_offset(image) if offset is None else offset}"
        # No ~/.mtoolsrc surprises; no refusal of a partition whose geometry looks odd.
        self.env = {**os.environ, "MTOOLSRC": "/dev/null", "MTOOLS_SKIP_CHECK": "1"}

    def _run(self, *args: str, capture: bool = False) -> subprocess.CompletedProcess:
        done = subprocess.run([args[0], "-i", self.spec, *args[1:]], env=self.env, capture_output=True, check=False)
        if done.returncode != 0 and not capture:
            raise FlashError(f"{' '.join(args)}: {done.stderr.decode(errors='replace').strip()}")
        return done

    def exists(self, path: str) -> bool:
        return self._run("mdir", "-b", f"::{path}", capture=True).returncode == 0

    def read(self, path: str) -> bytes:
        return self._run("mtype", f"::{path}").stdout

    def remove_tree(self, path: str) -> None:
        if self.exists(path):
            self._run("mdeltree", f"::{path}")

    def put(self, local: Path, path: str) -> None:
        if local.is_dir():
            self._run("mcopy", "-s", "-o", "-Q", str(local), f"::{path}")
        else:
            self._run("mcopy", "-o", "-Q", str(local), f"::{path}")


def with_firstrun(cmdline: str) -> str:
    """cmdline.txt with the first-run parameters, each once; everything else as it was."""
    params = [p for p in cmdline.split() if not p.startswith(("systemd.run=", "systemd.run_success_action=",
                                                              "systemd.unit="))]
    return " ".join(params + FIRSTRUN_PARAMS) + "\n"


# --- devices and their settings ---------------------------------------------------------------------


@dataclass
class Device:
    hostname: str
    role: str
    hub: str = ""
    client_id: str = ""
    location: str = ""
    wifi_ssid: str = ""
    wifi_psk: str = ""
    wifi_country: str = ""
    printer: str = ""
    voice: str = ""
    # A counter display's counter (the site file's counter id); its token carries it.
    counter_id: str = ""

    def check(self) -> None:
        where = f"device {self.hostname or '?'}"
        if not HOSTNAME_RE.match(self.hostname):
            raise FlashError(f"{where}: hostname must be lowercase letters, digits and '-' (max 63)")
        if self.role not in ROLES:
            raise FlashError(f"{where}: role must be hub, kiosk, tv or counter (not {self.role!r})")
        if self.role == "counter":
            if not re.fullmatch(r"[1-9][0-9]{0,5}", self.counter_id):
                raise FlashError(f"{where}: a counter display needs its counter's id (column counter_id, "
                                 f"a whole number from 1), not {self.counter_id!r}")
        elif self.counter_id:
            raise FlashError(f"{where}: counter_id is for counter displays only (role counter)")
        if self.role != "hub":
            self.client_id = self.client_id or self.hostname
            if not CLIENT_ID_RE.match(self.client_id):
                raise FlashError(f"{where}: client_id {self.client_id!r} may hold letters, digits and ._:@-")
            if not self.hub:
                raise FlashError(f"{where}: the hub's address is missing (column hub)")
        if len(self.location) > 200:
            raise FlashError(f"{where}: location is longer than 200 characters")
        if self.wifi_psk and not self.wifi_ssid:
            raise FlashError(f"{where}: a Wi-Fi password without a network name (wifi_ssid)")
        if self.wifi_ssid:
            if len(self.wifi_ssid.encode()) > 32:
                raise FlashError(f"{where}: Wi-Fi name longer than 32 bytes")
            psk = self.wifi_psk
            if psk and not (8 <= len(psk) <= 63 or re.fullmatch(r"[0-9a-fA-F]{64}", psk)):
                raise FlashError(f"{where}: a WPA password has 8 to 63 characters")
        if self.wifi_country and not re.fullmatch(r"[A-Z]{2}", self.wifi_country):
            raise FlashError(f"{where}: wifi_country is a two-letter code such as VN")
        if self.role == "tv" and self.voice and not Path(self.voice).is_file():
            raise FlashError(f"{where}: voice file {self.voice} not found")

    def hub_hosts(self) -> list[str]:
        """The hub's addresses as written: one for a node, possibly several for the hub itself."""
        return [h for h in re.split(r"[\s;]+", self.hub) if h]


def read_fleet(path: Path) -> list[Device]:
    text = path.read_text(encoding="utf-8-sig")
    header = text.splitlines()[0] if text.strip() else ""
    # Spreadsheets save with commas, or with semicolons where the comma is the decimal mark.
    delimiter = max((",", ";", "\t"), key=header.count)
    rows = list(csv.DictReader(text.splitlines(), delimiter=delimiter))
    known = {f for f in Device.__dataclass_fields__}
    devices = []
    for line, row in enumerate(rows, start=2):
        values = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        unknown = sorted(k for k in values if k and k not in known)
        if unknown:
            raise FlashError(f"{path}: unknown column {unknown[0]!r} (known: {', '.join(sorted(known))})")
        if not any(values.values()):
            continue
        device = Device(**{k: v for k, v in values.items() if k in known})
        device.wifi_country = device.wifi_country.upper()
        try:
            device.check()
        except FlashError as exc:
            raise FlashError(f"{path}:{line}: {exc}") from None
        devices.append(device)
    names = [d.hostname for d in devices]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FlashError(f"{path}: hostname {duplicates[0]} appears twice")
    ids = [d.client_id for d in devices if d.role != "hub"]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise FlashError(f"{path}: client_id {duplicates[0]} appears twice")
    # The hub first: its certificate must exist before a device's image names it.
    return sorted(devices, key=lambda d: d.role != "hub")


@dataclass
class Site:
    """What every image of one site shares."""

    folder: Path
    wheelhouse: Path | None
    ssh_keys: list[str]
    user: str
    password_hash: str
    timezone: str
    wifi_country: str
    hub_port: int
    token_days: int
    qms_hub: list[str]
    debs: Path | None = None
    # Every hub address the fleet's devices use: they all go into the hub's certificate.
    hub_names: set[str] = field(default_factory=set)

    @property
    def ca_crt(self) -> Path:
        return self.folder / "ca" / "site-ca.crt"

    @property
    def hub_crt(self) -> Path:
        return self.folder / "tls" / "hub.crt"

    @property
    def hub_key(self) -> Path:
        return self.folder / "tls" / "hub.key"

    @property
    def data_dir(self) -> Path:
        return self.folder / "hub-data"

    def hub_url(self, host: str) -> str:
        bracketed = f"[{host}]" if _is_ip(host) and ":" in host else host
        return f"wss://{bracketed}:{self.hub_port}/ws"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def certificate_names(cert: Path) -> set[str]:
    """The certificate's subjectAltName entries as 'DNS:name' / 'IP:address'."""
    done = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-ext", "subjectAltName"],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise FlashError(f"{cert}: not a certificate: {done.stderr.strip()}")
    names = set()
    for line in done.stdout.splitlines()[1:]:
        for item in line.split(","):
            item = item.strip().replace("IP Address:", "IP:")
            if item.startswith("DNS:"):
                item = "DNS:" + item[4:].lower()
            elif item.startswith("IP:"):
                item = "IP:" + str(ipaddress.ip_address(item[3:]))
            if item:
                names.add(item)
    return names


def san_of(host: str) -> str:
    return f"IP:{ipaddress.ip_address(host)}" if _is_ip(host) else f"DNS:{host.lower()}"


def ensure_hub_certificate(site: Site, hub: Device) -> None:
    names = {hub.hostname, f"{hub.hostname}.local", *hub.hub_hosts(), *site.hub_names}
    wanted = {san_of(n) for n in names}
    if site.hub_crt.exists() and site.hub_key.exists() and wanted <= certificate_names(site.hub_crt):
        return
    if site.hub_crt.exists():
        # Keep the names the old certificate had: devices flashed earlier may use them.
        wanted |= certificate_names(site.hub_crt)
    args = [str(REPO / "deploy" / "site_ca.sh"), "hub-cert", str(site.folder), "--force"]
    for name in sorted(wanted):
        kind, value = name.split(":", 1)
        args += ["--ip" if kind == "IP" else "--dns", value]
    done = subprocess.run(["bash", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise FlashError(f"site_ca.sh hub-cert failed: {done.stderr.strip()}")
    print(f"  {done.stdout.strip()}")


def check_hub_certificate_names(site: Site, device: Device) -> None:
    host = device.hub_hosts()[0]
    if not site.hub_crt.exists():
        raise FlashError(f"{site.hub_crt} does not exist yet: flash the hub first (its image makes the "
                         "certificate), or run deploy/site_ca.sh hub-cert")
    if san_of(host) not in certificate_names(site.hub_crt):
        raise FlashError(f"device {device.hostname}: the hub's certificate does not name {host!r}, so the device "
                         f"would refuse it. Flash the hub again with {host} among its addresses, or use one of: "
                         f"{', '.join(sorted(certificate_names(site.hub_crt)))}")


def issue_token(site: Site, device: Device) -> str:
    counter = ["--counter-id", device.counter_id] if device.role == "counter" else []
    done = subprocess.run([*site.qms_hub, "--data-dir", str(site.data_dir), "token", "--role", device.role,
                           "--client-id", device.client_id, *counter, "--ttl-days", str(site.token_days)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise FlashError(f"qms-hub token failed: {done.stderr.strip()}")
    return done.stdout.strip()


def ensure_token_secret(site: Site) -> Path:
    secret = site.data_dir / "token-secret"
    if not secret.exists():
        # qms-hub makes the site's secret on first use; a throwaway token is that first use.
        issue_token(site, Device(hostname="secret", role="tv", client_id="make-secret"))
    return secret


def toml_string(value: str) -> str:
    # A JSON string is a valid TOML basic string (same escapes; UTF-8 kept as is).
    return json.dumps(value, ensure_ascii=False)


def node_toml(site: Site, device: Device) -> str:
    lines = [
        f"# {device.hostname}: written by deploy/flash.py. Edit on the device: /etc/qms/node.toml",
        f"role = {toml_string(device.role)}",
        f"hub_url = {toml_string(site.hub_url(device.hub_hosts()[0]))}",
        'token_file = "/etc/qms/device.token"',
        f"client_id = {toml_string(device.client_id)}",
        f"location = {toml_string(device.location)}",
        'ca_file = "/etc/qms/site-ca.crt"',
    ]
    if device.role == "kiosk":
        lines += ["", "[kiosk]", f"printer = {toml_string(device.printer or 'virtual:/var/lib/qms-kiosk/tickets')}"]
    if device.role == "tv" and device.voice:
        lines += ["", "[tv]", f"voice = {toml_string('/opt/qms/voices/' + Path(device.voice).name)}"]
    text = "\n".join(lines) + "\n"
    try:
        parse_node_config(text, f"{device.hostname}/node.toml")
    except NodeConfigError as exc:
        raise FlashError(str(exc)) from None
    return text


def device_env(site: Site, device: Device) -> str:
    values = {
        "QMS_ROLE": device.role,
        "QMS_HOSTNAME": device.hostname,
        "QMS_USER": site.user,
        "QMS_PASSWORD_HASH": site.password_hash,
        "QMS_SSH_KEYS": "\n".join(site.ssh_keys),
        "QMS_WIFI_SSID": device.wifi_ssid,
        "QMS_WIFI_PSK": device.wifi_psk,
        "QMS_WIFI_COUNTRY": device.wifi_country or site.wifi_country,
        "QMS_TIMEZONE": site.timezone,
        "QMS_HUB_HOST": device.hub_hosts()[0] if device.role != "hub" and device.hub_hosts() else "",
        "QMS_CLIENT_ID": device.client_id,
        "QMS_LOCATION": device.location,
    }
    lines = [f"# {device.hostname}: settings for firstrun.sh and firstboot.sh (deploy/flash.py). Sourced by bash."]
    lines += [f"{key}={shlex.quote(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def stage(site: Site, device: Device, into: Path) -> Path:
    """The files for the boot partition, laid out in a local folder: into/qms and into/firstrun.sh."""
    qms = into / "qms"
    (qms / "deploy" / "files").mkdir(parents=True)
    (qms / "systemd").mkdir()
    for name in ("install.sh", "qms-lib.sh", "update.sh", "diagnose.py", "firstboot.sh"):
        shutil.copy(REPO / "deploy" / name, qms / "deploy" / name)
    for item in (REPO / "deploy" / "files").iterdir():
        shutil.copy(item, qms / "deploy" / "files" / item.name)
    for item in (REPO / "systemd").iterdir():
        shutil.copy(item, qms / "systemd" / item.name)
    technician = REPO / "docs" / "technician.md"
    if technician.exists():
        (qms / "docs").mkdir()
        shutil.copy(technician, qms / "docs" / "technician.md")
    shutil.copy(REPO / "deploy" / "firstrun.sh", into / "firstrun.sh")
    shutil.copy(REPO / "deploy" / "firstboot.sh", qms / "firstboot.sh")
    (qms / "device.env").write_text(device_env(site, device), encoding="utf-8")
    shutil.copy(site.ca_crt, qms / "site-ca.crt")
    if site.wheelhouse:
        shutil.copytree(site.wheelhouse, qms / "wheelhouse")
    if site.debs:
        shutil.copytree(site.debs, qms / "debs")
    if device.role == "hub":
        ensure_hub_certificate(site, device)
        (qms / "tls").mkdir()
        shutil.copy(site.hub_crt, qms / "tls" / "hub.crt")
        shutil.copy(site.hub_key, qms / "tls" / "hub.key")
        shutil.copy(ensure_token_secret(site), qms / "token-secret")
        site_toml = site.folder / "site.toml"
        if site_toml.exists():
            shutil.copy(site_toml, qms / "site.toml")
    else:
        check_hub_certificate_names(site, device)
        (qms / "node.toml").write_text(node_toml(site, device), encoding="utf-8")
        (qms / "device.token").write_text(issue_token(site, device) + "\n", encoding="utf-8")
        if device.voice:
            (qms / "voice").mkdir()
            shutil.copy(device.voice, qms / "voice" / Path(device.voice).name)
            shutil.copy(device.voice + ".json", qms / "voice" / (Path(device.voice).name + ".json"))
    return into


def write_device(source: Path, target: Path, site: Site, device: Device) -> None:
    """Make the device's image: ``source`` copied to ``target`` (unless they are one, --in-place), then its boot
    partition written.

    The device's files are made first, so a refused setting copies nothing; a copy that
    fails half way, or turns out not to be a Raspberry Pi OS image, is removed.
    """
    with tempfile.TemporaryDirectory(prefix="qms-flash-") as tmp:
        staged = stage(site, device, Path(tmp) / "boot")
        if target == source:
            write_boot_partition(target, source, staged, Path(tmp))
            return
        try:
            copy_image(source, target)
            write_boot_partition(target, source, staged, Path(tmp))
        except BaseException:
            target.unlink(missing_ok=True)
            raise


def write_boot_partition(image: Path, source: Path, staged: Path, tmp: Path) -> None:
    fat = FatImage(image)
    check_boot_partition(fat, source)
    # Whatever an earlier device left in this image goes first (--in-place).
    fat.remove_tree("/qms")
    fat.put(staged / "qms", "/")
    fat.put(staged / "firstrun.sh", "/firstrun.sh")
    cmdline = tmp / "cmdline.txt"
    cmdline.write_text(with_firstrun(fat.read("/cmdline.txt").decode("utf-8")), encoding="utf-8")
    fat.put(cmdline, "/cmdline.txt")


# --- command line -------------------------------------------------------------------------------------


def find_qms_hub(given: str | None) -> list[str]:
    if given:
        return [given]
    for candidate in (shutil.which("qms-hub"), Path(sys.executable).parent / "qms-hub",
                      REPO / ".venv" / "bin" / "qms-hub"):
        if candidate and Path(candidate).exists():
            return [str(candidate)]
    raise FlashError("qms-hub not found: run 'make run' once (it makes .venv) or give --qms-hub PATH")


def password_hash(args: argparse.Namespace) -> str:
    if args.password_hash:
        return args.password_hash
    if not args.password_file:
        raise FlashError("give --password-file (the technician's console password) or --password-hash")
    password = Path(args.password_file).read_text(encoding="utf-8").splitlines()[0]
    if len(password) < 8:
        raise FlashError("the technician's password needs at least 8 characters")
    done = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password + "\n", capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise FlashError(f"openssl passwd failed: {done.stderr.strip()}")
    return done.stdout.strip()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flash.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", required=True, help="Raspberry Pi OS Lite image (.img, or .img.xz)")
    parser.add_argument("--site", required=True, help="the site folder (deploy/site_ca.sh init SITE)")
    parser.add_argument("--wheelhouse", help="wheels from 'make wheelhouse' (copied onto each card)")
    parser.add_argument("--debs", help="a folder of .deb files, for a hall without internet")
    parser.add_argument("--ssh-key", action="append", default=[], help="public key file for SSH (repeatable)")
    parser.add_argument("--user", default="tech", help="the technician's account (default tech)")
    parser.add_argument("--password-file", help="file whose first line is the technician's password")
    parser.add_argument("--password-hash", help="or the password already hashed (openssl passwd -6)")
    parser.add_argument("--timezone", default="Asia/Ho_Chi_Minh")
    parser.add_argument("--wifi-country", default="VN", help="Wi-Fi regulatory country (default VN)")
    parser.add_argument("--hub-port", type=int, default=3001)
    parser.add_argument("--token-days", type=int, default=1825,
                        help="device tokens' validity (default 5 years; qms-diagnose shows the expiry)")
    parser.add_argument("--qms-hub", help="the qms-hub command (default: from PATH or .venv)")
    fleet = parser.add_argument_group("a fleet")
    fleet.add_argument("--fleet", help="CSV, one row per device")
    fleet.add_argument("--only", action="append", default=[], help="only this hostname (repeatable)")
    fleet.add_argument("--out-dir", help="write DIR/<hostname>.img per device")
    one = parser.add_argument_group("one device (instead of --fleet)")
    for name in ("hostname", "role", "hub", "client-id", "location", "wifi-ssid", "wifi-psk", "printer", "voice",
                 "counter-id"):
        one.add_argument(f"--{name}", default="")
    parser.add_argument("--out", help="one device: the image to write")
    parser.add_argument("--in-place", action="store_true",
                        help="write into --image itself (one device; then flash it before the next)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _main(args)
    except FlashError as exc:
        print(f"flash.py: {exc}", file=sys.stderr)
        return 2


def _main(args: argparse.Namespace) -> int:
    image = Path(args.image)
    check_image(image)
    site_folder = Path(args.site)
    if not (site_folder / "ca" / "site-ca.crt").exists():
        raise FlashError(f"{site_folder} has no site CA: run deploy/site_ca.sh init {site_folder} once per site")
    keys: list[str] = []
    for key_file in args.ssh_key:
        keys += [line.strip() for line in Path(key_file).read_text().splitlines()
                 if line.strip() and not line.startswith("#")]
    if not keys:
        raise FlashError("give --ssh-key FILE.pub: technicians reach the devices over SSH")
    if args.wheelhouse and not Path(args.wheelhouse).is_dir():
        raise FlashError(f"{args.wheelhouse}: no such folder")
    site = Site(
        folder=site_folder,
        wheelhouse=Path(args.wheelhouse) if args.wheelhouse else None,
        debs=Path(args.debs) if args.debs else None,
        ssh_keys=keys,
        user=args.user,
        password_hash=password_hash(args),
        timezone=args.timezone,
        wifi_country=args.wifi_country.upper(),
        hub_port=args.hub_port,
        token_days=args.token_days,
        qms_hub=find_qms_hub(args.qms_hub),
    )
    if args.fleet:
        devices = read_fleet(Path(args.fleet))
        site.hub_names = {h for d in devices if d.role != "hub" for h in d.hub_hosts()}
        if args.only:
            missing = sorted(set(args.only) - {d.hostname for d in devices})
            if missing:
                raise FlashError(f"{args.fleet} has no device {missing[0]}")
            devices = [d for d in devices if d.hostname in args.only]
    else:
        device = Device(hostname=args.hostname, role=args.role, hub=args.hub, client_id=args.client_id,
                        location=args.location, wifi_ssid=args.wifi_ssid, wifi_psk=args.wifi_psk,
                        printer=args.printer, voice=args.voice, counter_id=args.counter_id)
        device.check()
        devices = [device]
    if args.in_place:
        if len(devices) != 1:
            raise FlashError("--in-place writes one device at a time: add --only HOSTNAME")
        if image.suffix == ".xz":
            raise FlashError("--in-place needs a decompressed .img")
        targets = [image]
    elif args.out_dir:
        Path(args.out_dir).mkdir(parents=True, exist_ok=True)
        targets = [Path(args.out_dir) / f"{d.hostname}.img" for d in devices]
    elif args.out and len(devices) == 1:
        targets = [Path(args.out)]
    else:
        raise FlashError("say where to write: --out FILE (one device), --out-dir DIR (a fleet) or --in-place")
    for device, target in zip(devices, targets, strict=True):
        print(f"{device.hostname} ({device.role}) -> {target}")
        if target != image and target.resolve() == image.resolve():
            raise FlashError("--out is the source image: use --in-place for that")
        write_device(image, target, site, device)
        if device.role != "hub":
            counter = f", counter {device.counter_id}" if device.role == "counter" else ""
            print(f"  hub {site.hub_url(device.hub_hosts()[0])}, client id {device.client_id}{counter}")
    print("Write each image to its SD card (Raspberry Pi Imager: 'Use custom', and NO OS customisation;"
          " or: sudo dd if=IMAGE of=/dev/sdX bs=4M conv=fsync status=progress).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
