import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { openMigratedDatabase } from "./open.ts";

test("migrations apply once, in order, and a reopen keeps data and settings", () => {
  const dir = mkdtempSync(join(tmpdir(), "keyhold-sqlite-"));
  try {
    const path = join(dir, "nested", "db.sqlite");
    const migrations = ["CREATE TABLE a (x INTEGER) STRICT;", "ALTER TABLE a ADD COLUMN y TEXT;"];
    const first = openMigratedDatabase(path, migrations.slice(0, 1));
    first.prepare("INSERT INTO a (x) VALUES (1)").run();
    first.close();
    const second = openMigratedDatabase(path, migrations);
    assert.equal(second.pragma("user_version", { simple: true }), 2);
    assert.equal(second.pragma("journal_mode", { simple: true }), "wal");
    assert.equal(second.pragma("synchronous", { simple: true }), 2); // FULL
    assert.deepEqual(second.prepare("SELECT x, y FROM a").all(), [{ x: 1, y: null }]);
    second.close();
    assert.throws(() => openMigratedDatabase(path, migrations.slice(0, 1)), /newer than this build/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
