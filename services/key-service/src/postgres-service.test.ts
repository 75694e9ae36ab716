// key-service on PostgreSQL (KEYHOLD_DATABASE_URL), through its public API: two replicas share
// the database (what one writes the other serves), and a database outage answers UNAVAILABLE
// with reason DATABASE_UNAVAILABLE (never INTERNAL) while hot-path calls whose key, alias and
// version are cached keep working; once the server is back, every call works again.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { createTestDatabase, postgresBinDir, startPostgres, type TestDatabase, type TestPostgres } from "@keyhold/postgres/testing";
import { detailedRefusal, startTestKeyService, type TestKeyService } from "./test-support.ts";

const binDir = postgresBinDir();

describe("key-service on PostgreSQL", { skip: binDir === undefined ? "PostgreSQL is not installed" : false }, () => {
  let server: TestPostgres;
  let database: TestDatabase;
  let first: TestKeyService;
  let second: TestKeyService;
  let dataDir: string;

  before(async () => {
    server = await startPostgres(binDir!);
    database = await createTestDatabase(server);
    // Replicas share the database and the root key (here: one root key file).
    dataDir = mkdtempSync(join(tmpdir(), "keyhold-key-service-pg-"));
    first = await startTestKeyService({}, { databaseUrl: database.url, dataDir });
    second = await startTestKeyService({}, { databaseUrl: database.url, dataDir });
  });
  after(async () => {
    await first?.close();
    await second?.close();
    await database?.drop().catch(() => undefined);
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("two replicas on one database: keys, aliases and ciphertexts made on one work on the other", async () => {
    const key = (await first.keys.createKey({ description: "shared" })).keyMetadata!;
    await first.keys.createAlias({ aliasName: "alias/shared", targetKeyId: key.keyId });
    const sealed = await second.crypto.encrypt({ keyId: "alias/shared", plaintext: Buffer.from("across replicas") });
    const opened = await first.crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob });
    assert.equal(Buffer.from(opened.plaintext).toString(), "across replicas");
    assert.equal((await second.keys.getKey({ keyId: key.keyId })).keyMetadata!.description, "shared");
    const listed = await second.keys.listAliases({});
    assert.ok(listed.aliases.some((a) => a.aliasName === "alias/shared"));
  });

  test("a database outage fails calls UNAVAILABLE (DATABASE_UNAVAILABLE); cached hot-path calls go on; all recover after", async () => {
    const key = (await first.keys.createKey({})).keyMetadata!;
    // Warm this replica's record cache: key, version and (for decrypt) the same version.
    const warm = await first.crypto.encrypt({ keyId: key.keyId, plaintext: Buffer.from("warm") });
    await first.crypto.decrypt({ ciphertextBlob: warm.ciphertextBlob });

    await server.halt();
    try {
      const calls = [
        () => first.keys.createKey({}),
        () => first.keys.listKeys({}),
        () => second.keys.getKey({ keyId: key.keyId }),
        () => second.crypto.encrypt({ keyId: key.keyId, plaintext: Buffer.from("x") }),
      ];
      for (const call of calls) {
        const refusal = await detailedRefusal(call());
        assert.equal(refusal.code, Code.Unavailable, `got ${Code[refusal.code]} ${refusal.reason}`);
        assert.equal(refusal.reason, "DATABASE_UNAVAILABLE");
      }
      // Documented: a replica answers Encrypt/Decrypt from its cache for keys it has seen.
      const cached = await first.crypto.encrypt({ keyId: key.keyId, plaintext: Buffer.from("during the outage") });
      assert.equal(Buffer.from((await first.crypto.decrypt({ ciphertextBlob: cached.ciphertextBlob })).plaintext).toString(), "during the outage");
    } finally {
      await server.resume();
    }

    const after = (await first.keys.createKey({ description: "after the outage" })).keyMetadata!;
    assert.equal((await second.keys.getKey({ keyId: after.keyId })).keyMetadata!.description, "after the outage");
    const sealed = await second.crypto.encrypt({ keyId: key.keyId, plaintext: Buffer.from("recovered") });
    assert.equal(Buffer.from((await first.crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob })).plaintext).toString(), "recovered");
  });
});
