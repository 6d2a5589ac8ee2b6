"""deploy/install.sh into a staging root (--root): files, owners, modes, units enabled; a second run changes nothing.

The staging root starts as a fresh Raspberry Pi OS would: its passwd/group (with the
gpio group), a cmdline.txt. install.sh builds a real venv there with a real pip from
a small wheelhouse (no network), makes the users with systemd-sysusers --root and
enables the unit with systemctl --root (which only writes symlinks). Debian packages
are only listed under --root; nothing is started.
"""

from __future__ import annotations

import configparser
import os
import shutil
import stat
from pathlib import Path

import pytest
import trustme
from support.deploy import (
    DEPLOY,
    PI_CMDLINE,
    REPO,
    SYSTEMD,
    group_members,
    ids,
    make_staging_root,
    make_wheelhouse,
    manifest,
    require_tool,
    run,
    run_ok,
)

from appliance.node_config import parse_node_config

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoia2lvc2sifQ.c2lnbmF0dXJl"
WANTS = "etc/systemd/system/multi-user.target.wants"
# The tests that build a venv in the staging root take about 10 s each: not in make test-fast.
slow = pytest.mark.slow


@pytest.fixture(autouse=True)
def tools():
    for name in ("systemd-sysusers", "systemctl"):
        require_tool(name)


@pytest.fixture
def inputs(tmp_path) -> dict[str, Path]:
    folder = tmp_path / "inputs"
    folder.mkdir()
    ca = trustme.CA()
    cert = ca.issue_cert("hub.local", "192.168.1.10")
    files = {
        "token": folder / "device.token",
        "ca": folder / "site-ca.crt",
        "cert": folder / "hub.crt",
        "key": folder / "hub.key",
        "secret": folder / "token-secret",
        "voice": folder / "vi_VN-test-medium.onnx",
    }
    files["token"].write_text(TOKEN + "\n")
    ca.cert_pem.write_to_path(str(files["ca"]))
    cert.cert_chain_pems[0].write_to_path(str(files["cert"]))
    cert.private_key_pem.write_to_path(str(files["key"]))
    files["secret"].write_text("ab" * 64 + "\n")
    files["voice"].write_bytes(b"onnx model bytes")
    Path(str(files["voice"]) + ".json").write_text('{"audio": {"sample_rate": 22050}}')
    files["wheelhouse"] = make_wheelhouse(tmp_path / "wheelhouse")
    return files


def install(root: Path, *args) -> str:
    done = run_ok(["bash", DEPLOY / "install.sh", "--root", root, *args])
    return done.stdout


def kiosk_args(inputs, *extra) -> list:
    return ["--role", "kiosk", "--wheelhouse", inputs["wheelhouse"], "--hub-url", "wss://hub.local:3001/ws",
            "--client-id", "kiosk-001", "--location", 'Sảnh "A" \\ tầng 1', "--printer", "usb:0x04b8:0x0202",
            "--token-file", inputs["token"], "--ca-file", inputs["ca"], "--ntp-server", "hub.local", *extra]


def mode_owner(path: Path) -> tuple[int, int, int]:
    st = path.lstat()
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid


