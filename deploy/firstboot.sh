#!/bin/bash
# Run by qms-firstboot.service at the first normal boot (network up): installs the device
# from the files deploy/flash.py put in /boot/firmware/qms, then takes the secrets off the
# boot partition, disables itself and reboots into the installed hub, kiosk or TV.
# On failure nothing is removed and the service runs again at the next boot.
#
# For tests: QMS_BOOT_DIR (default /boot/firmware/qms) and QMS_TARGET_ROOT (default /;
# another folder installs into it with install.sh --root, and nothing is disabled or rebooted).
set -euo pipefail

QMS=${QMS_BOOT_DIR:-/boot/firmware/qms}
TARGET=${QMS_TARGET_ROOT:-/}

# shellcheck source=/dev/null
. "$QMS/device.env"

args=(--role "$QMS_ROLE")
if [ "$TARGET" != / ]; then args+=(--root "$TARGET"); fi
if [ -d "$QMS/wheelhouse" ]; then args+=(--wheelhouse "$QMS/wheelhouse"); fi
if [ -d "$QMS/debs" ]; then args+=(--debs "$QMS/debs"); fi
if [ -f "$QMS/site-ca.crt" ]; then args+=(--ca-file "$QMS/site-ca.crt"); fi
if [ "$QMS_ROLE" = hub ]; then
    if [ -f "$QMS/site.toml" ]; then args+=(--site-config "$QMS/site.toml"); fi
    if [ -f "$QMS/tls/hub.key" ]; then args+=(--tls-cert "$QMS/tls/hub.crt" --tls-key "$QMS/tls/hub.key"); fi
    if [ -f "$QMS/token-secret" ]; then args+=(--token-secret "$QMS/token-secret"); fi
else
    if [ -f "$QMS/node.toml" ]; then args+=(--node-config "$QMS/node.toml"); fi
    if [ -f "$QMS/device.token" ]; then args+=(--token-file "$QMS/device.token"); fi
    if [ -n "${QMS_HUB_HOST:-}" ]; then args+=(--ntp-server "$QMS_HUB_HOST"); fi
    shopt -s nullglob
    for voice in "$QMS"/voice/*.onnx; do args+=(--voice "$voice"); done
    shopt -u nullglob
fi

echo "qms firstboot: install.sh ${args[*]}"
bash "$QMS/deploy/install.sh" "${args[@]}"

# Installed: the secrets leave the FAT partition (any local user can read it).
rm -f "$QMS/device.token" "$QMS/token-secret" "$QMS/tls/hub.key" "$QMS/device.env"
mv -f "$QMS/firstboot.sh" "$QMS/firstboot.done"
echo "qms firstboot: done"
if [ "$TARGET" = / ]; then
    systemctl disable qms-firstboot.service
    # New kernel parameters (console blanking) and a clean start of the installed service.
    systemctl --no-block reboot
fi
