// `keyhold serve` and `keyhold topology` configuration: what each service requires, and what the
// launcher passes on to its services.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { readServeConfig, readTopologyConfig } from "./config.ts";

const TLS = { KEYHOLD_TLS_CERT_FILE: "/ca/x.pem", KEYHOLD_TLS_KEY_FILE: "/ca/x.key", KEYHOLD_TLS_CLIENT_CA_FILE: "/ca/ca.pem" };
const PORTS = { KEYHOLD_GRPC_ADDR: "127.0.0.1:0", KEYHOLD_HTTP_ADDR: "127.0.0.1:0" };
const PEERS = { KEYHOLD_POLICY_SERVICE_ADDR: "127.0.0.1:7001", KEYHOLD_AUDIT_SERVICE_ADDR: "127.0.0.1:7002", KEYHOLD_KEY_SERVICE_ADDR: "127.0.0.1:7003" };

describe("readServeConfig", () => {
  test("mutual TLS with the service CA is required", () => {
    assert.throws(() => readServeConfig("key-service", { ...PORTS, ...PEERS }, "/"), /KEYHOLD_TLS_CERT_FILE.*KEYHOLD_TLS_CLIENT_CA_FILE/);
    const { KEYHOLD_TLS_CLIENT_CA_FILE: _ca, ...serverOnly } = TLS;
    assert.throws(() => readServeConfig("key-service", { ...PORTS, ...PEERS, ...serverOnly }, "/"), /KEYHOLD_TLS_CLIENT_CA_FILE/);
  });

  test("each service names the peers it needs", () => {
    assert.throws(() => readServeConfig("secrets-service", { ...PORTS, ...TLS, KEYHOLD_POLICY_SERVICE_ADDR: "127.0.0.1:1" }, "/"), /KEYHOLD_AUDIT_SERVICE_ADDR, KEYHOLD_KEY_SERVICE_ADDR/);
    assert.throws(() => readServeConfig("policy-service", { ...PORTS, ...TLS }, "/"), /KEYHOLD_AUDIT_SERVICE_ADDR/);
    assert.throws(() => readServeConfig("key-service", { ...PORTS, ...TLS, ...PEERS, KEYHOLD_HSM_GATEWAY_ADDR: "nope" }, "/"), /KEYHOLD_HSM_GATEWAY_ADDR must be host:port/);
    assert.throws(() => readServeConfig("hsm-gateway", { ...PORTS, ...TLS }, "/"), /KEYHOLD_HSM_MODULE/);
    assert.throws(() => readServeConfig("key-service", { ...TLS, ...PEERS }, "/"), /KEYHOLD_GRPC_ADDR and KEYHOLD_HTTP_ADDR are required/);
  });

  test("a complete key-service replica", () => {
    const config = readServeConfig(
      "key-service",
      { ...PORTS, ...TLS, ...PEERS, KEYHOLD_DATA_DIR: "/data", KEYHOLD_AUDIT_OUTBOX_DIR: "/data/outbox/2", KEYHOLD_REUSE_PORT: "true", KEYHOLD_KEY_JOBS: "off" },
      "/",
    );
    assert.deepEqual(config.peerTls, { certFile: "/ca/x.pem", keyFile: "/ca/x.key", caFile: "/ca/ca.pem" });
    assert.equal(config.peers.policyService, "127.0.0.1:7001");
    assert.equal(config.peers.hsmGateway, undefined);
    assert.equal(config.server.reusePort, true);
    assert.equal(config.keyJobs, false);
    assert.equal(config.auditOutboxDir, "/data/outbox/2");
    assert.equal(config.peerTimeoutMs, 10_000);
    assert.ok(config.keyService !== undefined && config.secretsService === undefined);
    assert.throws(() => readServeConfig("key-service", { ...PORTS, ...TLS, ...PEERS, KEYHOLD_KEY_JOBS: "maybe" }, "/"), /KEYHOLD_KEY_JOBS must be on or off/);
    assert.throws(() => readServeConfig("key-service", { ...PORTS, ...TLS, ...PEERS, KEYHOLD_PEER_TIMEOUT_MS: "0" }, "/"), /KEYHOLD_PEER_TIMEOUT_MS/);
  });
});

describe("readTopologyConfig", () => {
  test("defaults, and the per-process settings are never passed on", () => {
    const config = readTopologyConfig({ ...PORTS, ...TLS, KEYHOLD_LOG_LEVEL: "warn", KEYHOLD_TOPOLOGY_KEY_REPLICAS: "3", KEYHOLD_TOPOLOGY_REDIS: "on" }, "/work");
    assert.equal(config.dataDir, "/work/.data/topology");
    assert.equal(config.keyServiceReplicas, 3);
    assert.equal(config.redis, true);
    assert.equal(config.postgres, false);
    assert.equal(config.gateway, false);
    assert.deepEqual(config.serviceEnv, { KEYHOLD_LOG_LEVEL: "warn" });
    assert.throws(() => readTopologyConfig({ KEYHOLD_TOPOLOGY_KEY_REPLICAS: "0" }, "/"), /KEYHOLD_TOPOLOGY_KEY_REPLICAS/);
  });

  test("xki-proxy runs when its HSM is configured, its admin API when an admin token is; its addresses are the launcher's", () => {
    assert.equal(readTopologyConfig({}, "/").xkiProxy, false);
    const config = readTopologyConfig(
      { KEYHOLD_XKI_HSM_MODULE: "/usr/lib/softhsm/libsofthsm2.so", KEYHOLD_XKI_ADDR: "0.0.0.0:7810", KEYHOLD_XKI_ADMIN_ADDR: "0.0.0.0:7811", KEYHOLD_XKI_DATA_DIR: "/x" },
      "/",
    );
    assert.equal(config.xkiProxy, true);
    assert.equal(config.xkiProxyAdmin, false);
    assert.deepEqual(config.serviceEnv, { KEYHOLD_XKI_HSM_MODULE: "/usr/lib/softhsm/libsofthsm2.so" });
    assert.equal(readTopologyConfig({ KEYHOLD_XKI_HSM_MODULE: "/m.so", KEYHOLD_XKI_ADMIN_TOKEN_FILE: "/t" }, "/").xkiProxyAdmin, true);
  });
});
