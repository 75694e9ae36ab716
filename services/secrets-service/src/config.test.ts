// KEYHOLD_DATABASE_URL: PostgreSQL when set (held redacted), SQLite when unset or empty, a clear
// ConfigError for anything that is not a postgres:// URL.
import assert from "node:assert/strict";
import { inspect } from "node:util";
import { test } from "node:test";
import { ConfigError, readSecretsServiceConfig } from "./config.ts";

test("KEYHOLD_DATABASE_URL selects PostgreSQL and never prints its password", () => {
  const url = "postgres://secrets:s3cret-pw@db.internal:5432/keyhold";
  const config = readSecretsServiceConfig({ KEYHOLD_DATABASE_URL: url }, "/data");
  assert.equal(config.databaseUrl?.reveal(), url);
  for (const shown of [JSON.stringify(config), inspect(config), String(config.databaseUrl)]) assert.doesNotMatch(shown, /s3cret-pw/);
  assert.equal(readSecretsServiceConfig({ KEYHOLD_DATABASE_URL: "postgresql://h/db" }, "/data").databaseUrl?.reveal(), "postgresql://h/db");
  for (const env of [{}, { KEYHOLD_DATABASE_URL: "" }]) {
    const sqlite = readSecretsServiceConfig(env, "/data");
    assert.equal(sqlite.databaseUrl, undefined);
    assert.equal(sqlite.databasePath, "/data/secrets-service.sqlite");
  }
  for (const bad of ["mysql://h/db", "db.internal:5432", "file:/tmp/x"]) {
    assert.throws(() => readSecretsServiceConfig({ KEYHOLD_DATABASE_URL: bad }, "/data"), (error: unknown) => error instanceof ConfigError && /KEYHOLD_DATABASE_URL/.test(error.message) && !error.message.includes(bad));
  }
});

test("the record cache: KEYHOLD_SECRETS_CACHE_TTL_MS (default 30 s, 0 turns it off) and KEYHOLD_SECRETS_CACHE_SIZE", () => {
  const defaults = readSecretsServiceConfig({}, "/data");
  assert.equal(defaults.recordCacheTtlMs, 30_000);
  assert.equal(defaults.recordCacheSize, 10_000);
  const set = readSecretsServiceConfig({ KEYHOLD_SECRETS_CACHE_TTL_MS: "0", KEYHOLD_SECRETS_CACHE_SIZE: "5" }, "/data");
  assert.equal(set.recordCacheTtlMs, 0);
  assert.equal(set.recordCacheSize, 5);
  for (const [name, bad] of [["KEYHOLD_SECRETS_CACHE_TTL_MS", "-1"], ["KEYHOLD_SECRETS_CACHE_TTL_MS", "soon"], ["KEYHOLD_SECRETS_CACHE_SIZE", "0"]] as const) {
    assert.throws(() => readSecretsServiceConfig({ [name]: bad }, "/data"), (error: unknown) => error instanceof ConfigError && error.message.includes(name));
  }
});
