// `keyhold dev` with KEYHOLD_DATABASE_URL: key-service keeps its keys in PostgreSQL (schema
// key_service) and, over real gRPC, answers a database outage with UNAVAILABLE and reason
// DATABASE_UNAVAILABLE (not INTERNAL), keeps encrypting under keys it has cached, and recovers
// without a restart once the database is back.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createTestDatabase, type TestDatabase } from "@keyhold/postgres/testing";
import { CryptoService, ErrorInfoSchema, KeyService } from "@keyhold/proto";
import pg from "pg";
import { withCredential } from "../support/auth.ts";
import { postgresBinDir, startPostgres, type TestPostgres } from "../support/postgres.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

const binDir = postgresBinDir();

async function refusal(call: Promise<unknown>): Promise<{ code: Code; reason: string | undefined }> {
  try {
    await call;
  } catch (error) {
    const connect = ConnectError.from(error);
    return { code: connect.code, reason: connect.findDetails(ErrorInfoSchema)[0]?.reason };
  }
  assert.fail("expected the call to be refused");
}

describe("key-service on PostgreSQL under keyhold dev (real gRPC)", { skip: binDir === undefined ? "PostgreSQL is not installed" : false }, () => {
  let postgres: TestPostgres;
  let database: TestDatabase;
  let server: TestServer;
  let keys: Client<typeof KeyService>;
  let crypto: Client<typeof CryptoService>;

  before(async () => {
    postgres = await startPostgres(binDir!);
    database = await createTestDatabase(postgres);
    server = await startTestServer({ KEYHOLD_DATABASE_URL: database.url });
    const transport = createGrpcTransport({ baseUrl: server.grpcBaseUrl, interceptors: [withCredential(server.credential)] });
    keys = createClient(KeyService, transport);
    crypto = createClient(CryptoService, transport);
  });
  after(async () => {
    await server?.stop();
    await database?.drop().catch(() => undefined);
    await postgres?.stop();
  });

  test("keys are stored in the key_service schema of the configured database", async () => {
    const key = (await keys.createKey({ description: "in postgres" })).keyMetadata!;
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ description: string }>("SELECT description FROM key_service.keys WHERE key_id = $1", [key.keyId]);
      assert.deepEqual(rows, [{ description: "in postgres" }]);
    } finally {
      await client.end();
    }
  });

  test("an outage: UNAVAILABLE DATABASE_UNAVAILABLE, cached keys keep encrypting, everything recovers", async () => {
    const key = (await keys.createKey({})).keyMetadata!;
    const warm = await crypto.encrypt({ keyId: key.keyId, plaintext: Buffer.from("warm") });
    await postgres.halt();
    try {
      assert.deepEqual(await refusal(keys.createKey({})), { code: Code.Unavailable, reason: "DATABASE_UNAVAILABLE" });
      assert.deepEqual(await refusal(keys.listKeys({})), { code: Code.Unavailable, reason: "DATABASE_UNAVAILABLE" });
      const during = await crypto.encrypt({ keyId: key.keyId, plaintext: Buffer.from("during") });
      assert.equal(Buffer.from((await crypto.decrypt({ ciphertextBlob: during.ciphertextBlob })).plaintext).toString(), "during");
    } finally {
      await postgres.resume();
    }
    const later = (await keys.createKey({ description: "after" })).keyMetadata!;
    assert.equal((await keys.getKey({ keyId: later.keyId })).keyMetadata!.description, "after");
    assert.equal(Buffer.from((await crypto.decrypt({ ciphertextBlob: warm.ciphertextBlob })).plaintext).toString(), "warm");
  });
});
