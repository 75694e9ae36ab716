import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, beforeEach, describe, test } from "node:test";
import { ExternalKeyStoreConnectionErrorCode, ExternalKeyStoreConnectionState, KeyManager, KeySpec, KeyState, KeyUsage, Origin, KeyVersionSource } from "@keyhold/proto";
import Database from "better-sqlite3";
import { NEW_KEY_LIFECYCLE } from "./records.ts";
import type { NewKey, Page } from "./key-store.ts";
import { SQLITE_MIGRATIONS } from "./migrations.ts";
import type { ExternalKeyStoreRecord, KeyRecord, TagRecord } from "./records.ts";
import { openSqliteDatabase, SqliteKeyStore } from "./sqlite-key-store.ts";

const ACCOUNT = "111122223333";
const OTHER = "444455556666";
const T0 = new Date("2025-01-02T03:04:05.678Z");

function newKey(accountId = ACCOUNT, overrides: Partial<KeyRecord> = {}, extra: Partial<Omit<NewKey, "key">> = {}): NewKey {
  const keyId = overrides.keyId ?? randomUUID();
  const versionId = overrides.primaryVersionId ?? randomUUID();
  return {
    key: {
      keyId,
      accountId,
      description: `key ${keyId}`,
      keySpec: KeySpec.SYMMETRIC_DEFAULT,
      keyUsage: KeyUsage.ENCRYPT_DECRYPT,
      origin: Origin.SOFTWARE,
      keyManager: KeyManager.CUSTOMER,
      state: KeyState.ENABLED,
      createdAt: T0,
      primaryVersionId: versionId,
      ...NEW_KEY_LIFECYCLE,
      ...overrides,
    },
    firstVersion: { versionId, keyId, accountId, wrappedMaterial: Buffer.from(`wrapped:${versionId}`), wrappedBy: "test-root", createdAt: T0, source: KeyVersionSource.CREATION, publicKey: undefined },
    tags: [],
    idempotency: undefined,
    ...extra,
  };
}

function created(store: SqliteKeyStore, key: NewKey): KeyRecord {
  const outcome = store.createKey(key);
  assert.equal(outcome.kind, "created");
  return key.key;
}

/** Every item of a paged list, checking each page's size and that the walk ends. */
function walk<T>(fetch: (after: string | undefined) => Page<T>, limit: number): T[][] {
  const pages: T[][] = [];
  let after: string | undefined;
  do {
    const page = fetch(after);
    assert.ok(page.items.length <= limit);
    pages.push([...page.items]);
    after = page.next;
    assert.ok(pages.length < 1000, "paging does not end");
  } while (after !== undefined);
  return pages;
}

const tagsOf = (store: SqliteKeyStore, accountId: string, keyId: string): TagRecord[] => [...store.listTags(accountId, keyId, undefined, 1000).items];

