"""deploy/flash.py against a small disk image the test builds: MBR, a FAT32 boot partition, a root partition.

The images are written with mtools only (no mount, no loop device) and read back the
same way (mtype, mdir, mcopy). Device tokens are made by the real ``qms-hub token`` and
checked with the site's own secret; the hub's certificate by deploy/site_ca.sh.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import lzma
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.deploy import (
    BOOT_START_SECTOR,
    DEPLOY,
    PI_CMDLINE,
    REPO,
    fat_extract,
    fat_listing,
    fat_read,
    fat_spec,
    make_disk_image,
    make_staging_root,
    make_wheelhouse,
    mtools_env,
    require_tool,
    run,
    run_ok,
)

from appliance.node_config import parse_node_config
from hub.auth import TokenAuthority

FIRSTRUN = ["systemd.run=/boot/firmware/firstrun.sh", "systemd.run_success_action=reboot",
            "systemd.unit=kernel-command-line.target"]
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBQmAl3f6kX1rQ0XhMWpqH8+O2J8Nv5bN8oKuZJ5tq2r tech@laptop"
TRICKY_PSK = """pa$$"w'o`rd\\ 1"""
FLEET = f"""hostname,role,hub,client_id,location,wifi_ssid,wifi_psk,printer,counter_id
hub-01,hub,192.168.1.10,,,,,
kiosk-001,kiosk,hub-01.local,,"Sảnh A, tầng 1",HALL WiFi,"{TRICKY_PSK.replace('"', '""')}",usb:0x04b8:0x0202
tv-001,tv,hub-01.local,tv-main,Sảnh A,,,
counter-02,counter,hub-01.local,,Quầy 2,,,,2
"""


def flash_module():
    spec = importlib.util.spec_from_file_location("qms_flash", DEPLOY / "flash.py")
    module = importlib.util.module_from_spec(spec)
    # Dataclasses look their module up by name.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def workshop(tmp_path):
    """A technician's laptop: the site folder, keys, a wheelhouse, the base image."""
    for tool in ("openssl", "mcopy", "mkfs.vfat"):
        require_tool(tool)
    site = tmp_path / "site"
    run_ok(["bash", DEPLOY / "site_ca.sh", "init", site, "--name", "Trung tâm thử"])
    (tmp_path / "tech.pub").write_text(SSH_KEY + "\n")
    (tmp_path / "password.txt").write_text("mật khẩu kỹ thuật\n")
    (tmp_path / "fleet.csv").write_text(FLEET, encoding="utf-8")
    image = make_disk_image(tmp_path / "raspios-lite.img", tmp_path)
    return {
        "dir": tmp_path, "site": site, "image": image, "fleet": tmp_path / "fleet.csv",
        "wheelhouse": make_wheelhouse(tmp_path / "wheelhouse"),
    }


def flash(workshop, *args) -> subprocess.CompletedProcess:
    return run([sys.executable, DEPLOY / "flash.py", "--image", workshop["image"], "--site", workshop["site"],
                "--wheelhouse", workshop["wheelhouse"], "--ssh-key", workshop["dir"] / "tech.pub",
                "--password-file", workshop["dir"] / "password.txt",
                "--qms-hub", Path(sys.executable).parent / "qms-hub", *args])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def device_env(image: Path) -> dict[str, str]:
    """qms/device.env as bash sees it after sourcing."""
    script = ('set -a; . /dev/stdin; set +a; '
              'for v in $(compgen -v QMS_); do printf "%s=%s\\0" "$v" "${!v}"; done')
    done = run_ok(["bash", "-c", script], input=fat_read(image, "/qms/device.env").decode())
    return dict(item.split("=", 1) for item in done.stdout.split("\0") if item)


def test_the_boot_partition_offset_agrees_with_sfdisk(workshop):
    sfdisk = json.loads(run_ok([require_tool("sfdisk"), "--json", workshop["image"]]).stdout)
    first = sfdisk["partitiontable"]["partitions"][0]
    assert first["type"] == "c"
    assert flash_module().boot_partition_offset(workshop["image"]) == first["start"] * 512 == BOOT_START_SECTOR * 512


