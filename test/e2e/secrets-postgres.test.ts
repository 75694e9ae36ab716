// Rotation of PostgreSQL database secrets against a real PostgreSQL server the test starts, with
// `keyhold dev` over gRPC: single-user (the old password stops working, the new CURRENT logs in)
// and alternating users (an application connected with the old credentials keeps working through
// the rotation, and so do new connections with them; the new CURRENT logs in with the base role's
// privileges).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { SecretsService, SecretType } from "@keyhold/proto";
import pg from "pg";
import { withCredential } from "../support/auth.ts";
import { postgresBinDir, startPostgres, type TestPostgres } from "../support/postgres.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

const binDir = postgresBinDir();
if (binDir === undefined) {
  console.error("\n*** SKIPPING the PostgreSQL rotation tests: no PostgreSQL server binaries (apt-get install postgresql) ***\n");
}

interface DbValue {
  host: string;
  port: number;
  dbname: string;
  username: string;
  password: string;
  masterSecretId?: string;
}

describe("PostgreSQL database secrets (real server)", { skip: binDir === undefined ? "PostgreSQL is not installed" : false }, () => {
  let db: TestPostgres;
  let server: TestServer;
  let secrets: Client<typeof SecretsService>;
  const open: pg.Client[] = [];

  async function connect(user: string, password: string): Promise<pg.Client> {
    const client = new pg.Client({ host: db.host, port: db.port, database: "postgres", user, password, connectionTimeoutMillis: 10_000 });
    await client.connect();
    open.push(client);
    return client;
  }
  async function logsIn(user: string, password: string): Promise<boolean> {
    try {
      const client = await connect(user, password);
      await client.query("SELECT 1");
      return true;
    } catch {
      return false;
    }
  }
  async function current(name: string, stage = "CURRENT"): Promise<DbValue> {
    return JSON.parse((await secrets.getSecretValue({ secretId: name, versionStage: stage })).secretString) as DbValue;
  }

  before(async () => {
    db = await startPostgres(binDir!);
    server = await startTestServer();
    secrets = createClient(SecretsService, createGrpcTransport({ baseUrl: server.grpcBaseUrl, interceptors: [withCredential(server.credential)] }));
    const admin = await connect(db.superuser, db.superPassword);
    await admin.query("CREATE ROLE single_user LOGIN PASSWORD 'single-initial'");
    await admin.query("CREATE ROLE app LOGIN PASSWORD 'app-initial'");
    await admin.query("CREATE TABLE orders (id int)");
    await admin.query("INSERT INTO orders VALUES (1), (2)");
    await admin.query("GRANT SELECT ON orders TO app");
    await secrets.createSecret({
      name: "db/master",
      secretType: SecretType.POSTGRESQL,
      secretString: JSON.stringify({ engine: "postgres", host: db.host, port: db.port, dbname: "postgres", username: db.superuser, password: db.superPassword }),
    });
  });
  after(async () => {
    for (const client of open) await client.end().catch(() => undefined);
    await server?.stop();
    await db?.stop();
  });

  test("single user: after rotation the new CURRENT logs in and the old password no longer does", async () => {
    await secrets.createSecret({
      name: "db/single",
      secretType: SecretType.POSTGRESQL,
      secretString: JSON.stringify({ engine: "postgres", host: db.host, port: db.port, dbname: "postgres", username: "single_user", password: "single-initial" }),
    });
    await secrets.rotateSecret({ secretId: "db/single" });
    const next = await current("db/single");
    assert.equal(next.username, "single_user");
    assert.notEqual(next.password, "single-initial");
    assert.ok(await logsIn("single_user", next.password), "the new CURRENT logs in");
    assert.equal(await logsIn("single_user", "single-initial"), false, "the old password is refused");
    assert.equal((await current("db/single", "PREVIOUS")).password, "single-initial");
  });

  test("alternating users: connections with the old credentials keep working through the rotation", async () => {
    await secrets.createSecret({
      name: "db/app",
      secretType: SecretType.POSTGRESQL,
      secretString: JSON.stringify({ engine: "postgres", host: db.host, port: db.port, dbname: "postgres", username: "app", password: "app-initial", masterSecretId: "db/master" }),
    });
    const application = await connect("app", "app-initial");
    assert.equal((await application.query("SELECT count(*)::int AS n FROM orders")).rows[0].n, 2);

    await secrets.rotateSecret({ secretId: "db/app" });
    const first = await current("db/app");
    assert.equal(first.username, "app_clone");
    assert.equal((await application.query("SELECT count(*)::int AS n FROM orders")).rows[0].n, 2, "the connected application keeps working");
    assert.ok(await logsIn("app", "app-initial"), "new connections with the old credentials still work");
    const clone = await connect(first.username, first.password);
    assert.equal((await clone.query("SELECT count(*)::int AS n FROM orders")).rows[0].n, 2, "the new CURRENT has the base role's privileges");

    // The next rotation alternates back to the base role, with a new password.
    await secrets.rotateSecret({ secretId: "db/app" });
    const second = await current("db/app");
    assert.equal(second.username, "app");
    assert.notEqual(second.password, "app-initial");
    assert.ok(await logsIn("app", second.password));
    assert.ok(await logsIn(first.username, first.password), "the previous role still works");
    assert.equal(await logsIn("app", "app-initial"), false, "the role's password from two rotations ago is gone");
    assert.equal((await application.query("SELECT 1 AS one")).rows[0].one, 1, "the first connection is still alive");
  });

  test("a failing database step leaves CURRENT as it was", async () => {
    await secrets.createSecret({
      name: "db/wrong",
      secretType: SecretType.POSTGRESQL,
      secretString: JSON.stringify({ engine: "postgres", host: db.host, port: db.port, dbname: "postgres", username: "single_user", password: "not-the-password" }),
    });
    const before = await current("db/wrong");
    await assert.rejects(secrets.rotateSecret({ secretId: "db/wrong" }), /set step failed/);
    assert.deepEqual(await current("db/wrong"), before);
    const pending = await current("db/wrong", "PENDING");
    assert.notEqual(pending.password, before.password);
  });
});
