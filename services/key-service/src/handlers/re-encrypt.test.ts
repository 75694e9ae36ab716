import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import type { KeyMetadata, ReEncryptRequestSchema } from "@keyhold/proto";
import { detailedRefusal, invalid, OTHER_ACCOUNT, refusal, startTestKeyService, type TestKeyService } from "../test-support.ts";

const INVALID_CIPHERTEXT = {
  code: Code.InvalidArgument,
  reason: "INVALID_CIPHERTEXT",
  field: "ciphertext_blob",
  message: "ciphertext_blob: the ciphertext is invalid, or does not match the key or encryption context",
};
const SOURCE_CONTEXT = { stage: "source" };
const DESTINATION_CONTEXT = { stage: "destination", extra: "1" };

describe("ReEncrypt", () => {
  let service: TestKeyService;
  let source: KeyMetadata;
  let destination: KeyMetadata;
  const plaintext = new TextEncoder().encode("move me between keys");
  let blob: Uint8Array;
  before(async () => {
    service = await startTestKeyService();
    source = (await service.keys.createKey({ description: "source" })).keyMetadata!;
    destination = (await service.keys.createKey({ description: "destination" })).keyMetadata!;
    blob = (await service.crypto.encrypt({ keyId: source.keyId, plaintext, encryptionContext: SOURCE_CONTEXT })).ciphertextBlob;
  });
  after(() => service.close());

  /** ReEncrypt of the source ciphertext to the destination key, with fields overridden. */
  const reEncrypt = (overrides: MessageInitShape<typeof ReEncryptRequestSchema> = {}) =>
    service.crypto.reEncrypt({
      ciphertextBlob: blob,
      sourceEncryptionContext: SOURCE_CONTEXT,
      destinationKeyId: destination.keyId,
      destinationEncryptionContext: DESTINATION_CONTEXT,
      ...overrides,
    });

  test("the result decrypts under the destination key and context, and not as the source", async () => {
    const result = await reEncrypt();
    assert.equal(result.sourceKeyId, source.krn);
    assert.equal(result.sourceKeyVersionId, source.primaryVersionId);
    assert.equal(result.keyId, destination.krn);
    assert.equal(result.keyVersionId, destination.primaryVersionId);
    assert.notDeepEqual(result.ciphertextBlob, blob);

    const decrypted = await service.crypto.decrypt({ ciphertextBlob: result.ciphertextBlob, encryptionContext: DESTINATION_CONTEXT });
    assert.deepEqual(decrypted.plaintext, plaintext);
    assert.equal(decrypted.keyId, destination.krn);
    const ciphertextBlob = result.ciphertextBlob;
    const underDestination = await service.crypto.decrypt({ ciphertextBlob, encryptionContext: DESTINATION_CONTEXT, keyId: destination.keyId });
    assert.deepEqual(underDestination.plaintext, plaintext);

    const asSource = service.crypto.decrypt({ ciphertextBlob, encryptionContext: DESTINATION_CONTEXT, keyId: source.keyId });
    assert.deepEqual(await detailedRefusal(asSource), INVALID_CIPHERTEXT);
    assert.deepEqual(await detailedRefusal(service.crypto.decrypt({ ciphertextBlob, encryptionContext: SOURCE_CONTEXT })), INVALID_CIPHERTEXT);
    // The source ciphertext is untouched and still decrypts under the source key.
    assert.deepEqual((await service.crypto.decrypt({ ciphertextBlob: blob, encryptionContext: SOURCE_CONTEXT })).plaintext, plaintext);
  });

  test("re-encrypting under the same key changes only the encryption context", async () => {
    const result = await reEncrypt({ destinationKeyId: source.keyId, destinationEncryptionContext: {} });
    assert.equal(result.keyId, source.krn);
    const { ciphertextBlob } = result;
    assert.deepEqual((await service.crypto.decrypt({ ciphertextBlob })).plaintext, plaintext);
    assert.deepEqual(await detailedRefusal(service.crypto.decrypt({ ciphertextBlob, encryptionContext: SOURCE_CONTEXT })), INVALID_CIPHERTEXT);
  });

  test("accepts a source_key_id naming the source key, and keys through aliases", async () => {
    await service.keys.createAlias({ aliasName: "alias/re-encrypt-src", targetKeyId: source.keyId });
    await service.keys.createAlias({ aliasName: "alias/re-encrypt-dst", targetKeyId: destination.keyId });
    const result = await reEncrypt({ sourceKeyId: "alias/re-encrypt-src", destinationKeyId: "alias/re-encrypt-dst" });
    assert.equal(result.keyId, destination.krn);
    const decrypted = await service.crypto.decrypt({ ciphertextBlob: result.ciphertextBlob, encryptionContext: DESTINATION_CONTEXT });
    assert.deepEqual(decrypted.plaintext, plaintext);
    assert.equal((await reEncrypt({ sourceKeyId: source.krn })).sourceKeyId, source.krn);
  });

  test("a source that does not open is the uniform INVALID_CIPHERTEXT", async () => {
    const tampered = Uint8Array.from(blob);
    tampered[tampered.length - 1] = tampered[tampered.length - 1]! ^ 0x80;
    assert.deepEqual(await detailedRefusal(reEncrypt({ ciphertextBlob: tampered })), INVALID_CIPHERTEXT);
    assert.deepEqual(await detailedRefusal(reEncrypt({ ciphertextBlob: blob.subarray(0, 90) })), INVALID_CIPHERTEXT);
    assert.deepEqual(await detailedRefusal(reEncrypt({ sourceEncryptionContext: {} })), INVALID_CIPHERTEXT);
    assert.deepEqual(await detailedRefusal(reEncrypt({ sourceEncryptionContext: DESTINATION_CONTEXT })), INVALID_CIPHERTEXT);
    assert.deepEqual(await detailedRefusal(reEncrypt({ sourceKeyId: destination.keyId })), INVALID_CIPHERTEXT);
    // Another account holding a ciphertext of this account cannot move it under its own key.
    const them = service.as(OTHER_ACCOUNT);
    const theirKey = (await them.keys.createKey({})).keyMetadata!.keyId;
    const stolen = them.crypto.reEncrypt({ ciphertextBlob: blob, sourceEncryptionContext: SOURCE_CONTEXT, destinationKeyId: theirKey });
    assert.deepEqual(await detailedRefusal(stolen), INVALID_CIPHERTEXT);
  });

  test("validates its fields, naming the one at fault", async () => {
    assert.deepEqual(await refusal(reEncrypt({ ciphertextBlob: new Uint8Array() })), invalid("ciphertext_blob"));
    assert.deepEqual(await refusal(reEncrypt({ destinationKeyId: "" })), invalid("destination_key_id"));
    assert.deepEqual(await refusal(reEncrypt({ destinationKeyId: "bogus" })), invalid("destination_key_id"));
    assert.deepEqual(await refusal(reEncrypt({ sourceKeyId: "bogus" })), invalid("source_key_id"));
    assert.deepEqual(await refusal(reEncrypt({ sourceEncryptionContext: { "": "v" } })), invalid("source_encryption_context"));
    assert.deepEqual(await refusal(reEncrypt({ destinationEncryptionContext: { "": "v" } })), invalid("destination_encryption_context"));
    assert.deepEqual(await refusal(reEncrypt({ destinationKeyId: "00000000-0000-4000-8000-000000000000" })), {
      code: Code.NotFound,
      reason: "KEY_NOT_FOUND",
      field: "destination_key_id",
    });
    assert.deepEqual(await refusal(reEncrypt({ sourceKeyId: "alias/no-such-alias" })), {
      code: Code.NotFound,
      reason: "ALIAS_NOT_FOUND",
      field: "source_key_id",
    });
  });

  test("a destination key of another account looks like a missing key", async () => {
    const theirs = (await service.as(OTHER_ACCOUNT).keys.createKey({})).keyMetadata!;
    const missing = await detailedRefusal(reEncrypt({ destinationKeyId: "00000000-0000-4000-8000-000000000000" }));
    assert.deepEqual(await detailedRefusal(reEncrypt({ destinationKeyId: theirs.keyId })), missing);
    assert.deepEqual(await detailedRefusal(reEncrypt({ destinationKeyId: theirs.krn })), missing);
    assert.equal(missing.reason, "KEY_NOT_FOUND");
  });

  test("a disabled destination or source key is KEY_DISABLED naming which one", async () => {
    const disabledDestination = (await service.keys.createKey({})).keyMetadata!.keyId;
    await service.keys.disableKey({ keyId: disabledDestination });
    assert.deepEqual(await refusal(reEncrypt({ destinationKeyId: disabledDestination })), {
      code: Code.FailedPrecondition,
      reason: "KEY_DISABLED",
      field: "destination_key_id",
    });

    const disabledSource = (await service.keys.createKey({})).keyMetadata!.keyId;
    const sourceBlob = (await service.crypto.encrypt({ keyId: disabledSource, plaintext })).ciphertextBlob;
    await service.keys.disableKey({ keyId: disabledSource });
    const expected = { code: Code.FailedPrecondition, reason: "KEY_DISABLED", field: "source_key_id" };
    assert.deepEqual(await refusal(reEncrypt({ ciphertextBlob: sourceBlob, sourceEncryptionContext: {} })), expected);
    assert.deepEqual(await refusal(reEncrypt({ ciphertextBlob: sourceBlob, sourceEncryptionContext: {}, sourceKeyId: disabledSource })), expected);
  });
});
