import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
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
