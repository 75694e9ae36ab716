// The secret record cache in front of a real (SQLite) store: the store conformance suite through
// it; hits answered from memory, misses and writes; a read racing a write never caches the old
// record; the TTL (and 0: no cache); sealed values only, held as the cache's own copies;
// invalidation messages between two caches over a real Redis, and the flush after a lost
// subscription.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { connectRedis, InvalidationHub, RedisInvalidationBus, type InvalidationBus } from "@keyhold/coordination";
import { redisServerAvailable, TestRedis } from "@keyhold/coordination/testing";
import { createSilentLogger } from "@keyhold/server-kit";
import { CURRENT, labelsAfterStageUpdate, PREVIOUS } from "../domain/labels.ts";
import { CachingSecretStore } from "./caching-secret-store.ts";
import { encodeSecretCacheChange, followSecretCacheChanges, SECRET_CACHE_TOPIC } from "./secret-cache-invalidation.ts";
import { SecretRecordCache } from "./secret-record-cache.ts";
import type { SecretStore } from "./secret-store.ts";
import { openSqliteDatabase, SqliteSecretStore } from "./sqlite-secret-store.ts";
import { putNewVersion, secretRecord, secretStoreConformance } from "./store-conformance.ts";

const ACCOUNT = "000000000001";
const V1 = "00000001-0000-4000-8000-000000000000";
const V2 = "00000002-0000-4000-8000-000000000000";
const KEY = "krn:keyhold:kms:test-1:000000000001:key/11111111-1111-4111-8111-111111111111";

