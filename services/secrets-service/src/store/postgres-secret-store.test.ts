// The store conformance suite on a real PostgreSQL server (a fresh database per case), and what
// replicas sharing one database do at once: two pools are two replicas. Concurrent label moves
// end with each label on exactly one version and no move lost; concurrent puts of one version id
// make one version; replicas starting together migrate once; a rotation lease has one holder.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createPostgresPool, migrate } from "@keyhold/postgres";
import { createTestDatabase, postgresBinDir, startPostgres, type TestDatabase, type TestPostgres } from "@keyhold/postgres/testing";
import { CURRENT, labelsAfterStageUpdate, PENDING, PREVIOUS, versionWith } from "../domain/labels.ts";
import { POSTGRES_MIGRATIONS, SECRETS_SERVICE_SCHEMA } from "./postgres-migrations.ts";
import { PostgresSecretStore } from "./postgres-secret-store.ts";
import type { SecretStore } from "./secret-store.ts";
import { assertLabelInvariants, putNewVersion, secretRecord, secretStoreConformance } from "./store-conformance.ts";

const binDir = postgresBinDir();
if (binDir === undefined) {
  console.error("\n*** SKIPPING the PostgreSQL secret store tests: no PostgreSQL server binaries (apt-get install postgresql) ***\n");
}

let server: TestPostgres | undefined;
const databases: TestDatabase[] = [];

async function openStore(database: TestDatabase): Promise<SecretStore> {
  const pool = createPostgresPool(database.url, { schema: SECRETS_SERVICE_SCHEMA, maxConnections: 8 });
  await migrate(pool, SECRETS_SERVICE_SCHEMA, POSTGRES_MIGRATIONS);
  return new PostgresSecretStore(pool);
}

async function freshDatabase(): Promise<TestDatabase> {
  const database = await createTestDatabase(server!);
  databases.push(database);
  return database;
}

