#!/usr/bin/env bash
# The site's own certificate authority: made once per site, on the technician's laptop.
#
#   deploy/site_ca.sh init SITE_DIR [--name "Trung tâm Phục vụ hành chính công tỉnh"]
#   deploy/site_ca.sh hub-cert SITE_DIR --dns hub --dns hub.local --ip 192.168.1.10
#   deploy/site_ca.sh show SITE_DIR
#
# SITE_DIR/ca/site-ca.crt    the CA certificate: every device trusts this one only
# SITE_DIR/ca/site-ca.key    the CA key: stays in SITE_DIR, never on a device
# SITE_DIR/tls/hub.crt       the hub's certificate, for the names and addresses devices use
# SITE_DIR/tls/hub.key       its key: goes onto the hub only
#
# Both commands are safe to run again: init keeps an existing CA; hub-cert keeps a
# certificate that already has exactly the requested names and is not about to expire.
set -euo pipefail

die() { printf 'error: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }

[ "$#" -ge 2 ] || { usage >&2; exit 2; }
COMMAND=$1
SITE=$2
shift 2
NAME="Queue hall"
CA_DAYS=3650
HUB_DAYS=1825
DNS=()
IPS=()
FORCE=0
while [ "$#" -gt 0 ]; do
    case "$1" in
        --name) NAME=${2:?--name needs a value}; shift 2
            case "$NAME" in */*) die "--name cannot hold a slash" ;; esac ;;
        --days) HUB_DAYS=${2:?--days needs a number}; CA_DAYS=$HUB_DAYS; shift 2 ;;
        --dns) DNS+=("${2:?--dns needs a name}"); shift 2 ;;
        --ip) IPS+=("${2:?--ip needs an address}"); shift 2 ;;
        --force) FORCE=1; shift ;;
        *) usage >&2; die "unknown option $1" ;;
    esac
done
command -v openssl >/dev/null || die "openssl is not installed (Debian package openssl)"

CA_CRT=$SITE/ca/site-ca.crt
CA_KEY=$SITE/ca/site-ca.key
HUB_CRT=$SITE/tls/hub.crt
HUB_KEY=$SITE/tls/hub.key
# Keys are made readable by their owner only.
umask 077

# The names a certificate is valid for, one per line, sorted: "DNS:hub.local", "IP:192.168.1.10".
names_of() {
    openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null |
        tail -n +2 | tr ',' '\n' | sed 's/^ *//; s/IP Address:/IP:/' | grep -v '^$' | LC_ALL=C sort
}

case "$COMMAND" in
    init)
        mkdir -p "$SITE/ca"
        chmod 700 "$SITE" "$SITE/ca"
        if [ -f "$CA_CRT" ] && [ -f "$CA_KEY" ]; then
            echo "kept: $CA_CRT exists (one CA per site: devices trust it)"
            exit 0
        fi
        [ ! -e "$CA_KEY" ] || die "$CA_KEY exists without its certificate: move it away first"
        openssl req -x509 -new -utf8 -nodes -sha256 -days "$CA_DAYS" \
            -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
            -keyout "$CA_KEY" -out "$CA_CRT" \
            -subj "/O=$NAME/CN=$NAME site CA" \
            -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -addext "subjectKeyIdentifier=hash" 2>/dev/null
        chmod 644 "$CA_CRT"
        echo "made the site CA: $CA_CRT (valid $CA_DAYS days); keep $SITE safe and backed up"
        ;;
    hub-cert)
        if [ ! -f "$CA_CRT" ] || [ ! -f "$CA_KEY" ]; then die "no site CA in $SITE: run '$0 init $SITE' first"; fi
        if [ "${#DNS[@]}" -eq 0 ] && [ "${#IPS[@]}" -eq 0 ]; then
            die "give the hub's names: --dns NAME and/or --ip ADDRESS"
        fi
        sans=()
        for name in "${DNS[@]}"; do sans+=("DNS:$name"); done
        for ip in "${IPS[@]}"; do sans+=("IP:$ip"); done
        wanted=$(printf '%s\n' "${sans[@]}" | LC_ALL=C sort -u)
        if [ "$FORCE" = 0 ] && [ -f "$HUB_CRT" ] && [ -f "$HUB_KEY" ] &&
            [ "$(names_of "$HUB_CRT")" = "$wanted" ] &&
            openssl verify -CAfile "$CA_CRT" "$HUB_CRT" >/dev/null 2>&1 &&
            openssl x509 -in "$HUB_CRT" -noout -checkend $((30 * 86400)) >/dev/null; then
            echo "kept: $HUB_CRT already covers $(echo "$wanted" | paste -sd ' ')"
            exit 0
        fi
        mkdir -p "$SITE/tls"
        chmod 700 "$SITE/tls"
        work=$(mktemp -d)
        trap 'rm -rf "$work"' EXIT
        common=${DNS[0]:-${IPS[0]}}
        {
            echo "basicConstraints=critical,CA:FALSE"
            echo "keyUsage=critical,digitalSignature"
            echo "extendedKeyUsage=serverAuth"
            echo "subjectAltName=$(printf '%s\n' "${sans[@]}" | paste -sd ,)"
            echo "subjectKeyIdentifier=hash"
            echo "authorityKeyIdentifier=keyid,issuer"
        } >"$work/ext.cnf"
        openssl req -new -utf8 -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
            -keyout "$work/hub.key" -out "$work/hub.csr" -subj "/CN=$common" 2>/dev/null
        openssl x509 -req -sha256 -days "$HUB_DAYS" -in "$work/hub.csr" \
            -CA "$CA_CRT" -CAkey "$CA_KEY" -set_serial "0x$(openssl rand -hex 16)" \
            -extfile "$work/ext.cnf" -out "$work/hub.crt" 2>/dev/null
        chmod 644 "$work/hub.crt"
        mv -f "$work/hub.key" "$HUB_KEY"
        mv -f "$work/hub.crt" "$HUB_CRT"
        echo "made $HUB_CRT for $(echo "$wanted" | paste -sd ' ') (valid $HUB_DAYS days)"
        ;;
    show)
        [ -f "$CA_CRT" ] || die "no site CA in $SITE"
        openssl x509 -in "$CA_CRT" -noout -subject -enddate
        if [ -f "$HUB_CRT" ]; then
            openssl x509 -in "$HUB_CRT" -noout -subject -enddate
            echo "names: $(names_of "$HUB_CRT" | paste -sd ' ')"
            openssl verify -CAfile "$CA_CRT" "$HUB_CRT"
        fi
        ;;
    *)
        usage >&2
        die "unknown command $COMMAND (init, hub-cert, show)"
        ;;
esac
