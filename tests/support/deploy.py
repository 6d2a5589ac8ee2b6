"""Helpers for the deploy and systemd tests (no tests here): tools, staging roots, a tiny wheelhouse.

Every test works in folders under tmp_path. Nothing here touches /etc, /opt or a
running systemd: install.sh runs with ``--root``, systemd-analyze with ``--root``,
update.sh with a stand-in for systemctl.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import ssl
import stat
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest

from support import REPO_ROOT

REPO = REPO_ROOT
DEPLOY = REPO / "deploy"
SYSTEMD = REPO / "systemd"

# Debian packages that provide the tools these tests run (listed for .ci/run).
TOOL_PACKAGES = {
    "systemd-analyze": "systemd",
    "systemd-sysusers": "systemd",
    "systemctl": "systemd",
    "shellcheck": "shellcheck",
    "mcopy": "mtools",
    "mtype": "mtools",
    "mdir": "mtools",
    "mkfs.vfat": "dosfstools",
    "sfdisk": "fdisk",
    "openssl": "openssl",
}


def require_tool(name: str) -> str:
    """The tool's path; a failing test (not a skip) naming the Debian package when it is missing."""
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None) \
        or (f"/sbin/{name}" if os.path.exists(f"/sbin/{name}") else None)
    if path is None:
        pytest.fail(f"{name} is not installed: apt-get install {TOOL_PACKAGES.get(name, '?')}")
    return path


