// The store's part of versions, rotation, deletion and import: migration 2 on a database made
// by migration 1, conditional rotation writes, the due-lists, and purge.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, test } from "node:test";
import Database from "better-sqlite3";
import { KeyManager, KeySpec, KeyState, KeyUsage, KeyVersionSource, Origin } from "@keyhold/proto";
import { SQLITE_MIGRATIONS } from "./migrations.ts";
import { NEW_KEY_LIFECYCLE, type KeyRecord, type KeyVersionRecord } from "./records.ts";
import { openSqliteDatabase, SqliteKeyStore } from "./sqlite-key-store.ts";

const ACCOUNT = "111122223333";
const T0 = new Date("2026-01-01T00:00:00.000Z");

function version(keyId: string, at: Date, source = KeyVersionSource.CREATION): KeyVersionRecord {
  return { versionId: randomUUID(), keyId, accountId: ACCOUNT, wrappedMaterial: Buffer.from("w"), wrappedBy: "t", createdAt: at, source, publicKey: undefined };
}

function create(store: SqliteKeyStore, overrides: Partial<KeyRecord> = {}): KeyRecord {
  const keyId = randomUUID();
  const first = version(keyId, T0);
  const key: KeyRecord = {
    keyId,
    accountId: ACCOUNT,
    description: "",
    keySpec: KeySpec.SYMMETRIC_DEFAULT,
    keyUsage: KeyUsage.ENCRYPT_DECRYPT,
    origin: Origin.SOFTWARE,
    keyManager: KeyManager.CUSTOMER,
    state: KeyState.ENABLED,
    createdAt: T0,
    primaryVersionId: first.versionId,
    ...NEW_KEY_LIFECYCLE,
    ...overrides,
  };
  store.createKey({ key, firstVersion: first, tags: [{ key: "t", value: "v" }], idempotency: undefined });
  return key;
}