const dir = mkdtempSync(join(tmpdir(), "keyhold-caching-secret-store-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let next = 0;
const sqlite = () => new SqliteSecretStore(openSqliteDatabase(join(dir, `store-${next++}.sqlite`)));

secretStoreConformance("SQLite behind the record cache", async () => new CachingSecretStore(sqlite(), new SecretRecordCache(100, 30_000)));

/** `store` with some methods replaced (the others called on `store` itself). */
function withOverrides(store: SecretStore, overrides: Partial<SecretStore>): SecretStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      if (Object.hasOwn(overrides, property)) return overrides[property as keyof SecretStore];
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** Counts the reads that reach the database. */
function counting(store: SecretStore) {
  const reads = { getSecret: 0, getSecretById: 0, labels: 0, getVersion: 0, listTags: 0, getDefaultKey: 0 };
  const wrapped = withOverrides(store, {
    getSecret: (a, n) => (reads.getSecret++, store.getSecret(a, n)),
    getSecretById: (id) => (reads.getSecretById++, store.getSecretById(id)),
    labels: (id) => (reads.labels++, store.labels(id)),
    getVersion: (id, v) => (reads.getVersion++, store.getVersion(id, v)),
    listTags: (id) => (reads.listTags++, store.listTags(id)),
    getDefaultKey: (a) => (reads.getDefaultKey++, store.getDefaultKey(a)),
  });
  return { wrapped, reads };
}

/** A manual monotonic clock for the TTL. */
function manualNow() {
  let now = 1_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

async function seeded(name = "app/db") {
  const db = sqlite();
  const secret = secretRecord(ACCOUNT, name);
  assert.equal(await db.createSecret(secret, [{ key: "team", value: "a" }], undefined), true);
  await putNewVersion(db, secret.secretId, V1);
  await db.setDefaultKey(ACCOUNT, KEY);
  return { db, secret };
}

async function readAll(store: SecretStore, secretId: string, name = "app/db") {
  const byName = await store.getSecret(ACCOUNT, name);
  const byId = await store.getSecretById(secretId);
  const labels = await store.labels(secretId);
  const version = await store.getVersion(secretId, V1);
  const tags = await store.listTags(secretId);
  const defaultKey = await store.getDefaultKey(ACCOUNT);
  return { byName, byId, labels, version, tags, defaultKey };
}

describe("CachingSecretStore", () => {
  test("repeated reads reach the database once, and count as hits", async () => {
    const { db, secret } = await seeded();
    const { wrapped, reads } = counting(db);
    const cache = new SecretRecordCache(100, 30_000);
    const store = new CachingSecretStore(wrapped, cache);
    try {
      const first = await readAll(store, secret.secretId);
      for (let i = 0; i < 4; i++) assert.deepEqual(await readAll(store, secret.secretId), first);
      assert.equal(first.byName?.secretId, secret.secretId);
      assert.deepEqual(first.labels, new Map([[V1, [CURRENT]]]));
      assert.equal(first.version?.versionId, V1);
      assert.deepEqual(first.tags, [{ key: "team", value: "a" }]);
      assert.equal(first.defaultKey, KEY);
      // getSecret(name) cached the record that getSecretById then found by id.
      assert.deepEqual(reads, { getSecret: 1, getSecretById: 0, labels: 1, getVersion: 1, listTags: 1, getDefaultKey: 1 });
      assert.deepEqual(cache.stats, { hits: 25, misses: 5 });
      assert.equal(cache.size, 1);
    } finally {
      await store.close();
    }
  });

  test("absent things are never cached: a secret made later (on any replica) is found at once", async () => {
    const db = sqlite();
    const { wrapped, reads } = counting(db);
    const store = new CachingSecretStore(wrapped, new SecretRecordCache(100, 30_000));
    try {
      assert.equal(await store.getSecret(ACCOUNT, "later"), undefined);
      assert.equal(await store.getDefaultKey(ACCOUNT), undefined);
      const secret = secretRecord(ACCOUNT, "later");
      await db.createSecret(secret, [], undefined);
      await db.setDefaultKey(ACCOUNT, KEY);
      assert.equal((await store.getSecret(ACCOUNT, "later"))?.secretId, secret.secretId);
      assert.equal(await store.getDefaultKey(ACCOUNT), KEY);
      assert.equal(await store.getVersion(secret.secretId, V1), undefined);
      await putNewVersion(db, secret.secretId, V1);
      assert.equal((await store.getVersion(secret.secretId, V1))?.versionId, V1);
      assert.equal(reads.getSecret, 2);
    } finally {
      await store.close();
    }
  });

  test("every write is visible at once on this replica and reported once per write", async () => {
    const { db, secret } = await seeded();
    const changes: string[] = [];
    const store = new CachingSecretStore(db, new SecretRecordCache(100, 30_000), { changed: (id) => void changes.push(id) });
    try {
      await readAll(store, secret.secretId);
      // A new version moves CURRENT.
      await putNewVersion(store, secret.secretId, V2);
      assert.deepEqual(await store.labels(secret.secretId), new Map([[V1, [PREVIOUS]], [V2, [CURRENT]]]));
      // A label move back.
      await store.changeVersions(secret.secretId, (state) => ({
        newVersion: undefined,
        labels: labelsAfterStageUpdate(state.labels, { label: CURRENT, moveTo: V1, removeFrom: V2 }, { maxLabelsPerSecret: 20 }),
        prune: [],
        updatedAt: new Date(),
      }));
      assert.deepEqual((await store.labels(secret.secretId)).get(V1), [CURRENT]);
      // UpdateSecret / DeleteSecret (a deletion date) / RestoreSecret.
      const deletionDate = new Date("2030-01-01T00:00:00Z");
      await store.updateSecret(secret.secretId, { description: "changed", deletionDate });
      assert.equal((await store.getSecret(ACCOUNT, "app/db"))?.description, "changed");
      assert.deepEqual((await store.getSecretById(secret.secretId))?.deletionDate, deletionDate);
      await store.updateSecret(secret.secretId, { deletionDate: undefined });
      assert.equal((await store.getSecret(ACCOUNT, "app/db"))?.deletionDate, undefined);
      // Tags.
      await store.putTags(secret.secretId, [{ key: "env", value: "prod" }], 50);
      assert.deepEqual((await store.listTags(secret.secretId)).map((t) => t.key).sort(), ["env", "team"]);
      await store.removeTags(secret.secretId, ["team"]);
      assert.deepEqual((await store.listTags(secret.secretId)).map((t) => t.key), ["env"]);
      // A rotation's lease and outcome.
      const now = new Date();
      assert.equal(await store.acquireRotation(secret.secretId, "token", now, new Date(now.getTime() + 60_000)), true);
      assert.equal((await store.getSecretById(secret.secretId))?.rotationToken, "token");
      assert.equal(await store.finishRotation(secret.secretId, "token", { rotationToken: undefined, lastRotationError: "x" }), true);
      assert.equal((await store.getSecret(ACCOUNT, "app/db"))?.lastRotationError, "x");
      // Purge: gone, versions included; the name made again is another secret.
      await store.purgeSecret(secret.secretId);
      assert.equal(await store.getSecret(ACCOUNT, "app/db"), undefined);
      assert.equal(await store.getSecretById(secret.secretId), undefined);
      assert.equal(await store.getVersion(secret.secretId, V1), undefined);
      const again = secretRecord(ACCOUNT, "app/db");
      await store.createSecret(again, [], undefined);
      assert.equal((await store.getSecret(ACCOUNT, "app/db"))?.secretId, again.secretId);
      assert.equal(changes.length, 9);
      assert.ok(changes.every((id) => id === secret.secretId));
    } finally {
      await store.close();
    }
  });

  test("a read that started before a write does not cache what the write replaced", async () => {
    const { db, secret } = await seeded();
    let release: (() => void) | undefined;
    const slow = withOverrides(db, {
      // Reads the secret now, answers when released: a read the write overtakes.
      getSecretById: async (id) => {
        const read = await db.getSecretById(id);
        await new Promise<void>((resolve) => (release = resolve));
        return read;
      },
      labels: async (id) => {
        const read = await db.labels(id);
        await new Promise<void>((resolve) => (release = resolve));
        return read;
      },
    });
    const { wrapped, reads } = counting(slow);
    const store = new CachingSecretStore(wrapped, new SecretRecordCache(100, 30_000));
    try {
      const stale = store.getSecretById(secret.secretId);
      await sleep(5);
      await store.updateSecret(secret.secretId, { description: "new" });
      release!();
      assert.equal((await stale)?.description, secret.description, "the slow read answers what it read");
      const fresh = store.getSecretById(secret.secretId);
      await sleep(5);
      release!();
      assert.equal((await fresh)?.description, "new", "and did not cache it");
      assert.equal(reads.getSecretById, 2);

      const staleLabels = store.labels(secret.secretId);
      await sleep(5);
      await putNewVersion(store, secret.secretId, V2);
      release!();
      assert.deepEqual(await staleLabels, new Map([[V1, [CURRENT]]]));
      const freshLabels = store.labels(secret.secretId);
      await sleep(5);
      release!();
      assert.deepEqual(await freshLabels, new Map([[V1, [PREVIOUS]], [V2, [CURRENT]]]));
      // Now cached: no more database reads.
      assert.deepEqual(await store.labels(secret.secretId), new Map([[V1, [PREVIOUS]], [V2, [CURRENT]]]));
      assert.equal(reads.labels, 2);
    } finally {
      await store.close();
    }
  });

  test("an entry lives at most the TTL; a TTL of 0 caches nothing", async () => {
    const { db, secret } = await seeded();
    const { wrapped, reads } = counting(db);
    const clock = manualNow();
    const store = new CachingSecretStore(wrapped, new SecretRecordCache(100, 1_000, clock.now));
    await store.getSecretById(secret.secretId);
    clock.advance(999);
    await store.getSecretById(secret.secretId);
    assert.equal(reads.getSecretById, 1);
    clock.advance(1);
    await store.getSecretById(secret.secretId);
    assert.equal(reads.getSecretById, 2);

    const off = new SecretRecordCache(100, 0, clock.now);
    const uncached = new CachingSecretStore(wrapped, off);
    for (let i = 0; i < 3; i++) await readAll(uncached, secret.secretId);
    assert.equal(reads.getSecret, 3);
    assert.equal(reads.getVersion, 3);
    assert.equal(off.size, 0);
    assert.deepEqual(off.stats, { hits: 0, misses: 18 });
    await store.close();
  });

  test("while the cache is not trusted (the bus cannot hear other replicas) every read goes to the database", async () => {
    const { db, secret } = await seeded();
    const { wrapped, reads } = counting(db);
    let trusted = true;
    const cache = new SecretRecordCache(100, 30_000);
    const store = new CachingSecretStore(wrapped, cache, { trusted: () => trusted });
    await readAll(store, secret.secretId);
    trusted = false;
    await db.updateSecret(secret.secretId, { description: "written elsewhere" });
    for (let i = 0; i < 2; i++) assert.equal((await store.getSecretById(secret.secretId))?.description, "written elsewhere");
    assert.equal(reads.getSecretById, 2);
    // Nothing read meanwhile was cached; the bus flushes once it is back.
    cache.invalidateAll();
    trusted = true;
    await store.getSecretById(secret.secretId);
    await store.getSecretById(secret.secretId);
    assert.equal(reads.getSecretById, 3);
    await store.close();
  });

  test("bounded: the least recently used secret goes first", async () => {
    const db = sqlite();
    const secrets = [secretRecord(ACCOUNT, "one"), secretRecord(ACCOUNT, "two"), secretRecord(ACCOUNT, "three")];
    for (const secret of secrets) await db.createSecret(secret, [], undefined);
    const { wrapped, reads } = counting(db);
    const cache = new SecretRecordCache(2, 30_000);
    const store = new CachingSecretStore(wrapped, cache);
    for (const secret of secrets) await store.getSecretById(secret.secretId);
    assert.equal(cache.size, 2);
    await store.getSecretById(secrets[2]!.secretId);
    await store.getSecretById(secrets[1]!.secretId);
    assert.equal(reads.getSecretById, 3);
    await store.getSecretById(secrets[0]!.secretId);
    assert.equal(reads.getSecretById, 4);
    await store.close();
  });

  test("sealed values only, and the cache's own copies: changing a returned version changes nothing cached", async () => {
    const { db, secret } = await seeded();
    const store = new CachingSecretStore(db, new SecretRecordCache(100, 30_000));
    const first = (await store.getVersion(secret.secretId, V1))!;
    const sealed = Buffer.from(first.sealedValue);
    first.sealedValue.fill(0);
    first.encryptedDataKey.fill(0);
    const second = (await store.getVersion(secret.secretId, V1))!;
    assert.deepEqual(second.sealedValue, sealed);
    assert.deepEqual(second.encryptedDataKey, Buffer.from(`edk-${V1}`));
    (await store.labels(secret.secretId)).set("x", ["y"]);
    assert.deepEqual(await store.labels(secret.secretId), new Map([[V1, [CURRENT]]]));
    await store.close();
  });

  test("withFreshReads: reads go to the database, writes still invalidate and report", async () => {
    const { db, secret } = await seeded();
    const { wrapped, reads } = counting(db);
    const changes: string[] = [];
    const cached = new CachingSecretStore(wrapped, new SecretRecordCache(100, 30_000), { changed: (id) => void changes.push(id) });
    const fresh = cached.withFreshReads();
    await cached.getSecretById(secret.secretId);
    await fresh.getSecretById(secret.secretId);
    await fresh.getSecretById(secret.secretId);
    assert.equal(reads.getSecretById, 3);
    await fresh.updateSecret(secret.secretId, { description: "via fresh" });
    assert.equal((await cached.getSecretById(secret.secretId))?.description, "via fresh");
    assert.deepEqual(changes, [secret.secretId]);
    await cached.close();
  });
});

/** Two caches on two buses (replicas): a write through one drops the secret from the other. */
async function checkReplicas(buses: [InvalidationBus, InvalidationBus], settle: () => Promise<void>) {
  const { db, secret } = await seeded();
  const caches = [new SecretRecordCache(100, 30_000), new SecretRecordCache(100, 30_000)] as const;
  const stores = buses.map(
    (bus, i) => new CachingSecretStore(db, caches[i]!, { changed: (id) => bus.publish(SECRET_CACHE_TOPIC, encodeSecretCacheChange(id)) }),
  );
  const unfollow = buses.map((bus, i) => followSecretCacheChanges(bus, caches[i]!));
  const [a, b] = stores as [CachingSecretStore, CachingSecretStore];
  await readAll(b, secret.secretId);
  await putNewVersion(a, secret.secretId, V2);
  await a.updateSecret(secret.secretId, { description: "moved" });
  await settle();
  assert.deepEqual(await b.labels(secret.secretId), new Map([[V1, [PREVIOUS]], [V2, [CURRENT]]]));
  assert.equal((await b.getSecret(ACCOUNT, "app/db"))?.description, "moved");
  for (const stop of unfollow) stop();
  await db.close();
}

describe("secret cache invalidation between replicas", () => {
  test("in-process hub; an unknown message flushes everything", async () => {
    const hub = new InvalidationHub();
    await checkReplicas([hub.bus(), hub.bus()], () => Promise.resolve());
    const cache = new SecretRecordCache(100, 30_000);
    const bus = hub.bus();
    const other = hub.bus();
    followSecretCacheChanges(bus, cache);
    cache.offerSecret(secretRecord(ACCOUNT, "s"), cache.generation);
    assert.equal(cache.size, 1);
    other.publish(SECRET_CACHE_TOPIC, "something-new 1 2");
    assert.equal(cache.size, 0);
  });

  describe("over a real Redis", { skip: !redisServerAvailable() && "redis-server is not installed" }, () => {
    const logger = createSilentLogger();
    let redis: TestRedis;
    const closers: (() => Promise<void>)[] = [];
    const bus = async (name: string) => {
      const conn = connectRedis(redis.url, { logger, name, commandTimeoutMs: 50, coolDownMs: 200, maxReconnectDelayMs: 100 });
      await conn.start();
      const b = new RedisInvalidationBus(conn, logger);
      closers.push(async () => {
        await b.close();
        await conn.close();
      });
      await b.start();
      return b;
    };
    before(async () => {
      redis = await TestRedis.start();
    });
    after(async () => {
      for (const close of closers.reverse()) await close();
      await redis.stop();
    });

    test("a write through one replica drops the secret from the other", async () => {
      const buses = [await bus("a"), await bus("b")] as const;
      await sleep(50);
      await checkReplicas([buses[0], buses[1]], async () => {
        const deadline = Date.now() + 2000;
        while (buses[1].counters.received < 2 && Date.now() < deadline) await sleep(2);
      });
      assert.equal(buses[1].counters.received, 2);
    });

    test("a lost subscription flushes the whole cache once it is subscribed again", async () => {
      const b = await bus("flushed");
      const cache = new SecretRecordCache(100, 30_000);
      followSecretCacheChanges(b, cache);
      await sleep(50);
      cache.offerSecret(secretRecord(ACCOUNT, "kept"), cache.generation);
      cache.offerDefaultKey(ACCOUNT, KEY, cache.generation);
      assert.equal(cache.size, 1);
      const flushes = b.counters.flushes;
      await redis.stop();
      await redis.restart();
      const deadline = Date.now() + 5000;
      while (b.counters.flushes === flushes && Date.now() < deadline) await sleep(20);
      assert.ok(b.counters.flushes > flushes, "resubscribed");
      assert.equal(cache.size, 0);
      assert.equal(cache.defaultKey(ACCOUNT), undefined);
    });
  });
});
