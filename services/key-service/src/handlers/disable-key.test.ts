import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { KeyState } from "@keyhold/proto";
import { detailedRefusal, invalid, OTHER_ACCOUNT, refusal, startTestKeyService, TEST_ACCOUNT, type TestKeyService } from "../test-support.ts";

describe("DisableKey", () => {
  let service: TestKeyService;
  before(async () => {
    service = await startTestKeyService();
  });
  after(() => service.close());

  const newKey = async () => (await service.keys.createKey({ description: "to disable" })).keyMetadata!;

  test("disables an enabled key: metadata, GetKey and every cryptographic use reflect it", async () => {
    const key = await newKey();
    const blob = (await service.crypto.encrypt({ keyId: key.keyId, plaintext: new Uint8Array([1]) })).ciphertextBlob;
    const { keyMetadata } = await service.keys.disableKey({ keyId: key.keyId });
    assert.deepEqual(keyMetadata, { ...key, keyState: KeyState.DISABLED, enabled: false });
    assert.deepEqual((await service.keys.getKey({ keyId: key.keyId })).keyMetadata, keyMetadata);
    const disabled = { code: Code.FailedPrecondition, reason: "KEY_DISABLED", field: "key_id" };
    assert.deepEqual(await refusal(service.crypto.encrypt({ keyId: key.keyId, plaintext: new Uint8Array([1]) })), disabled);
    assert.deepEqual(await refusal(service.crypto.decrypt({ ciphertextBlob: blob })), disabled);
    assert.deepEqual(await refusal(service.crypto.generateDataKey({ keyId: key.keyId })), disabled);
  });

  test("is idempotent: disabling a disabled key succeeds and changes nothing", async () => {
    const key = await newKey();
    const first = (await service.keys.disableKey({ keyId: key.keyId })).keyMetadata!;
    const second = (await service.keys.disableKey({ keyId: key.keyId })).keyMetadata!;
    assert.deepEqual(second, first);
    assert.equal(second.keyState, KeyState.DISABLED);
  });

  test("works through an alias and a key krn", async () => {
    const a = await newKey();
    await service.keys.createAlias({ aliasName: "alias/disable-me", targetKeyId: a.keyId });
    assert.equal((await service.keys.disableKey({ keyId: "alias/disable-me" })).keyMetadata!.keyId, a.keyId);
    assert.equal((await service.keys.getKey({ keyId: a.keyId })).keyMetadata!.enabled, false);
    const b = await newKey();
    assert.equal((await service.keys.disableKey({ keyId: b.krn })).keyMetadata!.keyState, KeyState.DISABLED);
  });

  test("refuses a key pending deletion or pending import, leaving its state", async () => {
    const store = service.app.context.store;
    const pendingDeletion = await newKey();
    await store.updateKey(TEST_ACCOUNT, pendingDeletion.keyId, { state: KeyState.PENDING_DELETION });
    assert.deepEqual(await refusal(service.keys.disableKey({ keyId: pendingDeletion.keyId })), {
      code: Code.FailedPrecondition,
      reason: "KEY_PENDING_DELETION",
      field: "key_id",
    });
    assert.equal((await store.getKey(TEST_ACCOUNT, pendingDeletion.keyId))!.state, KeyState.PENDING_DELETION);

    const pendingImport = await newKey();
    await store.updateKey(TEST_ACCOUNT, pendingImport.keyId, { state: KeyState.PENDING_IMPORT });
    assert.deepEqual(await refusal(service.keys.disableKey({ keyId: pendingImport.keyId })), {
      code: Code.FailedPrecondition,
      reason: "KEY_PENDING_IMPORT",
      field: "key_id",
    });
    assert.equal((await store.getKey(TEST_ACCOUNT, pendingImport.keyId))!.state, KeyState.PENDING_IMPORT);
  });

  test("refuses a missing or malformed key_id", async () => {
    assert.deepEqual(await refusal(service.keys.disableKey({ keyId: "" })), invalid("key_id"));
    assert.deepEqual(await refusal(service.keys.disableKey({ keyId: "key-1" })), invalid("key_id"));
    assert.deepEqual(await refusal(service.keys.disableKey({ keyId: "00000000-0000-4000-8000-000000000000" })), {
      code: Code.NotFound,
      reason: "KEY_NOT_FOUND",
      field: "key_id",
    });
  });

  test("another account cannot disable the key: it looks missing and the key stays enabled", async () => {
    const key = await newKey();
    const other = service.as(OTHER_ACCOUNT);
    const missing = await detailedRefusal(other.keys.disableKey({ keyId: "00000000-0000-4000-8000-000000000000" }));
    assert.deepEqual(await detailedRefusal(other.keys.disableKey({ keyId: key.keyId })), missing);
    assert.deepEqual(await detailedRefusal(other.keys.disableKey({ keyId: key.krn })), missing);
    assert.equal(missing.reason, "KEY_NOT_FOUND");
    assert.equal((await service.keys.getKey({ keyId: key.keyId })).keyMetadata!.keyState, KeyState.ENABLED);
  });
});
