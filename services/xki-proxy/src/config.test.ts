// Configuration: defaults, every bad setting refused naming the variable, secrets never shown.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { describe, test } from "node:test";
import { ConfigError, readCredentialsFile, readXkiProxyConfig } from "./config.ts";

const base = { KEYHOLD_XKI_HSM_MODULE: "/usr/lib/softhsm/libsofthsm2.so", KEYHOLD_XKI_HSM_TOKEN_LABEL: "t", KEYHOLD_XKI_HSM_PIN: "s3cret-pin-value" };

describe("readXkiProxyConfig", () => {
  test("defaults: loopback, us-east-1, 5 minutes of skew, a 150 ms HSM deadline, /ping, no admin API; secrets never print", () => {
    const config = readXkiProxyConfig({ ...base, KEYHOLD_XKI_ADMIN_ADDR: "127.0.0.1:0", KEYHOLD_XKI_ADMIN_TOKEN: "admin-token-s3cret-0123456789" });
    assert.deepEqual(config.listen, { host: "127.0.0.1", port: 7810 });
    assert.equal(config.region, "us-east-1");
    assert.equal(config.maxSkewMs, 300_000);
    assert.equal(config.hsmDeadlineMs, 150);
    assert.equal(config.pingPath, "/ping");
    assert.equal(config.tls, undefined);
    assert.ok(config.healthCacheMs <= 60_000);
    for (const printed of [JSON.stringify(config), inspect(config, { depth: 5 })]) assert.doesNotMatch(printed, /s3cret/);
    assert.equal(readXkiProxyConfig(base).adminListen, undefined);
  });

  test("bad settings are refused naming the variable, never showing a secret", () => {
    const cases: Record<string, string>[] = [
      { ...base, KEYHOLD_XKI_HSM_MODULE: "" },
      { ...base, KEYHOLD_XKI_HSM_SLOT: "1" },
      { ...base, KEYHOLD_XKI_HSM_PIN: "" },
      { ...base, KEYHOLD_XKI_HSM_PIN_FILE: "/nonexistent" },
      { ...base, KEYHOLD_XKI_ADDR: "nowhere" },
      { ...base, KEYHOLD_XKI_REGION: "US East" },
      { ...base, KEYHOLD_XKI_HSM_DEADLINE_MS: "300" },
      { ...base, KEYHOLD_XKI_HEALTH_CACHE_MS: "61000" },
      { ...base, KEYHOLD_XKI_TLS_CERT_FILE: "/c.pem" },
      { ...base, KEYHOLD_XKI_TLS_CLIENT_CA_FILE: "/ca.pem" },
      { ...base, KEYHOLD_XKI_TLS_CERT_FILE: "/c.pem", KEYHOLD_XKI_TLS_KEY_FILE: "/k.pem", KEYHOLD_XKI_TLS_CLIENT_SUBJECTS: "cks.kms.us-east-1.amazonaws.com" },
      { ...base, KEYHOLD_XKI_ADMIN_ADDR: "127.0.0.1:0" },
      { ...base, KEYHOLD_XKI_ADMIN_ADDR: "127.0.0.1:0", KEYHOLD_XKI_ADMIN_TOKEN: "s3cret-short" },
      { ...base, KEYHOLD_XKI_PING_PATH: "ping" },
      { ...base, KEYHOLD_XKI_LOG_LEVEL: "loud" },
    ];
    for (const env of cases) {
      assert.throws(() => readXkiProxyConfig(env), (e: unknown) => e instanceof ConfigError && /KEYHOLD_XKI_|PIN|admin token/.test(e.message) && !/s3cret/.test(e.message), JSON.stringify(env));
    }
  });
});

describe("readCredentialsFile", () => {
  const dir = mkdtempSync(join(tmpdir(), "xki-config-"));
  const file = (content: unknown) => {
    const path = join(dir, `c${Math.random()}.json`);
    writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
    return path;
  };
  const secret = "s3cret-access-key-0123456789abcdefghij";

  test("prefixes normalized, several credentials each; no file serves the empty prefix", () => {
    const read = readCredentialsFile(file({ prefixes: [{ prefix: "/tenant-a/", credentials: [{ accessKeyId: "AKID0001", secretAccessKey: secret }, { accessKeyId: "AKID0002", secretAccessKey: secret }] }, { prefix: "" }] }));
    assert.deepEqual(read.map((p) => [p.prefix, p.credentials.length]), [["tenant-a", 2], ["", 0]]);
    assert.deepEqual(readCredentialsFile(undefined), [{ prefix: "", credentials: [] }]);
  });

  test("bad files are refused naming the entry, never showing a secret", () => {
    const bad = [
      "{not json",
      { prefixes: [] },
      { prefixes: [{ prefix: "bad prefix" }] },
      { prefixes: [{ prefix: "a" }, { prefix: "/a" }] },
      { prefixes: [{ prefix: "a", credentials: [{ accessKeyId: "x", secretAccessKey: secret }] }] },
      { prefixes: [{ prefix: "a", credentials: [{ accessKeyId: "AKID0001", secretAccessKey: "s3cret" }] }] },
      { prefixes: [{ prefix: "a", credentials: [{ accessKeyId: "AKID0001", secretAccessKey: secret }, { accessKeyId: "AKID0001", secretAccessKey: secret }] }] },
    ];
    for (const content of bad) {
      assert.throws(() => readCredentialsFile(file(content)), (e: unknown) => e instanceof ConfigError && e.message.startsWith("KEYHOLD_XKI_CREDENTIALS_FILE") && !/s3cret/.test(e.message), JSON.stringify(content));
    }
  });
});
