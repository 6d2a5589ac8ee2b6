# shellcheck shell=bash
# Helpers shared by install.sh and update.sh (sourced, never run).
#
# Every writer here compares before it writes, so running a script twice changes
# nothing the second time (and an SD card is not worn by rewriting equal files).
# Paths are given as they are on the device (/etc/qms/...); $ROOT is put in front,
# so `--root DIR` installs into a staging folder instead of the running system.

ROOT=${ROOT:-/}
# How many things the current run changed; scripts print it at the end.
QMS_CHANGES=0

say() { printf '%s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
changed() { QMS_CHANGES=$((QMS_CHANGES + 1)); say "  + $*"; }
kept() { say "  = $*"; }

# The path of a device path inside $ROOT.
in_root() {
    if [ "$ROOT" = / ]; then printf '%s' "$1"; else printf '%s%s' "${ROOT%/}" "$1"; fi
}

on_live_system() { [ "$ROOT" = / ]; }

# Numeric ids from the target's own passwd/group files (a staging root has its own).
uid_of() {
    if [ "$1" = root ]; then echo 0; return; fi
    local id
    id=$(awk -F: -v n="$1" '$1 == n { print $3; exit }' "$(in_root /etc/passwd)" 2>/dev/null || true)
    [ -n "$id" ] || die "no user $1 in $(in_root /etc/passwd)"
    echo "$id"
}

gid_of() {
    if [ "$1" = root ]; then echo 0; return; fi
    local id
    id=$(awk -F: -v n="$1" '$1 == n { print $3; exit }' "$(in_root /etc/group)" 2>/dev/null || true)
    [ -n "$id" ] || die "no group $1 in $(in_root /etc/group)"
    echo "$id"
}

can_chown() { [ "$(id -u)" = 0 ]; }

# ensure_owner_mode PATH MODE USER GROUP: fix what differs; true if something changed.
# Owners are set only when running as root (a staging install by a user keeps its own).
ensure_owner_mode() {
    local path=$1 mode=$2 user=$3 group=$4 want_owner fixed=1
    if [ "$(stat -c '%a' "$path")" != "${mode#0}" ]; then
        chmod "$mode" "$path"
        fixed=0
    fi
    if can_chown; then
        want_owner="$(uid_of "$user"):$(gid_of "$group")"
        if [ "$(stat -c '%u:%g' "$path")" != "$want_owner" ]; then
            chown "$want_owner" "$path"
            fixed=0
        fi
    fi
    return "$fixed"
}

# ensure_dir DEVICE_PATH MODE USER GROUP
ensure_dir() {
    local dest
    dest=$(in_root "$1")
    if [ ! -d "$dest" ]; then
        mkdir -p "$dest"
        ensure_owner_mode "$dest" "$2" "$3" "$4" || true
        changed "made $1"
    elif ensure_owner_mode "$dest" "$2" "$3" "$4"; then
        changed "fixed owner/mode of $1"
    fi
}

# install_file SOURCE DEVICE_PATH MODE USER GROUP
# Replaces the destination (atomically: write aside, then rename) only if its bytes differ.
install_file() {
    local src=$1 dest tmp
    dest=$(in_root "$2")
    mkdir -p "$(dirname "$dest")"
    if [ -f "$dest" ] && [ ! -L "$dest" ] && cmp -s "$src" "$dest"; then
        if ensure_owner_mode "$dest" "$3" "$4" "$5"; then
            changed "fixed owner/mode of $2"
        else
            kept "$2"
        fi
        return 0
    fi
    tmp="$dest.qms-new.$$"
    cp "$src" "$tmp"
    ensure_owner_mode "$tmp" "$3" "$4" "$5" || true
    mv -f "$tmp" "$dest"
    changed "wrote $2"
}

# install_file_if_absent SOURCE DEVICE_PATH MODE USER GROUP: for files people edit by hand.
install_file_if_absent() {
    if [ -e "$(in_root "$2")" ]; then
        kept "$2 (exists; edit it by hand, it is never overwritten)"
        return 0
    fi
    install_file "$@"
}

# write_file DEVICE_PATH MODE USER GROUP < content
write_file() {
    local tmp
    tmp=$(mktemp)
    cat >"$tmp"
    install_file "$tmp" "$@"
    rm -f "$tmp"
}

# ensure_symlink TARGET DEVICE_PATH: (re)point a symlink atomically, only if it differs.
ensure_symlink() {
    local target=$1 link
    link=$(in_root "$2")
    if [ -L "$link" ] && [ "$(readlink "$link")" = "$target" ]; then
        kept "$2 -> $target"
        return 0
    fi
    mkdir -p "$(dirname "$link")"
    ln -sfn "$target" "$link.qms-new.$$"
    mv -Tf "$link.qms-new.$$" "$link"
    changed "linked $2 -> $target"
}

# --- releases: one virtual environment per wheelhouse under /opt/qms/releases ---------------

# The qms-hall wheel of a wheelhouse (exactly one).
project_wheel() {
    local wheels=()
    shopt -s nullglob
    wheels=("$1"/qms_hall-*.whl)
    shopt -u nullglob
    [ "${#wheels[@]}" -eq 1 ] || die "$1 must hold exactly one qms_hall-*.whl (found ${#wheels[@]}); build it with 'make wheelhouse'"
    printf '%s' "${wheels[0]}"
}

# A release id: the project's version and a digest of every file in the wheelhouse,
# so a rebuilt wheelhouse with the same version number is still a new release.
release_id() {
    local wheel version digest
    wheel=$(project_wheel "$1")
    version=$(basename "$wheel" | cut -d- -f2)
    digest=$(cd "$1" && find . -maxdepth 1 -type f -name '*.whl' -printf '%f\n' | LC_ALL=C sort \
        | while read -r name; do sha256sum "$name"; done | sha256sum | cut -c1-12)
    printf '%s-%s' "$version" "$digest"
}

role_extras() {
    case "$1" in
        hub) echo hub ;;
        kiosk) echo kiosk ;;
        tv) echo tv ;;
        counter) echo counter ;;
        *) die "unknown role $1" ;;
    esac
}

