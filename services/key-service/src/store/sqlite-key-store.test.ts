import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { KeyVersionSource } from "@keyhold/proto";
import Database from "better-sqlite3";
import { ACCOUNT, created, keyStoreConformance, newKey, T0 } from "./key-store-conformance.ts";
import { SQLITE_MIGRATIONS } from "./migrations.ts";
import { openSqliteDatabase, SqliteKeyStore } from "./sqlite-key-store.ts";

describe("openSqliteDatabase", () => {
  const dirs: string[] = [];
  const tempPath = () => {
    const dir = mkdtempSync(join(tmpdir(), "keyhold-sqlite-store-"));
    dirs.push(dir);
    return join(dir, "nested", "keys.sqlite");
  };
  after(async () => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  const tables = (db: ReturnType<typeof openSqliteDatabase>) =>
    db
      .prepare<[], { name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
      .all()
      .map((r) => r.name);

  test("an in-memory database gets every migration, synchronous=FULL and foreign keys", async () => {
    const db = openSqliteDatabase(":memory:");
    try {
      assert.equal(db.pragma("user_version", { simple: true }), SQLITE_MIGRATIONS.length);
      assert.deepEqual(tables(db), ["aliases", "external_key_stores", "idempotency", "import_tokens", "key_tags", "key_versions", "keys"]);
      assert.equal(db.pragma("synchronous", { simple: true }), 2); // FULL
      assert.equal(db.pragma("foreign_keys", { simple: true }), 1);
    } finally {
      db.close();
    }
  });

  test("a file database is created with its directory, in WAL mode with synchronous=FULL", async () => {
    const path = tempPath();
    const db = openSqliteDatabase(path);
    try {
      assert.ok(existsSync(path));
      assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
      assert.equal(db.pragma("synchronous", { simple: true }), 2); // FULL
      assert.equal(db.pragma("foreign_keys", { simple: true }), 1);
      assert.equal(db.pragma("busy_timeout", { simple: true }), 5000);
      assert.equal(db.pragma("user_version", { simple: true }), SQLITE_MIGRATIONS.length);
    } finally {
      db.close();
    }
  });

  test("reopening applies no migration again and keeps the data", async () => {
    const path = tempPath();
    const first = new SqliteKeyStore(openSqliteDatabase(path));
    const key = newKey(ACCOUNT, {}, { tags: [{ key: "env", value: "prod" }], idempotency: { operation: "CreateKey", token: "tok", requestHash: "h1" } });
    await created(first, key);
    await first.createAlias({ accountId: ACCOUNT, aliasName: "alias/kept", targetKeyId: key.key.keyId, createdAt: T0, updatedAt: T0 });
    await first.close();

    // A migration applied twice would fail (CREATE TABLE of an existing table) or wipe data.
    const db = openSqliteDatabase(path);
    assert.equal(db.pragma("user_version", { simple: true }), SQLITE_MIGRATIONS.length);
    assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
    const second = new SqliteKeyStore(db);
    try {
      assert.deepEqual((await second.getKey(ACCOUNT, key.key.keyId)), key.key);
      assert.deepEqual((await second.getVersion(key.firstVersion.versionId)), key.firstVersion);
      assert.equal((await second.getAlias(ACCOUNT, "alias/kept"))?.targetKeyId, key.key.keyId);
      assert.deepEqual((await second.listTags(ACCOUNT, key.key.keyId, undefined, 10)).items, [{ key: "env", value: "prod" }]);
      assert.deepEqual((await second.findIdempotency(ACCOUNT, "CreateKey", "tok")), { requestHash: "h1", resourceId: key.key.keyId });
    } finally {
      await second.close();
    }
  });
});

keyStoreConformance("SqliteKeyStore", async () => new SqliteKeyStore(openSqliteDatabase(":memory:")));

describe("SqliteKeyStore migrations", () => {
  test("keys and versions written before it read back with the new fields' defaults", async () => {
    const dir = mkdtempSync(join(tmpdir(), "keyhold-migrate-"));
    try {
      const path = join(dir, "key-service.sqlite");
      const old = new Database(path);
      old.exec(SQLITE_MIGRATIONS[0]!);
      old.pragma("user_version = 1");
      old.prepare(`INSERT INTO keys VALUES ('k1', ?, 'old', 1, 1, 1, 1, 1, 0, 'v1', NULL)`).run(ACCOUNT);
      old.prepare(`INSERT INTO key_versions VALUES ('v1', 'k1', ?, x'01', 'root', 0)`).run(ACCOUNT);
      old.close();
      const store = new SqliteKeyStore(openSqliteDatabase(path));
      try {
        const key = (await store.getKey(ACCOUNT, "k1"))!;
        assert.equal(key.description, "old");
        assert.equal(key.rotationPeriodDays, 0);
        assert.equal(key.nextRotationAt, undefined);
        assert.equal(key.deletionProtection, false);
        assert.equal(key.materialExpiresAt, undefined);
        assert.equal(key.importedMaterialDigest, undefined);
        const v = (await store.getVersion("v1"))!;
        assert.equal(v.source, KeyVersionSource.CREATION);
        assert.equal(v.publicKey, undefined);
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test("a database at schema version 2 migrates to 3 keeping its keys (no external key)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "keyhold-sqlite-v2-"));
    try {
      const path = join(dir, "keys.sqlite");
      const raw = new Database(path);
      raw.exec(SQLITE_MIGRATIONS[0]!);
      raw.exec(SQLITE_MIGRATIONS[1]!);
      raw.pragma("user_version = 2");
      const keyId = randomUUID();
      raw.prepare(`INSERT INTO keys (key_id, account_id, description, key_spec, key_usage, origin, key_manager, state, created_at, primary_version_id) VALUES (?, ?, '', 1, 1, 1, 1, 1, 0, ?)`).run(keyId, ACCOUNT, randomUUID());
      raw.close();
      const migrated = new SqliteKeyStore(openSqliteDatabase(path));
      try {
        assert.equal((await migrated.getKey(ACCOUNT, keyId))!.externalKey, undefined);
        assert.equal((await migrated.listExternalKeyStores(ACCOUNT, undefined, 10)).items.length, 0);
      } finally {
        await migrated.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