@slow
def test_kiosk(tmp_path, inputs):
    root = make_staging_root(tmp_path / "root")
    out = install(root, *kiosk_args(inputs))
    groups = ids(root, "group")
    node_gid = groups["qms-node"]

    # Settings, with the owners and modes the service user needs and no more.
    node = parse_node_config((root / "etc/qms/node.toml").read_text(), "node.toml")
    assert (node.role, node.hub_url, node.client_id) == ("kiosk", "wss://hub.local:3001/ws", "kiosk-001")
    assert node.location == 'Sảnh "A" \\ tầng 1'
    assert node.ca_file == "/etc/qms/site-ca.crt" and node.token_file == "/etc/qms/device.token"
    assert node.kiosk.printer == "usb:0x04b8:0x0202"
    assert mode_owner(root / "etc/qms/node.toml") == (0o640, 0, node_gid)
    assert (root / "etc/qms/device.token").read_text() == TOKEN + "\n"
    assert mode_owner(root / "etc/qms/device.token") == (0o640, 0, node_gid)
    assert (root / "etc/qms/site-ca.crt").read_bytes() == inputs["ca"].read_bytes()
    assert mode_owner(root / "etc/qms/site-ca.crt") == (0o644, 0, 0)
    assert (root / "etc/qms/role").read_text() == "kiosk\n"

    # Users: the service user in every group its unit names; Raspberry Pi OS's ids untouched.
    assert groups["gpio"] == 993 and groups["video"] == 44
    members = group_members(root)
    for group in ("video", "render", "input", "audio", "gpio", "lp", "dialout"):
        assert "qms-node" in members[group]
    assert "qms" in ids(root, "passwd") and "qms-node" in ids(root, "passwd")

    # The unit, enabled the way systemctl enable does it; tty1's login prompt masked.
    assert (root / "etc/systemd/system/qms-kiosk.service").read_text() == (SYSTEMD / "qms-kiosk.service").read_text()
    assert os.readlink(root / WANTS / "qms-kiosk.service") == "/etc/systemd/system/qms-kiosk.service"
    assert sorted(p.name for p in (root / WANTS).iterdir()) == ["qms-kiosk.service"]
    assert os.readlink(root / "etc/systemd/system/getty@tty1.service") == "/dev/null"

    # Printer rule, time from the hub, console settings.
    rule = root / "etc/udev/rules.d/70-qms-printer.rules"
    assert rule.read_text() == (DEPLOY / "files/70-qms-printer.rules").read_text()
    assert mode_owner(rule) == (0o644, 0, 0)
    timesyncd = configparser.ConfigParser()
    timesyncd.read(root / "etc/systemd/timesyncd.conf.d/qms.conf")
    assert timesyncd["Time"]["NTP"] == "hub.local"
    cmdline = (root / "boot/firmware/cmdline.txt").read_text()
    assert cmdline.count("\n") == 1
    params = cmdline.split()
    assert params[:-2] == [p for p in PI_CMDLINE.split() if not p.startswith("consoleblank=")]
    assert params[-2:] == ["consoleblank=0", "vt.global_cursor_default=0"]

    # The program: a venv from the wheelhouse, reached through the /opt/qms/venv symlink.
    release = os.readlink(root / "opt/qms/venv")
    assert release.startswith("releases/0.1.0-")
    assert (root / "opt/qms" / release / ".qms-release").read_text() == f"{release.split('/')[1]} kiosk\n"
    done = run_ok([root / "opt/qms/venv/bin/qms-kiosk", "--check"])
    assert done.stdout.startswith("stand-in")
    assert os.readlink(root / "usr/local/bin/qms-diagnose") == "/opt/qms/deploy/diagnose.py"
    assert mode_owner(root / "opt/qms/deploy/update.sh") == (0o755, 0, 0)

    packages = (root / "var/lib/qms-install/debian-packages").read_text().split()
    for package in ("libsdl2-2.0-0", "fonts-noto-core", "fonts-dejavu-core", "python3-lgpio", "python3-venv"):
        assert package in packages
    assert "chrony" not in packages and "Done:" in out


@slow
def test_tv_with_a_piper_voice(tmp_path, inputs):
    root = make_staging_root(tmp_path / "root")
    install(root, "--role", "tv", "--wheelhouse", inputs["wheelhouse"], "--hub-url", "wss://10.0.0.2:3001/ws",
            "--client-id", "tv-001", "--token-file", inputs["token"], "--ca-file", inputs["ca"],
            "--voice", inputs["voice"], "--ntp-server", "10.0.0.2")
    voices = root / "opt/qms/voices"
    assert (voices / "vi_VN-test-medium.onnx").read_bytes() == b"onnx model bytes"
    assert (voices / "vi_VN-test-medium.onnx.json").exists()
    node = parse_node_config((root / "etc/qms/node.toml").read_text())
    assert node.role == "tv" and node.tv.voice == "/opt/qms/voices/vi_VN-test-medium.onnx"
    assert sorted(p.name for p in (root / WANTS).iterdir()) == ["qms-tv.service"]
    assert not (root / "etc/udev/rules.d/70-qms-printer.rules").exists()
    assert "espeak-ng" in (root / "var/lib/qms-install/debian-packages").read_text().split()


@slow
def test_tv_without_a_voice_names_where_to_get_one(tmp_path, inputs):
    root = make_staging_root(tmp_path / "root")
    out = install(root, "--role", "tv", "--wheelhouse", inputs["wheelhouse"], "--hub-url", "wss://hub.local:3001/ws",
                  "--client-id", "tv-001")
    assert "https://huggingface.co/rhasspy/piper-voices/resolve/main/vi/vi_VN/" in out
    assert not (root / "opt/qms/voices").exists()
    assert "voice" not in (root / "etc/qms/node.toml").read_text()


