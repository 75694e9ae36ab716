#!/bin/sh
# keyhold-dev-init (in the image): development secrets for deploy/compose, made once and kept in their volumes (re-running changes
# nothing): the development CA and one certificate per service (keyhold dev-ca), the audit HMAC
# key every audited service shares, and the PINs of the SoftHSMv2 tokens. Runs as the image's
# non-root user; every file is mode 0600 in a 0700 directory.
set -eu
umask 077
tls=${DEV_INIT_TLS_DIR:-/etc/keyhold/tls}
secrets=${DEV_INIT_SECRETS_DIR:-/etc/keyhold/secrets}

if [ ! -s "$tls/ca.crt" ]; then
  keyhold dev-ca "$tls"
  echo "dev-init: development CA and service certificates written to $tls"
else
  echo "dev-init: $tls/ca.crt exists, certificates kept"
fi

# random BYTES FILE: FILE gets BYTES random bytes, unless it exists.
random_file() {
  [ -s "$2" ] && return 0
  head -c "$1" /dev/urandom >"$2.tmp"
  mv "$2.tmp" "$2"
  echo "dev-init: created $2"
}

# random_text CHARS FILE: FILE gets CHARS random letters and digits (a PIN, a token), unless it exists.
random_text() {
  [ -s "$2" ] && return 0
  LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c "$1" >"$2.tmp"
  mv "$2.tmp" "$2"
  echo "dev-init: created $2"
}

random_file 32 "$secrets/audit-hmac.key"
random_text 24 "$secrets/hsm-pin"
random_text 24 "$secrets/hsm-so-pin"
random_text 24 "$secrets/xki-hsm-pin"
random_text 24 "$secrets/xki-hsm-so-pin"
random_text 40 "$secrets/xki-admin-token"
