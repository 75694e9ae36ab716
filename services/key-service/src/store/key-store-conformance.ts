// The behaviour every KeyStore implementation must show (SQLite for one process, PostgreSQL for
// replicas): one suite, run by each implementation's test file with a factory for a fresh, empty
// store. Uniqueness, paging order and cursors, idempotency records, purge in one transaction, tag
// limits, conditional writes (rotation schedule, alias moves, key changes decided in the write).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, test } from "node:test";
import { ExternalKeyStoreConnectionErrorCode, ExternalKeyStoreConnectionState, KeyManager, KeySpec, KeyState, KeyUsage, KeyVersionSource, Origin } from "@keyhold/proto";
import type { KeyStore, NewKey, Page } from "./key-store.ts";
import { NEW_KEY_LIFECYCLE, type ExternalKeyStoreRecord, type KeyRecord, type KeyVersionRecord, type TagRecord } from "./records.ts";

export const ACCOUNT = "111122223333";
const OTHER = "444455556666";
export const T0 = new Date("2025-01-02T03:04:05.678Z");

/** A new software ENCRYPT_DECRYPT key of `accountId` created at T0 (its records as overridden). */
export function newKey(accountId = ACCOUNT, overrides: Partial<KeyRecord> = {}, extra: Partial<Omit<NewKey, "key">> = {}): NewKey {
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

/** Creates `key` (asserting it was created) and answers its record. */
export async function created(store: KeyStore, key: NewKey): Promise<KeyRecord> {
  const outcome = (await store.createKey(key));
  assert.equal(outcome.kind, "created");
  return key.key;
}

/** Every item of a paged list, checking each page's size and that the walk ends. */
async function walk<T>(fetch: (after: string | undefined) => Promise<Page<T>>, limit: number): Promise<T[][]> {
  const pages: T[][] = [];
  let after: string | undefined;
  do {
    const page = await fetch(after);
    assert.ok(page.items.length <= limit);
    pages.push([...page.items]);
    after = page.next;
    assert.ok(pages.length < 1000, "paging does not end");
  } while (after !== undefined);
  return pages;
}

const tagsOf = async (store: KeyStore, accountId: string, keyId: string): Promise<TagRecord[]> => [...(await store.listTags(accountId, keyId, undefined, 1000)).items];


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


function version(keyId: string, at: Date, source = KeyVersionSource.CREATION): KeyVersionRecord {
  return { versionId: randomUUID(), keyId, accountId: ACCOUNT, wrappedMaterial: Buffer.from("w"), wrappedBy: "t", createdAt: at, source, publicKey: undefined };
}

async function create(store: KeyStore, overrides: Partial<KeyRecord> = {}): Promise<KeyRecord> {
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
  await store.createKey({ key, firstVersion: first, tags: [{ key: "t", value: "v" }], idempotency: undefined });
  return key;
}


/** Runs the suite against fresh stores from `open` (each closed after its test). */
export function keyStoreConformance(name: string, open: () => Promise<KeyStore>): void {
  describe(`${name} (KeyStore conformance)`, () => {
    let store: KeyStore;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

  describe("keys", () => {
    test("a created key, its first version and its tags read back exactly", async () => {
      const key = newKey(ACCOUNT, { deletionDate: new Date("2026-01-01T00:00:00.001Z") }, { tags: [{ key: "b", value: "2" }, { key: "a", value: "" }] });
      assert.deepEqual((await store.createKey(key)), { kind: "created", key: key.key });
      assert.deepEqual((await store.getKey(ACCOUNT, key.key.keyId)), key.key);
      const version = (await store.getVersion(key.firstVersion.versionId))!;
      assert.deepEqual(version, key.firstVersion);
      assert.ok(Buffer.isBuffer(version.wrappedMaterial));
      assert.deepEqual(await tagsOf(store, ACCOUNT, key.key.keyId), [
        { key: "a", value: "" },
        { key: "b", value: "2" },
      ]);
      const plain = await created(store, newKey());
      assert.equal((await store.getKey(ACCOUNT, plain.keyId))!.deletionDate, undefined);
    });

    test("a key is only found in its own account", async () => {
      const key = await created(store, newKey());
      assert.equal((await store.getKey(OTHER, key.keyId)), undefined);
      assert.equal((await store.getKey(ACCOUNT, randomUUID())), undefined);
      assert.equal((await store.getVersion(randomUUID())), undefined);
    });

    test("updateKey patches description and state, only in the key's own account", async () => {
      const key = await created(store, newKey());
      assert.deepEqual((await store.updateKey(ACCOUNT, key.keyId, { description: "new" })), { ...key, description: "new" });
      assert.deepEqual((await store.updateKey(ACCOUNT, key.keyId, { state: KeyState.DISABLED })), { ...key, description: "new", state: KeyState.DISABLED });
      assert.deepEqual((await store.updateKey(ACCOUNT, key.keyId, { description: "", state: KeyState.ENABLED })), { ...key, description: "" });
      assert.equal((await store.updateKey(OTHER, key.keyId, { description: "theirs", state: KeyState.DISABLED })), undefined);
      assert.deepEqual((await store.getKey(ACCOUNT, key.keyId)), { ...key, description: "" });
      assert.equal((await store.updateKey(ACCOUNT, randomUUID(), { description: "x" })), undefined);
    });

    test("a failing createKey stores none of its rows", async () => {
      const first = await created(store, newKey());
      // Same version id as an existing version: the version insert fails after the key insert.
      const clash = newKey(ACCOUNT, { primaryVersionId: first.primaryVersionId }, {
        tags: [{ key: "t", value: "v" }],
        idempotency: { operation: "CreateKey", token: "clash", requestHash: "h" },
      });
      await assert.rejects(store.createKey(clash));
      assert.equal((await store.getKey(ACCOUNT, clash.key.keyId)), undefined);
      assert.equal((await store.findIdempotency(ACCOUNT, "CreateKey", "clash")), undefined);
      assert.deepEqual(await tagsOf(store, ACCOUNT, clash.key.keyId), []);
      assert.equal((await store.listKeys(ACCOUNT, undefined, 100)).items.length, 1);
    });

    test("listKeys pages in key id order and walks every key of the account exactly once", async () => {
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) ids.push((await created(store, newKey())).keyId);
      ids.sort();
      await created(store, newKey(OTHER));
      const pages = await walk((after) => store.listKeys(ACCOUNT, after, 3), 3);
      assert.deepEqual(
        pages.map((p) => p.length),
        [3, 3, 1],
      );
      assert.deepEqual(
        pages.flat().map((k) => k.keyId),
        ids,
      );
      const exact = (await store.listKeys(ACCOUNT, undefined, 7));
      assert.equal(exact.items.length, 7);
      assert.equal(exact.next, undefined);
      const firstPage = (await store.listKeys(ACCOUNT, undefined, 2));
      assert.equal(firstPage.next, ids[1]);
      assert.deepEqual(
        (await store.listKeys(ACCOUNT, firstPage.next, 100)).items.map((k) => k.keyId),
        ids.slice(2),
      );
      assert.deepEqual((await store.listKeys("999999999999", undefined, 10)), { items: [], next: undefined });
    });
  });

  describe("idempotency", () => {
    test("a second createKey with the same token replays the first and stores nothing", async () => {
      const idempotency = { operation: "CreateKey", token: "once", requestHash: "hash-1" };
      const first = newKey(ACCOUNT, {}, { idempotency, tags: [{ key: "t", value: "1" }] });
      await created(store, first);
      assert.deepEqual((await store.findIdempotency(ACCOUNT, "CreateKey", "once")), { requestHash: "hash-1", resourceId: first.key.keyId });

      const second = newKey(ACCOUNT, {}, { idempotency: { ...idempotency, requestHash: "hash-2" }, tags: [{ key: "t", value: "2" }] });
      assert.deepEqual((await store.createKey(second)), { kind: "replayed", previous: { requestHash: "hash-1", resourceId: first.key.keyId } });
      assert.equal((await store.getKey(ACCOUNT, second.key.keyId)), undefined);
      assert.equal((await store.getVersion(second.firstVersion.versionId)), undefined);
      assert.deepEqual(await tagsOf(store, ACCOUNT, first.key.keyId), [{ key: "t", value: "1" }]);
      assert.equal((await store.listKeys(ACCOUNT, undefined, 100)).items.length, 1);
      assert.deepEqual((await store.findIdempotency(ACCOUNT, "CreateKey", "once")), { requestHash: "hash-1", resourceId: first.key.keyId });
    });

    test("tokens are scoped by account and operation", async () => {
      const token = "shared";
      await created(store, newKey(ACCOUNT, {}, { idempotency: { operation: "CreateKey", token, requestHash: "a" } }));
      await created(store, newKey(OTHER, {}, { idempotency: { operation: "CreateKey", token, requestHash: "b" } }));
      await created(store, newKey(ACCOUNT, {}, { idempotency: { operation: "ImportKey", token, requestHash: "c" } }));
      assert.equal((await store.findIdempotency(ACCOUNT, "CreateKey", token))!.requestHash, "a");
      assert.equal((await store.findIdempotency(OTHER, "CreateKey", token))!.requestHash, "b");
      assert.equal((await store.findIdempotency(ACCOUNT, "ImportKey", token))!.requestHash, "c");
      assert.equal((await store.findIdempotency(OTHER, "ImportKey", token)), undefined);
    });

    test("keys created without a token record nothing", async () => {
      await created(store, newKey());
      assert.equal((await store.findIdempotency(ACCOUNT, "CreateKey", "")), undefined);
    });
  });

  describe("aliases", () => {
    const alias = (accountId: string, aliasName: string, targetKeyId: string, at = T0) => ({ accountId, aliasName, targetKeyId, createdAt: at, updatedAt: at });

    test("a name is unique within an account; the same name in another account is fine", async () => {
      const a = await created(store, newKey());
      const b = await created(store, newKey());
      const theirs = await created(store, newKey(OTHER));
      assert.equal((await store.createAlias(alias(ACCOUNT, "alias/x", a.keyId))), "ok");
      assert.equal((await store.createAlias(alias(ACCOUNT, "alias/x", b.keyId))), "exists");
      assert.equal((await store.getAlias(ACCOUNT, "alias/x"))!.targetKeyId, a.keyId);
      assert.equal((await store.createAlias(alias(OTHER, "alias/x", theirs.keyId))), "ok");
      assert.deepEqual((await store.getAlias(ACCOUNT, "alias/x")), alias(ACCOUNT, "alias/x", a.keyId));
      assert.deepEqual((await store.getAlias(OTHER, "alias/x")), alias(OTHER, "alias/x", theirs.keyId));
      assert.equal((await store.getAlias(ACCOUNT, "alias/y")), undefined);
    });

    test("an alias must target a stored key", async () => {
      assert.equal(await store.createAlias(alias(ACCOUNT, "alias/dangling", randomUUID())), "missing");
      assert.equal((await store.getAlias(ACCOUNT, "alias/dangling")), undefined);
      const theirs = await created(store, newKey(OTHER));
      assert.equal(await store.createAlias(alias(ACCOUNT, "alias/theirs", theirs.keyId)), "missing", "a key of another account is not a target");
    });

    test("updateAlias retargets in the alias's own account and keeps its creation date", async () => {
      const a = await created(store, newKey());
      const b = await created(store, newKey());
      await store.createAlias(alias(ACCOUNT, "alias/move", a.keyId));
      await store.createAlias(alias(OTHER, "alias/move", (await created(store, newKey(OTHER))).keyId));
      const later = new Date(T0.getTime() + 60_000);
      assert.equal((await store.updateAlias(ACCOUNT, "alias/move", b.keyId, later)), "ok");
      assert.deepEqual((await store.getAlias(ACCOUNT, "alias/move")), { ...alias(ACCOUNT, "alias/move", b.keyId), updatedAt: later });
      assert.notEqual((await store.getAlias(OTHER, "alias/move"))!.targetKeyId, b.keyId);
      assert.equal((await store.updateAlias(ACCOUNT, "alias/absent", b.keyId, later)), "missing");
      assert.equal((await store.getAlias(ACCOUNT, "alias/absent")), undefined);
      assert.equal(await store.updateAlias(ACCOUNT, "alias/move", randomUUID(), later), "missing", "the new target must exist");
    });

    test("updateAlias and deleteAlias with an expected key write only while the alias still points there", async () => {
      const a = await created(store, newKey());
      const b = await created(store, newKey());
      await store.createAlias(alias(ACCOUNT, "alias/cas", a.keyId));
      const later = new Date(T0.getTime() + 1);
      assert.equal(await store.updateAlias(ACCOUNT, "alias/cas", b.keyId, later, b.keyId), "moved");
      assert.equal((await store.getAlias(ACCOUNT, "alias/cas"))!.targetKeyId, a.keyId);
      assert.equal(await store.updateAlias(ACCOUNT, "alias/cas", b.keyId, later, a.keyId), "ok");
      assert.equal(await store.deleteAlias(ACCOUNT, "alias/cas", a.keyId), "moved");
      assert.notEqual(await store.getAlias(ACCOUNT, "alias/cas"), undefined);
      assert.equal(await store.deleteAlias(ACCOUNT, "alias/cas", b.keyId), "ok");
      assert.equal(await store.deleteAlias(ACCOUNT, "alias/cas", b.keyId), "missing");
    });

    test("deleteAlias removes only the account's own alias", async () => {
      const a = await created(store, newKey());
      await store.createAlias(alias(ACCOUNT, "alias/gone", a.keyId));
      await store.createAlias(alias(OTHER, "alias/gone", (await created(store, newKey(OTHER))).keyId));
      assert.equal((await store.deleteAlias(ACCOUNT, "alias/gone")), "ok");
      assert.equal((await store.deleteAlias(ACCOUNT, "alias/gone")), "missing");
      assert.equal((await store.getAlias(ACCOUNT, "alias/gone")), undefined);
      assert.notEqual((await store.getAlias(OTHER, "alias/gone")), undefined);
      assert.notEqual((await store.getKey(ACCOUNT, a.keyId)), undefined);
    });

    test("listAliases pages by name, for the account or for one key, each alias once", async () => {
      const a = await created(store, newKey());
      const b = await created(store, newKey());
      const ofA = ["alias/a-1", "alias/a-2", "alias/a-3", "alias/a-4", "alias/a-5"];
      const ofB = ["alias/b-1", "alias/b-2"];
      for (const name of [...ofA].reverse()) (await store.createAlias(alias(ACCOUNT, name, a.keyId)));
      for (const name of ofB) (await store.createAlias(alias(ACCOUNT, name, b.keyId)));
      await store.createAlias(alias(OTHER, "alias/a-0", (await created(store, newKey(OTHER))).keyId));

      const all = await walk((after) => store.listAliases(ACCOUNT, undefined, after, 3), 3);
      assert.deepEqual(
        all.map((p) => p.length),
        [3, 3, 1],
      );
      assert.deepEqual(
        all.flat().map((x) => x.aliasName),
        [...ofA, ...ofB],
      );
      const onlyA = await walk((after) => store.listAliases(ACCOUNT, a.keyId, after, 2), 2);
      assert.deepEqual(
        onlyA.flat().map((x) => x.aliasName),
        ofA,
      );
      assert.deepEqual(
        (await store.listAliases(ACCOUNT, b.keyId, undefined, 2)).items.map((x) => x.aliasName),
        ofB,
      );
      assert.equal((await store.listAliases(ACCOUNT, b.keyId, undefined, 2)).next, undefined);
      assert.deepEqual(
        (await store.listAliases(OTHER, a.keyId, undefined, 10)).items,
        [],
      );
    });
  });

  describe("tags", () => {
    /** n tags named prefix00, prefix01, … (so they sort by number). */
    const tags = (n: number, prefix = "t", value = "v"): TagRecord[] =>
      Array.from({ length: n }, (_, i) => ({ key: `${prefix}${String(i).padStart(2, "0")}`, value }));

    test("putTags adds and overwrites up to the limit", async () => {
      const key = await created(store, newKey());
      assert.equal((await store.putTags(ACCOUNT, key.keyId, tags(15), 20)), "ok");
      assert.equal((await store.putTags(ACCOUNT, key.keyId, [...tags(3, "t", "new"), ...tags(5, "u")], 20)), "ok");
      const stored = await tagsOf(store, ACCOUNT, key.keyId);
      assert.equal(stored.length, 20);
      assert.deepEqual(stored.slice(0, 4), [
        { key: "t00", value: "new" },
        { key: "t01", value: "new" },
        { key: "t02", value: "new" },
        { key: "t03", value: "v" },
      ]);
    });

    test("putTags over the limit refuses and changes nothing, not even overwrites", async () => {
      const key = await created(store, newKey());
      await store.putTags(ACCOUNT, key.keyId, tags(19), 20);
      const before = await tagsOf(store, ACCOUNT, key.keyId);
      assert.equal((await store.putTags(ACCOUNT, key.keyId, [{ key: "t00", value: "changed" }, ...tags(2, "new")], 20)), "limit");
      assert.deepEqual(await tagsOf(store, ACCOUNT, key.keyId), before);
      assert.equal((await store.putTags(ACCOUNT, key.keyId, [{ key: "t00", value: "changed" }, ...tags(1, "new")], 20)), "ok");
      assert.equal((await tagsOf(store, ACCOUNT, key.keyId)).length, 20);
      assert.equal((await store.putTags(ACCOUNT, key.keyId, tags(1, "one-more"), 20)), "limit");
      assert.equal((await tagsOf(store, ACCOUNT, key.keyId)).length, 20);
    });

    test("tag writes for a key of another account change nothing", async () => {
      const key = await created(store, newKey(ACCOUNT, {}, { tags: [{ key: "keep", value: "1" }] }));
      await store.putTags(OTHER, key.keyId, [{ key: "keep", value: "theirs" }, { key: "added", value: "x" }], 20);
      await store.removeTags(OTHER, key.keyId, ["keep"]);
      assert.deepEqual(await tagsOf(store, ACCOUNT, key.keyId), [{ key: "keep", value: "1" }]);
      assert.deepEqual((await store.listTags(OTHER, key.keyId, undefined, 10)), { items: [], next: undefined });
    });

    test("removeTags removes the named keys and ignores unknown ones", async () => {
      const key = await created(store, newKey(ACCOUNT, {}, { tags: tags(4) }));
      await store.removeTags(ACCOUNT, key.keyId, ["t01", "t03", "nope"]);
      assert.deepEqual(
        (await tagsOf(store, ACCOUNT, key.keyId)).map((t) => t.key),
        ["t00", "t02"],
      );
    });

    test("listTags pages by tag key and walks every tag exactly once", async () => {
      const key = await created(store, newKey(ACCOUNT, {}, { tags: [...tags(20)].reverse() }));
      const pages = await walk((after) => store.listTags(ACCOUNT, key.keyId, after, 6), 6);
      assert.deepEqual(
        pages.map((p) => p.length),
        [6, 6, 6, 2],
      );
      assert.deepEqual(pages.flat(), tags(20));
      assert.deepEqual((await store.listTags(ACCOUNT, randomUUID(), undefined, 10)), { items: [], next: undefined });
    });
  });

  describe("external key stores", () => {
  test("create, get (per account), list in pages, names unique per account", async () => {
    const first = externalKeyStore(ACCOUNT, { name: "one" });
    assert.equal((await store.createExternalKeyStore(first)), "ok");
    assert.deepEqual((await store.getExternalKeyStore(ACCOUNT, first.externalKeyStoreId)), first);
    assert.equal((await store.getExternalKeyStore(OTHER, first.externalKeyStoreId)), undefined);
    assert.equal((await store.createExternalKeyStore(externalKeyStore(ACCOUNT, { name: "one" }))), "exists");
    assert.equal((await store.createExternalKeyStore(externalKeyStore(OTHER, { name: "one" }))), "ok");
    for (let i = 0; i < 4; i++) (await store.createExternalKeyStore(externalKeyStore(ACCOUNT)));
    const pages = await walk((after) => store.listExternalKeyStores(ACCOUNT, after, 2), 2);
    assert.equal(pages.flat().length, 5);
    assert.ok(pages.flat().every((s) => s.accountId === ACCOUNT));
  });

  test("update changes only the given fields; a taken name and a missing store are reported", async () => {
    const one = externalKeyStore(ACCOUNT, { name: "one" });
    const two = externalKeyStore(ACCOUNT, { name: "two" });
    await store.createExternalKeyStore(one);
    await store.createExternalKeyStore(two);
    const later = new Date(T0.getTime() + 1000);
    assert.equal(
      await store.updateExternalKeyStore(ACCOUNT, one.externalKeyStoreId, {
        connectionState: ExternalKeyStoreConnectionState.FAILED,
        connectionErrorCode: ExternalKeyStoreConnectionErrorCode.XKS_PROXY_TIMED_OUT,
        wrappedSecretAccessKey: Buffer.from("new-wrapped"),
        updatedAt: later,
      }),
      "ok",
    );
    assert.deepEqual((await store.getExternalKeyStore(ACCOUNT, one.externalKeyStoreId)), {
      ...one,
      connectionState: ExternalKeyStoreConnectionState.FAILED,
      connectionErrorCode: ExternalKeyStoreConnectionErrorCode.XKS_PROXY_TIMED_OUT,
      wrappedSecretAccessKey: Buffer.from("new-wrapped"),
      updatedAt: later,
    });
    assert.equal((await store.updateExternalKeyStore(ACCOUNT, one.externalKeyStoreId, { name: "two" })), "exists");
    assert.equal((await store.updateExternalKeyStore(ACCOUNT, one.externalKeyStoreId, { name: "one" })), "ok");
    assert.equal((await store.updateExternalKeyStore(OTHER, one.externalKeyStoreId, { name: "x" })), "missing");
  });

  test("keys keep their external key; a store in use by a key (even pending deletion) cannot be deleted until the key is purged", async () => {
    const xks = externalKeyStore();
    await store.createExternalKeyStore(xks);
    const key = await created(store, newKey(ACCOUNT, { origin: Origin.EXTERNAL_KEY_STORE, externalKey: { externalKeyStoreId: xks.externalKeyStoreId, xksKeyId: "ext-1" } }));
    assert.deepEqual((await store.getKey(ACCOUNT, key.keyId))!.externalKey, { externalKeyStoreId: xks.externalKeyStoreId, xksKeyId: "ext-1" });
    await store.updateKey(ACCOUNT, key.keyId, { state: KeyState.PENDING_DELETION, deletionDate: T0 });
    assert.equal((await store.deleteExternalKeyStore(ACCOUNT, xks.externalKeyStoreId)), "in-use");
    await store.purgeKey(ACCOUNT, key.keyId);
    assert.equal((await store.deleteExternalKeyStore(OTHER, xks.externalKeyStoreId)), "missing");
    assert.equal((await store.deleteExternalKeyStore(ACCOUNT, xks.externalKeyStoreId)), "ok");
    assert.equal((await store.getExternalKeyStore(ACCOUNT, xks.externalKeyStoreId)), undefined);
    // A key cannot reference a store that does not exist (foreign key).
    await assert.rejects(store.createKey(newKey(ACCOUNT, { origin: Origin.EXTERNAL_KEY_STORE, externalKey: { externalKeyStoreId: randomUUID(), xksKeyId: "x" } })));
  });

  });

  describe("lifecycle", () => {
  test("addPrimaryVersion on a schedule happens once: a second write for the same period changes nothing", async () => {
    const due = new Date(T0.getTime() + 1000);
    const key = await create(store, { rotationPeriodDays: 7, nextRotationAt: due });
    const next = new Date(due.getTime() + 7 * 86_400_000);
    const a = version(key.keyId, due, KeyVersionSource.AUTOMATIC_ROTATION);
    const b = version(key.keyId, due, KeyVersionSource.AUTOMATIC_ROTATION);
    assert.equal((await store.addPrimaryVersion({ version: a, schedule: { expected: due, next } }))?.primaryVersionId, a.versionId);
    assert.equal((await store.addPrimaryVersion({ version: b, schedule: { expected: due, next } })), undefined);
    assert.equal((await store.getVersion(b.versionId)), undefined, "the losing write left no version");
    assert.equal((await store.getKey(ACCOUNT, key.keyId))!.nextRotationAt!.getTime(), next.getTime());
    assert.equal((await store.listVersions(ACCOUNT, key.keyId, undefined, 10)).items.length, 2);
  });

  test("due lists: rotation of enabled keys, deletion of keys pending deletion, expired material", async () => {
    const now = new Date(T0.getTime() + 10_000);
    const rotate = await create(store, { rotationPeriodDays: 7, nextRotationAt: now });
    await create(store, { rotationPeriodDays: 7, nextRotationAt: now, state: KeyState.DISABLED });
    await create(store, { rotationPeriodDays: 7, nextRotationAt: new Date(now.getTime() + 1) });
    const doomed = await create(store, { state: KeyState.PENDING_DELETION, deletionDate: now });
    await create(store, { state: KeyState.DISABLED, deletionDate: now });
    const expired = await create(store, { origin: Origin.EXTERNAL, materialExpiresAt: now });
    assert.deepEqual((await store.keysDueForRotation(now, 10)).map((k) => k.keyId), [rotate.keyId]);
    assert.deepEqual((await store.keysDueForDeletion(now, 10)).map((k) => k.keyId), [doomed.keyId]);
    assert.deepEqual((await store.keysWithExpiredMaterial(now, 10)).map((k) => k.keyId), [expired.keyId]);
    await store.updateKey(ACCOUNT, expired.keyId, { primaryVersionMaterial: Buffer.alloc(0) });
    assert.deepEqual((await store.keysWithExpiredMaterial(now, 10)), []);
    assert.equal((await store.getVersion(expired.primaryVersionId))!.wrappedMaterial.length, 0);
  });

  test("purgeKey removes the key, its versions, aliases, tags and import tokens, and nothing else", async () => {
    const doomed = await create(store);
    const kept = await create(store);
    await store.createAlias({ accountId: ACCOUNT, aliasName: "alias/doomed", targetKeyId: doomed.keyId, createdAt: T0, updatedAt: T0 });
    await store.createAlias({ accountId: ACCOUNT, aliasName: "alias/kept", targetKeyId: kept.keyId, createdAt: T0, updatedAt: T0 });
    await store.putImportToken({ tokenId: "tok", accountId: ACCOUNT, keyId: doomed.keyId, wrappingAlgorithm: 1, wrappingKeySpec: 2048, wrappedPrivateKey: Buffer.from("p"), createdAt: T0, expiresAt: T0 });
    const second = version(doomed.keyId, new Date(T0.getTime() + 1));
    await store.addPrimaryVersion({ version: second });
    assert.deepEqual([...(await store.purgeKey(ACCOUNT, doomed.keyId))].sort(), [doomed.primaryVersionId, second.versionId].sort());
    assert.equal((await store.getKey(ACCOUNT, doomed.keyId)), undefined);
    assert.equal((await store.getVersion(second.versionId)), undefined);
    assert.equal((await store.getAlias(ACCOUNT, "alias/doomed")), undefined);
    assert.equal((await store.getImportToken("tok")), undefined);
    assert.deepEqual((await store.listTags(ACCOUNT, doomed.keyId, undefined, 10)).items, []);
    assert.notEqual((await store.getAlias(ACCOUNT, "alias/kept")), undefined);
    assert.equal((await store.listTags(ACCOUNT, kept.keyId, undefined, 10)).items.length, 1);
    assert.deepEqual((await store.purgeKey(ACCOUNT, doomed.keyId)), []);
  });

  test("purgeKey with a condition purges only a key still pending deletion and due", async () => {
    const due = new Date(T0.getTime() + 100);
    const pending = await create(store, { state: KeyState.PENDING_DELETION, deletionDate: due });
    const cancelled = await create(store, { state: KeyState.DISABLED });
    assert.deepEqual(await store.purgeKey(ACCOUNT, pending.keyId, { dueBy: new Date(due.getTime() - 1) }), [], "not due yet");
    assert.deepEqual(await store.purgeKey(ACCOUNT, cancelled.keyId, { dueBy: due }), [], "not pending deletion");
    assert.notEqual(await store.getKey(ACCOUNT, cancelled.keyId), undefined);
    assert.deepEqual(await store.purgeKey(ACCOUNT, pending.keyId, { dueBy: due }), [pending.primaryVersionId]);
    assert.equal(await store.getKey(ACCOUNT, pending.keyId), undefined);
  });

  test("updateKey with a check decides from the stored key; a refusal writes nothing", async () => {
    const key = await create(store);
    const seen: KeyState[] = [];
    const disabled = await store.updateKey(ACCOUNT, key.keyId, (current) => {
      seen.push(current.state);
      return { state: KeyState.DISABLED, primaryVersionMaterial: Buffer.from("new material") };
    });
    assert.equal(disabled!.state, KeyState.DISABLED);
    assert.deepEqual(seen, [KeyState.ENABLED]);
    assert.deepEqual((await store.getVersion(key.primaryVersionId))!.wrappedMaterial, Buffer.from("new material"));
    assert.deepEqual(await store.updateKey(ACCOUNT, key.keyId, () => undefined), disabled, "no change answers the stored key");
    await assert.rejects(
      store.updateKey(ACCOUNT, key.keyId, () => {
        throw new Error("refused");
      }),
      /refused/,
    );
    await assert.rejects(
      store.updateKey(ACCOUNT, key.keyId, (current) => {
        if (current.state === KeyState.DISABLED) throw new Error("refused after deciding");
        return { description: "never" };
      }),
      /refused after deciding/,
    );
    assert.deepEqual(await store.getKey(ACCOUNT, key.keyId), disabled);
    assert.equal(await store.updateKey(ACCOUNT, randomUUID(), () => ({ description: "x" })), undefined);
  });

  test("listVersions pages oldest first (equal times by id) and walks every version once", async () => {
    const key = await create(store);
    const versions: KeyVersionRecord[] = [];
    for (let i = 0; i < 4; i++) {
      const v = version(key.keyId, new Date(T0.getTime() + 1 + Math.floor(i / 2)));
      versions.push(v);
      await store.addPrimaryVersion({ version: v });
    }
    const pages = await walk((after) => store.listVersions(ACCOUNT, key.keyId, after, 2), 2);
    const last = versions[versions.length - 1]!.versionId;
    const ordered = [...versions].sort((x, y) => x.createdAt.getTime() - y.createdAt.getTime() || (x.versionId < y.versionId ? -1 : 1));
    assert.deepEqual(
      pages.flat().map((v) => v.versionId),
      [key.primaryVersionId, ...ordered.map((v) => v.versionId)],
    );
    assert.equal((await store.getKey(ACCOUNT, key.keyId))!.primaryVersionId, last, "the last added version is primary");
    assert.deepEqual(await store.listVersions("999999999999", key.keyId, undefined, 10), { items: [], next: undefined });
  });

  test("expired import tokens are deleted, live ones kept", async () => {
    const key = await create(store);
    const token = (tokenId: string, expiresAt: Date) => ({ tokenId, accountId: ACCOUNT, keyId: key.keyId, wrappingAlgorithm: 1, wrappingKeySpec: 2048, wrappedPrivateKey: Buffer.from("p"), createdAt: T0, expiresAt });
    await store.putImportToken(token("old", new Date(T0.getTime() + 1)));
    await store.putImportToken(token("live", new Date(T0.getTime() + 10)));
    assert.equal((await store.deleteExpiredImportTokens(new Date(T0.getTime() + 1))), 1);
    assert.equal((await store.getImportToken("old")), undefined);
    assert.notEqual((await store.getImportToken("live")), undefined);
  });

  test("updateKey sets and clears lifecycle fields", async () => {
    const key = await create(store);
    const at = new Date(T0.getTime() + 5);
    const set = (await store.updateKey(ACCOUNT, key.keyId, { deletionDate: at, deletionProtection: true, rotationPeriodDays: 30, nextRotationAt: at, materialExpiresAt: at, importedMaterialDigest: Buffer.from("d") }))!;
    assert.deepEqual([set.deletionDate, set.deletionProtection, set.rotationPeriodDays, set.nextRotationAt, set.materialExpiresAt, set.importedMaterialDigest], [at, true, 30, at, at, Buffer.from("d")]);
    const cleared = (await store.updateKey(ACCOUNT, key.keyId, { deletionDate: null, nextRotationAt: null, materialExpiresAt: null, description: "x" }))!;
    assert.deepEqual([cleared.deletionDate, cleared.nextRotationAt, cleared.materialExpiresAt, cleared.deletionProtection, cleared.description], [undefined, undefined, undefined, true, "x"]);
  });
  });
  });
}
