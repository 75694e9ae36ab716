import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, readKeyServiceConfig } from "./config.ts";

test("KEYHOLD_ROOT_KEY: file by default, hsm or sealed on request, anything else refused; the HSM key id is checked", () => {
  const defaults = readKeyServiceConfig({}, "/data");
  assert.deepEqual([defaults.rootKey, defaults.hsmRootKeyId, defaults.rootKeyFile], ["file", "keyhold-root-key", "/data/root-key.bin"]);
  assert.equal(readKeyServiceConfig({ KEYHOLD_ROOT_KEY: "file" }, "/data").rootKey, "file");
  const hsm = readKeyServiceConfig({ KEYHOLD_ROOT_KEY: "hsm", KEYHOLD_ROOT_KEY_HSM_ID: "prod/root-1" }, "/data");
  assert.deepEqual([hsm.rootKey, hsm.hsmRootKeyId], ["hsm", "prod/root-1"]);
  const sealed = readKeyServiceConfig({ KEYHOLD_ROOT_KEY: "sealed" }, "/data");
  assert.deepEqual([sealed.rootKey, sealed.sealFile], ["sealed", "/data/seal.json"]);
  assert.throws(() => readKeyServiceConfig({ KEYHOLD_ROOT_KEY: "HSM" }, "/data"), (error: unknown) => error instanceof ConfigError && /KEYHOLD_ROOT_KEY must be file, hsm or sealed/.test(error.message));
  for (const bad of ["has space", "x".repeat(65), "é"]) {
    assert.throws(() => readKeyServiceConfig({ KEYHOLD_ROOT_KEY_HSM_ID: bad }, "/data"), /KEYHOLD_ROOT_KEY_HSM_ID/);
  }
});

test("KEYHOLD_DATABASE_URL: unset or empty keeps SQLite; a postgres URL selects PostgreSQL; anything else is refused without echoing it", () => {
  assert.equal(readKeyServiceConfig({}, "/data").databaseUrl, undefined);
  assert.equal(readKeyServiceConfig({ KEYHOLD_DATABASE_URL: "" }, "/data").databaseUrl, undefined);
  const url = "postgres://keys:secret@db.internal:5432/keyhold";
  assert.equal(readKeyServiceConfig({ KEYHOLD_DATABASE_URL: url }, "/data").databaseUrl, url);
  assert.equal(readKeyServiceConfig({ KEYHOLD_DATABASE_URL: "postgresql://db/keyhold" }, "/data").databaseUrl, "postgresql://db/keyhold");
  assert.throws(
    () => readKeyServiceConfig({ KEYHOLD_DATABASE_URL: "mysql://keys:hunter2@db/keyhold" }, "/data"),
    (error: unknown) => error instanceof ConfigError && /KEYHOLD_DATABASE_URL must be a postgres/.test(error.message) && !error.message.includes("hunter2"),
  );
});
