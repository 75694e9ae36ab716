import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { KeyState } from "@keyhold/proto";
import { detailedRefusal, invalid, OTHER_ACCOUNT, refusal, startTestKeyService, TEST_ACCOUNT, type TestKeyService } from "../test-support.ts";

describe("EnableKey", () => {
  let service: TestKeyService;
  before(async () => {
    service = await startTestKeyService();
  });
  after(() => service.close());

  const disabledKey = async () => {
    const keyId = (await service.keys.createKey({ description: "to enable" })).keyMetadata!.keyId;
    return (await service.keys.disableKey({ keyId })).keyMetadata!;
  };

  test("enables a disabled key; ciphertexts made before it was disabled decrypt again", async () => {
    const keyId = (await service.keys.createKey({})).keyMetadata!.keyId;
    const plaintext = new Uint8Array([4, 5, 6]);
    const blob = (await service.crypto.encrypt({ keyId, plaintext })).ciphertextBlob;
    const disabled = (await service.keys.disableKey({ keyId })).keyMetadata!;
    const { keyMetadata } = await service.keys.enableKey({ keyId });
    assert.deepEqual(keyMetadata, { ...disabled, keyState: KeyState.ENABLED, enabled: true });
    assert.deepEqual((await service.keys.getKey({ keyId })).keyMetadata, keyMetadata);
    assert.deepEqual((await service.crypto.decrypt({ ciphertextBlob: blob })).plaintext, plaintext);
    const again = await service.crypto.encrypt({ keyId, plaintext });
    assert.deepEqual((await service.crypto.decrypt({ ciphertextBlob: again.ciphertextBlob })).plaintext, plaintext);
  });

  test("is idempotent: enabling an enabled key succeeds and changes nothing", async () => {
    const created = (await service.keys.createKey({})).keyMetadata!;
    const first = (await service.keys.enableKey({ keyId: created.keyId })).keyMetadata!;
    const second = (await service.keys.enableKey({ keyId: created.keyId })).keyMetadata!;
    assert.deepEqual(first, created);
    assert.deepEqual(second, created);
  });

  test("works through an alias", async () => {
    const key = await disabledKey();
    await service.keys.createAlias({ aliasName: "alias/enable-me", targetKeyId: key.keyId });
    const { keyMetadata } = await service.keys.enableKey({ keyId: "alias/enable-me" });
    assert.equal(keyMetadata!.keyId, key.keyId);
    assert.equal(keyMetadata!.enabled, true);
  });

  test("refuses a key pending deletion or pending import, leaving its state", async () => {
    const store = service.app.context.store;
    for (const [state, reason] of [
      [KeyState.PENDING_DELETION, "KEY_PENDING_DELETION"],
      [KeyState.PENDING_IMPORT, "KEY_PENDING_IMPORT"],
    ] as const) {
      const key = await disabledKey();
      await store.updateKey(TEST_ACCOUNT, key.keyId, { state });
      assert.deepEqual(await refusal(service.keys.enableKey({ keyId: key.keyId })), { code: Code.FailedPrecondition, reason, field: "key_id" });
      assert.equal((await store.getKey(TEST_ACCOUNT, key.keyId))!.state, state);
    }
  });

  test("refuses a missing or malformed key_id", async () => {
    assert.deepEqual(await refusal(service.keys.enableKey({ keyId: "" })), invalid("key_id"));
    assert.deepEqual(await refusal(service.keys.enableKey({ keyId: "alias/" })), invalid("key_id"));
    assert.deepEqual(await refusal(service.keys.enableKey({ keyId: "00000000-0000-4000-8000-000000000000" })), {
      code: Code.NotFound,
      reason: "KEY_NOT_FOUND",
      field: "key_id",
    });
  });

  test("another account cannot enable the key: it looks missing and the key stays disabled", async () => {
    const key = await disabledKey();
    const other = service.as(OTHER_ACCOUNT);
    const missing = await detailedRefusal(other.keys.enableKey({ keyId: "00000000-0000-4000-8000-000000000000" }));
    assert.deepEqual(await detailedRefusal(other.keys.enableKey({ keyId: key.keyId })), missing);
    assert.deepEqual(await detailedRefusal(other.keys.enableKey({ keyId: key.krn })), missing);
    assert.equal(missing.reason, "KEY_NOT_FOUND");
    assert.equal((await service.keys.getKey({ keyId: key.keyId })).keyMetadata!.keyState, KeyState.DISABLED);
  });
});
