#!/usr/bin/env bash
# Make this Raspberry Pi the hub, a kiosk, a TV or a counter display of the queue hall.
#
# Runs at first boot (qms-firstboot.service calls it through qms/firstboot.sh on the
# boot partition) or by hand over SSH. Safe to run twice: every step compares before
# it writes, and the second run reports "0 changes".
#
#   sudo ./install.sh --role kiosk --wheelhouse DIR --node-config node.toml \
#        --token-file device.token --ca-file site-ca.crt --ntp-server hub.local
#   sudo ./install.sh --role hub --wheelhouse DIR --tls-cert hub.crt --tls-key hub.key \
#        --token-secret token-secret --ca-file site-ca.crt
#   ./install.sh --root /tmp/stage --role tv ...     # into a staging folder: no apt, no systemctl
#
# Run with --help for every option.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The repository (or the qms/ folder of the boot partition): deploy/ and systemd/ side by side.
SOURCE=$(cd "$HERE/.." && pwd)
# shellcheck source=deploy/qms-lib.sh
. "$HERE/qms-lib.sh"

# Where the piper Vietnamese voice can be downloaded, for halls with internet.
VOICE_URL_BASE="https://huggingface.co/rhasspy/piper-voices/resolve/main/vi/vi_VN/vais1000/medium"
VOICE_NAME="vi_VN-vais1000-medium"

usage() {
    cat <<'EOF'
usage: install.sh --role hub|kiosk|tv|counter [options]

  --root DIR            install into DIR (a staging folder) instead of /; Debian packages are
                        only listed and no service is started. DIR is the device's root file
                        system: it needs at least the device's etc/passwd and etc/group
  --wheelhouse DIR      wheels from 'make wheelhouse': the venv is built from them, offline
  --debs DIR            install Debian packages from these .deb files instead of the network

 kiosk, TV and counter display:
  --node-config FILE    /etc/qms/node.toml to install (kept if one exists already)
  --hub-url URL         or: write node.toml from these (wss://hub.local:3001/ws) ...
  --client-id ID        ... the device id (kiosk-001) ...
  --location TEXT       ... where it stands ...
  --printer URL         ... and the kiosk's printer (usb:VID:PID, file:/dev/usb/lp0, ...)
  --token-file FILE     the device token (from 'qms-hub token'); replaced when it differs
  --ntp-server HOST     take the time from this host (the hub)
  --voice FILE.onnx     the TV's piper voice (its .onnx.json must sit beside it)

 hub:
  --site-config FILE    /etc/qms/site.toml to install (kept if one exists; default: the sample)
  --tls-cert FILE       the hub's certificate and key (deploy/site_ca.sh hub-cert)
  --tls-key FILE
  --token-secret FILE   the site's token secret (the devices' tokens are signed with it)
  --ntp-allow CIDR      a subnet the hub serves time to (repeatable; default: private ranges)

 all:
  --ca-file FILE        the site CA certificate (deploy/site_ca.sh init)
  --no-start            enable the service but do not start it now
EOF
}

ROOT=/
ROLE=
WHEELHOUSE=
DEBS=
NODE_CONFIG=
HUB_URL=
CLIENT_ID=
LOCATION=
PRINTER=
TOKEN_FILE=
NTP_SERVER=
VOICE=
SITE_CONFIG=
TLS_CERT=
TLS_KEY=
TOKEN_SECRET=
NTP_ALLOW=()
CA_FILE=
START=1

