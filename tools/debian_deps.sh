#!/usr/bin/env bash
# Install the Debian packages given as arguments that are not installed yet (`make deps`).
#
#   tools/debian_deps.sh PACKAGE...
#
# Quick when nothing is missing: one dpkg-query, no apt-get. Otherwise `apt-get update` and
# `apt-get install` of the missing ones only: as root directly, else through sudo when there is
# one; with neither, one line saying what to install, and exit status 1.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 PACKAGE..." >&2
    exit 2
fi
if ! command -v dpkg-query >/dev/null; then
    echo "make deps: not a Debian system (no dpkg-query), nothing installed: the tests use $*" >&2
    exit 0
fi

declare -A installed=()
while read -r package status; do
    [ "$status" = "install ok installed" ] && installed[$package]=1
done < <(dpkg-query -W -f='${Package} ${Status}\n' "$@" 2>/dev/null || true)
missing=()
for package in "$@"; do
    [ -n "${installed[$package]:-}" ] || missing+=("$package")
done
[ "${#missing[@]}" -gt 0 ] || exit 0

if [ "$(id -u)" = 0 ]; then
    apt() { DEBIAN_FRONTEND=noninteractive apt-get "$@"; }
elif command -v sudo >/dev/null; then
    apt() { sudo DEBIAN_FRONTEND=noninteractive apt-get "$@"; }
else
    echo "make deps: missing Debian packages and no root or sudo to install them; as root run:" \
        "apt-get install ${missing[*]}" >&2
    exit 1
fi
echo "make deps: installing ${missing[*]}"
if ! apt update -qq || ! apt install -y -qq --no-install-recommends --no-upgrade "${missing[@]}" >/dev/null; then
    echo "make deps: apt-get could not install ${missing[*]}" >&2
    exit 1
fi
