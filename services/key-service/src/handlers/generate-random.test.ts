import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { createSilentLogger } from "@keyhold/server-kit";
import { initializeSeal, SealedRootKeyProvider, writeSealFile } from "../domain/sealed-root-key.ts";
import { invalid, OTHER_ACCOUNT, refusal, startTestKeyService, type TestKeyService } from "../test-support.ts";

describe("GenerateRandom", () => {
  let service: TestKeyService;
  before(async () => {
    service = await startTestKeyService();
  });
  after(() => service.close());

  test("returns exactly number_of_bytes bytes, from 1 to 1024", async () => {
    for (const numberOfBytes of [1, 16, 32, 1000, 1024]) {
      const { plaintext } = await service.crypto.generateRandom({ numberOfBytes });
      assert.equal(plaintext.length, numberOfBytes);
    }
  });

  test("two calls return different bytes", async () => {
    const a = await service.crypto.generateRandom({ numberOfBytes: 32 });
    const b = await service.crypto.generateRandom({ numberOfBytes: 32 });
    assert.notDeepEqual(a.plaintext, b.plaintext);
  });

  test("refuses 0 (unset), negative and more than 1024 bytes", async () => {
    for (const numberOfBytes of [0, -1, 1025, 2 ** 31 - 1]) {
      assert.deepEqual(await refusal(service.crypto.generateRandom({ numberOfBytes })), invalid("number_of_bytes"), String(numberOfBytes));
    }
  });

  test("needs no key: any account may call it", async () => {
    const { plaintext } = await service.as(OTHER_ACCOUNT).crypto.generateRandom({ numberOfBytes: 8 });
    assert.equal(plaintext.length, 8);
  });
});

describe("GenerateRandom randomness source", () => {
  let service: TestKeyService;
  const requested: number[] = [];
  before(async () => {
    service = await startTestKeyService({
      random: (size) => {
        requested.push(size);
        return Buffer.alloc(size, 0xa5);
      },
    });
  });
  after(() => service.close());

  test("comes from the context's randomness source", async () => {
    const { plaintext } = await service.crypto.generateRandom({ numberOfBytes: 5 });
    assert.deepEqual(plaintext, new Uint8Array(5).fill(0xa5));
    assert.deepEqual(requested, [5]);
  });
});

describe("GenerateRandom while sealed", () => {
  let dir: string;
  let service: TestKeyService;
  let shares: readonly string[];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "keyhold-random-sealed-"));
    const file = join(dir, "seal.json");
    const seal = initializeSeal(3, 2);
    shares = seal.shares;
    await writeSealFile(file, seal.contents);
    service = await startTestKeyService({ rootKey: await SealedRootKeyProvider.open(file, createSilentLogger()) });
  });
  after(async () => {
    await service.close();
    await rm(dir, { recursive: true, force: true });
  });

  test("refuses FAILED_PRECONDITION SEALED (after checking its input), and works once unsealed", async () => {
    assert.deepEqual(await refusal(service.crypto.generateRandom({ numberOfBytes: 16 })), { code: Code.FailedPrecondition, reason: "SEALED", field: undefined });
    assert.deepEqual(await refusal(service.crypto.generateRandom({ numberOfBytes: 0 })), invalid("number_of_bytes"));
    for (const share of shares.slice(0, 2)) service.app.context.seal.submitShare(share);
    assert.equal((await service.crypto.generateRandom({ numberOfBytes: 16 })).plaintext.length, 16);
    service.app.context.seal.seal();
    assert.equal((await refusal(service.crypto.generateRandom({ numberOfBytes: 16 }))).reason, "SEALED");
  });
});