need_value() { if [ "$#" -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value"; fi; }
while [ "$#" -gt 0 ]; do
    case "$1" in
        --root) need_value "$@"; ROOT=$2; shift 2 ;;
        --role) need_value "$@"; ROLE=$2; shift 2 ;;
        --wheelhouse) need_value "$@"; WHEELHOUSE=$2; shift 2 ;;
        --debs) need_value "$@"; DEBS=$2; shift 2 ;;
        --node-config) need_value "$@"; NODE_CONFIG=$2; shift 2 ;;
        --hub-url) need_value "$@"; HUB_URL=$2; shift 2 ;;
        --client-id) need_value "$@"; CLIENT_ID=$2; shift 2 ;;
        --location) need_value "$@"; LOCATION=$2; shift 2 ;;
        --printer) need_value "$@"; PRINTER=$2; shift 2 ;;
        --token-file) need_value "$@"; TOKEN_FILE=$2; shift 2 ;;
        --ntp-server) need_value "$@"; NTP_SERVER=$2; shift 2 ;;
        --voice) need_value "$@"; VOICE=$2; shift 2 ;;
        --site-config) need_value "$@"; SITE_CONFIG=$2; shift 2 ;;
        --tls-cert) need_value "$@"; TLS_CERT=$2; shift 2 ;;
        --tls-key) need_value "$@"; TLS_KEY=$2; shift 2 ;;
        --token-secret) need_value "$@"; TOKEN_SECRET=$2; shift 2 ;;
        --ntp-allow) need_value "$@"; NTP_ALLOW+=("$2"); shift 2 ;;
        --ca-file) need_value "$@"; CA_FILE=$2; shift 2 ;;
        --no-start) START=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option $1" ;;
    esac
done

case "$ROLE" in
    hub|kiosk|tv|counter) ;;
    "") usage >&2; die "--role is required" ;;
    *) die "--role must be hub, kiosk, tv or counter (not $ROLE)" ;;
esac
[ -d "$ROOT" ] || die "--root $ROOT is not a folder"
ROOT=$(cd "$ROOT" && pwd)
if ! on_live_system; then
    # The users and groups are added to the target's own files, and every owner is looked up there.
    for file in /etc/passwd /etc/group; do
        [ -f "$(in_root "$file")" ] || die "--root $ROOT has no ${file#/}: a staging root is the device's root" \
            "file system (e.g. a copy of the image's root partition), with at least its etc/passwd and etc/group"
    done
fi
if on_live_system && [ "$(id -u)" != 0 ]; then
    die "run as root (sudo), or give --root DIR for a staging install"
fi
for file in "$NODE_CONFIG" "$TOKEN_FILE" "$VOICE" "$SITE_CONFIG" "$TLS_CERT" "$TLS_KEY" "$TOKEN_SECRET" "$CA_FILE"; do
    [ -z "$file" ] || [ -f "$file" ] || die "no such file: $file"
done
[ -z "$WHEELHOUSE" ] || [ -d "$WHEELHOUSE" ] || die "no such folder: $WHEELHOUSE"
[ -z "$DEBS" ] || [ -d "$DEBS" ] || die "no such folder: $DEBS"
if [ -n "$TLS_CERT$TLS_KEY" ] && { [ -z "$TLS_CERT" ] || [ -z "$TLS_KEY" ]; }; then
    die "--tls-cert and --tls-key go together"
fi
UNIT="qms-$ROLE.service"

say "Installing the queue hall $ROLE into $ROOT"

# --- 1. Debian packages ------------------------------------------------------------------------
debian_packages() {
    # python3-venv: the venv; alsa-utils (aplay), usbutils (lsusb), curl: qms-diagnose.
    local common=(python3-venv ca-certificates curl)
    # SDL2 with KMS/DRM (libgbm, EGL/GLES from Mesa), fonts with every Vietnamese letter.
    local screen=(libsdl2-2.0-0 libsdl2-ttf-2.0-0 libsdl2-image-2.0-0 libgbm1 libegl1 libgles2
        fonts-dejavu-core fonts-noto-core alsa-utils)
    case "$ROLE" in
        hub) printf '%s\n' "${common[@]}" chrony sqlite3 ;;
        kiosk) printf '%s\n' "${common[@]}" "${screen[@]}" python3-lgpio libusb-1.0-0 usbutils ;;
        tv) printf '%s\n' "${common[@]}" "${screen[@]}" libsdl2-mixer-2.0-0 espeak-ng ;;
        # The counter display: a touchscreen, and gpiozero's lgpio for its optional rating buttons.
        counter) printf '%s\n' "${common[@]}" "${screen[@]}" python3-lgpio ;;
    esac
}

