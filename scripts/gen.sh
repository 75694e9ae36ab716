#!/usr/bin/env bash
# Regenerates packages/proto from proto/ (buf generate + the named-export index).
source "$(dirname "$0")/lib/toolchain.sh"
ensure_toolchain
cd "$KEYHOLD_ROOT"
pnpm exec buf generate
node scripts/gen-proto-index.ts
