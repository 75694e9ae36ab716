import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { KeyState } from "@keyhold/proto";
import { detailedRefusal, invalid, OTHER_ACCOUNT, refusal, startTestKeyService, type TestKeyService } from "../test-support.ts";

describe("UpdateKey", () => {
  let service: TestKeyService;
  before(async () => {
    service = await startTestKeyService();
  });
  after(() => service.close());

  test("changes the description and nothing else", async () => {
    const created = (await service.keys.createKey({ description: "before" })).keyMetadata!;
    const { keyMetadata } = await service.keys.updateKey({ keyId: created.keyId, description: "after" });
    assert.deepEqual(keyMetadata, { ...created, description: "after" });
    assert.equal((await service.keys.getKey({ keyId: created.keyId })).keyMetadata!.description, "after");
  });

  test("clears the description with an empty string and accepts 8192 characters", async () => {
    const keyId = (await service.keys.createKey({ description: "something" })).keyMetadata!.keyId;
    assert.equal((await service.keys.updateKey({ keyId, description: "" })).keyMetadata!.description, "");
    const longest = "x".repeat(8192);
    assert.equal((await service.keys.updateKey({ keyId, description: longest })).keyMetadata!.description, longest);
  });

  test("works through an alias and on a disabled key, keeping its state", async () => {
    const keyId = (await service.keys.createKey({})).keyMetadata!.keyId;
    await service.keys.createAlias({ aliasName: "alias/update-key", targetKeyId: keyId });
    await service.keys.disableKey({ keyId });
    const { keyMetadata } = await service.keys.updateKey({ keyId: "alias/update-key", description: "via alias" });
    assert.equal(keyMetadata!.keyId, keyId);
    assert.equal(keyMetadata!.description, "via alias");
    assert.equal(keyMetadata!.keyState, KeyState.DISABLED);
  });

  test("refuses a description of 8193 characters and leaves the key unchanged", async () => {
    const keyId = (await service.keys.createKey({ description: "kept" })).keyMetadata!.keyId;
    assert.deepEqual(await refusal(service.keys.updateKey({ keyId, description: "x".repeat(8193) })), invalid("description"));
    assert.equal((await service.keys.getKey({ keyId })).keyMetadata!.description, "kept");
  });

  test("refuses a missing or malformed key_id, and an unknown key is KEY_NOT_FOUND", async () => {
    assert.deepEqual(await refusal(service.keys.updateKey({ keyId: "", description: "x" })), invalid("key_id"));
    assert.deepEqual(await refusal(service.keys.updateKey({ keyId: "nope", description: "x" })), invalid("key_id"));
    assert.deepEqual(await refusal(service.keys.updateKey({ keyId: "00000000-0000-4000-8000-000000000000", description: "x" })), {
      code: Code.NotFound,
      reason: "KEY_NOT_FOUND",
      field: "key_id",
    });
  });

  test("another account cannot update the key: it looks missing and the description is unchanged", async () => {
    const key = (await service.keys.createKey({ description: "mine" })).keyMetadata!;
    const other = service.as(OTHER_ACCOUNT);
    const missing = await detailedRefusal(other.keys.updateKey({ keyId: "00000000-0000-4000-8000-000000000000", description: "theirs" }));
    assert.deepEqual(await detailedRefusal(other.keys.updateKey({ keyId: key.keyId, description: "theirs" })), missing);
    assert.deepEqual(await detailedRefusal(other.keys.updateKey({ keyId: key.krn, description: "theirs" })), missing);
    assert.equal(missing.reason, "KEY_NOT_FOUND");
    assert.equal((await service.keys.getKey({ keyId: key.keyId })).keyMetadata!.description, "mine");
  });
});