say "Debian packages"
mapfile -t PACKAGES < <(debian_packages)
if on_live_system; then
    missing=()
    for pkg in "${PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$pkg")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        kept "all ${#PACKAGES[@]} packages installed"
    elif [ -n "$DEBS" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$DEBS"/*.deb
        changed "installed ${missing[*]} from $DEBS"
    else
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
        changed "installed ${missing[*]}"
    fi
else
    # A staging root has no dpkg of its own: only list what the device needs.
    printf '%s\n' "${PACKAGES[@]}" | write_file /var/lib/qms-install/debian-packages 0644 root root
fi

# --- 2. Users -------------------------------------------------------------------------------
say "Users"
install_file "$SOURCE/systemd/qms-sysusers.conf" /etc/sysusers.d/qms.conf 0644 root root
if command -v systemd-sysusers >/dev/null; then
    before=$(cat "$(in_root /etc/passwd)" "$(in_root /etc/group)" 2>/dev/null | sha256sum)
    systemd-sysusers --root="$ROOT" "$(in_root /etc/sysusers.d/qms.conf)" >/dev/null
    after=$(cat "$(in_root /etc/passwd)" "$(in_root /etc/group)" | sha256sum)
    if [ "$before" = "$after" ]; then kept "users qms, qms-node"; else changed "added users/groups from qms.conf"; fi
else
    on_live_system && die "systemd-sysusers is missing (is this Raspberry Pi OS?)"
    say "  ! systemd-sysusers not found: users not made in $ROOT"
fi

# --- 3. The program: a venv under /opt/qms from the wheelhouse ---------------------------------
say "Program"
ensure_dir /opt/qms 0755 root root
if [ -n "$WHEELHOUSE" ]; then
    install_release "$WHEELHOUSE" "$ROLE"
    switch_release "$RELEASE_ID"
elif [ -z "$(current_release)" ]; then
    die "no program installed yet: give --wheelhouse DIR (made by 'make wheelhouse')"
else
    kept "/opt/qms/venv -> releases/$(current_release) (no --wheelhouse given)"
fi
VENV_PYTHON=$(in_root /opt/qms/venv/bin/python)
# The technician's tools, kept on the device: qms-update and qms-diagnose.
for tool in qms-lib.sh update.sh diagnose.py; do
    install_file "$HERE/$tool" "/opt/qms/deploy/$tool" 0755 root root
done
if [ -f "$SOURCE/docs/technician.md" ]; then
    install_file "$SOURCE/docs/technician.md" /opt/qms/deploy/docs/technician.md 0644 root root
fi
ensure_symlink /opt/qms/deploy/update.sh /usr/local/sbin/qms-update
ensure_symlink /opt/qms/deploy/diagnose.py /usr/local/bin/qms-diagnose

# --- 4. Settings --------------------------------------------------------------------------------
say "Settings"
ensure_dir /etc/qms 0755 root root
printf '%s\n' "$ROLE" | write_file /etc/qms/role 0644 root root
if [ -n "$CA_FILE" ]; then
    install_file "$CA_FILE" /etc/qms/site-ca.crt 0644 root root
fi

# A TOML basic string ("..."): backslash and double quote escaped; control characters refused.
toml_string() {
    if [[ "$1" =~ [[:cntrl:]] ]]; then die "control character in setting: $1"; fi
    local s=${1//\\/\\\\}
    printf '"%s"' "${s//\"/\\\"}"
}

node_toml() {
    [ -n "$HUB_URL" ] || die "give --node-config FILE, or --hub-url (and --client-id) to write one"
    [ -n "$CLIENT_ID" ] || die "--client-id is required with --hub-url"
    printf 'role = %s\n' "$(toml_string "$ROLE")"
    printf 'hub_url = %s\n' "$(toml_string "$HUB_URL")"
    printf 'token_file = "/etc/qms/device.token"\n'
    printf 'client_id = %s\n' "$(toml_string "$CLIENT_ID")"
    printf 'location = %s\n' "$(toml_string "$LOCATION")"
    if [ -n "$CA_FILE" ]; then printf 'ca_file = "/etc/qms/site-ca.crt"\n'; fi
    if [ "$ROLE" = kiosk ]; then
        printf '\n[kiosk]\nprinter = %s\n' "$(toml_string "${PRINTER:-virtual:/var/lib/qms-kiosk/tickets}")"
    fi
    if [ "$ROLE" = tv ] && [ -n "$VOICE" ]; then
        printf '\n[tv]\nvoice = %s\n' "$(toml_string "/opt/qms/voices/$(basename "$VOICE")")"
    fi
}

if [ "$ROLE" = hub ]; then
    if [ -n "$SITE_CONFIG" ]; then
        install_file_if_absent "$SITE_CONFIG" /etc/qms/site.toml 0640 root qms
    elif [ ! -e "$(in_root /etc/qms/site.toml)" ]; then
        # The sample site shipped inside the installed package: a start to edit.
        sample=$(mktemp)
        PYTHONDONTWRITEBYTECODE=1 "$VENV_PYTHON" -c \
            'import importlib.resources, sys; sys.stdout.write(importlib.resources.files("hub").joinpath("sample_site.toml").read_text(encoding="utf-8"))' \
            >"$sample"
        install_file "$sample" /etc/qms/site.toml 0640 root qms
        rm -f "$sample"
        say "  ! /etc/qms/site.toml is the SAMPLE site: edit its counters and procedures"
    else
        kept "/etc/qms/site.toml (exists; edit it by hand, it is never overwritten)"
    fi
    if [ -n "$TLS_CERT" ]; then
        ensure_dir /etc/qms/tls 0750 root qms
        install_file "$TLS_CERT" /etc/qms/tls/hub.crt 0644 root qms
        install_file "$TLS_KEY" /etc/qms/tls/hub.key 0640 root qms
        printf '%s\n' '# Extra arguments for qms-hub serve (read by qms-hub.service).' \
            'QMS_HUB_ARGS=--tls-cert /etc/qms/tls/hub.crt --tls-key /etc/qms/tls/hub.key' |
            write_file /etc/qms/hub.env 0644 root root
    elif [ ! -e "$(in_root /etc/qms/hub.env)" ]; then
        say "  ! no --tls-cert: the hub serves plain ws:// until /etc/qms/hub.env names a certificate"
    fi
    if [ -n "$TOKEN_SECRET" ]; then
        # The site folder on the technician's laptop signs the devices' tokens with this
        # secret, so the hub must hold the same one.
        ensure_dir /var/lib/qms 0700 qms qms
        install_file "$TOKEN_SECRET" /var/lib/qms/token-secret 0600 qms qms
    fi
else
    if [ -n "$NODE_CONFIG" ]; then
        install_file_if_absent "$NODE_CONFIG" /etc/qms/node.toml 0640 root qms-node
    elif [ -e "$(in_root /etc/qms/node.toml)" ]; then
        kept "/etc/qms/node.toml (exists; edit it by hand, it is never overwritten)"
    else
        # Made first, written second: a refused setting leaves no half-written file behind.
        settings=$(node_toml)
        printf '%s\n' "$settings" | write_file /etc/qms/node.toml 0640 root qms-node
    fi
    if [ -n "$TOKEN_FILE" ]; then
        install_file "$TOKEN_FILE" /etc/qms/device.token 0640 root qms-node
    elif [ ! -e "$(in_root /etc/qms/device.token)" ]; then
        if [ "$ROLE" = counter ]; then hint="--client-id ... --counter-id N"; else hint="--client-id ..."; fi
        say "  ! no device token yet: put one from 'qms-hub token --role $ROLE $hint' in /etc/qms/device.token"
    fi
fi

# --- 5. Time: the hub serves NTP, devices take their time from it ------------------------------
say "Time"
if [ "$ROLE" = hub ]; then
    [ "${#NTP_ALLOW[@]}" -gt 0 ] || NTP_ALLOW=(10.0.0.0/8 172.16.0.0/12 192.168.0.0/16)
    {
        echo '# The hall'\''s time server (deploy/install.sh). A Raspberry Pi has no clock battery'
        echo '# and a hall may have no internet: the devices set their clocks from the hub.'
        for net in "${NTP_ALLOW[@]}"; do echo "allow $net"; done
        echo '# Keep serving when no upstream server is reachable.'
        echo 'local stratum 10'
    } | write_file /etc/chrony/conf.d/qms-hub.conf 0644 root root
    # qms-hub.service waits for time-sync.target: a Pi has no clock battery and must not open the
    # service day with an old date. systemd-time-wait-sync delays that target until the kernel clock
    # is synchronized; bounded here, for a hall with no internet (chrony then never synchronizes):
    # the hub starts anyway, and a clock put right later is not taken for midnight (hub/day_clock.py).
    printf '%s\n' '# Installed by deploy/install.sh: wait for the time, but not for ever.' '[Service]' \
        'TimeoutStartSec=2min' |
        write_file /etc/systemd/system/systemd-time-wait-sync.service.d/qms.conf 0644 root root
    if on_live_system; then
        if systemctl --quiet is-enabled systemd-time-wait-sync.service 2>/dev/null; then
            kept "systemd-time-wait-sync.service enabled"
        else
            systemctl --quiet enable systemd-time-wait-sync.service
            changed "enabled systemd-time-wait-sync.service"
        fi
    else
        # What systemctl enable makes (its [Install] is WantedBy=sysinit.target).
        ensure_symlink /lib/systemd/system/systemd-time-wait-sync.service \
            /etc/systemd/system/sysinit.target.wants/systemd-time-wait-sync.service
    fi
elif [ -n "$NTP_SERVER" ]; then
    printf '%s\n' '# Take the time from the hall'\''s hub (deploy/install.sh).' '[Time]' \
        "NTP=$NTP_SERVER" 'FallbackNTP=' |
        write_file /etc/systemd/timesyncd.conf.d/qms.conf 0644 root root
else
    kept "timesyncd (no --ntp-server given)"
fi

# --- 6. Devices: printer, voice, console ---------------------------------------------------------
if [ "$ROLE" = kiosk ]; then
    say "Printer"
    install_file "$HERE/files/70-qms-printer.rules" /etc/udev/rules.d/70-qms-printer.rules 0644 root root
fi
if [ "$ROLE" = tv ]; then
    say "Voice"
    if [ -n "$VOICE" ]; then
        [ -f "$VOICE.json" ] || die "$VOICE.json is missing (a piper voice is a .onnx and its .onnx.json)"
        ensure_dir /opt/qms/voices 0755 root root
        install_file "$VOICE" "/opt/qms/voices/$(basename "$VOICE")" 0644 root root
        install_file "$VOICE.json" "/opt/qms/voices/$(basename "$VOICE").json" 0644 root root
    else
        say "  ! no --voice: the TV speaks with espeak-ng. Where there is internet, fetch the piper voice:"
        say "      $VOICE_URL_BASE/$VOICE_NAME.onnx"
        say "      $VOICE_URL_BASE/$VOICE_NAME.onnx.json"
        say "    and run again with --voice $VOICE_NAME.onnx (then set tv.voice in /etc/qms/node.toml)"
    fi
fi
REBOOT_NEEDED=0
if [ "$ROLE" != hub ]; then
    say "Console"
    # No screen blanking and no blinking cursor: the kiosk and TV draw on the console.
    cmdline=
    for candidate in /boot/firmware/cmdline.txt /boot/cmdline.txt; do
        if [ -f "$(in_root "$candidate")" ]; then cmdline=$candidate; break; fi
    done
    if [ -z "$cmdline" ]; then
        say "  ! no cmdline.txt in /boot/firmware or /boot (not a Raspberry Pi?): console left as it is"
    else
        read -r -a params <"$(in_root "$cmdline")"
        wanted=()
        for param in "${params[@]}"; do
            case "$param" in consoleblank=*|vt.global_cursor_default=*) ;; *) wanted+=("$param") ;; esac
        done
        wanted+=(consoleblank=0 vt.global_cursor_default=0)
        if [ "${params[*]}" = "${wanted[*]}" ]; then
            kept "$cmdline"
        else
            # The boot partition is FAT: no owners or modes to set. cmdline.txt is one line.
            printf '%s\n' "${wanted[*]}" >"$(in_root "$cmdline").qms-new"
            mv -f "$(in_root "$cmdline").qms-new" "$(in_root "$cmdline")"
            changed "set consoleblank=0 vt.global_cursor_default=0 in $cmdline"
            REBOOT_NEEDED=1
        fi
    fi
    # The kiosk/TV owns tty1 (Conflicts= in its unit); masking the login prompt there
    # keeps boot from starting both. A console login stays on tty2 (Ctrl+Alt+F2).
    ensure_symlink /dev/null /etc/systemd/system/getty@tty1.service