def test_a_fleet(workshop):
    base = sha256(workshop["image"])
    out = workshop["dir"] / "images"
    done = flash(workshop, "--fleet", workshop["fleet"], "--out-dir", out)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sha256(workshop["image"]) == base, "the base image stays as it was"
    site = workshop["site"]
    authority = TokenAuthority.from_data_dir(site / "hub-data")
    root_partition = workshop["image"].read_bytes()[(BOOT_START_SECTOR * 512 + (64 << 20)):]

    for name in ("hub-01", "kiosk-001", "tv-001"):
        image = out / f"{name}.img"
        # Only the boot partition changed.
        assert image.read_bytes()[(BOOT_START_SECTOR * 512 + (64 << 20)):] == root_partition
        cmdline = fat_read(image, "/cmdline.txt").decode()
        assert cmdline.endswith("\n") and cmdline.count("\n") == 1
        assert cmdline.split() == PI_CMDLINE.split() + FIRSTRUN
        files = fat_listing(image)
        for path in ("/firstrun.sh", "/config.txt", "/qms/firstboot.sh", "/qms/deploy/install.sh",
                     "/qms/deploy/qms-lib.sh", "/qms/deploy/files/70-qms-printer.rules",
                     "/qms/systemd/qms-firstboot.service", "/qms/systemd/qms-kiosk.service",
                     "/qms/wheelhouse/qms_hall-0.1.0-py3-none-any.whl", "/qms/site-ca.crt"):
            assert path in files, f"{name}: {path}"
        assert fat_read(image, "/firstrun.sh") == (DEPLOY / "firstrun.sh").read_bytes()
        assert fat_read(image, "/qms/site-ca.crt") == (site / "ca/site-ca.crt").read_bytes()
        assert "/qms/ca" not in files and not any("site-ca.key" in f for f in files), "the CA key stays home"

    kiosk = out / "kiosk-001.img"
    env = device_env(kiosk)
    assert env["QMS_ROLE"] == "kiosk" and env["QMS_HOSTNAME"] == "kiosk-001"
    assert env["QMS_WIFI_SSID"] == "HALL WiFi" and env["QMS_WIFI_PSK"] == TRICKY_PSK
    assert env["QMS_SSH_KEYS"] == SSH_KEY and env["QMS_USER"] == "tech"
    assert env["QMS_PASSWORD_HASH"].startswith("$6$") and env["QMS_WIFI_COUNTRY"] == "VN"
    assert env["QMS_HUB_HOST"] == "hub-01.local" and env["QMS_TIMEZONE"] == "Asia/Ho_Chi_Minh"
    node = parse_node_config(fat_read(kiosk, "/qms/node.toml").decode(), "node.toml")
    assert (node.role, node.client_id, node.location) == ("kiosk", "kiosk-001", "Sảnh A, tầng 1")
    assert node.hub_url == "wss://hub-01.local:3001/ws" and node.ca_file == "/etc/qms/site-ca.crt"
    assert node.kiosk.printer == "usb:0x04b8:0x0202"
    identity = authority.verify(fat_read(kiosk, "/qms/device.token").decode().strip())
    assert (identity.role, identity.client_id) == ("kiosk", "kiosk-001")

    counter = out / "counter-02.img"
    node = parse_node_config(fat_read(counter, "/qms/node.toml").decode())
    assert (node.role, node.client_id, node.location) == ("counter", "counter-02", "Quầy 2")
    # Its token names its counter: the display serves that one, and the hub lets it rate that one's tickets.
    identity = authority.verify(fat_read(counter, "/qms/device.token").decode().strip())
    assert (identity.role, identity.client_id, identity.counter_id) == ("counter", "counter-02", 2)
    assert device_env(counter)["QMS_ROLE"] == "counter"
    assert "/qms/systemd/qms-counter.service" in fat_listing(counter)
    assert "counter-02 (counter)" in done.stdout and "client id counter-02, counter 2" in done.stdout

    tv = out / "tv-001.img"
    node = parse_node_config(fat_read(tv, "/qms/node.toml").decode())
    assert (node.role, node.client_id) == ("tv", "tv-main")
    identity = authority.verify(fat_read(tv, "/qms/device.token").decode().strip())
    assert (identity.role, identity.client_id) == ("tv", "tv-main")
    assert device_env(tv)["QMS_WIFI_SSID"] == ""

    hub = out / "hub-01.img"
    hub_files = fat_listing(hub)
    assert fat_read(hub, "/qms/tls/hub.crt") == (site / "tls/hub.crt").read_bytes()
    assert fat_read(hub, "/qms/tls/hub.key") == (site / "tls/hub.key").read_bytes()
    assert fat_read(hub, "/qms/token-secret") == (site / "hub-data/token-secret").read_bytes()
    assert "/qms/device.token" not in hub_files and "/qms/node.toml" not in hub_files
    names = flash_module().certificate_names(site / "tls/hub.crt")
    assert {"DNS:hub-01", "DNS:hub-01.local", "IP:192.168.1.10"} <= names
    # Secrets only where they are needed.
    for image in (kiosk, tv, counter):
        files = fat_listing(image)
        assert "/qms/tls/hub.key" not in files and "/qms/token-secret" not in files


