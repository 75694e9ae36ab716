#!/usr/bin/env bash
# pnpm bench [--smoke] [--duration <s>] [--calls <n>] [--strict]: see bench/src/main.ts.
source "$(dirname "${BASH_SOURCE[0]}")/lib/toolchain.sh"
ensure_toolchain
ensure_go_tools
cd "$KEYHOLD_ROOT"
exec node bench/src/main.ts "$@"
