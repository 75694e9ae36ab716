import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { detailedRefusal, invalid, OTHER_ACCOUNT, refusal, startTestKeyService, type TestKeyService } from "../test-support.ts";

describe("UntagResource", () => {
  let service: TestKeyService;
  before(async () => {
    service = await startTestKeyService();
  });
  after(() => service.close());

  const taggedKey = async (...tagKeys: string[]) => {
    const key = (await service.keys.createKey({ tags: tagKeys.map((tagKey) => ({ tagKey, tagValue: `${tagKey}-value` })) })).keyMetadata!;
    return key;
  };
  const tagKeysOf = async (keyId: string) => (await service.keys.listResourceTags({ keyId, pageSize: 1000 })).tags.map((t) => t.tagKey);

  test("removes the named tags and keeps the others; unknown tag keys are ignored", async () => {
    const { keyId } = await taggedKey("a", "b", "c");
    await service.keys.untagResource({ keyId, tagKeys: ["a", "c", "not-there"] });
    const remaining = (await service.keys.listResourceTags({ keyId })).tags;
    assert.deepEqual(
      remaining.map((t) => [t.tagKey, t.tagValue]),
      [["b", "b-value"]],
    );
    await service.keys.untagResource({ keyId, tagKeys: ["b"] });
    assert.deepEqual(await tagKeysOf(keyId), []);
    await service.keys.untagResource({ keyId, tagKeys: ["b"] });
  });

  test("accepts a key krn; refuses an alias as key_id", async () => {
    const key = await taggedKey("a", "b");
    await service.keys.createAlias({ aliasName: "alias/untag-me", targetKeyId: key.keyId });
    await service.keys.untagResource({ keyId: key.krn, tagKeys: ["a"] });
    assert.deepEqual(await tagKeysOf(key.keyId), ["b"]);
    assert.deepEqual(await refusal(service.keys.untagResource({ keyId: "alias/untag-me", tagKeys: ["b"] })), invalid("key_id"));
    assert.deepEqual(await tagKeysOf(key.keyId), ["b"]);
  });

  test("refuses an empty, oversized or invalid list of tag keys and removes nothing", async () => {
    const { keyId } = await taggedKey("a", "b");
    assert.deepEqual(await refusal(service.keys.untagResource({ keyId, tagKeys: [] })), invalid("tag_keys"));
    assert.deepEqual(await refusal(service.keys.untagResource({ keyId, tagKeys: Array.from({ length: 21 }, (_, i) => `t${i}`) })), invalid("tag_keys"));
    assert.deepEqual(await refusal(service.keys.untagResource({ keyId, tagKeys: ["a", ""] })), invalid("tag_keys[1]"));
    assert.deepEqual(await refusal(service.keys.untagResource({ keyId, tagKeys: ["a", "b", "x".repeat(129)] })), invalid("tag_keys[2]"));
    assert.deepEqual(await refusal(service.keys.untagResource({ keyId, tagKeys: ["keyhold:owner", "a"] })), invalid("tag_keys[0]"));
    assert.deepEqual(await refusal(service.keys.untagResource({ keyId, tagKeys: ["a", "b;c"] })), invalid("tag_keys[1]"));
    assert.deepEqual(await tagKeysOf(keyId), ["a", "b"]);
    // Twenty keys are allowed.
    await service.keys.untagResource({ keyId, tagKeys: ["a", ...Array.from({ length: 19 }, (_, i) => `t${i}`)] });
    assert.deepEqual(await tagKeysOf(keyId), ["b"]);
  });

  test("an unknown key is KEY_NOT_FOUND", async () => {
    assert.deepEqual(await refusal(service.keys.untagResource({ keyId: "00000000-0000-4000-8000-000000000000", tagKeys: ["a"] })), {
      code: Code.NotFound,
      reason: "KEY_NOT_FOUND",
      field: "key_id",
    });
  });

  test("another account cannot untag the key: it looks missing and the tags remain", async () => {
    const key = await taggedKey("a");
    const other = service.as(OTHER_ACCOUNT);
    const missing = await detailedRefusal(other.keys.untagResource({ keyId: "00000000-0000-4000-8000-000000000000", tagKeys: ["a"] }));
    assert.deepEqual(await detailedRefusal(other.keys.untagResource({ keyId: key.keyId, tagKeys: ["a"] })), missing);
    assert.deepEqual(await detailedRefusal(other.keys.untagResource({ keyId: key.krn, tagKeys: ["a"] })), missing);
    assert.equal(missing.reason, "KEY_NOT_FOUND");
    assert.deepEqual(await tagKeysOf(key.keyId), ["a"]);
  });
});
