import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "@keyhold/proto";
import { startTestKeyService, type TestKeyService } from "../test-support.ts";

function reasonOf(error: unknown): { code: Code; reason: string | undefined; field: string | undefined } {
  const connectError = ConnectError.from(error);
  const info = connectError.findDetails(ErrorInfoSchema)[0];
  return { code: connectError.code, reason: info?.reason, field: info?.metadata["field"] };
}

describe("Encrypt", () => {
  let service: TestKeyService;
  let keyId: string;
  before(async () => {
    service = await startTestKeyService();
    keyId = (await service.keys.createKey({})).keyMetadata!.keyId;
  });
  after(() => service.close());

  test("round-trips through Decrypt with the same encryption context", async () => {
    const plaintext = new TextEncoder().encode("attack at dawn");
    const encrypted = await service.crypto.encrypt({ keyId, plaintext, encryptionContext: { tenant: "a", purpose: "test" } });
    assert.match(encrypted.keyId, new RegExp(`^krn:keyhold:kms:test-1:111122223333:key/${keyId}$`));
    assert.notDeepEqual(encrypted.ciphertextBlob.subarray(0, plaintext.length), plaintext);
    const decrypted = await service.crypto.decrypt({ ciphertextBlob: encrypted.ciphertextBlob, encryptionContext: { purpose: "test", tenant: "a" } });
    assert.deepEqual(decrypted.plaintext, plaintext);
    assert.equal(decrypted.keyVersionId, encrypted.keyVersionId);
  });

  test("two encryptions of the same plaintext differ", async () => {
    const plaintext = new Uint8Array([1, 2, 3]);
    const a = await service.crypto.encrypt({ keyId, plaintext });
    const b = await service.crypto.encrypt({ keyId, plaintext });
    assert.notDeepEqual(a.ciphertextBlob, b.ciphertextBlob);
  });

  test("accepts exactly 6144 bytes and refuses 6145 with PLAINTEXT_TOO_LARGE", async () => {
    await service.crypto.encrypt({ keyId, plaintext: new Uint8Array(6144) });
    const error = await service.crypto.encrypt({ keyId, plaintext: new Uint8Array(6145) }).catch((e: unknown) => e);
    assert.deepEqual(reasonOf(error), { code: Code.InvalidArgument, reason: "PLAINTEXT_TOO_LARGE", field: "plaintext" });
  });

  test("refuses empty plaintext naming the field", async () => {
    const error = await service.crypto.encrypt({ keyId, plaintext: new Uint8Array() }).catch((e: unknown) => e);
    assert.deepEqual(reasonOf(error), { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "plaintext" });
  });

  test("works through an alias", async () => {
    await service.keys.createAlias({ aliasName: "alias/encrypt-test", targetKeyId: keyId });
    const encrypted = await service.crypto.encrypt({ keyId: "alias/encrypt-test", plaintext: new Uint8Array([9]) });
    assert.ok(encrypted.keyId.endsWith(keyId));
  });

  test("a disabled key refuses with FAILED_PRECONDITION KEY_DISABLED", async () => {
    const disabled = (await service.keys.createKey({})).keyMetadata!.keyId;
    await service.keys.disableKey({ keyId: disabled });
    const error = await service.crypto.encrypt({ keyId: disabled, plaintext: new Uint8Array([1]) }).catch((e: unknown) => e);
    assert.deepEqual(reasonOf(error), { code: Code.FailedPrecondition, reason: "KEY_DISABLED", field: "key_id" });
  });

  test("a key of another account answers like a missing key", async () => {
    const mine = await service.crypto.encrypt({ keyId, plaintext: new Uint8Array([1]) }).then((r) => r.keyId);
    const other = service.as("444455556666");
    const viaKrn = await other.crypto.encrypt({ keyId: mine, plaintext: new Uint8Array([1]) }).catch((e: unknown) => e);
    const viaId = await other.crypto.encrypt({ keyId, plaintext: new Uint8Array([1]) }).catch((e: unknown) => e);
    assert.deepEqual(reasonOf(viaKrn), { code: Code.NotFound, reason: "KEY_NOT_FOUND", field: "key_id" });
    assert.deepEqual(reasonOf(viaId), reasonOf(viaKrn));
  });
});
