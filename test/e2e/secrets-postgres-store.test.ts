// `keyhold dev` with KEYHOLD_DATABASE_URL: secrets-service keeps its secrets in PostgreSQL (schema
// secrets_service, no SQLite file of its own), they survive a restart, and while the database is
// down the gRPC front door answers UNAVAILABLE with reason DATABASE_UNAVAILABLE (but for a secret
// still in the record cache), then recovers.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { readDevConfig, startDev, type DevInstance } from "@keyhold/cli";
import { createTestDatabase, type TestDatabase } from "@keyhold/postgres/testing";
import { ErrorInfoSchema, SecretsService } from "@keyhold/proto";
import { createSilentLogger } from "@keyhold/server-kit";
import pg from "pg";
import { generateApiKey, withCredential } from "../support/auth.ts";
import { postgresBinDir, startPostgres, type TestPostgres } from "../support/postgres.ts";

const binDir = postgresBinDir();
if (binDir === undefined) {
  console.error("\n*** SKIPPING the secrets-service PostgreSQL store e2e test: no PostgreSQL server binaries (apt-get install postgresql) ***\n");
}

describe("keyhold dev with KEYHOLD_DATABASE_URL: secrets in PostgreSQL", { skip: binDir === undefined ? "PostgreSQL is not installed" : false }, () => {
  let server: TestPostgres;
  let database: TestDatabase;
  let dataDir: string;
  const credential = generateApiKey();
  let dev: DevInstance | undefined;

  async function start(): Promise<Client<typeof SecretsService>> {
    const config = readDevConfig(
      {
        KEYHOLD_DATA_DIR: dataDir,
        KEYHOLD_GRPC_ADDR: "127.0.0.1:0",
        KEYHOLD_HTTP_ADDR: "127.0.0.1:0",
        KEYHOLD_LOG_LEVEL: "error",
        KEYHOLD_SHUTDOWN_GRACE_MS: "2000",
        KEYHOLD_BOOTSTRAP_API_KEY: credential,
        KEYHOLD_DATABASE_URL: database.url,
      },
      process.cwd(),
    );
    dev = await startDev(config, createSilentLogger());
    return createClient(SecretsService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${dev.addresses.grpcPort}`, interceptors: [withCredential(credential)] }));
  }

  before(async () => {
    server = await startPostgres(binDir!);
    database = await createTestDatabase(server);
    dataDir = await mkdtemp(join(tmpdir(), "keyhold-secrets-pg-"));
  });
  after(async () => {
    await dev?.stop();
    await database?.drop().catch(() => undefined);
    await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  test("secrets live in schema secrets_service and survive a restart; an outage is UNAVAILABLE, then calls recover", async () => {
    let secrets = await start();
    await secrets.createSecret({ name: "app/db", secretString: "hunter2" });
    await secrets.putSecretValue({ secretId: "app/db", secretString: "hunter3", versionStages: ["AWSPENDING"] });
    assert.equal(existsSync(join(dataDir, "secrets-service.sqlite")), false, "no SQLite file for secrets-service");
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ name: string }>("SELECT name FROM secrets_service.secrets");
      assert.deepEqual(rows, [{ name: "app/db" }]);
    } finally {
      await client.end();
    }

    await dev!.stop();
    dev = undefined;
    secrets = await start();
    assert.equal((await secrets.getSecretValue({ secretId: "app/db" })).secretString, "hunter2");
    assert.equal((await secrets.getSecretValue({ secretId: "app/db", versionStage: "AWSPENDING" })).secretString, "hunter3");
    assert.equal((await secrets.listSecrets({})).secrets.length, 1);

    await server.halt();
    try {
      // A secret read moments ago answers from the record cache (at most KEYHOLD_SECRETS_CACHE_TTL_MS old);
      // a call that needs the database (listing is never cached) is UNAVAILABLE.
      assert.equal((await secrets.getSecretValue({ secretId: "app/db" }, { timeoutMs: 30_000 })).secretString, "hunter2");
      const outcome = await secrets.listSecrets({}, { timeoutMs: 30_000 }).then(
        () => undefined,
        (error: unknown) => ConnectError.from(error),
      );
      assert.ok(outcome !== undefined, "answered during the outage");
      assert.equal(outcome.code, Code.Unavailable, outcome.rawMessage);
      assert.equal(outcome.findDetails(ErrorInfoSchema)[0]?.reason, "DATABASE_UNAVAILABLE");
      assert.doesNotMatch(outcome.rawMessage, /postgres:|password|keyhold_user/i, "nothing about the connection in the answer");
    } finally {
      await server.resume();
    }
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        assert.equal((await secrets.getSecretValue({ secretId: "app/db" })).secretString, "hunter2");
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await sleep(250);
      }
    }
  });
});