describe("PostgresSecretStore", { skip: binDir === undefined ? "PostgreSQL is not installed" : false }, () => {
  before(async () => {
    server = await startPostgres(binDir!);
  });
  after(async () => {
    for (const database of databases) await database.drop().catch(() => undefined);
    await server?.stop();
  });

  secretStoreConformance("PostgreSQL", async () => openStore(await freshDatabase()));

  describe("two replicas on one database", () => {
    let database: TestDatabase;
    let a: SecretStore;
    let b: SecretStore;
    before(async () => {
      database = await freshDatabase();
      // Both migrate at once, as replicas starting together do.
      [a, b] = await Promise.all([openStore(database), openStore(database)]);
    });
    after(async () => {
      await a?.close();
      await b?.close();
    });

    test("concurrent label moves: every label ends on exactly one version, and no move is lost", async () => {
      const secret = secretRecord("000000000001", "moves");
      await a.createSecret(secret, [], undefined);
      const versions = ["v1", "v2", "v3", "v4"];
      for (const id of versions) await putNewVersion(a, secret.secretId, id);
      // Each round: 8 moves at once, half through each replica, of CURRENT and of custom labels,
      // each naming where the label is as it reads it inside its transaction.
      const move = (store: SecretStore, label: string, to: string) =>
        store.changeVersions(secret.secretId, (state) => ({
          newVersion: undefined,
          labels: labelsAfterStageUpdate(state.labels, { label, moveTo: to, removeFrom: versionWith(state.labels, label) }, { maxLabelsPerSecret: 20 }),
          prune: [],
          updatedAt: new Date(),
        }));
      for (let round = 0; round < 5; round++) {
        const moves = Array.from({ length: 8 }, (_, i) => ({ store: i % 2 === 0 ? a : b, label: i % 4 === 0 ? CURRENT : `blue${i % 3}`, to: versions[(round + i) % 4]! }));
        await Promise.all(moves.map((m) => move(m.store, m.label, m.to)));
        const labels = await b.labels(secret.secretId);
        assertLabelInvariants(labels);
        for (const label of [CURRENT, "blue0", "blue1", "blue2"]) assert.ok(versionWith(labels, label) !== undefined, `${label} lost`);
      }
    });

    test("a label added through both replicas at once: the second sees it held and is refused (its removeFrom check runs on what is stored)", async () => {
      const secret = secretRecord("000000000001", "stale");
      await a.createSecret(secret, [], undefined);
      await putNewVersion(a, secret.secretId, "v1");
      await putNewVersion(a, secret.secretId, "v2", [PENDING]);
      // Both replicas add "gold" (to different versions) without naming where it is now.
      const outcomes = await Promise.allSettled(
        [a, b].map((store, i) =>
          store.changeVersions(secret.secretId, (state) => ({
            newVersion: undefined,
            labels: labelsAfterStageUpdate(state.labels, { label: "gold", moveTo: i === 0 ? "v1" : "v2", removeFrom: undefined }, { maxLabelsPerSecret: 20 }),
            prune: [],
            updatedAt: new Date(),
          })),
        ),
      );
      // Adding a label held elsewhere needs removeFrom: whichever ran second was refused.
      assert.deepEqual(outcomes.map((o) => o.status).sort(), ["fulfilled", "rejected"]);
      const labels = await a.labels(secret.secretId);
      assertLabelInvariants(labels);
      assert.ok(versionWith(labels, "gold") !== undefined);
      assert.equal(versionWith(labels, CURRENT), "v1");
      assert.equal(versionWith(labels, PENDING), "v2");
    });

    test("concurrent puts of one version id through both replicas make one version", async () => {
      const secret = secretRecord("000000000001", "token");
      await a.createSecret(secret, [], undefined);
      await putNewVersion(a, secret.secretId, "v0");
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => putNewVersion(i % 2 === 0 ? a : b, secret.secretId, "same-token")));
      for (const labels of results) assert.equal(versionWith(labels!, CURRENT), "same-token");
      const versions = await b.listVersions(secret.secretId);
      assert.deepEqual(versions.map((v) => v.versionId), ["v0", "same-token"]);
      assert.deepEqual([...(await b.labels(secret.secretId))], [["v0", [PREVIOUS]], ["same-token", [CURRENT]]]);
    });

    test("concurrent new versions through both replicas: each gets its own place, none lost", async () => {
      const secret = secretRecord("000000000001", "many");
      await a.createSecret(secret, [], undefined);
      const ids = Array.from({ length: 16 }, (_, i) => `n${i}`);
      await Promise.all(ids.map((id, i) => putNewVersion(i % 2 === 0 ? a : b, secret.secretId, id, [`tag-${id}`])));
      const labels = await a.labels(secret.secretId);
      assert.equal(labels.size, ids.length);
      assertLabelInvariants(labels);
      for (const id of ids) assert.equal(versionWith(labels, `tag-${id}`), id);
    });

    test("the same name created through both replicas at once: one secret", async () => {
      const outcomes = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? a : b).createSecret(secretRecord("000000000001", "racy"), [], undefined)));
      assert.equal(outcomes.filter(Boolean).length, 1);
    });

    test("a rotation lease taken by both replicas at once has one holder", async () => {
      const secret = secretRecord("000000000001", "lease", { rotationEnabled: true });
      await a.createSecret(secret, [], undefined);
      const now = new Date();
      const until = new Date(now.getTime() + 60_000);
      const taken = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? a : b).acquireRotation(secret.secretId, `r${i}`, now, until)));
      assert.equal(taken.filter(Boolean).length, 1);
      const holder = taken.indexOf(true);
      assert.equal((await b.getSecretById(secret.secretId))?.rotationToken, `r${holder}`);
    });

    test("tag limits hold under concurrent TagResource calls through both replicas", async () => {
      const secret = secretRecord("000000000001", "tags");
      await a.createSecret(secret, [], undefined);
      await Promise.allSettled(Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? a : b).putTags(secret.secretId, [{ key: `k${i}`, value: "v" }], 5)));
      assert.equal((await a.listTags(secret.secretId)).length, 5);
    });

    test("rerunning the migrations changes nothing; the tables live in secrets_service", async () => {
      const pool = createPostgresPool(database.url, { schema: SECRETS_SERVICE_SCHEMA });
      try {
        assert.deepEqual((await migrate(pool, SECRETS_SERVICE_SCHEMA, POSTGRES_MIGRATIONS)).applied, []);
        const { rows } = await pool.query<{ table_name: string }>(
          "SELECT table_name FROM information_schema.tables WHERE table_schema = 'secrets_service' ORDER BY table_name",
        );
        assert.deepEqual(
          rows.map((r) => r.table_name),
          ["api_key_retirements", "default_keys", "schema_migrations", "secret_tags", "secret_versions", "secrets", "version_labels"],
        );
      } finally {
        await pool.end();
      }
    });
  });
});
