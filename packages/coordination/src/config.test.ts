import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ConfigError } from "@keyhold/server-kit";
import { quotaFor, quotasEnabled, readCoordinationConfig, readQuotaConfig } from "./config.ts";
import { operationClassOf } from "./operation-classes.ts";

describe("coordination config", () => {
  test("defaults: no Redis, 50 ms commands, no quotas", () => {
    const config = readCoordinationConfig({});
    assert.equal(config.redisUrl, undefined);
    assert.equal(config.commandTimeoutMs, 50);
    assert.equal(quotasEnabled(config.quotas), false);
  });

  test("a Redis URL must be redis:// or rediss:// and is never echoed", () => {
    assert.equal(readCoordinationConfig({ KEYHOLD_REDIS_URL: "redis://h:6379" }).redisUrl, "redis://h:6379");
    assert.throws(() => readCoordinationConfig({ KEYHOLD_REDIS_URL: "http://user:hunter2@h" }), (error: Error) => {
      assert.ok(error instanceof ConfigError);
      assert.doesNotMatch(error.message, /hunter2/);
      return true;
    });
  });

  test("per-class environment quotas; burst defaults to twice the rate", () => {
    const quotas = readQuotaConfig({ KEYHOLD_QUOTA_SYMMETRIC_RPS: "100", KEYHOLD_QUOTA_SECRETS_RPS: "5", KEYHOLD_QUOTA_SECRETS_BURST: "7" });
    assert.deepEqual(quotaFor(quotas, "111122223333", "symmetric"), { ratePerSecond: 100, burst: 200 });
    assert.deepEqual(quotaFor(quotas, "111122223333", "secrets"), { ratePerSecond: 5, burst: 7 });
    assert.equal(quotaFor(quotas, "111122223333", "asymmetric"), undefined);
    assert.throws(() => readQuotaConfig({ KEYHOLD_QUOTA_CONTROL_BURST: "3" }), /KEYHOLD_QUOTA_CONTROL_BURST is set without KEYHOLD_QUOTA_CONTROL_RPS/);
    assert.throws(() => readQuotaConfig({ KEYHOLD_QUOTA_SYMMETRIC_RPS: "-1" }), /KEYHOLD_QUOTA_SYMMETRIC_RPS/);
  });

  test("a quotas file: defaults and per-account overrides; the environment overrides the file's defaults", () => {
    const dir = mkdtempSync(join(tmpdir(), "keyhold-quotas-"));
    const file = join(dir, "quotas.json");
    writeFileSync(file, JSON.stringify({
      defaults: { symmetric: { rps: 50, burst: 60 }, control: { rps: 5 } },
      accounts: { "111122223333": { symmetric: { rps: 1, burst: 1 } } },
    }));
    const quotas = readQuotaConfig({ KEYHOLD_QUOTAS_FILE: file, KEYHOLD_QUOTA_CONTROL_RPS: "9" });
    assert.deepEqual(quotaFor(quotas, "111122223333", "symmetric"), { ratePerSecond: 1, burst: 1 });
    assert.deepEqual(quotaFor(quotas, "444455556666", "symmetric"), { ratePerSecond: 50, burst: 60 });
    assert.deepEqual(quotaFor(quotas, "444455556666", "control"), { ratePerSecond: 9, burst: 18 });
    assert.equal(quotasEnabled(quotas), true);
  });

  test("a bad quotas file names what is wrong", () => {
    const dir = mkdtempSync(join(tmpdir(), "keyhold-quotas-"));
    const write = (body: string) => {
      const file = join(dir, `q${Math.random()}.json`);
      writeFileSync(file, body);
      return { KEYHOLD_QUOTAS_FILE: file };
    };
    assert.throws(() => readQuotaConfig(write("{")), /not valid JSON/);
    assert.throws(() => readQuotaConfig(write(`{"defaults":{"crypto":{"rps":1}}}`)), /unknown class "crypto"/);
    assert.throws(() => readQuotaConfig(write(`{"accounts":{"42":{}}}`)), /"42" is not a 12-digit account id/);
    assert.throws(() => readQuotaConfig(write(`{"defaults":{"symmetric":{"rps":0}}}`)), /defaults.symmetric.rps must be a positive number/);
    assert.throws(() => readQuotaConfig(write(`{"limits":{}}`)), /unknown field "limits"/);
    assert.throws(() => readQuotaConfig({ KEYHOLD_QUOTAS_FILE: join(dir, "missing.json") }), /cannot read .*ENOENT/);
  });

  test("operation classes by method", () => {
    assert.equal(operationClassOf("Encrypt"), "symmetric");
    assert.equal(operationClassOf("GenerateDataKeyWithoutPlaintext"), "symmetric");
    assert.equal(operationClassOf("VerifyMac"), "symmetric");
    assert.equal(operationClassOf("Sign"), "asymmetric");
    assert.equal(operationClassOf("AsymmetricDecrypt"), "asymmetric");
    assert.equal(operationClassOf("GetPublicKey"), "asymmetric");
    assert.equal(operationClassOf("GetSecretValue"), "secrets");
    assert.equal(operationClassOf("PutSecretValue"), "secrets");
    assert.equal(operationClassOf("CreateKey"), "control");
  });
});
