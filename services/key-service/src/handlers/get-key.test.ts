import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { KeyState, type KeyMetadata } from "@keyhold/proto";
import { detailedRefusal, invalid, OTHER_ACCOUNT, refusal, startTestKeyService, TEST_ACCOUNT, type TestKeyService } from "../test-support.ts";

const MISSING_KEY = "00000000-0000-4000-8000-000000000000";

describe("GetKey", () => {
  let service: TestKeyService;
  let key: KeyMetadata;
  before(async () => {
    service = await startTestKeyService();
    key = (await service.keys.createKey({ description: "get me" })).keyMetadata!;
    await service.keys.createAlias({ aliasName: "alias/get-key", targetKeyId: key.keyId });
  });
  after(() => service.close());

  test("returns the key's metadata by key id, key krn, alias name and alias krn", async () => {
    for (const keyId of [key.keyId, key.krn, "alias/get-key", `krn:keyhold:kms:test-1:${TEST_ACCOUNT}:alias/get-key`]) {
      const { keyMetadata } = await service.keys.getKey({ keyId });
      assert.deepEqual(keyMetadata, key, keyId);
    }
  });

  test("reflects the current state of the key", async () => {
    const keyId = (await service.keys.createKey({})).keyMetadata!.keyId;
    await service.keys.disableKey({ keyId });
    const { keyMetadata } = await service.keys.getKey({ keyId });
    assert.equal(keyMetadata!.keyState, KeyState.DISABLED);
    assert.equal(keyMetadata!.enabled, false);
  });

  test("refuses a missing or malformed key_id", async () => {
    assert.deepEqual(await refusal(service.keys.getKey({ keyId: "" })), invalid("key_id"));
    assert.deepEqual(await refusal(service.keys.getKey({ keyId: "not-a-key" })), invalid("key_id"));
    assert.deepEqual(await refusal(service.keys.getKey({ keyId: `krn:keyhold:kms:test-1:${TEST_ACCOUNT}:key/not-a-uuid` })), invalid("key_id"));
    assert.deepEqual(await refusal(service.keys.getKey({ keyId: "alias/has space" })), invalid("key_id"));
    assert.deepEqual(await refusal(service.keys.getKey({ keyId: `${key.keyId}x` })), invalid("key_id"));
    assert.deepEqual(await refusal(service.keys.getKey({ keyId: "k".repeat(2049) })), invalid("key_id"));
  });

  test("a key or alias that does not exist is NOT_FOUND", async () => {
    assert.deepEqual(await refusal(service.keys.getKey({ keyId: MISSING_KEY })), { code: Code.NotFound, reason: "KEY_NOT_FOUND", field: "key_id" });
    assert.deepEqual(await refusal(service.keys.getKey({ keyId: "alias/nothing-here" })), {
      code: Code.NotFound,
      reason: "ALIAS_NOT_FOUND",
      field: "key_id",
    });
  });

  test("another account's key, by id or krn, answers exactly like a missing key", async () => {
    const other = service.as(OTHER_ACCOUNT);
    const missing = await detailedRefusal(other.keys.getKey({ keyId: MISSING_KEY }));
    assert.deepEqual(await detailedRefusal(other.keys.getKey({ keyId: key.keyId })), missing);
    assert.deepEqual(await detailedRefusal(other.keys.getKey({ keyId: key.krn })), missing);
    assert.equal(missing.reason, "KEY_NOT_FOUND");
  });

  test("another account's alias, by name or krn, answers exactly like a missing alias", async () => {
    const other = service.as(OTHER_ACCOUNT);
    const missing = await detailedRefusal(other.keys.getKey({ keyId: "alias/nothing-here" }));
    assert.deepEqual(await detailedRefusal(other.keys.getKey({ keyId: "alias/get-key" })), missing);
    assert.deepEqual(await detailedRefusal(other.keys.getKey({ keyId: `krn:keyhold:kms:test-1:${TEST_ACCOUNT}:alias/get-key` })), missing);
    assert.equal(missing.reason, "ALIAS_NOT_FOUND");
  });
});
