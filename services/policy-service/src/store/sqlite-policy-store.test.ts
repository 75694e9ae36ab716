import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, test } from "node:test";
import { SQLITE_MIGRATIONS } from "./migrations.ts";
import { ACCOUNT, policyStoreConformance, T0, user } from "./policy-store-suite.ts";
import { openSqliteDatabase, SqlitePolicyStore } from "./sqlite-policy-store.ts";

policyStoreConformance("SqlitePolicyStore", async () => ({ store: new SqlitePolicyStore(openSqliteDatabase(":memory:")), dispose: async () => undefined }));

describe("openSqliteDatabase", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "keyhold-policy-store-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test("WAL, synchronous=FULL, foreign keys, the latest schema; data and the sequence survive a reopen", async () => {
    const path = join(dir, "nested", "policy.sqlite");
    const db = openSqliteDatabase(path);
    assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
    assert.equal(db.pragma("synchronous", { simple: true }), 2);
    assert.equal(db.pragma("foreign_keys", { simple: true }), 1);
    assert.equal(db.pragma("user_version", { simple: true }), SQLITE_MIGRATIONS.length);
    const store = new SqlitePolicyStore(db);
    await store.createAccount({ accountId: ACCOUNT, name: "main", createdAt: T0 });
    await store.createPrincipal(user("alice"));
    const sequence = await store.currentSequence();
    await store.close();
    const reopened = new SqlitePolicyStore(openSqliteDatabase(path));
    assert.deepEqual(await reopened.getPrincipal(user("alice").krn), user("alice"));
    assert.equal(await reopened.currentSequence(), sequence);
    assert.equal(sequence, 2n);
    await reopened.close();
  });
});