@slow
def test_counter_display(tmp_path, inputs):
    root = make_staging_root(tmp_path / "root")
    out = install(root, "--role", "counter", "--wheelhouse", inputs["wheelhouse"], "--hub-url",
                  "wss://hub.local:3001/ws", "--client-id", "counter-02", "--location", "Quầy 2",
                  "--token-file", inputs["token"], "--ca-file", inputs["ca"], "--ntp-server", "hub.local")
    node = parse_node_config((root / "etc/qms/node.toml").read_text(), "node.toml")
    assert (node.role, node.client_id, node.location) == ("counter", "counter-02", "Quầy 2")
    assert node.counter.state_dir == "/var/lib/qms-counter"
    node_gid = ids(root, "group")["qms-node"]
    assert mode_owner(root / "etc/qms/node.toml") == (0o640, 0, node_gid)
    assert mode_owner(root / "etc/qms/device.token") == (0o640, 0, node_gid)
    assert (root / "etc/qms/role").read_text() == "counter\n"
    assert (root / "etc/systemd/system/qms-counter.service").read_text() == \
        (SYSTEMD / "qms-counter.service").read_text()
    assert sorted(p.name for p in (root / WANTS).iterdir()) == ["qms-counter.service"]
    assert os.readlink(root / "etc/systemd/system/getty@tty1.service") == "/dev/null"
    release = os.readlink(root / "opt/qms/venv")
    # The venv carries the counter extra, and its command.
    assert (root / "opt/qms" / release / ".qms-release").read_text() == f"{release.split('/')[1]} counter\n"
    assert run_ok([root / "opt/qms/venv/bin/qms-counter", "--check"]).stdout.startswith("stand-in")
    # No printer rule, no voice; the screen's libraries and GPIO.
    assert not (root / "etc/udev/rules.d/70-qms-printer.rules").exists()
    packages = (root / "var/lib/qms-install/debian-packages").read_text().split()
    assert {"libsdl2-2.0-0", "fonts-dejavu-core", "python3-lgpio"} <= set(packages)
    assert "espeak-ng" not in packages and "chrony" not in packages
    assert "Done:" in out
    # A kiosk made a counter display: the kiosk's unit goes.
    install(root, *kiosk_args(inputs))
    install(root, "--role", "counter", "--hub-url", "wss://hub.local:3001/ws", "--client-id", "counter-02")
    assert sorted(p.name for p in (root / WANTS).iterdir()) == ["qms-counter.service"]


@slow
def test_hub(tmp_path, inputs):
    root = make_staging_root(tmp_path / "root")
    install(root, "--role", "hub", "--wheelhouse", inputs["wheelhouse"], "--tls-cert", inputs["cert"],
            "--tls-key", inputs["key"], "--token-secret", inputs["secret"], "--ca-file", inputs["ca"],
            "--ntp-allow", "192.168.1.0/24")
    qms_gid, qms_uid = ids(root, "group")["qms"], ids(root, "passwd")["qms"]
    # No site file given: the sample from the installed package, to edit.
    assert (root / "etc/qms/site.toml").read_bytes() == (REPO / "hub/sample_site.toml").read_bytes()
    assert mode_owner(root / "etc/qms/site.toml") == (0o640, 0, qms_gid)
    assert mode_owner(root / "etc/qms/tls") == (0o750, 0, qms_gid)
    assert mode_owner(root / "etc/qms/tls/hub.key") == (0o640, 0, qms_gid)
    assert (root / "etc/qms/tls/hub.crt").read_bytes() == inputs["cert"].read_bytes()
    hub_env = (root / "etc/qms/hub.env").read_text()
    assert "QMS_HUB_ARGS=--tls-cert /etc/qms/tls/hub.crt --tls-key /etc/qms/tls/hub.key" in hub_env.splitlines()
    assert mode_owner(root / "var/lib/qms") == (0o700, qms_uid, qms_gid)
    assert mode_owner(root / "var/lib/qms/token-secret") == (0o600, qms_uid, qms_gid)
    chrony = (root / "etc/chrony/conf.d/qms-hub.conf").read_text().splitlines()
    assert "allow 192.168.1.0/24" in chrony and "local stratum 10" in chrony
    assert sum(line.startswith("allow") for line in chrony) == 1
    assert sorted(p.name for p in (root / WANTS).iterdir()) == ["qms-hub.service"]
    # The hub draws nothing: its console and tty1 are left alone.
    assert (root / "boot/firmware/cmdline.txt").read_text() == PI_CMDLINE
    assert not (root / "etc/systemd/system/getty@tty1.service").exists()
    packages = (root / "var/lib/qms-install/debian-packages").read_text().split()
    assert "chrony" in packages and "libsdl2-2.0-0" not in packages


