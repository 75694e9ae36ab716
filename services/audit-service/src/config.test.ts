import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, DEFAULT_WRITER_NICE, readAuditServiceConfig } from "./config.ts";

test("defaults: the log beside the data, checkpoints every 10 s, no retention, the writer thread at nice 10", () => {
  const config = readAuditServiceConfig({}, "/data");
  assert.equal(config.databasePath, "/data/audit-service.sqlite");
  assert.equal(config.checkpointIntervalMs, 10_000);
  assert.equal(config.retentionDays, 0);
  assert.equal(config.writerNice, DEFAULT_WRITER_NICE);
  assert.equal(DEFAULT_WRITER_NICE, 10);
});

test("KEYHOLD_AUDIT_WRITER_NICE takes 0 to 19 and refuses anything else, naming the variable", () => {
  assert.equal(readAuditServiceConfig({ KEYHOLD_AUDIT_WRITER_NICE: "0" }, "/d").writerNice, 0);
  assert.equal(readAuditServiceConfig({ KEYHOLD_AUDIT_WRITER_NICE: "19" }, "/d").writerNice, 19);
  for (const bad of ["20", "-1", "5.5", "high"]) {
    assert.throws(() => readAuditServiceConfig({ KEYHOLD_AUDIT_WRITER_NICE: bad }, "/d"), (error: unknown) => error instanceof ConfigError && error.message.includes("KEYHOLD_AUDIT_WRITER_NICE"), bad);
  }
});

test("other settings are checked too", () => {
  assert.throws(() => readAuditServiceConfig({ KEYHOLD_REGION: "Not OK" }, "/d"), ConfigError);
  assert.throws(() => readAuditServiceConfig({ KEYHOLD_AUDIT_PRUNE_INTERVAL_SECONDS: "0" }, "/d"), ConfigError);
  assert.throws(() => readAuditServiceConfig({ KEYHOLD_AUDIT_RETENTION_DAYS: "-3" }, "/d"), ConfigError);
});

test("KEYHOLD_DATABASE_URL selects PostgreSQL; unset (or empty), the SQLite file as before", () => {
  assert.equal(readAuditServiceConfig({}, "/d").databaseUrl, undefined);
  assert.equal(readAuditServiceConfig({ KEYHOLD_DATABASE_URL: "" }, "/d").databaseUrl, undefined);
  const url = "postgres://keyhold:secret@db.internal:5432/keyhold";
  assert.equal(readAuditServiceConfig({ KEYHOLD_DATABASE_URL: url }, "/d").databaseUrl, url);
  assert.equal(readAuditServiceConfig({ KEYHOLD_DATABASE_URL: "postgresql://h/db" }, "/d").databaseUrl, "postgresql://h/db");
  for (const bad of ["mysql://h/db", "/var/lib/db", "postgres://has space/db"]) {
    assert.throws(() => readAuditServiceConfig({ KEYHOLD_DATABASE_URL: bad }, "/d"), (error: unknown) => error instanceof ConfigError && error.message.includes("KEYHOLD_DATABASE_URL") && !error.message.includes(bad), bad);
  }
});
