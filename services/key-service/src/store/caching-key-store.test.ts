import assert from "node:assert/strict";
import { test } from "node:test";
import { KeyManager, KeySpec, KeyState, KeyUsage, Origin, KeyVersionSource } from "@keyhold/proto";
import { NEW_KEY_LIFECYCLE } from "./records.ts";
import { CachingKeyStore } from "./caching-key-store.ts";
import type { KeyStore } from "./key-store.ts";
import { openSqliteDatabase, SqliteKeyStore } from "./sqlite-key-store.ts";

const ACCOUNT = "111122223333";

/** `store` with some methods replaced (the others called on `store` itself). */
function withOverrides(store: KeyStore, overrides: Partial<KeyStore>): KeyStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      if (Object.hasOwn(overrides, property)) return overrides[property as keyof KeyStore];
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** Counts the reads that reach the database. */
function counting(store: KeyStore) {
  const reads = { getKey: 0, getVersion: 0, getAlias: 0 };
  const wrapped = withOverrides(store, {
    getKey: (a, k) => (reads.getKey++, store.getKey(a, k)),
    getVersion: (v) => (reads.getVersion++, store.getVersion(v)),
    getAlias: (a, n) => (reads.getAlias++, store.getAlias(a, n)),
  });
  return { wrapped, reads };
}

async function seed(store: KeyStore, keyId: string, versionId: string) {
  const now = new Date(0);
  await store.createKey({
    key: {
      keyId,
      accountId: ACCOUNT,
      description: "d",
      keySpec: KeySpec.SYMMETRIC_DEFAULT,
      keyUsage: KeyUsage.ENCRYPT_DECRYPT,
      origin: Origin.SOFTWARE,
      keyManager: KeyManager.CUSTOMER,
      state: KeyState.ENABLED,
      createdAt: now,
      primaryVersionId: versionId,
      ...NEW_KEY_LIFECYCLE,
    },
    firstVersion: { versionId, keyId, accountId: ACCOUNT, wrappedMaterial: Buffer.from([1]), wrappedBy: "test", createdAt: now, source: KeyVersionSource.CREATION, publicKey: undefined },
    tags: [],
    idempotency: undefined,
  });
}

const K1 = "00000000-0000-4000-8000-000000000001";
const K2 = "00000000-0000-4000-8000-000000000002";
const V1 = "00000000-0000-4000-8000-0000000000a1";
const V2 = "00000000-0000-4000-8000-0000000000a2";

test("repeated reads of keys, versions and aliases reach the database once", async () => {
  const sqlite = new SqliteKeyStore(openSqliteDatabase(":memory:"));
  await seed(sqlite, K1, V1);
  const { wrapped, reads } = counting(sqlite);
  const store = new CachingKeyStore(wrapped, 100);
  await store.createAlias({ accountId: ACCOUNT, aliasName: "alias/a", targetKeyId: K1, createdAt: new Date(0), updatedAt: new Date(0) });
  for (let i = 0; i < 5; i++) {
    assert.equal((await store.getKey(ACCOUNT, K1))?.keyId, K1);
    assert.equal((await store.getVersion(V1))?.keyId, K1);
    assert.equal((await store.getAlias(ACCOUNT, "alias/a"))?.targetKeyId, K1);
  }
  assert.deepEqual(reads, { getKey: 1, getVersion: 1, getAlias: 1 });
  await store.close();
});

test("writes are visible at once: key state, alias moves and deletes", async () => {
  const store = new CachingKeyStore(new SqliteKeyStore(openSqliteDatabase(":memory:")), 100);
  await seed(store, K1, V1);
  await seed(store, K2, V2);
  assert.equal((await store.getKey(ACCOUNT, K1))?.state, KeyState.ENABLED);
  await store.updateKey(ACCOUNT, K1, { state: KeyState.DISABLED });
  assert.equal((await store.getKey(ACCOUNT, K1))?.state, KeyState.DISABLED);

  await store.createAlias({ accountId: ACCOUNT, aliasName: "alias/b", targetKeyId: K1, createdAt: new Date(0), updatedAt: new Date(0) });
  assert.equal((await store.getAlias(ACCOUNT, "alias/b"))?.targetKeyId, K1);
  await store.updateAlias(ACCOUNT, "alias/b", K2, new Date(1));
  assert.equal((await store.getAlias(ACCOUNT, "alias/b"))?.targetKeyId, K2);
  await store.deleteAlias(ACCOUNT, "alias/b");
  assert.equal((await store.getAlias(ACCOUNT, "alias/b")), undefined);
  await store.close();
});

test("missing records are not cached, and the cache is bounded", async () => {
  const sqlite = new SqliteKeyStore(openSqliteDatabase(":memory:"));
  const { wrapped, reads } = counting(sqlite);
  const store = new CachingKeyStore(wrapped, 1);
  assert.equal((await store.getKey(ACCOUNT, K1)), undefined);
  await seed(sqlite, K1, V1);
  await seed(sqlite, K2, V2);
  assert.equal((await store.getKey(ACCOUNT, K1))?.keyId, K1);
  assert.equal((await store.getKey(ACCOUNT, K2))?.keyId, K2); // evicts K1
  assert.equal((await store.getKey(ACCOUNT, K1))?.keyId, K1);
  assert.equal(reads.getKey, 4);
  await store.close();
});

test("a read that started before a write and finishes after it does not put the old record back", async () => {
  const sqlite = new SqliteKeyStore(openSqliteDatabase(":memory:"));
  await seed(sqlite, K1, V1);
  // The inner store answers this getKey late: with what it read before the write committed.
  const stale = (await sqlite.getKey(ACCOUNT, K1))!;
  let release: () => void = () => undefined;
  let late = true;
  const slow = withOverrides(sqlite, {
    getKey: (a, k) =>
      late
        ? new Promise((resolve) => {
            release = () => resolve(stale);
          })
        : sqlite.getKey(a, k),
  });
  const store = new CachingKeyStore(slow, 100);
  const read = store.getKey(ACCOUNT, K1);
  const disabled = await store.updateKey(ACCOUNT, K1, { state: KeyState.DISABLED });
  release();
  assert.equal((await read)!.state, KeyState.ENABLED, "the racing read answers what it read");
  late = false;
  assert.deepEqual(await store.getKey(ACCOUNT, K1), disabled, "but the cache holds the written record");
  await store.close();
});

test("a write that overlaps another write on the same key leaves nothing cached (the next read goes to the store)", async () => {
  const sqlite = new SqliteKeyStore(openSqliteDatabase(":memory:"));
  await seed(sqlite, K1, V1);
  const { wrapped, reads } = counting(sqlite);
  const store = new CachingKeyStore(wrapped, 100);
  await Promise.all([store.updateKey(ACCOUNT, K1, { description: "one" }), store.updateKey(ACCOUNT, K1, { description: "two" })]);
  const before = reads.getKey;
  assert.equal((await store.getKey(ACCOUNT, K1))!.description, (await sqlite.getKey(ACCOUNT, K1))!.description);
  assert.equal(reads.getKey, before + 1);
  await store.close();
});
