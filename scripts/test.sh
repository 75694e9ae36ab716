#!/usr/bin/env bash
# The whole test suite: what `npm test` and .ci/run run. Installs what it needs when missing
# (Node 24, pnpm, dependencies, ghz, grpcurl, kustomize and deploy/'s validators, a Python venv with grpcio, SoftHSMv2 and
# pkcs11-tool), then checks protos,
# generated code, types and lint, and runs every test with Node's test runner.
source "$(dirname "$0")/lib/toolchain.sh"
ensure_toolchain
ensure_go_tools
ensure_deploy_tools
ensure_python_grpc
# A real PostgreSQL server for the PostgreSQL store and secret rotation tests (they start their own clusters).
ensure_apt postgresql || log "WARNING: could not install postgresql; the PostgreSQL tests will skip"
# A real redis-server for the coordination tests (invalidation bus, quotas, leases; they start their own).
ensure_apt redis-server || log "WARNING: could not install redis-server; the Redis coordination tests will skip"
ensure_softhsm
cd "$KEYHOLD_ROOT"

step() { log "── $*"; }

step "buf lint"
pnpm exec buf lint

if git rev-parse --verify -q HEAD~1 >/dev/null && git cat-file -e HEAD~1:buf.yaml 2>/dev/null; then
  step "buf breaking (FILE) against the previous commit"
  pnpm exec buf breaking --against ".git#ref=HEAD~1"
fi

step "generated code is fresh (buf generate)"
proto_tree_hash() { find packages/proto/src -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum; }
before="$(proto_tree_hash)"
pnpm exec buf generate
node scripts/gen-proto-index.ts
if [ "$before" != "$(proto_tree_hash)" ]; then
  git status --porcelain -- packages/proto >&2
  log "packages/proto was stale (now regenerated): commit the result of 'pnpm gen'"
  exit 1
fi

step "typecheck (tsc, strict)"
node_modules/.bin/tsc -p tsconfig.json

step "lint (eslint, type-aware)"
node_modules/.bin/eslint --max-warnings 0 .

step "tests (node --test)"
node --test --test-reporter=spec \
  "packages/*/src/**/*.test.ts" "services/*/src/**/*.test.ts" "test/**/*.test.ts" "bench/src/**/*.test.ts"

# The public-API end-to-end and interop tests again, against the distributed topology instead
# of `keyhold dev`: every service its own process (keyhold topology), mTLS between them, two
# key-service replicas on one address, PostgreSQL and Redis (test/support/server.ts). The other
# e2e tests reach into the all-in-one process (its outboxes, its apps) or start their own.
step "end-to-end tests against the distributed topology (PostgreSQL, Redis, key-service x2)"
KEYHOLD_E2E_TOPOLOGY=1 KEYHOLD_TOPOLOGY_POSTGRES=on KEYHOLD_TOPOLOGY_REDIS=on node --test --test-reporter=spec \
  test/e2e/external-key-store.test.ts test/e2e/grants-and-key-policies.test.ts test/e2e/isv-story.test.ts test/e2e/key-roles-new-actions.test.ts \
  test/e2e/secrets.test.ts test/interop/authentication.test.ts test/interop/bad-input.test.ts \
  test/interop/bad-input-keys-complete.test.ts test/interop/cli-tools.test.ts test/interop/connect.test.ts test/interop/grpc-js-proto-loader.test.ts \
  test/interop/keys-complete.test.ts test/interop/python-client.test.ts test/interop/secrets-bad-input.test.ts

if [ "${CI:-}" = "true" ] || [ "${KEYHOLD_BENCH_SMOKE:-}" = "1" ]; then
  step "benchmark smoke (pnpm bench --smoke)"
  node bench/src/main.ts --smoke
fi
