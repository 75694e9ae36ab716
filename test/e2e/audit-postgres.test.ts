// `keyhold dev` with KEYHOLD_DATABASE_URL over real gRPC: audit-service keeps the log in
// PostgreSQL (schema audit_service). Two instances on the same database (each its own data
// directory, the same checkpoint signing key, as two replicas) ship their services' events into
// one log that verifies from either; while the database is down, audit calls fail with
// UNAVAILABLE DATABASE_UNAVAILABLE, and the events wait in the outboxes until it is back.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { readDevConfig, startDev, type DevInstance } from "@keyhold/cli";
import { createTestDatabase, postgresBinDir, startPostgres, type TestDatabase, type TestPostgres } from "@keyhold/postgres/testing";
import { AuditService, ErrorInfoSchema, IamService, type AuditEvent } from "@keyhold/proto";
import { createSilentLogger } from "@keyhold/server-kit";
import pg from "pg";
import { generateApiKey, withCredential } from "../support/auth.ts";

const binDir = postgresBinDir();
if (binDir === undefined) console.error("\n*** SKIPPING the audit-service on PostgreSQL tests: no PostgreSQL server binaries (apt-get install postgresql) ***\n");


describe("keyhold dev: audit-service on PostgreSQL (real server)", { skip: binDir === undefined ? "PostgreSQL is not installed" : false }, () => {
  let server: TestPostgres;
  let database: TestDatabase;
  let shared: string;
  const dirs: string[] = [];
  const instances: DevInstance[] = [];
  const adminKey = generateApiKey();

  async function start(): Promise<DevInstance> {
    const dataDir = await mkdtemp(join(tmpdir(), "keyhold-audit-pg-"));
    dirs.push(dataDir);
    const env = {
      KEYHOLD_DATA_DIR: dataDir,
      KEYHOLD_GRPC_ADDR: "127.0.0.1:0",
      KEYHOLD_HTTP_ADDR: "127.0.0.1:0",
      KEYHOLD_BOOTSTRAP_API_KEY: adminKey,
      KEYHOLD_DATABASE_URL: database.url,
      KEYHOLD_AUDIT_SIGNING_KEY_FILE: join(shared, "audit-checkpoint-key.pem"),
    };
    const dev = await startDev(readDevConfig(env, process.cwd()), createSilentLogger());
    instances.push(dev);
    return dev;
  }

  function clients(dev: DevInstance): { iam: Client<typeof IamService>; audit: Client<typeof AuditService> } {
    const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${dev.addresses.grpcPort}`, interceptors: [withCredential(adminKey)] });
    return { iam: createClient(IamService, transport), audit: createClient(AuditService, transport) };
  }

  /** The iam:CreateUser events in the log, once there are at least `atLeast`. */
  async function createUserEvents(audit: Client<typeof AuditService>, atLeast: number): Promise<AuditEvent[]> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { events } = await audit.lookupEvents({ action: "iam:CreateUser", pageSize: 100 });
      if (events.length >= atLeast) return events;
      assert.ok(Date.now() < deadline, `only ${events.length} iam:CreateUser events after 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  before(async () => {
    server = await startPostgres(binDir!);
    database = await createTestDatabase(server);
    shared = await mkdtemp(join(tmpdir(), "keyhold-audit-pg-key-"));
    dirs.push(shared);
  });
  after(async () => {
    await server?.resume();
    for (const dev of instances) await dev.stop().catch(() => undefined);
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    await database?.drop().catch(() => undefined);
    await server?.stop();
  });

  test("two instances append their events to one log in PostgreSQL that verifies from either", async () => {
    const first = clients(await start());
    const second = clients(await start());
    await first.iam.createUser({ userName: "alice" });
    await second.iam.createUser({ userName: "bob" });
    // Each instance's events are seen from the other (one log), each once.
    for (const { audit } of [first, second]) {
      const events = await createUserEvents(audit, 2);
      assert.equal(events.length, 2);
      assert.equal(new Set(events.map((e) => e.source)).size, 2, "one outbox per instance");
    }
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ sources: string }>("SELECT count(DISTINCT source) AS sources FROM audit_service.records WHERE action = 'iam:CreateUser'");
      assert.equal(rows[0]!.sources, "2", "both instances' outboxes shipped into the same table");
    } finally {
      await client.end();
    }
    for (const { audit } of [first, second]) {
      const { checkpoint } = await audit.getCheckpoint({ fresh: true });
      assert.ok(checkpoint !== undefined && checkpoint.treeSize > 0n);
      const verified = await audit.verifyLog({});
      assert.deepEqual([verified.ok, verified.problem], [true, ""]);
    }
  });

  test("while the database is down, audit calls fail with UNAVAILABLE DATABASE_UNAVAILABLE; the events arrive once it is back", async () => {
    const dev = instances[0]!;
    const { iam, audit } = clients(dev);
    await server.halt();
    try {
      // policy-service keeps its data in the same database, so its call fails too; its audit
      // event (a failed call is audited like any other) waits in policy-service's outbox.
      const refused = await iam.createUser({ userName: "carol" }).then(
        () => assert.fail("expected a refusal"),
        (e: unknown) => ConnectError.from(e),
      );
      assert.equal(refused.code, Code.Unavailable);
      assert.equal(refused.findDetails(ErrorInfoSchema)[0]?.reason, "DATABASE_UNAVAILABLE");
      const error = await audit.getCheckpoint({}).then(
        () => assert.fail("expected a refusal"),
        (e: unknown) => ConnectError.from(e),
      );
      assert.equal(error.code, Code.Unavailable);
      assert.equal(error.findDetails(ErrorInfoSchema)[0]?.reason, "DATABASE_UNAVAILABLE");
    } finally {
      await server.resume();
    }
    const events = await createUserEvents(audit, 3);
    assert.equal(events.length, 3, "delivered once");
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal((await createUserEvents(audit, 3)).length, 3, "and not again");
    const verified = await audit.verifyLog({});
    assert.deepEqual([verified.ok, verified.problem], [true, ""]);
  });
});
