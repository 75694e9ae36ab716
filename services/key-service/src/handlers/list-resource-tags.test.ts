import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import type { KeyMetadata, Tag } from "@keyhold/proto";
import { detailedRefusal, invalid, OTHER_ACCOUNT, refusal, startTestKeyService, TEST_ACCOUNT, type TestKeyService } from "../test-support.ts";

describe("ListResourceTags", () => {
  let service: TestKeyService;
  let key: KeyMetadata;
  let other: KeyMetadata;
  const tagKeys = Array.from({ length: 20 }, (_, i) => `tag-${String(i).padStart(2, "0")}`);
  before(async () => {
    service = await startTestKeyService();
    // Written out of order: the list is ordered by tag key.
    const tags = [...tagKeys].reverse().map((tagKey) => ({ tagKey, tagValue: `v${tagKey}` }));
    key = (await service.keys.createKey({ tags })).keyMetadata!;
    other = (await service.keys.createKey({ tags: [{ tagKey: "a", tagValue: "1" }, { tagKey: "b", tagValue: "2" }] })).keyMetadata!;
  });
  after(() => service.close());

  const walk = async (keyId: string, pageSize: number): Promise<Tag[][]> => {
    const pages: Tag[][] = [];
    let pageToken = "";
    do {
      const page = await service.keys.listResourceTags({ keyId, pageSize, pageToken });
      pages.push(page.tags);
      pageToken = page.nextPageToken;
      assert.ok(pages.length <= 1000, "paging does not end");
    } while (pageToken !== "");
    return pages;
  };

  test("lists the key's tags by tag key, with values, on one page by default", async () => {
    const { tags, nextPageToken } = await service.keys.listResourceTags({ keyId: key.keyId });
    assert.equal(nextPageToken, "");
    assert.deepEqual(
      tags.map((t) => [t.tagKey, t.tagValue]),
      tagKeys.map((k) => [k, `v${k}`]),
    );
  });

  test("a key without tags lists none", async () => {
    const bare = (await service.keys.createKey({})).keyMetadata!;
    const page = await service.keys.listResourceTags({ keyId: bare.krn });
    assert.deepEqual(page.tags, []);
    assert.equal(page.nextPageToken, "");
  });

  test("page_size and next_page_token walk every tag exactly once", async () => {
    const pages = await walk(key.keyId, 6);
    assert.deepEqual(
      pages.map((p) => p.length),
      [6, 6, 6, 2],
    );
    const keys = pages.flat().map((t) => t.tagKey);
    assert.equal(new Set(keys).size, keys.length);
    assert.deepEqual(keys, tagKeys);
    assert.equal((await walk(key.keyId, 20)).length, 1);
    assert.equal((await walk(key.keyId, 1)).length, 20);
  });

  test("a token is bound to the key it came from and to this kind of list", async () => {
    const token = (await service.keys.listResourceTags({ keyId: key.keyId, pageSize: 1 })).nextPageToken;
    assert.notEqual(token, "");
    assert.deepEqual(await refusal(service.keys.listResourceTags({ keyId: other.keyId, pageToken: token })), invalid("page_token"));
    const keysToken = Buffer.from(JSON.stringify({ l: "keys", a: "tag-05" })).toString("base64url");
    assert.deepEqual(await refusal(service.keys.listResourceTags({ keyId: key.keyId, pageToken: keysToken })), invalid("page_token"));
    assert.deepEqual(await refusal(service.keys.listResourceTags({ keyId: key.keyId, pageToken: "%%%" })), invalid("page_token"));
    const rest = await service.keys.listResourceTags({ keyId: key.keyId, pageToken: token });
    assert.deepEqual(
      rest.tags.map((t) => t.tagKey),
      tagKeys.slice(1),
    );
  });

  test("page_size must be between 1 and 1000", async () => {
    assert.deepEqual(await refusal(service.keys.listResourceTags({ keyId: key.keyId, pageSize: -1 })), invalid("page_size"));
    assert.deepEqual(await refusal(service.keys.listResourceTags({ keyId: key.keyId, pageSize: 1001 })), invalid("page_size"));
  });

  test("key_id must name a key: missing, malformed or alias is refused", async () => {
    await service.keys.createAlias({ aliasName: "alias/tagged", targetKeyId: key.keyId });
    assert.deepEqual(await refusal(service.keys.listResourceTags({ keyId: "" })), invalid("key_id"));
    assert.deepEqual(await refusal(service.keys.listResourceTags({ keyId: "alias/tagged" })), invalid("key_id"));
    assert.deepEqual(await refusal(service.keys.listResourceTags({ keyId: `krn:keyhold:kms:test-1:${TEST_ACCOUNT}:alias/tagged` })), invalid("key_id"));
    assert.deepEqual(await refusal(service.keys.listResourceTags({ keyId: "00000000-0000-4000-8000-000000000000" })), {
      code: Code.NotFound,
      reason: "KEY_NOT_FOUND",
      field: "key_id",
    });
  });

  test("another account cannot list the key's tags: it looks missing", async () => {
    const them = service.as(OTHER_ACCOUNT);
    const missing = await detailedRefusal(them.keys.listResourceTags({ keyId: "00000000-0000-4000-8000-000000000000" }));
    assert.deepEqual(await detailedRefusal(them.keys.listResourceTags({ keyId: key.keyId })), missing);
    assert.deepEqual(await detailedRefusal(them.keys.listResourceTags({ keyId: key.krn })), missing);
    assert.equal(missing.reason, "KEY_NOT_FOUND");
  });
});