# install_release WHEELHOUSE ROLE: make /opt/qms/releases/<id> unless it is complete
# already; sets RELEASE_ID.
RELEASE_ID=
install_release() {
    local wheelhouse=$1 role=$2 rel marker want python=${PYTHON:-python3}
    RELEASE_ID=$(release_id "$wheelhouse")
    rel=$(in_root "/opt/qms/releases/$RELEASE_ID")
    marker="$rel/.qms-release"
    want="$RELEASE_ID $(role_extras "$role")"
    if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ]; then
        kept "/opt/qms/releases/$RELEASE_ID"
        return 0
    fi
    # A venv bakes its own path into its scripts, so it is built where it will run; it
    # counts as installed only once the marker is written, after pip succeeded.
    rm -rf "$rel"
    mkdir -p "$(dirname "$rel")"
    # System site packages: python3-lgpio comes from Debian (GPIO on the Pi 5).
    "$python" -m venv --system-site-packages "$rel"
    # --ignore-installed: everything else comes from the wheelhouse, never from Debian's
    # python3-* packages, so an apt upgrade cannot change what the hall runs.
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$rel/bin/python" -m pip install --quiet \
        --no-index --no-cache-dir --ignore-installed --find-links "$wheelhouse" "qms-hall[$(role_extras "$role")]"
    printf '%s\n' "$want" >"$marker"
    changed "installed /opt/qms/releases/$RELEASE_ID from $wheelhouse"
}

# switch_release ID: point /opt/qms/venv at releases/ID in one rename (a service
# starting at that instant sees the old release or the new one, never neither).
switch_release() {
    ensure_symlink "releases/$1" /opt/qms/venv
}

# The release /opt/qms/venv points at ("" if none).
current_release() {
    local link
    link=$(in_root /opt/qms/venv)
    if [ -L "$link" ]; then basename "$(readlink "$link")"; fi
}