def run(argv: list, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("check", False)
    return subprocess.run([str(a) for a in argv], **kw)


def run_ok(argv: list, **kw) -> subprocess.CompletedProcess:
    done = run(argv, **kw)
    assert done.returncode == 0, f"{argv[0]} exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done


# --- a tiny qms-hall wheelhouse ---------------------------------------------------------------------

FAKE_PROGRAM = '''\
import sys

BUILD = {marker!r}


def main():
    # update.sh's tests: a release that cannot start.
    if BUILD == "broken":
        sys.exit("this build does not start")
    print("stand-in", BUILD, *sys.argv[1:])
'''


def make_wheelhouse(folder: Path, version: str = "0.1.0", marker: str = "") -> Path:
    """A wheelhouse holding one pure-Python qms_hall wheel with the four extras and commands.

    The real wheelhouse (make wheelhouse) needs the internet; this one lets install.sh build a
    real venv with a real pip, offline. Its hub package ships the real sample site, which the
    hub install copies to /etc/qms/site.toml. ``marker`` changes the wheel's bytes (a new build).
    """
    folder.mkdir(parents=True, exist_ok=True)
    info = f"qms_hall-{version}.dist-info"
    files = {
        "hub/__init__.py": FAKE_PROGRAM.format(marker=marker).encode(),
        "hub/sample_site.toml": (REPO / "hub" / "sample_site.toml").read_bytes(),
        f"{info}/METADATA": (f"Metadata-Version: 2.1\nName: qms-hall\nVersion: {version}\n"
                             "Provides-Extra: hub\nProvides-Extra: kiosk\nProvides-Extra: tv\n"
                             "Provides-Extra: counter\n").encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: qms-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/entry_points.txt": b"[console_scripts]\nqms-hub = hub:main\nqms-kiosk = hub:main\nqms-tv = hub:main\n"
                                    b"qms-counter = hub:main\n",
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    for old in folder.glob("qms_hall-*.whl"):
        old.unlink()
    wheel = folder / f"qms_hall-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return folder


# --- a staging root that looks like a fresh Raspberry Pi OS Lite -----------------------------------

PI_PASSWD = "root:x:0:0:root:/root:/bin/bash\nlp:x:7:7:lp:/var/spool/lpd:/usr/sbin/nologin\n"
# The groups Raspberry Pi OS has (gpio included), with its numbers.
PI_GROUPS = ("root:x:0:\nlp:x:7:\ndialout:x:20:\naudio:x:29:\nvideo:x:44:\n"
             "input:x:105:\nrender:x:106:\ngpio:x:993:\n")
PI_CMDLINE = ("console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 "
              "fsck.repair=yes rootwait quiet splash plymouth.ignore-serial-consoles consoleblank=600\n")


def make_staging_root(root: Path) -> Path:
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text(PI_PASSWD)
    (root / "etc" / "group").write_text(PI_GROUPS)
    (root / "etc" / "os-release").write_text('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n')
    (root / "boot" / "firmware").mkdir(parents=True)
    (root / "boot" / "firmware" / "cmdline.txt").write_text(PI_CMDLINE)
    return root


def ids(root: Path, kind: str) -> dict[str, int]:
    """name -> id from the staging root's passwd or group file."""
    table = {}
    for line in (root / "etc" / kind).read_text().splitlines():
        fields = line.split(":")
        table[fields[0]] = int(fields[2])
    return table


def group_members(root: Path) -> dict[str, set[str]]:
    members = {}
    for line in (root / "etc" / "group").read_text().splitlines():
        fields = line.split(":")
        members[fields[0]] = {m for m in fields[3].split(",") if m}
    return members


def manifest(root: Path) -> dict[str, tuple]:
    """Every path under root: kind, mode, owner, size, content hash (or link target), mtime."""
    entries = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        rel = "/" + str(path.relative_to(root))
        if stat.S_ISLNK(st.st_mode):
            entries[rel] = ("link", os.readlink(path), st.st_mtime_ns)
        elif stat.S_ISDIR(st.st_mode):
            entries[rel] = ("dir", stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
        else:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            entries[rel] = ("file", stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, digest, st.st_mtime_ns)
    return entries


# --- a small disk image: MBR, a FAT boot partition, a (blank) root partition -----------------------

BOOT_START_SECTOR = 8192          # 4 MiB, as in Raspberry Pi OS images
BOOT_SECTORS = (64 << 20) // 512  # FAT32 needs ~65 525 clusters: 64 MiB at one sector per cluster
ROOT_SECTORS = (8 << 20) // 512


def make_disk_image(path: Path, tmp: Path, cmdline: str = PI_CMDLINE) -> Path:
    mkfs = require_tool("mkfs.vfat")
    mcopy = require_tool("mcopy")
    mbr = bytearray(512)

    def entry(kind: int, start: int, sectors: int) -> bytes:
        return bytes([0, 0, 0, 0, kind, 0, 0, 0]) + struct.pack("<II", start, sectors)

    root_start = BOOT_START_SECTOR + BOOT_SECTORS
    mbr[440:444] = bytes.fromhex("9190634e")  # disk id, as in root=PARTUUID=4e639091-02
    mbr[446:462] = entry(0x0C, BOOT_START_SECTOR, BOOT_SECTORS)
    mbr[462:478] = entry(0x83, root_start, ROOT_SECTORS)
    mbr[510:512] = b"\x55\xaa"
    boot = tmp / "boot.fat"
    run_ok([mkfs, "-C", "-F", "32", "-s", "1", "-n", "BOOTFS", boot, BOOT_SECTORS // 2])
    for name, text in {"cmdline.txt": cmdline, "config.txt": "dtoverlay=vc4-kms-v3d\n"}.items():
        (tmp / name).write_text(text)
        run_ok([mcopy, "-i", boot, tmp / name, "::/"], env=mtools_env())
    with open(path, "wb") as disk:
        disk.write(mbr)
        disk.seek(BOOT_START_SECTOR * 512)
        disk.write(boot.read_bytes())
        # A recognisable root partition, to show the flash step leaves it alone.
        disk.seek(root_start * 512)
        disk.write(b"ROOTFS-UNTOUCHED" * 64)
        disk.truncate((root_start + ROOT_SECTORS) * 512)
    boot.unlink()
    return path


def mtools_env() -> dict[str, str]:
    return {**os.environ, "MTOOLSRC": "/dev/null", "MTOOLS_SKIP_CHECK": "1"}


def fat_spec(image: Path) -> str:
    return f"{image}@@{BOOT_START_SECTOR * 512}"


def fat_read(image: Path, path: str) -> bytes:
    done = subprocess.run([require_tool("mtype"), "-i", fat_spec(image), f"::{path}"], capture_output=True,
                          env=mtools_env(), check=False)
    assert done.returncode == 0, f"mtype {path}: {done.stderr.decode()}"
    return done.stdout


def fat_listing(image: Path) -> set[str]:
    done = run_ok([require_tool("mdir"), "-/", "-b", "-i", fat_spec(image), "::/"], env=mtools_env())
    return {line.strip().removeprefix("::").rstrip("/") for line in done.stdout.splitlines() if line.strip()}


def fat_extract(image: Path, path: str, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    run_ok([require_tool("mcopy"), "-s", "-i", fat_spec(image), f"::{path}", into], env=mtools_env())
    return into / Path(path).name


def site_ca(*args) -> str:
    require_tool("openssl")
    return run_ok(["bash", DEPLOY / "site_ca.sh", *args]).stdout


def serving_context(site: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(site / "tls/hub.crt", site / "tls/hub.key")
    return context
