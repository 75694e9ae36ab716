// Two secrets-service replicas on one PostgreSQL database and one real Redis, each serving gRPC on
// its own loopback port, through the API:
// each caches what it reads (the record cache counts hits), and what one writes — a new value,
// an AWSCURRENT move, UpdateSecret, tags, DeleteSecret / RestoreSecret, a rotation, a purge — the
// other answers right after the write returns, with no waiting. With Redis stopped, both keep
// answering, from the database (a write on one is read on the other at once); once Redis is
// back the caches are flushed and used again. With Redis hanging, calls still answer at once.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { connectRedis, RedisInvalidationBus } from "@keyhold/coordination";
import { redisServerAvailable, TestRedis } from "@keyhold/coordination/testing";
import { createTestDatabase, postgresBinDir, startPostgres, type TestDatabase, type TestPostgres } from "@keyhold/postgres/testing";
import { SecretsService, SecretType } from "@keyhold/proto";
import { createSilentLogger, KeyholdServer, type ServiceBinding } from "@keyhold/server-kit";
import { refusal, startTestSecretsService, type Replica, type TestSecretsService } from "./test-support.ts";

const binDir = postgresBinDir();
const skip = binDir === undefined ? "PostgreSQL is not installed" : !redisServerAvailable() ? "redis-server is not installed" : false;
const V = (n: number) => `${String(n).padStart(8, "0")}-0000-4000-8000-000000000000`;
const logger = createSilentLogger();