@slow
@pytest.mark.parametrize("role", ["kiosk", "tv", "hub", "counter"])
def test_a_second_run_changes_nothing(tmp_path, inputs, role):
    root = make_staging_root(tmp_path / "root")
    if role == "hub":
        args = ["--role", "hub", "--wheelhouse", inputs["wheelhouse"], "--tls-cert", inputs["cert"],
                "--tls-key", inputs["key"], "--token-secret", inputs["secret"], "--ca-file", inputs["ca"]]
    elif role == "tv":
        args = ["--role", "tv", "--wheelhouse", inputs["wheelhouse"], "--hub-url", "wss://hub.local:3001/ws",
                "--client-id", "tv-001", "--token-file", inputs["token"], "--voice", inputs["voice"],
                "--ca-file", inputs["ca"], "--ntp-server", "hub.local"]
    elif role == "counter":
        args = ["--role", "counter", "--wheelhouse", inputs["wheelhouse"], "--hub-url", "wss://hub.local:3001/ws",
                "--client-id", "counter-02", "--token-file", inputs["token"], "--ca-file", inputs["ca"]]
    else:
        args = kiosk_args(inputs)
    first = install(root, *args)
    before = manifest(root)
    second = install(root, *args)
    after = manifest(root)
    changed = {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}
    assert not changed, f"the second run changed {sorted(changed)}"
    assert "Done: 0 changes." in second and "Done: 0 changes." not in first
    assert " + " not in second


@slow
def test_hand_edits_survive_and_a_new_token_replaces_the_old(tmp_path, inputs):
    root = make_staging_root(tmp_path / "root")
    install(root, *kiosk_args(inputs))
    edited = (root / "etc/qms/node.toml").read_text() + "\n[kiosk.gpio]\nstatus_led = 17\n"
    (root / "etc/qms/node.toml").write_text(edited)
    inputs["token"].write_text("a.renewed.token\n")
    out = install(root, *kiosk_args(inputs))
    assert (root / "etc/qms/node.toml").read_text() == edited
    assert (root / "etc/qms/device.token").read_text() == "a.renewed.token\n"
    assert "wrote /etc/qms/device.token" in out and "Done: 1 changes." in out


@slow
def test_a_new_role_replaces_the_old_one(tmp_path, inputs):
    root = make_staging_root(tmp_path / "root")
    install(root, *kiosk_args(inputs))
    install(root, "--role", "tv", "--hub-url", "wss://hub.local:3001/ws", "--client-id", "tv-001")
    assert sorted(p.name for p in (root / WANTS).iterdir()) == ["qms-tv.service"]
    assert (root / "etc/qms/role").read_text() == "tv\n"


@slow
def test_the_installed_units_verify_in_the_staging_root(tmp_path, inputs):
    """ExecStart=/opt/qms/venv/bin/qms-kiosk resolves through the installed venv symlink."""
    root = make_staging_root(tmp_path / "root")
    install(root, *kiosk_args(inputs))
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    done = run([require_tool("systemd-analyze"), "verify", f"--root={root}", "qms-kiosk.service"])
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr


@pytest.mark.parametrize("args, message", [
    (["--role", "printer"], "--role must be hub, kiosk, tv or counter"),
    ([], "--role is required"),
    (["--role", "kiosk", "--hub-url", "wss://hub.local:3001/ws"], "no program installed yet"),
    (["--role", "kiosk", "--token-file", "/nonexistent/token"], "no such file: /nonexistent/token"),
    (["--role", "hub", "--tls-cert", "/etc/hostname"], "--tls-cert and --tls-key go together"),
    (["--role", "kiosk", "--bogus"], "unknown option --bogus"),
])
def test_bad_arguments_are_refused(tmp_path, args, message):
    root = make_staging_root(tmp_path / "root")
    done = run(["bash", DEPLOY / "install.sh", "--root", root, *args])
    assert done.returncode != 0 and message in done.stderr
    assert not (root / "etc/qms").exists()


@pytest.mark.parametrize("present", [(), ("passwd",), ("group",)], ids=["empty", "no-group", "no-passwd"])
def test_a_staging_root_without_the_devices_users_says_what_it_needs(tmp_path, present):
    root = tmp_path / "stage"
    (root / "etc").mkdir(parents=True)
    for name in present:
        (root / "etc" / name).write_text("root:x:0:0::/root:/bin/bash\n" if name == "passwd" else "root:x:0:\n")
    done = run(["bash", DEPLOY / "install.sh", "--root", root, "--role", "tv"])
    missing = "etc/group" if present == ("passwd",) else "etc/passwd"
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip() == (f"error: --root {root} has no {missing}: a staging root is the device's root "
                                   "file system (e.g. a copy of the image's root partition), with at least its "
                                   "etc/passwd and etc/group")
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == \
        sorted(["etc", *(f"etc/{name}" for name in present)]), "nothing written"


@slow
def test_a_node_needs_its_hub_address(tmp_path, inputs):
    root = make_staging_root(tmp_path / "root")
    done = run(["bash", DEPLOY / "install.sh", "--root", root, "--role", "kiosk", "--wheelhouse",
                inputs["wheelhouse"]])
    assert done.returncode != 0 and "--hub-url" in done.stderr
    assert not (root / "etc/qms/node.toml").exists()
