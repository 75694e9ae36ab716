import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { EncryptionAlgorithm, KeyState, type KeyMetadata } from "@keyhold/proto";
import {
  detailedRefusal,
  invalid,
  OTHER_ACCOUNT,
  refusal,
  startTestKeyService,
  TEST_ACCOUNT,
  type DetailedRefusal,
  type TestKeyService,
} from "../test-support.ts";

const INVALID_CIPHERTEXT: DetailedRefusal = {
  code: Code.InvalidArgument,
  reason: "INVALID_CIPHERTEXT",
  field: "ciphertext_blob",
  message: "ciphertext_blob: the ciphertext is invalid, or does not match the key or encryption context",
};

const CONTEXT = { tenant: "acme", purpose: "invoices" };

describe("Decrypt", () => {
  let service: TestKeyService;
  let key: KeyMetadata;
  let second: KeyMetadata;
  const plaintext = new TextEncoder().encode("the quick brown fox");
  let blob: Uint8Array;
  let versionId: string;
  before(async () => {
    service = await startTestKeyService();
    key = (await service.keys.createKey({})).keyMetadata!;
    second = (await service.keys.createKey({})).keyMetadata!;
    await service.keys.createAlias({ aliasName: "alias/decrypt", targetKeyId: key.keyId });
    const encrypted = await service.crypto.encrypt({ keyId: key.keyId, plaintext, encryptionContext: CONTEXT });
    blob = encrypted.ciphertextBlob;
    versionId = encrypted.keyVersionId;
  });
  after(() => service.close());

  const flip = (at: number) => {
    const copy = Uint8Array.from(blob);
    copy[at] = copy[at]! ^ 0x01;
    return copy;
  };

  test("returns the plaintext, the key krn, the version and the algorithm", async () => {
    const decrypted = await service.crypto.decrypt({ ciphertextBlob: blob, encryptionContext: CONTEXT });
    assert.deepEqual(decrypted.plaintext, plaintext);
    assert.equal(decrypted.keyId, key.krn);
    assert.equal(decrypted.keyVersionId, versionId);
    assert.equal(decrypted.keyVersionId, key.primaryVersionId);
    assert.equal(decrypted.encryptionAlgorithm, EncryptionAlgorithm.SYMMETRIC_DEFAULT);
  });

  test("the encryption context matches whatever order its entries come in", async () => {
    const decrypted = await service.crypto.decrypt({ ciphertextBlob: blob, encryptionContext: { purpose: "invoices", tenant: "acme" } });
    assert.deepEqual(decrypted.plaintext, plaintext);
  });

  test("a non-ASCII encryption context round-trips", async () => {
    const context = { "ключ": "значение", "🔑": "✓", "\uff5e": "full-width tilde" };
    const { ciphertextBlob } = await service.crypto.encrypt({ keyId: key.keyId, plaintext, encryptionContext: context });
    const reordered = { "\uff5e": "full-width tilde", "🔑": "✓", "ключ": "значение" };
    assert.deepEqual((await service.crypto.decrypt({ ciphertextBlob, encryptionContext: reordered })).plaintext, plaintext);
  });

  test("an expected key_id that names the key (id, krn, alias, alias krn) is accepted", async () => {
    for (const keyId of [key.keyId, key.krn, "alias/decrypt", `krn:keyhold:kms:test-1:${TEST_ACCOUNT}:alias/decrypt`]) {
      const decrypted = await service.crypto.decrypt({ ciphertextBlob: blob, encryptionContext: CONTEXT, keyId });
      assert.deepEqual(decrypted.plaintext, plaintext, keyId);
    }
  });

  test("accepts SYMMETRIC_DEFAULT explicitly and refuses any other algorithm", async () => {
    const request = { ciphertextBlob: blob, encryptionContext: CONTEXT };
    const decrypted = await service.crypto.decrypt({ ...request, encryptionAlgorithm: EncryptionAlgorithm.SYMMETRIC_DEFAULT });
    assert.deepEqual(decrypted.plaintext, plaintext);
    const unknown = 7 as EncryptionAlgorithm;
    assert.deepEqual(await refusal(service.crypto.decrypt({ ...request, encryptionAlgorithm: unknown })), invalid("encryption_algorithm"));
  });

  test("refuses an empty blob and an invalid encryption context as INVALID_ARGUMENT", async () => {
    assert.deepEqual(await refusal(service.crypto.decrypt({ ciphertextBlob: new Uint8Array() })), invalid("ciphertext_blob"));
    assert.deepEqual(await refusal(service.crypto.decrypt({ ciphertextBlob: blob, encryptionContext: { "": "x" } })), invalid("encryption_context"));
    assert.deepEqual(
      await refusal(service.crypto.decrypt({ ciphertextBlob: blob, encryptionContext: { big: "x".repeat(9000) } })),
      invalid("encryption_context"),
    );
    assert.deepEqual(await refusal(service.crypto.decrypt({ ciphertextBlob: blob, keyId: "not-a-key" })), invalid("key_id"));
  });

  describe("every ciphertext that does not open is the same INVALID_CIPHERTEXT", () => {
    const decryptsAs = async (ciphertextBlob: Uint8Array, options: { encryptionContext?: Record<string, string>; keyId?: string } = {}) =>
      detailedRefusal(service.crypto.decrypt({ ciphertextBlob, encryptionContext: options.encryptionContext ?? CONTEXT, keyId: options.keyId ?? "" }));

    test("tampered in any part: format, version id, algorithm, nonce, commitment, body, tag", async () => {
      for (const at of [0, 1, 16, 17, 18, 49, 50, 81, 82, blob.length - 17, blob.length - 16, blob.length - 1]) {
        assert.deepEqual(await decryptsAs(flip(at)), INVALID_CIPHERTEXT, `byte ${at}`);
      }
    });

    test("truncated, extended or arbitrary bytes", async () => {
      for (const length of [1, 17, 81, 97, 98, blob.length - 1]) {
        assert.deepEqual(await decryptsAs(blob.subarray(0, length)), INVALID_CIPHERTEXT, `length ${length}`);
      }
      assert.deepEqual(await decryptsAs(Uint8Array.from([...blob, 0])), INVALID_CIPHERTEXT);
      assert.deepEqual(await decryptsAs(new Uint8Array(200).fill(1)), INVALID_CIPHERTEXT);
      assert.deepEqual(await decryptsAs(new Uint8Array(6144 + 99).fill(1)), INVALID_CIPHERTEXT);
    });

    test("wrong encryption context: missing, extra entry, other value, other key", async () => {
      for (const encryptionContext of [
        {},
        { tenant: "acme" },
        { ...CONTEXT, extra: "x" },
        { tenant: "acme", purpose: "Invoices" },
        { tenant: "acme", Purpose: "invoices" },
        { tenant: "acmei", purpose: "nvoices" },
      ]) {
        const refused = await decryptsAs(blob, { encryptionContext });
        assert.deepEqual(refused, INVALID_CIPHERTEXT, JSON.stringify(encryptionContext));
      }
    });

    test("an expected key_id naming another key of the account", async () => {
      await service.keys.createAlias({ aliasName: "alias/decrypt-second", targetKeyId: second.keyId });
      assert.deepEqual(await decryptsAs(blob, { keyId: second.keyId }), INVALID_CIPHERTEXT);
      assert.deepEqual(await decryptsAs(blob, { keyId: second.krn }), INVALID_CIPHERTEXT);
      assert.deepEqual(await decryptsAs(blob, { keyId: "alias/decrypt-second" }), INVALID_CIPHERTEXT);
    });

    test("another key's material under this key's version id", async () => {
      const other = await service.crypto.encrypt({ keyId: second.keyId, plaintext, encryptionContext: CONTEXT });
      const spliced = Uint8Array.from(other.ciphertextBlob);
      spliced.set(blob.subarray(1, 17), 1);
      assert.deepEqual(await decryptsAs(spliced), INVALID_CIPHERTEXT);
    });

    test("a ciphertext of another account, decrypted by that other account's caller", async () => {
      const them = service.as(OTHER_ACCOUNT);
      assert.deepEqual(await detailedRefusal(them.crypto.decrypt({ ciphertextBlob: blob, encryptionContext: CONTEXT })), INVALID_CIPHERTEXT);
    });

    test("the message names no context key or value", async () => {
      const refused = await decryptsAs(blob, { encryptionContext: { tenant: "secret-tenant-name", purpose: "invoices" } });
      assert.ok(!refused.message.includes("secret-tenant-name"));
      assert.ok(!refused.message.includes("tenant"));
    });
  });

  test("an expected key_id of another account looks like a missing key", async () => {
    const them = service.as(OTHER_ACCOUNT);
    const missing = await detailedRefusal(them.crypto.decrypt({ ciphertextBlob: blob, keyId: "00000000-0000-4000-8000-000000000000" }));
    assert.deepEqual(await detailedRefusal(them.crypto.decrypt({ ciphertextBlob: blob, keyId: key.keyId })), missing);
    assert.deepEqual(await detailedRefusal(them.crypto.decrypt({ ciphertextBlob: blob, keyId: key.krn })), missing);
    assert.equal(missing.reason, "KEY_NOT_FOUND");
  });

  test("a key pending deletion refuses with KEY_PENDING_DELETION", async () => {
    const keyId = (await service.keys.createKey({})).keyMetadata!.keyId;
    const { ciphertextBlob } = await service.crypto.encrypt({ keyId, plaintext });
    await service.app.context.store.updateKey(TEST_ACCOUNT, keyId, { state: KeyState.PENDING_DELETION });
    assert.deepEqual(await refusal(service.crypto.decrypt({ ciphertextBlob })), {
      code: Code.FailedPrecondition,
      reason: "KEY_PENDING_DELETION",
      field: "key_id",
    });
  });

  test("a disabled key refuses with KEY_DISABLED, and decrypts again once enabled", async () => {
    const keyId = (await service.keys.createKey({})).keyMetadata!.keyId;
    const { ciphertextBlob } = await service.crypto.encrypt({ keyId, plaintext });
    await service.keys.disableKey({ keyId });
    assert.deepEqual(await refusal(service.crypto.decrypt({ ciphertextBlob })), { code: Code.FailedPrecondition, reason: "KEY_DISABLED", field: "key_id" });
    await service.keys.enableKey({ keyId });
    assert.deepEqual((await service.crypto.decrypt({ ciphertextBlob })).plaintext, plaintext);
  });
});
