import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { detailedRefusal, invalid, OTHER_ACCOUNT, refusal, startTestKeyService, TEST_ACCOUNT, type TestKeyService } from "../test-support.ts";

const tag = (tagKey: string, tagValue = "") => ({ tagKey, tagValue });

describe("TagResource", () => {
  let service: TestKeyService;
  before(async () => {
    service = await startTestKeyService();
  });
  after(() => service.close());

  const newKey = async () => (await service.keys.createKey({})).keyMetadata!;
  const tagsOf = async (keyId: string) =>
    (await service.keys.listResourceTags({ keyId, pageSize: 1000 })).tags.map((t) => [t.tagKey, t.tagValue] as const);

  test("adds tags and overwrites the value of an existing tag key", async () => {
    const { keyId } = await newKey();
    await service.keys.tagResource({ keyId, tags: [tag("env", "dev"), tag("team", "core")] });
    assert.deepEqual(await tagsOf(keyId), [
      ["env", "dev"],
      ["team", "core"],
    ]);
    await service.keys.tagResource({ keyId, tags: [tag("env", "prod"), tag("cost center", "")] });
    assert.deepEqual(await tagsOf(keyId), [
      ["cost center", ""],
      ["env", "prod"],
      ["team", "core"],
    ]);
  });

  test("accepts a key krn; refuses an alias as key_id", async () => {
    const key = await newKey();
    await service.keys.createAlias({ aliasName: "alias/tag-me", targetKeyId: key.keyId });
    await service.keys.tagResource({ keyId: key.krn, tags: [tag("via", "krn")] });
    assert.deepEqual(await tagsOf(key.keyId), [["via", "krn"]]);
    assert.deepEqual(await refusal(service.keys.tagResource({ keyId: "alias/tag-me", tags: [tag("via", "alias")] })), invalid("key_id"));
    assert.deepEqual(
      await refusal(service.keys.tagResource({ keyId: `krn:keyhold:kms:test-1:${TEST_ACCOUNT}:alias/tag-me`, tags: [tag("via", "alias")] })),
      invalid("key_id"),
    );
    assert.deepEqual(await tagsOf(key.keyId), [["via", "krn"]]);
  });

  test("refuses invalid tags naming the one at fault, and writes none of the request", async () => {
    const { keyId } = await newKey();
    await service.keys.tagResource({ keyId, tags: [tag("keep", "1")] });
    const cases: Array<[ReturnType<typeof tag>[], string]> = [
      [[], "tags"],
      [[tag("")], "tags[0].tag_key"],
      [[tag("fine", "x"), tag("keyhold:internal")], "tags[1].tag_key"],
      [[tag("KEYHOLD:internal")], "tags[0].tag_key"],
      [[tag("k".repeat(129))], "tags[0].tag_key"],
      [[tag("a*b")], "tags[0].tag_key"],
      [[tag("keep", "v".repeat(129))], "tags[0].tag_value"],
      [[tag("keep", "new\nline")], "tags[0].tag_value"],
      [[tag("dup", "1"), tag("dup", "2")], "tags[1].tag_key"],
      [Array.from({ length: 21 }, (_, i) => tag(`t${i}`)), "tags"],
    ];
    for (const [tags, field] of cases) {
      assert.deepEqual(await refusal(service.keys.tagResource({ keyId, tags })), invalid(field), field);
    }
    assert.deepEqual(await tagsOf(keyId), [["keep", "1"]]);
  });

  test("allows 20 tags in all; a request that would pass 20 is refused and changes nothing", async () => {
    const { keyId } = await newKey();
    const twenty = Array.from({ length: 20 }, (_, i) => tag(`t${String(i).padStart(2, "0")}`, "v"));
    await service.keys.tagResource({ keyId, tags: twenty.slice(0, 12) });
    await service.keys.tagResource({ keyId, tags: twenty.slice(12) });
    const full = await tagsOf(keyId);
    assert.equal(full.length, 20);

    // One new key plus an overwrite of an existing one: over the limit, so neither happens.
    assert.deepEqual(await refusal(service.keys.tagResource({ keyId, tags: [tag("t00", "changed"), tag("t20")] })), invalid("tags"));
    assert.deepEqual(await tagsOf(keyId), full);

    // Overwriting at the limit is fine.
    await service.keys.tagResource({ keyId, tags: [tag("t00", "changed")] });
    assert.deepEqual((await tagsOf(keyId))[0], ["t00", "changed"]);
    assert.equal((await tagsOf(keyId)).length, 20);
  });

  test("an unknown key is KEY_NOT_FOUND; a malformed key_id is INVALID_ARGUMENT", async () => {
    assert.deepEqual(await refusal(service.keys.tagResource({ keyId: "00000000-0000-4000-8000-000000000000", tags: [tag("a")] })), {
      code: Code.NotFound,
      reason: "KEY_NOT_FOUND",
      field: "key_id",
    });
    assert.deepEqual(await refusal(service.keys.tagResource({ keyId: "", tags: [tag("a")] })), invalid("key_id"));
  });

  test("another account cannot tag the key: it looks missing and no tag is written", async () => {
    const key = await newKey();
    const other = service.as(OTHER_ACCOUNT);
    const missing = await detailedRefusal(other.keys.tagResource({ keyId: "00000000-0000-4000-8000-000000000000", tags: [tag("x")] }));
    assert.deepEqual(await detailedRefusal(other.keys.tagResource({ keyId: key.keyId, tags: [tag("x")] })), missing);
    assert.deepEqual(await detailedRefusal(other.keys.tagResource({ keyId: key.krn, tags: [tag("x")] })), missing);
    assert.equal(missing.reason, "KEY_NOT_FOUND");
    assert.deepEqual(await tagsOf(key.keyId), []);
  });
});
