import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { DataKeySpec, type KeyMetadata } from "@keyhold/proto";
import { detailedRefusal, invalid, OTHER_ACCOUNT, refusal, startTestKeyService, type TestKeyService } from "../test-support.ts";

const CONTEXT = { bucket: "reports", object: "2025/q1.csv" };

describe("GenerateDataKey", () => {
  let service: TestKeyService;
  let key: KeyMetadata;
  before(async () => {
    service = await startTestKeyService();
    key = (await service.keys.createKey({})).keyMetadata!;
  });
  after(() => service.close());

  test("returns a 32-byte (AES_256) data key whose blob decrypts to the same bytes under the context", async () => {
    const generated = await service.crypto.generateDataKey({ keyId: key.keyId, encryptionContext: CONTEXT });
    assert.equal(generated.plaintext.length, 32);
    assert.ok(generated.plaintext.some((b) => b !== 0));
    assert.equal(generated.keyId, key.krn);
    assert.equal(generated.keyVersionId, key.primaryVersionId);
    const decrypted = await service.crypto.decrypt({ ciphertextBlob: generated.ciphertextBlob, encryptionContext: CONTEXT });
    assert.deepEqual(decrypted.plaintext, generated.plaintext);
    assert.equal(decrypted.keyId, key.krn);
    assert.equal(decrypted.keyVersionId, generated.keyVersionId);
    assert.equal((await refusal(service.crypto.decrypt({ ciphertextBlob: generated.ciphertextBlob }))).reason, "INVALID_CIPHERTEXT");
  });

  test("each call makes a new data key", async () => {
    const a = await service.crypto.generateDataKey({ keyId: key.keyId });
    const b = await service.crypto.generateDataKey({ keyId: key.keyId });
    assert.notDeepEqual(a.plaintext, b.plaintext);
    assert.notDeepEqual(a.ciphertextBlob, b.ciphertextBlob);
  });

  test("key_spec AES_256 and AES_128, or number_of_bytes, set the length", async () => {
    const cases: Array<[{ keySpec?: DataKeySpec; numberOfBytes?: number }, number]> = [
      [{ keySpec: DataKeySpec.AES_256 }, 32],
      [{ keySpec: DataKeySpec.AES_128 }, 16],
      [{ numberOfBytes: 1 }, 1],
      [{ numberOfBytes: 64 }, 64],
      [{ numberOfBytes: 1024 }, 1024],
    ];
    for (const [request, length] of cases) {
      const generated = await service.crypto.generateDataKey({ keyId: key.keyId, ...request });
      assert.equal(generated.plaintext.length, length, JSON.stringify(request));
      const decrypted = await service.crypto.decrypt({ ciphertextBlob: generated.ciphertextBlob });
      assert.deepEqual(decrypted.plaintext, generated.plaintext, JSON.stringify(request));
    }
  });

  test("refuses key_spec and number_of_bytes together, and out-of-range or unknown values", async () => {
    assert.deepEqual(await refusal(service.crypto.generateDataKey({ keyId: key.keyId, keySpec: DataKeySpec.AES_128, numberOfBytes: 16 })), invalid("key_spec"));
    assert.deepEqual(await refusal(service.crypto.generateDataKey({ keyId: key.keyId, keySpec: DataKeySpec.AES_256, numberOfBytes: 32 })), invalid("key_spec"));
    assert.deepEqual(await refusal(service.crypto.generateDataKey({ keyId: key.keyId, numberOfBytes: -1 })), invalid("number_of_bytes"));
    assert.deepEqual(await refusal(service.crypto.generateDataKey({ keyId: key.keyId, numberOfBytes: 1025 })), invalid("number_of_bytes"));
    assert.deepEqual(await refusal(service.crypto.generateDataKey({ keyId: key.keyId, keySpec: 9 as DataKeySpec })), invalid("key_spec"));
  });

  test("refuses a missing key_id and an invalid encryption context", async () => {
    assert.deepEqual(await refusal(service.crypto.generateDataKey({})), invalid("key_id"));
    assert.deepEqual(await refusal(service.crypto.generateDataKey({ keyId: key.keyId, encryptionContext: { "": "v" } })), invalid("encryption_context"));
    assert.deepEqual(await refusal(service.crypto.generateDataKey({ keyId: "00000000-0000-4000-8000-000000000000" })), {
      code: Code.NotFound,
      reason: "KEY_NOT_FOUND",
      field: "key_id",
    });
  });

  test("works through an alias", async () => {
    await service.keys.createAlias({ aliasName: "alias/data-keys", targetKeyId: key.keyId });
    const generated = await service.crypto.generateDataKey({ keyId: "alias/data-keys" });
    assert.equal(generated.keyId, key.krn);
    assert.deepEqual((await service.crypto.decrypt({ ciphertextBlob: generated.ciphertextBlob, keyId: "alias/data-keys" })).plaintext, generated.plaintext);
  });

  test("a disabled key refuses with KEY_DISABLED", async () => {
    const keyId = (await service.keys.createKey({})).keyMetadata!.keyId;
    await service.keys.disableKey({ keyId });
    assert.deepEqual(await refusal(service.crypto.generateDataKey({ keyId })), { code: Code.FailedPrecondition, reason: "KEY_DISABLED", field: "key_id" });
  });

  test("a key of another account looks like a missing key", async () => {
    const them = service.as(OTHER_ACCOUNT);
    const missing = await detailedRefusal(them.crypto.generateDataKey({ keyId: "00000000-0000-4000-8000-000000000000" }));
    assert.deepEqual(await detailedRefusal(them.crypto.generateDataKey({ keyId: key.keyId })), missing);
    assert.deepEqual(await detailedRefusal(them.crypto.generateDataKey({ keyId: key.krn })), missing);
    assert.equal(missing.reason, "KEY_NOT_FOUND");
  });
});
