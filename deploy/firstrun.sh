#!/bin/bash
# Runs once, early in a device's first boot, before the network: deploy/flash.py puts it
# on the boot partition and adds "systemd.run=/boot/firmware/firstrun.sh
# systemd.run_success_action=reboot systemd.unit=kernel-command-line.target" to
# cmdline.txt, the mechanism Raspberry Pi Imager uses on Bookworm.
#
# It sets the hostname, the technician's account and SSH key, Wi-Fi and the time zone
# from qms/device.env, enables qms-firstboot.service (the install, at the next boot,
# with the network up), removes the Wi-Fi password and the password hash from the boot
# partition, then removes itself and its kernel parameters. Whatever fails is logged
# (/var/log/qms-firstrun.log, copied to qms/firstrun.log on the boot partition, which a
# laptop can read) and the device still boots normally.
set -u

BOOT=/boot/firmware
QMS=$BOOT/qms
LOG=/var/log/qms-firstrun.log
IMAGER=/usr/lib/raspberrypi-sys-mods/imager_custom
USERCONF=/usr/lib/userconf-pi/userconf

exec >>"$LOG" 2>&1
step() { echo "qms firstrun: $*"; }

# shellcheck disable=SC2317  # run by the EXIT trap
finish() {
    sed -i -e 's| systemd\.run=[^ ]*||g' -e 's| systemd\.run_success_action=[^ ]*||g' \
        -e 's| systemd\.unit=kernel-command-line\.target||g' "$BOOT/cmdline.txt"
    rm -f "$BOOT/firstrun.sh"
    cp "$LOG" "$QMS/firstrun.log" 2>/dev/null
    sync
}
trap finish EXIT

step "started $(date -Is)"
# shellcheck source=/dev/null
. "$QMS/device.env"

step "hostname $QMS_HOSTNAME"
if [ -x "$IMAGER" ]; then
    "$IMAGER" set_hostname "$QMS_HOSTNAME"
else
    old=$(tr -d ' \t\r\n' </etc/hostname)
    echo "$QMS_HOSTNAME" >/etc/hostname
    sed -i "s/^127\.0\.1\.1.*$old\$/127.0.1.1\t$QMS_HOSTNAME/" /etc/hosts
fi

step "account $QMS_USER"
if [ -x "$USERCONF" ]; then
    # Raspberry Pi OS: renames the first user (uid 1000) and skips the interactive
    # "create a user" prompt that would otherwise wait on the console.
    "$USERCONF" "$QMS_USER" "$QMS_PASSWORD_HASH"
else
    id "$QMS_USER" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash --groups sudo,adm "$QMS_USER"
    echo "$QMS_USER:$QMS_PASSWORD_HASH" | chpasswd --encrypted
fi

if [ -n "$QMS_SSH_KEYS" ]; then
    step "SSH with key only"
    mapfile -t keys <<<"$QMS_SSH_KEYS"
    if [ -x "$IMAGER" ]; then
        "$IMAGER" enable_ssh -k "${keys[@]}"
    else
        home=$(getent passwd "$QMS_USER" | cut -d: -f6)
        install -d -m 700 -o "$QMS_USER" -g "$QMS_USER" "$home/.ssh"
        printf '%s\n' "${keys[@]}" >>"$home/.ssh/authorized_keys"
        chown "$QMS_USER:$QMS_USER" "$home/.ssh/authorized_keys"
        chmod 600 "$home/.ssh/authorized_keys"
        sed -i 's/^#\?PasswordAuthentication .*/PasswordAuthentication no/' /etc/ssh/sshd_config
        systemctl enable ssh
    fi
fi

if [ -n "$QMS_WIFI_SSID" ]; then
    step "Wi-Fi $QMS_WIFI_SSID ($QMS_WIFI_COUNTRY)"
    if [ -x "$IMAGER" ]; then
        # Sets the regulatory country (Wi-Fi stays blocked without one) and writes a
        # NetworkManager connection.
        "$IMAGER" set_wlan "$QMS_WIFI_SSID" "$QMS_WIFI_PSK" "$QMS_WIFI_COUNTRY"
    else
        conn=/etc/NetworkManager/system-connections/qms-wifi.nmconnection
        {
            printf '[connection]\nid=qms-wifi\nuuid=%s\ntype=wifi\n' "$(cat /proc/sys/kernel/random/uuid)"
            printf '[wifi]\nmode=infrastructure\nssid=%s\n' "$QMS_WIFI_SSID"
            if [ -n "$QMS_WIFI_PSK" ]; then printf '[wifi-security]\nkey-mgmt=wpa-psk\npsk=%s\n' "$QMS_WIFI_PSK"; fi
            printf '[ipv4]\nmethod=auto\n[ipv6]\nmethod=auto\n'
        } >"$conn"
        # NetworkManager ignores connection files others can read.
        chmod 600 "$conn"
        if command -v raspi-config >/dev/null; then
            raspi-config nonint do_wifi_country "$QMS_WIFI_COUNTRY"
        else
            rfkill unblock wifi
        fi
    fi
fi

step "time zone $QMS_TIMEZONE"
if [ -x "$IMAGER" ]; then
    "$IMAGER" set_timezone "$QMS_TIMEZONE"
else
    ln -sf "/usr/share/zoneinfo/$QMS_TIMEZONE" /etc/localtime
    echo "$QMS_TIMEZONE" >/etc/timezone
fi

step "install at the next boot (qms-firstboot.service)"
install -m 644 "$QMS/systemd/qms-firstboot.service" /etc/systemd/system/qms-firstboot.service
mkdir -p /etc/systemd/system/multi-user.target.wants
ln -sf /etc/systemd/system/qms-firstboot.service /etc/systemd/system/multi-user.target.wants/qms-firstboot.service

# The boot partition is FAT, readable by anyone who holds the card: what is set now goes.
sed -i -e '/^QMS_WIFI_PSK=/d' -e '/^QMS_PASSWORD_HASH=/d' "$QMS/device.env"
step "done $(date -Is)"
# A non-zero exit would leave the device in kernel-command-line.target instead of rebooting.
exit 0