fi

# --- 7. The service -------------------------------------------------------------------------------
say "Service"
install_file "$SOURCE/systemd/$UNIT" "/etc/systemd/system/$UNIT" 0644 root root
# Only one role per device: a re-provisioned device drops the others.
for other in qms-hub.service qms-kiosk.service qms-tv.service qms-counter.service; do
    [ "$other" = "$UNIT" ] && continue
    if [ -L "$(in_root "/etc/systemd/system/multi-user.target.wants/$other")" ]; then
        if on_live_system; then systemctl disable --now "$other"; else
            rm -f "$(in_root "/etc/systemd/system/multi-user.target.wants/$other")"
        fi
        changed "disabled $other"
    fi
done
wants=/etc/systemd/system/multi-user.target.wants/$UNIT
if [ -L "$(in_root "$wants")" ]; then
    kept "$UNIT enabled"
elif on_live_system; then
    systemctl daemon-reload
    systemctl --quiet enable "$UNIT"
    changed "enabled $UNIT"
elif command -v systemctl >/dev/null; then
    # Offline: systemctl --root only makes the [Install] symlinks.
    systemctl --root="$ROOT" --quiet enable "$UNIT" 2>/dev/null
    changed "enabled $UNIT"
else
    ensure_symlink "/etc/systemd/system/$UNIT" "$wants"