def test_one_image_reused_in_place(workshop):
    image = workshop["image"]
    assert flash(workshop, "--fleet", workshop["fleet"], "--only", "hub-01", "--in-place").returncode == 0
    assert "/qms/token-secret" in fat_listing(image)
    done = flash(workshop, "--fleet", workshop["fleet"], "--only", "kiosk-001", "--in-place")
    assert done.returncode == 0, done.stderr
    assert device_env(image)["QMS_HOSTNAME"] == "kiosk-001"
    files = fat_listing(image)
    assert "/qms/token-secret" not in files and "/qms/tls/hub.key" not in files, "nothing left from the hub"
    assert fat_read(image, "/cmdline.txt").decode().split() == PI_CMDLINE.split() + FIRSTRUN
    done = flash(workshop, "--fleet", workshop["fleet"], "--only", "tv-001", "--in-place")
    assert parse_node_config(fat_read(image, "/qms/node.toml").decode()).client_id == "tv-main"
    assert fat_read(image, "/cmdline.txt").decode().split() == PI_CMDLINE.split() + FIRSTRUN


def test_one_device_from_the_command_line(workshop):
    assert flash(workshop, "--fleet", workshop["fleet"], "--only", "hub-01",
                 "--out-dir", workshop["dir"] / "images").returncode == 0
    target = workshop["dir"] / "kiosk-009.img"
    done = flash(workshop, "--hostname", "kiosk-009", "--role", "kiosk", "--hub", "192.168.1.10",
                 "--location", "Quầy 9", "--out", target)
    assert done.returncode == 0, done.stderr
    node = parse_node_config(fat_read(target, "/qms/node.toml").decode())
    assert node.hub_url == "wss://192.168.1.10:3001/ws" and node.client_id == "kiosk-009"
    assert node.kiosk.printer == "virtual:/var/lib/qms-kiosk/tickets"


def test_a_hub_address_missing_from_the_certificate_is_refused(workshop):
    assert flash(workshop, "--fleet", workshop["fleet"], "--only", "hub-01", "--in-place").returncode == 0
    done = flash(workshop, "--hostname", "kiosk-002", "--role", "kiosk", "--hub", "10.9.9.9",
                 "--out", workshop["dir"] / "k2.img")
    assert done.returncode == 2 and "does not name '10.9.9.9'" in done.stderr


@pytest.mark.parametrize("row, message", [
    ("Kiosk_1,kiosk,hub.local,,,,,", "hostname must be lowercase"),
    ("kiosk-002,printer,hub.local,,,,,", "role must be hub, kiosk, tv or counter"),
    ("counter-09,counter,hub.local,,,,,", "a counter display needs its counter's id (column counter_id"),
    ("counter-09,counter,hub.local,,,,,,first", "a counter display needs its counter's id"),
    ("kiosk-002,kiosk,hub.local,,,,,,3", "counter_id is for counter displays only"),
    ("kiosk-002,kiosk,,,,,,", "the hub's address is missing"),
    ("kiosk-002,kiosk,hub.local,,,HALL,short,", "a WPA password has 8 to 63 characters"),
    ("kiosk-001,kiosk,hub.local,,,,,", "hostname kiosk-001 appears twice"),
])
def test_a_bad_fleet_file_is_refused_before_anything_is_written(workshop, row, message):
    workshop["fleet"].write_text(FLEET + row + "\n", encoding="utf-8")
    out = workshop["dir"] / "images"
    done = flash(workshop, "--fleet", workshop["fleet"], "--out-dir", out)
    assert done.returncode == 2 and message in done.stderr
    assert not out.exists() or not any(out.iterdir())


def without_cmdline(image: Path) -> Path:
    """A copy of the image whose boot partition has no cmdline.txt: a FAT partition, but not Raspberry Pi OS's."""
    copy = image.with_name("no-cmdline.img")
    shutil.copy(image, copy)
    run_ok([shutil.which("mdel") or "mdel", "-i", fat_spec(copy), "::/cmdline.txt"], env=mtools_env())
    return copy


def not_an_image(image: Path) -> Path:
    notes = image.with_name("notes.img")
    notes.write_text("not a disk image\n")
    return notes


def not_xz(image: Path) -> Path:
    fake = image.with_name("fake.img.xz")
    fake.write_bytes(b"PK\x03\x04 a zip file, not xz")
    return fake


