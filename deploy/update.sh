#!/usr/bin/env bash
# qms-update: install a new wheelhouse on this device, restart its service, and go back
# to the previous release if the service does not become ready.
#
#   sudo qms-update --wheelhouse /media/usb/wheelhouse
#   sudo qms-update --rollback            # back to the release before the current one
#
# Each wheelhouse becomes its own venv, /opt/qms/releases/<version>-<digest>; /opt/qms/venv
# is a symlink to the running one and is switched in one rename. The unit is Type=notify,
# so `systemctl restart` returns only once the program said READY=1 (or failed); the
# release must then stay up, without a restart, for --settle seconds.
set -euo pipefail

HERE=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
# shellcheck source=deploy/qms-lib.sh
. "$HERE/qms-lib.sh"

usage() {
    cat <<'EOF'
usage: qms-update --wheelhouse DIR [--role hub|kiosk|tv|counter] [--settle SECONDS] [--keep N] [--force]
       qms-update --rollback

  --wheelhouse DIR   wheels from 'make wheelhouse'
  --role ROLE        default: the one in /etc/qms/role
  --settle SECONDS   how long the new release must stay up after READY=1 (default 15)
  --keep N           releases kept on disk, the running one included (default 3)
  --force            reinstall even if this wheelhouse is the running release
  --rollback         switch back to the previous release and restart
  --root DIR         operate on a staging folder (tests; set QMS_SYSTEMCTL to a stand-in)
EOF
}

ROOT=/
WHEELHOUSE=
ROLE=
SETTLE=15
KEEP=3
FORCE=0
ROLLBACK=0
while [ "$#" -gt 0 ]; do
    case "$1" in
        --wheelhouse) WHEELHOUSE=${2:?--wheelhouse needs a folder}; shift 2 ;;
        --role) ROLE=${2:?--role needs a value}; shift 2 ;;
        --settle) SETTLE=${2:?--settle needs seconds}; shift 2 ;;
        --keep) KEEP=${2:?--keep needs a number}; shift 2 ;;
        --root) ROOT=${2:?--root needs a folder}; shift 2 ;;
        --force) FORCE=1; shift ;;
        --rollback) ROLLBACK=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option $1" ;;
    esac
done
ROOT=$(cd "$ROOT" && pwd)
[[ "$SETTLE" =~ ^[0-9]+$ ]] || die "--settle takes whole seconds"
if ! [[ "$KEEP" =~ ^[0-9]+$ ]] || [ "$KEEP" -lt 2 ]; then
    die "--keep takes a number >= 2 (the running release and one to go back to)"
fi
if on_live_system && [ "$(id -u)" != 0 ]; then die "run as root (sudo)"; fi
if [ -z "$ROLE" ]; then
    [ -f "$(in_root /etc/qms/role)" ] || die "no /etc/qms/role: give --role"
    ROLE=$(cat "$(in_root /etc/qms/role)")
fi
role_extras "$ROLE" >/dev/null
UNIT="qms-$ROLE.service"
# The tests put a stand-in here; on a device it is systemctl.
read -r -a SYSTEMCTL <<<"${QMS_SYSTEMCTL:-systemctl}"

restarts() { "${SYSTEMCTL[@]}" show --property=NRestarts --value "$UNIT" 2>/dev/null || echo 0; }

# Restart the unit on the release /opt/qms/venv points at; true if it came up and stayed up.
restart_and_check() {
    local before
    say "Restarting $UNIT on $(current_release)"
    if ! "${SYSTEMCTL[@]}" restart "$UNIT"; then
        say "  $UNIT did not become ready"
        return 1
    fi
    before=$(restarts)
    if [ "$SETTLE" -gt 0 ]; then sleep "$SETTLE"; fi
    if ! "${SYSTEMCTL[@]}" is-active --quiet "$UNIT"; then
        say "  $UNIT stopped within ${SETTLE}s of becoming ready"
        return 1
    fi
    if [ "$(restarts)" != "$before" ]; then
        say "  $UNIT restarted by itself within ${SETTLE}s of becoming ready"
        return 1
    fi
    say "  $UNIT is ready on $(current_release)"
}

previous_release() {
    local link
    link=$(in_root /opt/qms/previous)
    if [ -L "$link" ]; then basename "$(readlink "$link")"; fi
}

# Delete old releases, newest kept, never the running or the previous one.
prune() {
    local current previous kept_count=2 rel name
    current=$(current_release)
    previous=$(previous_release)
    while read -r rel; do
        name=$(basename "$rel")
        if [ "$name" = "$current" ] || [ "$name" = "$previous" ]; then continue; fi
        if [ "$kept_count" -lt "$KEEP" ]; then kept_count=$((kept_count + 1)); continue; fi
        rm -rf "$rel"
        say "  removed old release $name"
    done < <(find "$(in_root /opt/qms/releases)" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %p\n' | sort -rn | cut -d' ' -f2-)
}

CURRENT=$(current_release)
[ -n "$CURRENT" ] || die "nothing installed yet: run install.sh first"

if [ "$ROLLBACK" = 1 ]; then
    PREVIOUS=$(previous_release)
    if [ -z "$PREVIOUS" ] || [ ! -f "$(in_root "/opt/qms/releases/$PREVIOUS/.qms-release")" ]; then
        die "no previous release to go back to"
    fi
    switch_release "$PREVIOUS"
    ensure_symlink "releases/$CURRENT" /opt/qms/previous
    restart_and_check || die "$UNIT is not ready on $PREVIOUS either: see journalctl -u $UNIT"
    say "Rolled back from $CURRENT to $PREVIOUS."
    exit 0
fi

if [ -z "$WHEELHOUSE" ]; then usage >&2; die "--wheelhouse is required"; fi
[ -d "$WHEELHOUSE" ] || die "no such folder: $WHEELHOUSE"
NEW=$(release_id "$WHEELHOUSE")
if [ "$NEW" = "$CURRENT" ] && [ "$FORCE" = 0 ]; then
    say "Already running $CURRENT: nothing to do."
    exit 0
fi

OLD_PREVIOUS=$(previous_release)
say "Updating $UNIT: $CURRENT -> $NEW"
install_release "$WHEELHOUSE" "$ROLE"
switch_release "$NEW"
if [ "$NEW" != "$CURRENT" ]; then ensure_symlink "releases/$CURRENT" /opt/qms/previous; fi
if restart_and_check; then
    prune
    say "Updated to $NEW (previous: $CURRENT; 'qms-update --rollback' goes back)."
    exit 0
fi

say "Going back to $CURRENT"
switch_release "$CURRENT"
if [ -n "$OLD_PREVIOUS" ]; then
    ensure_symlink "releases/$OLD_PREVIOUS" /opt/qms/previous
else
    rm -f "$(in_root /opt/qms/previous)"
fi
if restart_and_check; then
    say "Update to $NEW FAILED; $CURRENT is running again. See: journalctl -u $UNIT -b"
else
    say "Update to $NEW FAILED, and $CURRENT did not come back either. See: journalctl -u $UNIT -b"
fi
exit 1
