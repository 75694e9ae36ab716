// PostgresKeyStore against a real PostgreSQL server: the KeyStore conformance suite (each test in
// a fresh schema), the migrations, the root key migration store, and two pools as two replicas
// writing the same rows at once (nothing lost, the right winner and answers).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { createPostgresPool, migrate, type PostgresPool } from "@keyhold/postgres";
import { createTestDatabase, postgresBinDir, startPostgres, type TestDatabase, type TestPostgres } from "@keyhold/postgres/testing";
import { KeyManager, KeySpec, KeyState, KeyUsage, KeyVersionSource, Origin } from "@keyhold/proto";
import { keyStoreConformance } from "./key-store-conformance.ts";
import type { NewKey } from "./key-store.ts";
import { PostgresKeyStore } from "./postgres-key-store.ts";
import { KEY_SERVICE_SCHEMA, POSTGRES_MIGRATIONS } from "./postgres-migrations.ts";
import { PostgresRootKeyMigrationStore } from "./postgres-root-key-migration-store.ts";
import { NEW_KEY_LIFECYCLE, type KeyRecord, type KeyVersionRecord } from "./records.ts";

const binDir = postgresBinDir();
const ACCOUNT = "111122223333";
const T0 = new Date("2026-03-04T05:06:07.089Z");

