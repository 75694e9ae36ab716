import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { DataKeySpec, type KeyMetadata } from "@keyhold/proto";
import { detailedRefusal, invalid, OTHER_ACCOUNT, refusal, startTestKeyService, type TestKeyService } from "../test-support.ts";

const CONTEXT = { purpose: "later" };

describe("GenerateDataKeyWithoutPlaintext", () => {
  let service: TestKeyService;
  let key: KeyMetadata;
  before(async () => {
    service = await startTestKeyService();
    key = (await service.keys.createKey({})).keyMetadata!;
  });
  after(() => service.close());

  test("returns only the encrypted data key: it decrypts to 32 random bytes under the context", async () => {
    const generated = await service.crypto.generateDataKeyWithoutPlaintext({ keyId: key.keyId, encryptionContext: CONTEXT });
    assert.ok(!("plaintext" in generated));
    assert.ok(generated.ciphertextBlob.length > 32);
    assert.equal(generated.keyId, key.krn);
    assert.equal(generated.keyVersionId, key.primaryVersionId);
    const decrypted = await service.crypto.decrypt({ ciphertextBlob: generated.ciphertextBlob, encryptionContext: CONTEXT });
    assert.equal(decrypted.plaintext.length, 32);
    // The handler zeroes its copy after sealing: the sealed key must not be the zeroed buffer.
    assert.ok(decrypted.plaintext.some((b) => b !== 0));
    assert.equal((await refusal(service.crypto.decrypt({ ciphertextBlob: generated.ciphertextBlob }))).reason, "INVALID_CIPHERTEXT");
  });

  test("each call seals a different data key", async () => {
    const a = await service.crypto.generateDataKeyWithoutPlaintext({ keyId: key.keyId });
    const b = await service.crypto.generateDataKeyWithoutPlaintext({ keyId: key.keyId });
    const [pa, pb] = await Promise.all([a, b].map((g) => service.crypto.decrypt({ ciphertextBlob: g.ciphertextBlob })));
    assert.notDeepEqual(pa!.plaintext, pb!.plaintext);
  });

  test("key_spec AES_256 and AES_128, or number_of_bytes, set the length", async () => {
    const cases: Array<[{ keySpec?: DataKeySpec; numberOfBytes?: number }, number]> = [
      [{ keySpec: DataKeySpec.AES_256 }, 32],
      [{ keySpec: DataKeySpec.AES_128 }, 16],
      [{ numberOfBytes: 1 }, 1],
      [{ numberOfBytes: 1024 }, 1024],
    ];
    for (const [request, length] of cases) {
      const generated = await service.crypto.generateDataKeyWithoutPlaintext({ keyId: key.keyId, ...request });
      const decrypted = await service.crypto.decrypt({ ciphertextBlob: generated.ciphertextBlob });
      assert.equal(decrypted.plaintext.length, length, JSON.stringify(request));
    }
  });

  test("refuses key_spec and number_of_bytes together, and out-of-range or unknown values", async () => {
    assert.deepEqual(
      await refusal(service.crypto.generateDataKeyWithoutPlaintext({ keyId: key.keyId, keySpec: DataKeySpec.AES_256, numberOfBytes: 32 })),
      invalid("key_spec"),
    );
    assert.deepEqual(await refusal(service.crypto.generateDataKeyWithoutPlaintext({ keyId: key.keyId, numberOfBytes: -8 })), invalid("number_of_bytes"));
    assert.deepEqual(await refusal(service.crypto.generateDataKeyWithoutPlaintext({ keyId: key.keyId, numberOfBytes: 1025 })), invalid("number_of_bytes"));
    assert.deepEqual(await refusal(service.crypto.generateDataKeyWithoutPlaintext({ keyId: key.keyId, keySpec: 3 as DataKeySpec })), invalid("key_spec"));
    assert.deepEqual(await refusal(service.crypto.generateDataKeyWithoutPlaintext({ keyId: "" })), invalid("key_id"));
    assert.deepEqual(
      await refusal(service.crypto.generateDataKeyWithoutPlaintext({ keyId: key.keyId, encryptionContext: { "": "x" } })),
      invalid("encryption_context"),
    );
  });

  test("a disabled key refuses with KEY_DISABLED", async () => {
    const keyId = (await service.keys.createKey({})).keyMetadata!.keyId;
    await service.keys.disableKey({ keyId });
    assert.deepEqual(await refusal(service.crypto.generateDataKeyWithoutPlaintext({ keyId })), {
      code: Code.FailedPrecondition,
      reason: "KEY_DISABLED",
      field: "key_id",
    });
  });

  test("a key of another account looks like a missing key", async () => {
    const them = service.as(OTHER_ACCOUNT);
    const missing = await detailedRefusal(them.crypto.generateDataKeyWithoutPlaintext({ keyId: "00000000-0000-4000-8000-000000000000" }));
    assert.deepEqual(await detailedRefusal(them.crypto.generateDataKeyWithoutPlaintext({ keyId: key.keyId })), missing);
    assert.deepEqual(await detailedRefusal(them.crypto.generateDataKeyWithoutPlaintext({ keyId: key.krn })), missing);
    assert.equal(missing.reason, "KEY_NOT_FOUND");
  });
});