fi
# The hub's monthly report (docs/reports.md): last month's Excel file in /var/lib/qms-reports on the 1st.
report_timer=/etc/systemd/system/timers.target.wants/qms-report.timer
if [ "$ROLE" = hub ]; then
    install_file "$SOURCE/systemd/qms-report.service" /etc/systemd/system/qms-report.service 0644 root root
    install_file "$SOURCE/systemd/qms-report.timer" /etc/systemd/system/qms-report.timer 0644 root root
    ensure_symlink /etc/systemd/system/qms-report.timer "$report_timer"
elif [ -L "$(in_root "$report_timer")" ]; then
    if on_live_system; then systemctl stop qms-report.timer || true; fi
    rm -f "$(in_root "$report_timer")"
    changed "disabled qms-report.timer"
fi

if on_live_system; then
    if [ "$QMS_CHANGES" -gt 0 ]; then
        systemctl daemon-reload
        if [ "$ROLE" = kiosk ]; then
            # A printer plugged in before the rule existed gets the new group now.
            udevadm control --reload || true
            udevadm trigger --subsystem-match=usb || true
        fi
        if [ "$ROLE" = hub ]; then systemctl restart chrony.service || true; else
            systemctl restart systemd-timesyncd.service || true; fi
    fi
    # Enabled by its symlink above; started now rather than at the next boot.
    if [ "$ROLE" = hub ]; then systemctl start qms-report.timer || true; fi
    if [ "$START" = 1 ]; then
        # Type=notify: this returns once the service says READY=1, or fails.
        if [ "$QMS_CHANGES" -gt 0 ]; then systemctl restart "$UNIT"; else systemctl start "$UNIT"; fi
        systemctl --no-pager --lines=0 status "$UNIT" || true
    fi
fi

say "Done: $QMS_CHANGES changes."
if [ "$REBOOT_NEEDED" = 1 ] && on_live_system; then
    say "Reboot once for the console settings in $cmdline to take effect."
fi