describe("openSqliteDatabase", () => {
  const dirs: string[] = [];
  const tempPath = () => {
    const dir = mkdtempSync(join(tmpdir(), "keyhold-sqlite-store-"));
    dirs.push(dir);
    return join(dir, "nested", "keys.sqlite");
  };
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  const tables = (db: ReturnType<typeof openSqliteDatabase>) =>
    db
      .prepare<[], { name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
      .all()
      .map((r) => r.name);

  test("an in-memory database gets every migration, synchronous=FULL and foreign keys", () => {
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

  test("a file database is created with its directory, in WAL mode with synchronous=FULL", () => {
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

  test("reopening applies no migration again and keeps the data", () => {
    const path = tempPath();
    const first = new SqliteKeyStore(openSqliteDatabase(path));
    const key = newKey(ACCOUNT, {}, { tags: [{ key: "env", value: "prod" }], idempotency: { operation: "CreateKey", token: "tok", requestHash: "h1" } });
    created(first, key);
    first.createAlias({ accountId: ACCOUNT, aliasName: "alias/kept", targetKeyId: key.key.keyId, createdAt: T0, updatedAt: T0 });
    first.close();

    // A migration applied twice would fail (CREATE TABLE of an existing table) or wipe data.
    const db = openSqliteDatabase(path);
    assert.equal(db.pragma("user_version", { simple: true }), SQLITE_MIGRATIONS.length);
    assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
    const second = new SqliteKeyStore(db);
    try {
      assert.deepEqual(second.getKey(ACCOUNT, key.key.keyId), key.key);
      assert.deepEqual(second.getVersion(key.firstVersion.versionId), key.firstVersion);
      assert.equal(second.getAlias(ACCOUNT, "alias/kept")?.targetKeyId, key.key.keyId);
      assert.deepEqual(tagsOf(second, ACCOUNT, key.key.keyId), [{ key: "env", value: "prod" }]);
      assert.deepEqual(second.findIdempotency(ACCOUNT, "CreateKey", "tok"), { requestHash: "h1", resourceId: key.key.keyId });
    } finally {
      second.close();
    }
  });
});

describe("SqliteKeyStore", () => {
  let store: SqliteKeyStore;
  beforeEach(() => {
    store = new SqliteKeyStore(openSqliteDatabase(":memory:"));
  });
  afterEach(() => store.close());

  describe("keys", () => {
    test("a created key, its first version and its tags read back exactly", () => {
      const key = newKey(ACCOUNT, { deletionDate: new Date("2026-01-01T00:00:00.001Z") }, { tags: [{ key: "b", value: "2" }, { key: "a", value: "" }] });
      assert.deepEqual(store.createKey(key), { kind: "created", key: key.key });
      assert.deepEqual(store.getKey(ACCOUNT, key.key.keyId), key.key);
      const version = store.getVersion(key.firstVersion.versionId)!;
      assert.deepEqual(version, key.firstVersion);
      assert.ok(Buffer.isBuffer(version.wrappedMaterial));
      assert.deepEqual(tagsOf(store, ACCOUNT, key.key.keyId), [
        { key: "a", value: "" },
        { key: "b", value: "2" },
      ]);
      const plain = created(store, newKey());
      assert.equal(store.getKey(ACCOUNT, plain.keyId)!.deletionDate, undefined);
    });

    test("a key is only found in its own account", () => {
      const key = created(store, newKey());
      assert.equal(store.getKey(OTHER, key.keyId), undefined);
      assert.equal(store.getKey(ACCOUNT, randomUUID()), undefined);
      assert.equal(store.getVersion(randomUUID()), undefined);
    });

    test("updateKey patches description and state, only in the key's own account", () => {
      const key = created(store, newKey());
      assert.deepEqual(store.updateKey(ACCOUNT, key.keyId, { description: "new" }), { ...key, description: "new" });
      assert.deepEqual(store.updateKey(ACCOUNT, key.keyId, { state: KeyState.DISABLED }), { ...key, description: "new", state: KeyState.DISABLED });
      assert.deepEqual(store.updateKey(ACCOUNT, key.keyId, { description: "", state: KeyState.ENABLED }), { ...key, description: "" });
      assert.equal(store.updateKey(OTHER, key.keyId, { description: "theirs", state: KeyState.DISABLED }), undefined);
      assert.deepEqual(store.getKey(ACCOUNT, key.keyId), { ...key, description: "" });
      assert.equal(store.updateKey(ACCOUNT, randomUUID(), { description: "x" }), undefined);
    });

    test("a failing createKey stores none of its rows", () => {
      const first = created(store, newKey());
      // Same version id as an existing version: the version insert fails after the key insert.
      const clash = newKey(ACCOUNT, { primaryVersionId: first.primaryVersionId }, {
        tags: [{ key: "t", value: "v" }],
        idempotency: { operation: "CreateKey", token: "clash", requestHash: "h" },
      });
      assert.throws(() => store.createKey(clash));
      assert.equal(store.getKey(ACCOUNT, clash.key.keyId), undefined);
      assert.equal(store.findIdempotency(ACCOUNT, "CreateKey", "clash"), undefined);
      assert.deepEqual(tagsOf(store, ACCOUNT, clash.key.keyId), []);
      assert.equal(store.listKeys(ACCOUNT, undefined, 100).items.length, 1);
    });

    test("listKeys pages in key id order and walks every key of the account exactly once", () => {
      const ids = Array.from({ length: 7 }, () => created(store, newKey()).keyId).sort();
      created(store, newKey(OTHER));
      const pages = walk((after) => store.listKeys(ACCOUNT, after, 3), 3);
      assert.deepEqual(
        pages.map((p) => p.length),
        [3, 3, 1],
      );
      assert.deepEqual(
        pages.flat().map((k) => k.keyId),
        ids,
      );
      const exact = store.listKeys(ACCOUNT, undefined, 7);
      assert.equal(exact.items.length, 7);
      assert.equal(exact.next, undefined);
      const firstPage = store.listKeys(ACCOUNT, undefined, 2);
      assert.equal(firstPage.next, ids[1]);
      assert.deepEqual(
        store.listKeys(ACCOUNT, firstPage.next, 100).items.map((k) => k.keyId),
        ids.slice(2),
      );
      assert.deepEqual(store.listKeys("999999999999", undefined, 10), { items: [], next: undefined });
    });
  });

  describe("idempotency", () => {
    test("a second createKey with the same token replays the first and stores nothing", () => {
      const idempotency = { operation: "CreateKey", token: "once", requestHash: "hash-1" };
      const first = newKey(ACCOUNT, {}, { idempotency, tags: [{ key: "t", value: "1" }] });
      created(store, first);
      assert.deepEqual(store.findIdempotency(ACCOUNT, "CreateKey", "once"), { requestHash: "hash-1", resourceId: first.key.keyId });

      const second = newKey(ACCOUNT, {}, { idempotency: { ...idempotency, requestHash: "hash-2" }, tags: [{ key: "t", value: "2" }] });
      assert.deepEqual(store.createKey(second), { kind: "replayed", previous: { requestHash: "hash-1", resourceId: first.key.keyId } });
      assert.equal(store.getKey(ACCOUNT, second.key.keyId), undefined);
      assert.equal(store.getVersion(second.firstVersion.versionId), undefined);
      assert.deepEqual(tagsOf(store, ACCOUNT, first.key.keyId), [{ key: "t", value: "1" }]);
      assert.equal(store.listKeys(ACCOUNT, undefined, 100).items.length, 1);
      assert.deepEqual(store.findIdempotency(ACCOUNT, "CreateKey", "once"), { requestHash: "hash-1", resourceId: first.key.keyId });
    });

    test("tokens are scoped by account and operation", () => {
      const token = "shared";
      created(store, newKey(ACCOUNT, {}, { idempotency: { operation: "CreateKey", token, requestHash: "a" } }));
      created(store, newKey(OTHER, {}, { idempotency: { operation: "CreateKey", token, requestHash: "b" } }));
      created(store, newKey(ACCOUNT, {}, { idempotency: { operation: "ImportKey", token, requestHash: "c" } }));
      assert.equal(store.findIdempotency(ACCOUNT, "CreateKey", token)!.requestHash, "a");
      assert.equal(store.findIdempotency(OTHER, "CreateKey", token)!.requestHash, "b");
      assert.equal(store.findIdempotency(ACCOUNT, "ImportKey", token)!.requestHash, "c");
      assert.equal(store.findIdempotency(OTHER, "ImportKey", token), undefined);
    });

    test("keys created without a token record nothing", () => {
      created(store, newKey());
      assert.equal(store.findIdempotency(ACCOUNT, "CreateKey", ""), undefined);
    });
  });

  describe("aliases", () => {
    const alias = (accountId: string, aliasName: string, targetKeyId: string, at = T0) => ({ accountId, aliasName, targetKeyId, createdAt: at, updatedAt: at });

    test("a name is unique within an account; the same name in another account is fine", () => {
      const a = created(store, newKey());
      const b = created(store, newKey());
      const theirs = created(store, newKey(OTHER));
      assert.equal(store.createAlias(alias(ACCOUNT, "alias/x", a.keyId)), "ok");
      assert.equal(store.createAlias(alias(ACCOUNT, "alias/x", b.keyId)), "exists");
      assert.equal(store.getAlias(ACCOUNT, "alias/x")!.targetKeyId, a.keyId);
      assert.equal(store.createAlias(alias(OTHER, "alias/x", theirs.keyId)), "ok");
      assert.deepEqual(store.getAlias(ACCOUNT, "alias/x"), alias(ACCOUNT, "alias/x", a.keyId));
      assert.deepEqual(store.getAlias(OTHER, "alias/x"), alias(OTHER, "alias/x", theirs.keyId));
      assert.equal(store.getAlias(ACCOUNT, "alias/y"), undefined);
    });

    test("an alias must target a stored key", () => {
      assert.throws(() => store.createAlias(alias(ACCOUNT, "alias/dangling", randomUUID())), /FOREIGN KEY/);
      assert.equal(store.getAlias(ACCOUNT, "alias/dangling"), undefined);
    });

    test("updateAlias retargets in the alias's own account and keeps its creation date", () => {
      const a = created(store, newKey());
      const b = created(store, newKey());
      store.createAlias(alias(ACCOUNT, "alias/move", a.keyId));
      store.createAlias(alias(OTHER, "alias/move", created(store, newKey(OTHER)).keyId));
      const later = new Date(T0.getTime() + 60_000);
      assert.equal(store.updateAlias(ACCOUNT, "alias/move", b.keyId, later), "ok");
      assert.deepEqual(store.getAlias(ACCOUNT, "alias/move"), { ...alias(ACCOUNT, "alias/move", b.keyId), updatedAt: later });
      assert.notEqual(store.getAlias(OTHER, "alias/move")!.targetKeyId, b.keyId);
      assert.equal(store.updateAlias(ACCOUNT, "alias/absent", b.keyId, later), "missing");
      assert.equal(store.getAlias(ACCOUNT, "alias/absent"), undefined);
    });

    test("deleteAlias removes only the account's own alias", () => {
      const a = created(store, newKey());
      store.createAlias(alias(ACCOUNT, "alias/gone", a.keyId));
      store.createAlias(alias(OTHER, "alias/gone", created(store, newKey(OTHER)).keyId));
      assert.equal(store.deleteAlias(ACCOUNT, "alias/gone"), "ok");
      assert.equal(store.deleteAlias(ACCOUNT, "alias/gone"), "missing");
      assert.equal(store.getAlias(ACCOUNT, "alias/gone"), undefined);
      assert.notEqual(store.getAlias(OTHER, "alias/gone"), undefined);
      assert.notEqual(store.getKey(ACCOUNT, a.keyId), undefined);
    });

    test("listAliases pages by name, for the account or for one key, each alias once", () => {
      const a = created(store, newKey());
      const b = created(store, newKey());
      const ofA = ["alias/a-1", "alias/a-2", "alias/a-3", "alias/a-4", "alias/a-5"];
      const ofB = ["alias/b-1", "alias/b-2"];
      for (const name of [...ofA].reverse()) store.createAlias(alias(ACCOUNT, name, a.keyId));
      for (const name of ofB) store.createAlias(alias(ACCOUNT, name, b.keyId));
      store.createAlias(alias(OTHER, "alias/a-0", created(store, newKey(OTHER)).keyId));

      const all = walk((after) => store.listAliases(ACCOUNT, undefined, after, 3), 3);
      assert.deepEqual(
        all.map((p) => p.length),
        [3, 3, 1],
      );
      assert.deepEqual(
        all.flat().map((x) => x.aliasName),
        [...ofA, ...ofB],
      );
      const onlyA = walk((after) => store.listAliases(ACCOUNT, a.keyId, after, 2), 2);
      assert.deepEqual(
        onlyA.flat().map((x) => x.aliasName),
        ofA,
      );
      assert.deepEqual(
        store.listAliases(ACCOUNT, b.keyId, undefined, 2).items.map((x) => x.aliasName),
        ofB,
      );
      assert.equal(store.listAliases(ACCOUNT, b.keyId, undefined, 2).next, undefined);
      assert.deepEqual(
        store.listAliases(OTHER, a.keyId, undefined, 10).items,
        [],
      );
    });
  });

  describe("tags", () => {
    /** n tags named prefix00, prefix01, … (so they sort by number). */
    const tags = (n: number, prefix = "t", value = "v"): TagRecord[] =>
      Array.from({ length: n }, (_, i) => ({ key: `${prefix}${String(i).padStart(2, "0")}`, value }));

    test("putTags adds and overwrites up to the limit", () => {
      const key = created(store, newKey());
      assert.equal(store.putTags(ACCOUNT, key.keyId, tags(15), 20), "ok");
      assert.equal(store.putTags(ACCOUNT, key.keyId, [...tags(3, "t", "new"), ...tags(5, "u")], 20), "ok");
      const stored = tagsOf(store, ACCOUNT, key.keyId);
      assert.equal(stored.length, 20);
      assert.deepEqual(stored.slice(0, 4), [
        { key: "t00", value: "new" },
        { key: "t01", value: "new" },
        { key: "t02", value: "new" },
        { key: "t03", value: "v" },
      ]);
    });

    test("putTags over the limit refuses and changes nothing, not even overwrites", () => {
      const key = created(store, newKey());
      store.putTags(ACCOUNT, key.keyId, tags(19), 20);
      const before = tagsOf(store, ACCOUNT, key.keyId);
      assert.equal(store.putTags(ACCOUNT, key.keyId, [{ key: "t00", value: "changed" }, ...tags(2, "new")], 20), "limit");
      assert.deepEqual(tagsOf(store, ACCOUNT, key.keyId), before);
      assert.equal(store.putTags(ACCOUNT, key.keyId, [{ key: "t00", value: "changed" }, ...tags(1, "new")], 20), "ok");
      assert.equal(tagsOf(store, ACCOUNT, key.keyId).length, 20);
      assert.equal(store.putTags(ACCOUNT, key.keyId, tags(1, "one-more"), 20), "limit");
      assert.equal(tagsOf(store, ACCOUNT, key.keyId).length, 20);
    });

    test("tag writes for a key of another account change nothing", () => {
      const key = created(store, newKey(ACCOUNT, {}, { tags: [{ key: "keep", value: "1" }] }));
      store.putTags(OTHER, key.keyId, [{ key: "keep", value: "theirs" }, { key: "added", value: "x" }], 20);
      store.removeTags(OTHER, key.keyId, ["keep"]);
      assert.deepEqual(tagsOf(store, ACCOUNT, key.keyId), [{ key: "keep", value: "1" }]);
      assert.deepEqual(store.listTags(OTHER, key.keyId, undefined, 10), { items: [], next: undefined });
    });

    test("removeTags removes the named keys and ignores unknown ones", () => {
      const key = created(store, newKey(ACCOUNT, {}, { tags: tags(4) }));
      store.removeTags(ACCOUNT, key.keyId, ["t01", "t03", "nope"]);
      assert.deepEqual(
        tagsOf(store, ACCOUNT, key.keyId).map((t) => t.key),
        ["t00", "t02"],
      );
    });

    test("listTags pages by tag key and walks every tag exactly once", () => {
      const key = created(store, newKey(ACCOUNT, {}, { tags: [...tags(20)].reverse() }));
      const pages = walk((after) => store.listTags(ACCOUNT, key.keyId, after, 6), 6);
      assert.deepEqual(
        pages.map((p) => p.length),
        [6, 6, 6, 2],
      );
      assert.deepEqual(pages.flat(), tags(20));
      assert.deepEqual(store.listTags(ACCOUNT, randomUUID(), undefined, 10), { items: [], next: undefined });
    });
  });
});

function externalKeyStore(accountId = ACCOUNT, overrides: Partial<ExternalKeyStoreRecord> = {}): ExternalKeyStoreRecord {
  return {
    externalKeyStoreId: randomUUID(),
    accountId,
    name: `store-${randomUUID()}`,
    endpoint: "https://xks.example.com",
    uriPath: "/tenant/kms/xks/v1",
    accessKeyId: "ABCDEFGHIJKLMNOPQRST",
    wrappedSecretAccessKey: Buffer.from("wrapped-secret"),
    tlsCaPem: "",
    tlsClientCertificatePem: "",
    wrappedTlsClientKey: Buffer.alloc(0),
    tlsServerName: "",
    connectionState: ExternalKeyStoreConnectionState.DISCONNECTED,
    connectionErrorCode: ExternalKeyStoreConnectionErrorCode.UNSPECIFIED,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

describe("SqliteKeyStore external key stores", () => {
  let store: SqliteKeyStore;
  beforeEach(() => {
    store = new SqliteKeyStore(openSqliteDatabase(":memory:"));
  });
  afterEach(() => store.close());

  test("create, get (per account), list in pages, names unique per account", () => {
    const first = externalKeyStore(ACCOUNT, { name: "one" });
    assert.equal(store.createExternalKeyStore(first), "ok");
    assert.deepEqual(store.getExternalKeyStore(ACCOUNT, first.externalKeyStoreId), first);
    assert.equal(store.getExternalKeyStore(OTHER, first.externalKeyStoreId), undefined);
    assert.equal(store.createExternalKeyStore(externalKeyStore(ACCOUNT, { name: "one" })), "exists");
    assert.equal(store.createExternalKeyStore(externalKeyStore(OTHER, { name: "one" })), "ok");
    for (let i = 0; i < 4; i++) store.createExternalKeyStore(externalKeyStore(ACCOUNT));
    const pages = walk((after) => store.listExternalKeyStores(ACCOUNT, after, 2), 2);
    assert.equal(pages.flat().length, 5);
    assert.ok(pages.flat().every((s) => s.accountId === ACCOUNT));
  });

  test("update changes only the given fields; a taken name and a missing store are reported", () => {
    const one = externalKeyStore(ACCOUNT, { name: "one" });
    const two = externalKeyStore(ACCOUNT, { name: "two" });
    store.createExternalKeyStore(one);
    store.createExternalKeyStore(two);
    const later = new Date(T0.getTime() + 1000);
    assert.equal(
      store.updateExternalKeyStore(ACCOUNT, one.externalKeyStoreId, {
        connectionState: ExternalKeyStoreConnectionState.FAILED,
        connectionErrorCode: ExternalKeyStoreConnectionErrorCode.XKS_PROXY_TIMED_OUT,
        wrappedSecretAccessKey: Buffer.from("new-wrapped"),
        updatedAt: later,
      }),
      "ok",
    );
    assert.deepEqual(store.getExternalKeyStore(ACCOUNT, one.externalKeyStoreId), {
      ...one,
      connectionState: ExternalKeyStoreConnectionState.FAILED,
      connectionErrorCode: ExternalKeyStoreConnectionErrorCode.XKS_PROXY_TIMED_OUT,
      wrappedSecretAccessKey: Buffer.from("new-wrapped"),
      updatedAt: later,
    });
    assert.equal(store.updateExternalKeyStore(ACCOUNT, one.externalKeyStoreId, { name: "two" }), "exists");
    assert.equal(store.updateExternalKeyStore(ACCOUNT, one.externalKeyStoreId, { name: "one" }), "ok");
    assert.equal(store.updateExternalKeyStore(OTHER, one.externalKeyStoreId, { name: "x" }), "missing");
  });

  test("keys keep their external key; a store in use by a key (even pending deletion) cannot be deleted until the key is purged", () => {
    const xks = externalKeyStore();
    store.createExternalKeyStore(xks);
    const key = created(store, newKey(ACCOUNT, { origin: Origin.EXTERNAL_KEY_STORE, externalKey: { externalKeyStoreId: xks.externalKeyStoreId, xksKeyId: "ext-1" } }));
    assert.deepEqual(store.getKey(ACCOUNT, key.keyId)!.externalKey, { externalKeyStoreId: xks.externalKeyStoreId, xksKeyId: "ext-1" });
    store.updateKey(ACCOUNT, key.keyId, { state: KeyState.PENDING_DELETION, deletionDate: T0 });
    assert.equal(store.deleteExternalKeyStore(ACCOUNT, xks.externalKeyStoreId), "in-use");
    store.purgeKey(ACCOUNT, key.keyId);
    assert.equal(store.deleteExternalKeyStore(OTHER, xks.externalKeyStoreId), "missing");
    assert.equal(store.deleteExternalKeyStore(ACCOUNT, xks.externalKeyStoreId), "ok");
    assert.equal(store.getExternalKeyStore(ACCOUNT, xks.externalKeyStoreId), undefined);
    // A key cannot reference a store that does not exist (foreign key).
    assert.throws(() => store.createKey(newKey(ACCOUNT, { origin: Origin.EXTERNAL_KEY_STORE, externalKey: { externalKeyStoreId: randomUUID(), xksKeyId: "x" } })));
  });

  test("a database at schema version 2 migrates to 3 keeping its keys (no external key)", () => {
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
        assert.equal(migrated.getKey(ACCOUNT, keyId)!.externalKey, undefined);
        assert.equal(migrated.listExternalKeyStores(ACCOUNT, undefined, 10).items.length, 0);
      } finally {
        migrated.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