function newKey(overrides: Partial<KeyRecord> = {}, extra: Partial<Omit<NewKey, "key">> = {}): NewKey {
  const keyId = randomUUID();
  const versionId = randomUUID();
  return {
    key: {
      keyId,
      accountId: ACCOUNT,
      description: "",
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
    firstVersion: { versionId, keyId, accountId: ACCOUNT, wrappedMaterial: Buffer.from("w"), wrappedBy: "t", createdAt: T0, source: KeyVersionSource.CREATION, publicKey: undefined },
    tags: [],
    idempotency: undefined,
    ...extra,
  };
}

const version = (keyId: string, at: Date, source = KeyVersionSource.ON_DEMAND_ROTATION): KeyVersionRecord => ({
  versionId: randomUUID(),
  keyId,
  accountId: ACCOUNT,
  wrappedMaterial: Buffer.from("w"),
  wrappedBy: "t",
  createdAt: at,
  source,
  publicKey: undefined,
});

describe("PostgresKeyStore", { skip: binDir === undefined ? "PostgreSQL is not installed" : false }, () => {
  let server: TestPostgres;
  let database: TestDatabase;
  let schemas = 0;
  const pools: PostgresPool[] = [];
  before(async () => {
    server = await startPostgres(binDir!);
    database = await createTestDatabase(server);
  });
  after(async () => {
    for (const pool of pools) await pool.end().catch(() => undefined);
    await database?.drop().catch(() => undefined);
    await server?.stop();
  });

  /** A pool on a fresh, migrated schema (or on `schema`). */
  async function migratedPool(schema = `key_service_t${++schemas}`): Promise<PostgresPool> {
    const pool = createPostgresPool(database.url, { schema, maxConnections: 6 });
    pools.push(pool);
    await migrate(pool, schema, POSTGRES_MIGRATIONS);
    return pool;
  }

  keyStoreConformance("PostgresKeyStore", async () => new PostgresKeyStore(await migratedPool(), { closePool: false }));

  test("migrations create the key_service schema once; a second replica's start applies nothing", async () => {
    const first = await migratedPool(KEY_SERVICE_SCHEMA);
    const second = createPostgresPool(database.url, { schema: KEY_SERVICE_SCHEMA });
    pools.push(second);
    assert.deepEqual(await migrate(second, KEY_SERVICE_SCHEMA, POSTGRES_MIGRATIONS), { applied: [], version: POSTGRES_MIGRATIONS.length });
    const { rows } = await first.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`,
      [KEY_SERVICE_SCHEMA],
    );
    assert.deepEqual(
      rows.map((r) => r.table_name),
      ["aliases", "external_key_stores", "idempotency", "import_tokens", "key_tags", "key_versions", "keys", "schema_migrations"],
    );
  });

  test("the root key migration store lists wrapped material in id order and replaces it only while unchanged", async () => {
    const pool = await migratedPool();
    const store = new PostgresKeyStore(pool, { closePool: false });
    const keys = [newKey(), newKey(), newKey()];
    for (const key of keys) await store.createKey(key);
    const migration = new PostgresRootKeyMigrationStore(pool);
    const listed = await migration.listWrapped("key-version", "", 10);
    assert.deepEqual(
      listed.map((r) => r.id),
      keys.map((k) => k.firstVersion.versionId).sort(),
    );
    const row = listed[0]!;
    assert.equal(await migration.replaceWrapped("key-version", row.id, Buffer.from("other"), Buffer.from("new"), "hsm"), false);
    assert.equal(await migration.replaceWrapped("key-version", row.id, row.wrapped, Buffer.from("new"), "hsm"), true);
    const after = (await store.getVersion(row.id))!;
    assert.deepEqual([after.wrappedMaterial, after.wrappedBy], [Buffer.from("new"), "hsm"]);
    assert.deepEqual(
      (await migration.listWrapped("key-version", row.id, 10)).map((r) => r.id),
      listed.slice(1).map((r) => r.id),
    );
  });

  describe("two replicas (two pools) writing at once", () => {
    let a: PostgresKeyStore;
    let b: PostgresKeyStore;
    before(async () => {
      const schema = `key_service_t${++schemas}`;
      a = new PostgresKeyStore(await migratedPool(schema), { closePool: false });
      b = new PostgresKeyStore(await migratedPool(schema), { closePool: false });
    });
    const replica = (i: number) => (i % 2 === 0 ? a : b);

    test("conditional alias moves from the same current key: exactly one wins, the others see it moved", async () => {
      const from = newKey();
      await a.createKey(from);
      const targets: NewKey[] = [];
      for (let i = 0; i < 12; i++) {
        targets.push(newKey());
        await replica(i).createKey(targets[i]!);
      }
      await a.createAlias({ accountId: ACCOUNT, aliasName: "alias/contended", targetKeyId: from.key.keyId, createdAt: T0, updatedAt: T0 });
      const outcomes = await Promise.all(
        targets.map((t, i) => replica(i).updateAlias(ACCOUNT, "alias/contended", t.key.keyId, new Date(T0.getTime() + i), from.key.keyId)),
      );
      assert.equal(outcomes.filter((o) => o === "ok").length, 1);
      assert.equal(outcomes.filter((o) => o === "moved").length, targets.length - 1);
      const winner = targets[outcomes.indexOf("ok")]!;
      assert.equal((await b.getAlias(ACCOUNT, "alias/contended"))!.targetKeyId, winner.key.keyId);
    });

    test("alias creation races: one replica creates the name, the other is told it exists", async () => {
      const key = newKey();
      await a.createKey(key);
      const alias = { accountId: ACCOUNT, aliasName: "alias/race", targetKeyId: key.key.keyId, createdAt: T0, updatedAt: T0 };
      const outcomes = await Promise.all([a.createAlias(alias), b.createAlias(alias), a.createAlias(alias), b.createAlias(alias)]);
      assert.deepEqual([...outcomes].sort(), ["exists", "exists", "exists", "ok"]);
    });

    test("scheduled rotation of one period by both replicas rotates once; on-demand rotations all land", async () => {
      const due = new Date(T0.getTime() + 1000);
      const next = new Date(due.getTime() + 7 * 86_400_000);
      const key = newKey({ rotationPeriodDays: 7, nextRotationAt: due });
      await a.createKey(key);
      const scheduled = await Promise.all(
        Array.from({ length: 6 }, (_, i) => replica(i).addPrimaryVersion({ version: version(key.key.keyId, due, KeyVersionSource.AUTOMATIC_ROTATION), schedule: { expected: due, next } })),
      );
      assert.equal(scheduled.filter((r) => r !== undefined).length, 1, "one rotation for the period");
      assert.equal((await b.getKey(ACCOUNT, key.key.keyId))!.nextRotationAt!.getTime(), next.getTime());

      const manual = Array.from({ length: 8 }, (_, i) => version(key.key.keyId, new Date(due.getTime() + 1 + i)));
      const rotated = await Promise.all(manual.map((v, i) => replica(i).addPrimaryVersion({ version: v })));
      assert.ok(rotated.every((r) => r !== undefined));
      const versions = await a.listVersions(ACCOUNT, key.key.keyId, undefined, 100);
      assert.equal(versions.items.length, 1 + 1 + manual.length, "no version lost");
      const primary = (await a.getKey(ACCOUNT, key.key.keyId))!.primaryVersionId;
      assert.ok(manual.some((v) => v.versionId === primary));
      assert.equal((await a.getKey(ACCOUNT, key.key.keyId))!.nextRotationAt!.getTime(), next.getTime(), "on-demand rotations keep the schedule");
    });

    test("tag writes under the limit: concurrent single-tag writes stop exactly at the limit", async () => {
      const key = newKey();
      await a.createKey(key);
      const outcomes = await Promise.all(
        Array.from({ length: 30 }, (_, i) => replica(i).putTags(ACCOUNT, key.key.keyId, [{ key: `t${String(i).padStart(2, "0")}`, value: "v" }], 20)),
      );
      assert.equal(outcomes.filter((o) => o === "ok").length, 20);
      assert.equal(outcomes.filter((o) => o === "limit").length, 10);
      assert.equal((await b.listTags(ACCOUNT, key.key.keyId, undefined, 100)).items.length, 20);
    });

    test("read-modify-write key updates decided in the write lose nothing", async () => {
      const key = newKey({ rotationPeriodDays: 0 });
      await a.createKey(key);
      await Promise.all(
        Array.from({ length: 24 }, (_, i) => replica(i).updateKey(ACCOUNT, key.key.keyId, (current) => ({ rotationPeriodDays: current.rotationPeriodDays + 1 }))),
      );
      assert.equal((await a.getKey(ACCOUNT, key.key.keyId))!.rotationPeriodDays, 24);
    });

    test("enable and schedule-deletion checks race: the deletion is never undone by a stale enable", async () => {
      const key = newKey({ state: KeyState.DISABLED });
      await a.createKey(key);
      const enable = (current: KeyRecord) => {
        if (current.state === KeyState.PENDING_DELETION) throw new Error("KEY_PENDING_DELETION");
        return { state: KeyState.ENABLED };
      };
      const results = await Promise.allSettled([
        b.updateKey(ACCOUNT, key.key.keyId, () => ({ state: KeyState.PENDING_DELETION, deletionDate: T0 })),
        ...Array.from({ length: 6 }, (_, i) => replica(i).updateKey(ACCOUNT, key.key.keyId, enable)),
      ]);
      assert.equal(results[0].status, "fulfilled");
      assert.equal((await a.getKey(ACCOUNT, key.key.keyId))!.state, KeyState.PENDING_DELETION);
      for (const r of results.slice(1)) if (r.status === "rejected") assert.match(String(r.reason), /KEY_PENDING_DELETION/);
    });

    test("the same idempotency token on both replicas creates one key; the other replays it", async () => {
      const idempotency = { operation: "CreateKey", token: `tok-${randomUUID()}`, requestHash: "h" };
      const outcomes = await Promise.all([a.createKey(newKey({}, { idempotency })), b.createKey(newKey({}, { idempotency })), a.createKey(newKey({}, { idempotency }))]);
      const created = outcomes.filter((o) => o.kind === "created");
      assert.equal(created.length, 1);
      for (const o of outcomes) if (o.kind === "replayed") assert.equal(o.previous.resourceId, created[0]!.kind === "created" ? created[0]!.key.keyId : "");
    });

    test("a purge racing a cancelled deletion: either the key is gone or it stays cancelled, never half", async () => {
      const key = newKey({ state: KeyState.PENDING_DELETION, deletionDate: T0 });
      await a.createKey(key);
      await a.createAlias({ accountId: ACCOUNT, aliasName: "alias/purge-race", targetKeyId: key.key.keyId, createdAt: T0, updatedAt: T0 });
      const [purged, cancelled] = await Promise.all([
        a.purgeKey(ACCOUNT, key.key.keyId, { dueBy: T0 }),
        b.updateKey(ACCOUNT, key.key.keyId, (current) => (current.state === KeyState.PENDING_DELETION ? { state: KeyState.DISABLED, deletionDate: null } : undefined)),
      ]);
      const stored = await a.getKey(ACCOUNT, key.key.keyId);
      if (purged.length > 0) {
        assert.equal(stored, undefined);
        assert.equal(cancelled, undefined);
        assert.equal(await a.getAlias(ACCOUNT, "alias/purge-race"), undefined);
      } else {
        assert.equal(stored!.state, KeyState.DISABLED);
        assert.notEqual(await a.getAlias(ACCOUNT, "alias/purge-race"), undefined);
      }
    });
  });
});