def xz_without_cmdline(image: Path) -> Path:
    plain = without_cmdline(image)
    packed = plain.with_name(plain.name + ".xz")
    packed.write_bytes(lzma.compress(plain.read_bytes(), preset=0))
    return packed


@pytest.mark.parametrize("make_bad, message", [
    (not_an_image, "no MBR partition table"),
    (without_cmdline, "the boot partition has no cmdline.txt"),
    (not_xz, "not a readable .xz file"),
    # Only its partition table can be checked before decompressing: its copy is checked, then removed.
    (xz_without_cmdline, "the boot partition has no cmdline.txt"),
], ids=["not-an-image", "no-cmdline", "not-xz", "xz-no-cmdline"])
@pytest.mark.parametrize("out", ["--out-dir", "--out"])
def test_a_bad_base_image_is_named_and_nothing_is_left_behind(workshop, make_bad, message, out):
    bad = make_bad(workshop["image"])
    before = sha256(bad)
    workshop["image"] = bad
    images = workshop["dir"] / "images"
    if out == "--out-dir":
        done = flash(workshop, "--fleet", workshop["fleet"], "--out-dir", images)
    else:
        images.mkdir()
        done = flash(workshop, "--hostname", "hub-01", "--role", "hub", "--out", images / "hub-01.img")
    assert done.returncode == 2
    assert done.stderr == f"flash.py: {bad}: {message}" + done.stderr.split(message, 1)[1], done.stderr
    assert "images" not in done.stderr, "the output is not the culprit"
    assert not images.exists() or not any(images.iterdir()), "no half-made image left"
    assert sha256(bad) == before


def test_a_bad_image_is_refused_in_place_before_it_is_changed(workshop):
    bad = without_cmdline(workshop["image"])
    before = sha256(bad)
    workshop["image"] = bad
    done = flash(workshop, "--fleet", workshop["fleet"], "--only", "hub-01", "--in-place")
    assert done.returncode == 2 and f"flash.py: {bad}: the boot partition has no cmdline.txt" in done.stderr
    assert sha256(bad) == before
    assert not (workshop["site"] / "tls" / "hub.crt").exists(), "refused before anything was made"


@pytest.mark.slow  # installs the device from the card into a staging root: about 10 s
def test_first_boot_installs_the_device_from_the_card(workshop):
    """The card's qms/ folder, as the Pi would find it, run through firstboot.sh into a staging root."""
    require_tool("systemd-sysusers")
    out = workshop["dir"] / "images"
    assert flash(workshop, "--fleet", workshop["fleet"], "--out-dir", out).returncode == 0
    image = out / "kiosk-001.img"
    card = fat_extract(image, "/qms", workshop["dir"] / "card")
    token = (card / "device.token").read_text()
    root = make_staging_root(workshop["dir"] / "root")
    env = {**os.environ, "QMS_BOOT_DIR": str(card), "QMS_TARGET_ROOT": str(root)}
    done = run(["bash", card / "firstboot.sh"], env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (root / "etc/qms/node.toml").read_text() == fat_read(image, "/qms/node.toml").decode()
    assert (root / "etc/qms/device.token").read_text() == token
    assert (root / "etc/qms/site-ca.crt").read_bytes() == (workshop["site"] / "ca/site-ca.crt").read_bytes()
    assert "NTP=hub-01.local" in (root / "etc/systemd/timesyncd.conf.d/qms.conf").read_text()
    assert os.readlink(root / "etc/systemd/system/multi-user.target.wants/qms-kiosk.service") \
        == "/etc/systemd/system/qms-kiosk.service"
    # The secrets are gone from the card; the first boot will not run again.
    left = {p.name for p in card.iterdir()}
    assert not left & {"device.token", "device.env", "firstboot.sh"}
    assert "firstboot.done" in left


def test_flash_scripts_are_the_repository_s(workshop):
    out = workshop["dir"] / "images"
    assert flash(workshop, "--fleet", workshop["fleet"], "--only", "hub-01", "--out-dir", out).returncode == 0
    image = out / "hub-01.img"
    for name in ("install.sh", "qms-lib.sh", "update.sh", "diagnose.py", "firstboot.sh"):
        assert fat_read(image, f"/qms/deploy/{name}") == (DEPLOY / name).read_bytes()
    for unit in ("qms-hub.service", "qms-sysusers.conf"):
        assert fat_read(image, f"/qms/systemd/{unit}") == (REPO / "systemd" / unit).read_bytes()
