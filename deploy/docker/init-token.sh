#!/bin/sh
# keyhold-init-token (in the image): initializes a SoftHSMv2 token unless one with that label exists (SOFTHSM2_CONF of the image:
# tokens under /var/lib/keyhold-hsm/tokens, a volume). Usage: keyhold-init-token LABEL PIN_FILE SO_PIN_FILE
set -eu
label=$1
pin_file=$2
so_pin_file=$3
# A fresh volume (a new PersistentVolumeClaim) is empty: make the token directory SoftHSM expects.
tokendir=$(sed -n 's/^[[:space:]]*directories\.tokendir[[:space:]]*=[[:space:]]*//p' "${SOFTHSM2_CONF:-/etc/softhsm/softhsm2.conf}")
if [ -n "$tokendir" ] && [ ! -d "$tokendir" ]; then
  mkdir -p -m 0700 "$tokendir"
fi
if softhsm2-util --show-slots | grep -Eq "^[[:space:]]*Label:[[:space:]]+$label[[:space:]]*$"; then
  echo "init-token: token \"$label\" exists"
  exit 0
fi
softhsm2-util --init-token --free --label "$label" --pin "$(cat "$pin_file")" --so-pin "$(cat "$so_pin_file")" >/dev/null
echo "init-token: token \"$label\" initialized"
