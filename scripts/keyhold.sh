#!/usr/bin/env bash
# Runs the keyhold command (e.g. `keyhold dev`) after making sure the toolchain is installed.
source "$(dirname "$0")/lib/toolchain.sh"
ensure_toolchain
cd "$KEYHOLD_ROOT"
exec node packages/cli/src/main.ts "$@"
