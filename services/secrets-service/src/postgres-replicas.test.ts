// secrets-service on PostgreSQL (KEYHOLD_DATABASE_URL) through its API: two replicas sharing one
// database answer as one service, concurrent calls through both never lose an update or make a
// version twice, and a database outage fails calls with UNAVAILABLE DATABASE_UNAVAILABLE (never
// INTERNAL) until the database is back, when calls recover without a restart.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, type Client } from "@connectrpc/connect";
import { createTestDatabase, postgresBinDir, startPostgres, type TestDatabase, type TestPostgres } from "@keyhold/postgres/testing";
import type { SecretsService } from "@keyhold/proto";
import pg from "pg";
import { SecretType } from "@keyhold/proto";
import { refusal, startTestSecretsService, type Replica, type TestSecretsService } from "./test-support.ts";

const binDir = postgresBinDir();
if (binDir === undefined) {
  console.error("\n*** SKIPPING the secrets-service PostgreSQL store tests: no PostgreSQL server binaries (apt-get install postgresql) ***\n");
}

const V = (n: number) => `${String(n).padStart(8, "0")}-0000-4000-8000-000000000000`;

describe("secrets-service on PostgreSQL, two replicas", { skip: binDir === undefined ? "PostgreSQL is not installed" : false }, () => {
  let server: TestPostgres;
  let database: TestDatabase;
  let t: TestSecretsService;
  /** Replica A (t.app) and replica B, as the administrator. */
  let a: Client<typeof SecretsService>;
  let b: Client<typeof SecretsService>;
  let replicaB: Replica;

  before(async () => {
    server = await startPostgres(binDir!);
    database = await createTestDatabase(server);
    t = await startTestSecretsService({}, { KEYHOLD_DATABASE_URL: database.url });
    a = t.admin.secrets;
    replicaB = await t.replica();
    b = replicaB.secretsAs(t.adminKey);
  });
  after(async () => {
    await t?.close();
    await database?.drop().catch(() => undefined);
    await server?.stop();
  });

  test("the store is PostgreSQL: what one replica writes the other reads, and the rows are in secrets_service", async () => {
    await a.createSecret({ name: "shared", secretString: "one", versionId: V(1), tags: [{ key: "team", value: "x" }] });
    assert.equal((await b.getSecretValue({ secretId: "shared" })).secretString, "one");
    await b.putSecretValue({ secretId: "shared", secretString: "two", versionId: V(2) });
    const read = await a.getSecretValue({ secretId: "shared" });
    assert.equal(read.secretString, "two");
    assert.deepEqual((await a.getSecretValue({ secretId: "shared", versionStage: "AWSPREVIOUS" })).versionId, V(1));
    assert.deepEqual((await b.listSecrets({ tagKey: "team" })).secrets.map((s) => s.name), ["shared"]);
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ name: string; n: number }>(
        "SELECT s.name, count(v.*)::integer AS n FROM secrets_service.secrets s JOIN secrets_service.secret_versions v USING (secret_id) GROUP BY s.name",
      );
      assert.deepEqual(rows, [{ name: "shared", n: 2 }]);
      const values = await client.query<{ sealed_value: Buffer }>("SELECT sealed_value FROM secrets_service.secret_versions");
      for (const row of values.rows) assert.ok(!row.sealed_value.includes(Buffer.from("two")), "values are stored sealed");
    } finally {
      await client.end();
    }
  });

  test("PutSecretValue with one client request token through both replicas at once makes one version", async () => {
    await a.createSecret({ name: "token", secretString: "base", versionId: V(10) });
    const calls = Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? a : b).putSecretValue({ secretId: "token", secretString: "same", versionId: V(11) }));
    const answers = await Promise.all(calls);
    for (const answer of answers) {
      assert.equal(answer.versionId, V(11));
      assert.deepEqual(answer.versionStages, ["CURRENT"]);
    }
    const versions = (await b.listSecretVersionIds({ secretId: "token", includeDeprecated: true })).versions;
    assert.deepEqual(versions.map((v) => [v.versionId, v.versionStages]), [[V(11), ["CURRENT"]], [V(10), ["PREVIOUS"]]]);
    // The same token with another value: refused, whichever replica answers.
    for (const client of [a, b]) {
      const refused = await refusal(client.putSecretValue({ secretId: "token", secretString: "other", versionId: V(11) }));
      assert.equal(refused.code, Code.AlreadyExists);
      assert.equal(refused.field, "version_id");
    }
  });

  test("one token, two values at once: one value is stored, the calls with the other are refused", async () => {
    await a.createSecret({ name: "contest", secretString: "base", versionId: V(20) });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? a : b).putSecretValue({ secretId: "contest", secretString: i < 3 ? "left" : "right", versionId: V(21) })),
    );
    const stored = (await a.getSecretValue({ secretId: "contest", versionId: V(21) })).secretString;
    outcomes.forEach((outcome, i) => assert.equal(outcome.status, (i < 3 ? "left" : "right") === stored ? "fulfilled" : "rejected", `call ${i}`));
    assert.equal((await b.listSecretVersionIds({ secretId: "contest", includeDeprecated: true })).versions.length, 2);
  });

  test("CreateSecret with one token through both replicas at once: one secret, every call answered as the first", async () => {
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? a : b).createSecret({ name: "created-once", secretString: "v", versionId: V(30) })));
    for (const answer of answers) assert.equal(answer.versionId, V(30));
    assert.equal((await a.listSecretVersionIds({ secretId: "created-once", includeDeprecated: true })).versions.length, 1);
  });

  test("UpdateSecretVersionStage through both replicas at once: no label lost, each on one version, a move from a stale holder refused", async () => {
    await a.createSecret({ name: "stages", secretString: "1", versionId: V(40) });
    for (let n = 41; n <= 44; n++) await a.putSecretValue({ secretId: "stages", secretString: String(n), versionId: V(n), versionStages: ["spare"] });
    // Distinct custom labels added at once: every one of them stays.
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).updateSecretVersionStage({ secretId: "stages", versionStage: `label-${i}`, moveToVersionId: V(40 + (i % 5)) })),
    );
    // CURRENT moved from V(40) to four other versions at once: one move wins, the others named a stale holder.
    const moves = await Promise.allSettled(
      [41, 42, 43, 44].map((n, i) => (i % 2 === 0 ? a : b).updateSecretVersionStage({ secretId: "stages", versionStage: "AWSCURRENT", moveToVersionId: V(n), removeFromVersionId: V(40) })),
    );
    assert.equal(moves.filter((m) => m.status === "fulfilled").length, 1);
    for (const move of moves) {
      if (move.status === "rejected") {
        const refused = await refusal(Promise.reject(move.reason as Error));
        assert.equal(refused.code, Code.InvalidArgument);
        assert.equal(refused.field, "remove_from_version_id");
      }
    }
    const described = (await b.describeSecret({ secretId: "stages" })).metadata!;
    const holders = new Map<string, string[]>();
    for (const version of described.versions) for (const label of version.versionStages) holders.set(label, [...(holders.get(label) ?? []), version.versionId]);
    for (const [label, versions] of holders) assert.equal(versions.length, 1, `${label} on ${versions.join(", ")}`);
    for (let i = 0; i < 10; i++) assert.deepEqual(holders.get(`label-${i}`), [V(40 + (i % 5))]);
    assert.deepEqual(holders.get("PREVIOUS"), [V(40)]);
    assert.notDeepEqual(holders.get("CURRENT"), [V(40)]);
  });

  test("rotations through both replicas: one runs at a time, and a due rotation runs once whichever schedulers see it", async () => {
    const principal = await t.user("rotated-principal");
    await a.createSecret({ name: "api-key/rotated", secretType: SecretType.KEYHOLD_API_KEY, apiKeyPrincipalKrn: principal.krn });
    const before = (await a.getSecretValue({ secretId: "api-key/rotated" })).versionId;
    const outcomes = await Promise.allSettled([a.rotateSecret({ secretId: "api-key/rotated" }), b.rotateSecret({ secretId: "api-key/rotated" })]);
    const done = outcomes.filter((o) => o.status === "fulfilled");
    assert.ok(done.length >= 1, "at least one rotation ran");
    for (const outcome of outcomes) {
      if (outcome.status === "rejected") assert.equal((await refusal(Promise.reject(outcome.reason as Error))).reason, "ROTATION_IN_PROGRESS");
    }
    const labelled = (await b.describeSecret({ secretId: "api-key/rotated" })).metadata!.versions;
    const current = labelled.find((v) => v.versionStages.includes("CURRENT"))!.versionId;
    assert.notEqual(current, before);
    // One rotation (the other refused): PREVIOUS is the old value; two in turn: the first one's.
    const previous = labelled.find((v) => v.versionStages.includes("PREVIOUS"))?.versionId;
    if (done.length === 1) assert.equal(previous, before);
    else assert.ok(previous !== undefined && previous !== before && previous !== current);
    assert.equal(labelled.filter((v) => v.versionStages.includes("PENDING")).length, 0, "no rotation left half-done");

    // Automatic rotation, due now: both replicas' schedulers tick at once.
    await a.updateSecretRotationPolicy({ secretId: "api-key/rotated", rotationEnabled: true, rotationIntervalSeconds: BigInt(6 * 3600) });
    t.clock.advance(6 * 3_600_000 + 1);
    const versionsBefore = (await a.listSecretVersionIds({ secretId: "api-key/rotated", includeDeprecated: true })).versions.length;
    const ticks = await Promise.all([t.app.scheduler.tick(), replicaB.app.scheduler.tick()]);
    assert.equal(ticks[0].rotated + ticks[1].rotated, 1, "rotated once");
    assert.equal(ticks[0].failed + ticks[1].failed, 0);
    assert.equal((await a.listSecretVersionIds({ secretId: "api-key/rotated", includeDeprecated: true })).versions.length, versionsBefore + 1);
    const again = await Promise.all([t.app.scheduler.tick(), replicaB.app.scheduler.tick()]);
    assert.equal(again[0].rotated + again[1].rotated, 0, "not due any more");
  });

  test("a database outage: calls fail UNAVAILABLE with DATABASE_UNAVAILABLE, and recover once it is back", async () => {
    await a.createSecret({ name: "outage", secretString: "kept", versionId: V(50) });
    await server.halt();
    try {
      for (const call of [
        () => a.getSecretValue({ secretId: "outage" }),
        () => b.putSecretValue({ secretId: "outage", secretString: "new", versionId: V(51) }),
        () => a.createSecret({ name: "during-outage", secretString: "x" }),
        () => b.listSecrets({}),
        () => b.batchGetSecretValue({ secretIds: ["outage", "shared"] }),
        () => a.updateSecretVersionStage({ secretId: "outage", versionStage: "blue", moveToVersionId: V(50) }),
      ]) {
        const refused = await refusal(call());
        assert.equal(refused.code, Code.Unavailable);
        assert.equal(refused.reason, "DATABASE_UNAVAILABLE");
      }
      await assert.rejects(t.app.scheduler.tick(), (error: unknown) => (error as { reason?: string }).reason === "DATABASE_UNAVAILABLE");
    } finally {
      await server.resume();
    }
    // Both replicas answer again without a restart (their pools reconnect).
    const deadline = Date.now() + 15_000;
    for (const client of [a, b]) {
      for (;;) {
        try {
          assert.equal((await client.getSecretValue({ secretId: "outage" })).secretString, "kept");
          break;
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await sleep(200);
        }
      }
    }
    await b.putSecretValue({ secretId: "outage", secretString: "after", versionId: V(51) });
    assert.equal((await a.getSecretValue({ secretId: "outage" })).secretString, "after");
    assert.equal((await a.listSecrets({ namePrefix: "during" })).secrets.length, 0, "nothing half-made during the outage");
  });
});