describe("secrets-service replicas on one PostgreSQL database and one Redis", { skip }, () => {
  let server: TestPostgres;
  let database: TestDatabase;
  let redis: TestRedis;
  let t: TestSecretsService;
  let replicaB: Replica;
  let a: Client<typeof SecretsService>;
  let b: Client<typeof SecretsService>;
  const buses: RedisInvalidationBus[] = [];
  const closers: (() => Promise<void>)[] = [];

  const bus = async (name: string) => {
    const conn = connectRedis(redis.url, { logger, name, commandTimeoutMs: 50, coolDownMs: 200, maxReconnectDelayMs: 100 });
    await conn.start();
    const made = new RedisInvalidationBus(conn, logger);
    await made.start();
    closers.push(async () => {
      await made.close();
      await conn.close();
    });
    buses.push(made);
    return made;
  };
  /** Serves `bindings` on a loopback gRPC port, as a replica does: callers reach it over HTTP/2. */
  const serve = async (bindings: readonly ServiceBinding[]): Promise<Client<typeof SecretsService>> => {
    const server = new KeyholdServer({
      bindings: [...bindings],
      interceptors: [],
      logger,
      grpc: { host: "127.0.0.1", port: 0 },
      http: { host: "127.0.0.1", port: 0 },
      maxMessageBytes: 1024 * 1024,
      corsOrigins: [],
      shutdownGraceMs: 100,
    });
    const bound = await server.start();
    closers.push(() => server.stop());
    const transport = createGrpcTransport({
      baseUrl: `http://127.0.0.1:${bound.grpcPort}`,
      interceptors: [(next) => (request) => (request.header.set("authorization", `Bearer ${t.adminKey}`), next(request))],
    });
    return createClient(SecretsService, transport);
  };
  const until = async (condition: () => boolean, what: string) => {
    const deadline = Date.now() + 5000;
    while (!condition()) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      await sleep(10);
    }
  };
  /** b's record cache hits so far. */
  const hitsOfB = () => replicaB.app.recordCache.stats.hits;

  before(async () => {
    server = await startPostgres(binDir!);
    database = await createTestDatabase(server);
    redis = await TestRedis.start();
    t = await startTestSecretsService({ bus: await bus("a") }, { KEYHOLD_DATABASE_URL: database.url });
    replicaB = await t.replica({ bus: await bus("b") });
    a = await serve(t.app.bindings);
    b = await serve(replicaB.app.bindings);
    await until(() => buses.every((made) => made.subscribed), "both buses subscribed");
  });
  after(async () => {
    for (const close of closers.reverse()) await close();
    await t?.close();
    await redis?.stop();
    await database?.drop().catch(() => undefined);
    await server?.stop();
  });

  test("what A writes, B reads right after the write returns, though B answers reads from its cache", async () => {
    await a.createSecret({ name: "app/db", secretString: "one", versionId: V(1), tags: [{ key: "team", value: "x" }] });
    assert.equal((await b.getSecretValue({ secretId: "app/db" })).secretString, "one");
    const hits = hitsOfB();
    assert.equal((await b.getSecretValue({ secretId: "app/db" })).secretString, "one");
    assert.ok(hitsOfB() > hits, "the second read was answered from B's cache");

    // PutSecretValue: a new CURRENT.
    await a.putSecretValue({ secretId: "app/db", secretString: "two", versionId: V(2) });
    const afterPut = await b.getSecretValue({ secretId: "app/db" });
    assert.equal(afterPut.secretString, "two");
    assert.deepEqual(afterPut.versionStages, ["CURRENT"]);
    assert.equal((await b.getSecretValue({ secretId: "app/db", versionStage: "AWSPREVIOUS" })).versionId, V(1));

    // AWSCURRENT moved back to the first version.
    await a.updateSecretVersionStage({ secretId: "app/db", versionStage: "AWSCURRENT", moveToVersionId: V(1), removeFromVersionId: V(2) });
    assert.equal((await b.getSecretValue({ secretId: "app/db" })).secretString, "one");

    // UpdateSecret (metadata and a value) and tags.
    await b.describeSecret({ secretId: "app/db" });
    await a.updateSecret({ secretId: "app/db", description: "changed on A", secretString: "three", versionId: V(3) });
    await a.tagResource({ secretId: "app/db", tags: [{ key: "env", value: "prod" }] });
    const described = (await b.describeSecret({ secretId: "app/db" })).metadata!;
    assert.equal(described.description, "changed on A");
    assert.deepEqual(described.tags.map((tag) => tag.key).sort(), ["env", "team"]);
    assert.equal((await b.getSecretValue({ secretId: "app/db" })).secretString, "three");

    // DeleteSecret (scheduled) and RestoreSecret.
    await a.deleteSecret({ secretId: "app/db", recoveryWindowInDays: 7 });
    assert.equal((await refusal(b.getSecretValue({ secretId: "app/db" }))).reason, "SECRET_PENDING_DELETION");
    await a.restoreSecret({ secretId: "app/db" });
    assert.equal((await b.getSecretValue({ secretId: "app/db" })).secretString, "three");

    // Deleted for good.
    await a.deleteSecret({ secretId: "app/db", forceDeleteWithoutRecovery: true });
    assert.equal((await refusal(b.getSecretValue({ secretId: "app/db" }))).code, Code.NotFound);
    assert.equal(buses[0]!.counters.publishFailures, 0);
  });

  test("a rotation on A is read on B right after it returns", async () => {
    const principal = await t.user("rotated");
    await a.createSecret({ name: "api-key/app", secretType: SecretType.KEYHOLD_API_KEY, apiKeyPrincipalKrn: principal.krn });
    const before = await b.getSecretValue({ secretId: "api-key/app" });
    const rotated = await a.rotateSecret({ secretId: "api-key/app" });
    const after = await b.getSecretValue({ secretId: "api-key/app" });
    assert.equal(after.versionId, rotated.versionId);
    assert.notEqual(after.versionId, before.versionId);
    assert.notEqual(after.secretString, before.secretString);
  });

  test("Redis hanging (SIGSTOP): every call still answers quickly; B catches up once Redis answers again", async () => {
    await a.createSecret({ name: "hang", secretString: "before", versionId: V(20) });
    assert.equal((await b.getSecretValue({ secretId: "hang" })).secretString, "before");
    redis.pause();
    try {
      const times: number[] = [];
      for (let n = 21; n <= 24; n++) {
        let started = performance.now();
        await a.putSecretValue({ secretId: "hang", secretString: `v${n}`, versionId: V(n) });
        times.push(performance.now() - started);
        started = performance.now();
        await b.getSecretValue({ secretId: "hang" });
        times.push(performance.now() - started);
      }
      // A write waits for Redis at most one command timeout (50 ms here) per cool-down; reads never.
      assert.ok(times.every((ms) => ms < 500), times.map((ms) => ms.toFixed(0)).join(","));
    } finally {
      redis.resume();
    }
    // The published messages are delivered once Redis runs again (at the latest, the TTL would do it).
    const deadline = Date.now() + 5000;
    for (;;) {
      const value = (await b.getSecretValue({ secretId: "hang" })).secretString;
      if (value === "v24") break;
      if (Date.now() > deadline) assert.fail(`B still answers ${value}`);
      await sleep(20);
    }
  });

  test("Redis stopped: both replicas keep answering from the database; Redis back: the caches are flushed and used again", async () => {
    await a.createSecret({ name: "outage", secretString: "before", versionId: V(10) });
    assert.equal((await b.getSecretValue({ secretId: "outage" })).secretString, "before");
    await redis.stop();
    try {
      await until(() => buses.every((made) => !made.subscribed), "both buses to notice");
      const started = performance.now();
      await a.putSecretValue({ secretId: "outage", secretString: "during", versionId: V(11) });
      // B's cached entry is not used while it cannot hear A: the database answers.
      assert.equal((await b.getSecretValue({ secretId: "outage" })).secretString, "during");
      await b.putSecretValue({ secretId: "outage", secretString: "from b", versionId: V(12) });
      assert.equal((await a.getSecretValue({ secretId: "outage" })).secretString, "from b");
      assert.equal((await b.describeSecret({ secretId: "outage" })).metadata!.versions.find((v) => v.versionStages.includes("CURRENT"))?.versionId, V(12));
      assert.ok(performance.now() - started < 2000, "no call waited for Redis");
      assert.ok(buses[0]!.counters.publishFailures > 0, "A's invalidations were lost");
    } finally {
      await redis.restart();
    }
    const flushes = buses[1]!.counters.flushes;
    await until(() => buses.every((made) => made.subscribed) && buses[1]!.counters.flushes > flushes, "the resubscription's flush");
    assert.equal((await b.getSecretValue({ secretId: "outage" })).secretString, "from b");
    const hits = hitsOfB();
    assert.equal((await b.getSecretValue({ secretId: "outage" })).secretString, "from b");
    assert.ok(hitsOfB() > hits, "B's cache is used again");
    await a.putSecretValue({ secretId: "outage", secretString: "after", versionId: V(13) });
    assert.equal((await b.getSecretValue({ secretId: "outage" })).secretString, "after");
  });
});