describe("migration 2 on a version-1 database", () => {
  test("keys and versions written before it read back with the new fields' defaults", () => {
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
        const key = store.getKey(ACCOUNT, "k1")!;
        assert.equal(key.description, "old");
        assert.equal(key.rotationPeriodDays, 0);
        assert.equal(key.nextRotationAt, undefined);
        assert.equal(key.deletionProtection, false);
        assert.equal(key.materialExpiresAt, undefined);
        assert.equal(key.importedMaterialDigest, undefined);
        const v = store.getVersion("v1")!;
        assert.equal(v.source, KeyVersionSource.CREATION);
        assert.equal(v.publicKey, undefined);
      } finally {
        store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("SqliteKeyStore lifecycle", () => {
  let store: SqliteKeyStore;
  beforeEach(() => {
    store = new SqliteKeyStore(openSqliteDatabase(":memory:"));
  });
  afterEach(() => store.close());

  test("addPrimaryVersion on a schedule happens once: a second write for the same period changes nothing", () => {
    const due = new Date(T0.getTime() + 1000);
    const key = create(store, { rotationPeriodDays: 7, nextRotationAt: due });
    const next = new Date(due.getTime() + 7 * 86_400_000);
    const a = version(key.keyId, due, KeyVersionSource.AUTOMATIC_ROTATION);
    const b = version(key.keyId, due, KeyVersionSource.AUTOMATIC_ROTATION);
    assert.equal(store.addPrimaryVersion({ version: a, schedule: { expected: due, next } })?.primaryVersionId, a.versionId);
    assert.equal(store.addPrimaryVersion({ version: b, schedule: { expected: due, next } }), undefined);
    assert.equal(store.getVersion(b.versionId), undefined, "the losing write left no version");
    assert.equal(store.getKey(ACCOUNT, key.keyId)!.nextRotationAt!.getTime(), next.getTime());
    assert.equal(store.listVersions(ACCOUNT, key.keyId, undefined, 10).items.length, 2);
  });

  test("due lists: rotation of enabled keys, deletion of keys pending deletion, expired material", () => {
    const now = new Date(T0.getTime() + 10_000);
    const rotate = create(store, { rotationPeriodDays: 7, nextRotationAt: now });
    create(store, { rotationPeriodDays: 7, nextRotationAt: now, state: KeyState.DISABLED });
    create(store, { rotationPeriodDays: 7, nextRotationAt: new Date(now.getTime() + 1) });
    const doomed = create(store, { state: KeyState.PENDING_DELETION, deletionDate: now });
    create(store, { state: KeyState.DISABLED, deletionDate: now });
    const expired = create(store, { origin: Origin.EXTERNAL, materialExpiresAt: now });
    assert.deepEqual(store.keysDueForRotation(now, 10).map((k) => k.keyId), [rotate.keyId]);
    assert.deepEqual(store.keysDueForDeletion(now, 10).map((k) => k.keyId), [doomed.keyId]);
    assert.deepEqual(store.keysWithExpiredMaterial(now, 10).map((k) => k.keyId), [expired.keyId]);
    store.setVersionMaterial(expired.primaryVersionId, Buffer.alloc(0));
    assert.deepEqual(store.keysWithExpiredMaterial(now, 10), []);
  });

  test("purgeKey removes the key, its versions, aliases, tags and import tokens, and nothing else", () => {
    const doomed = create(store);
    const kept = create(store);
    store.createAlias({ accountId: ACCOUNT, aliasName: "alias/doomed", targetKeyId: doomed.keyId, createdAt: T0, updatedAt: T0 });
    store.createAlias({ accountId: ACCOUNT, aliasName: "alias/kept", targetKeyId: kept.keyId, createdAt: T0, updatedAt: T0 });
    store.putImportToken({ tokenId: "tok", accountId: ACCOUNT, keyId: doomed.keyId, wrappingAlgorithm: 1, wrappingKeySpec: 2048, wrappedPrivateKey: Buffer.from("p"), createdAt: T0, expiresAt: T0 });
    const second = version(doomed.keyId, new Date(T0.getTime() + 1));
    store.addPrimaryVersion({ version: second });
    assert.deepEqual([...store.purgeKey(ACCOUNT, doomed.keyId)].sort(), [doomed.primaryVersionId, second.versionId].sort());
    assert.equal(store.getKey(ACCOUNT, doomed.keyId), undefined);
    assert.equal(store.getVersion(second.versionId), undefined);
    assert.equal(store.getAlias(ACCOUNT, "alias/doomed"), undefined);
    assert.equal(store.getImportToken("tok"), undefined);
    assert.deepEqual(store.listTags(ACCOUNT, doomed.keyId, undefined, 10).items, []);
    assert.notEqual(store.getAlias(ACCOUNT, "alias/kept"), undefined);
    assert.equal(store.listTags(ACCOUNT, kept.keyId, undefined, 10).items.length, 1);
    assert.deepEqual(store.purgeKey(ACCOUNT, doomed.keyId), []);
  });

  test("expired import tokens are deleted, live ones kept", () => {
    const key = create(store);
    const token = (tokenId: string, expiresAt: Date) => ({ tokenId, accountId: ACCOUNT, keyId: key.keyId, wrappingAlgorithm: 1, wrappingKeySpec: 2048, wrappedPrivateKey: Buffer.from("p"), createdAt: T0, expiresAt });
    store.putImportToken(token("old", new Date(T0.getTime() + 1)));
    store.putImportToken(token("live", new Date(T0.getTime() + 10)));
    assert.equal(store.deleteExpiredImportTokens(new Date(T0.getTime() + 1)), 1);
    assert.equal(store.getImportToken("old"), undefined);
    assert.notEqual(store.getImportToken("live"), undefined);
  });

  test("updateKey sets and clears lifecycle fields", () => {
    const key = create(store);
    const at = new Date(T0.getTime() + 5);
    const set = store.updateKey(ACCOUNT, key.keyId, { deletionDate: at, deletionProtection: true, rotationPeriodDays: 30, nextRotationAt: at, materialExpiresAt: at, importedMaterialDigest: Buffer.from("d") })!;
    assert.deepEqual([set.deletionDate, set.deletionProtection, set.rotationPeriodDays, set.nextRotationAt, set.materialExpiresAt, set.importedMaterialDigest], [at, true, 30, at, at, Buffer.from("d")]);
    const cleared = store.updateKey(ACCOUNT, key.keyId, { deletionDate: null, nextRotationAt: null, materialExpiresAt: null, description: "x" })!;
    assert.deepEqual([cleared.deletionDate, cleared.nextRotationAt, cleared.materialExpiresAt, cleared.deletionProtection, cleared.description], [undefined, undefined, undefined, true, "x"]);
  });
});
