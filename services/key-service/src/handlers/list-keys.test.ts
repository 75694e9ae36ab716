import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Client } from "@connectrpc/connect";
import type { KeyListEntry, KeyService } from "@keyhold/proto";
import { invalid, OTHER_ACCOUNT, refusal, startTestKeyService, TEST_ACCOUNT, type TestKeyService } from "../test-support.ts";

/** Walks ListKeys page by page; returns every page's entries. */
async function walk(keys: Client<typeof KeyService>, pageSize: number): Promise<KeyListEntry[][]> {
  const pages: KeyListEntry[][] = [];
  let pageToken = "";
  do {
    const page = await keys.listKeys({ pageSize, pageToken });
    pages.push(page.keys);
    pageToken = page.nextPageToken;
    assert.ok(pages.length <= 1000, "paging does not end");
  } while (pageToken !== "");
  return pages;
}

describe("ListKeys", () => {
  let service: TestKeyService;
  const created: string[] = [];
  before(async () => {
    service = await startTestKeyService();
    for (let i = 0; i < 7; i++) created.push((await service.keys.createKey({})).keyMetadata!.keyId);
  });
  after(() => service.close());

  test("lists every key of the account with its krn, in key id order, on one page by default", async () => {
    const { keys, nextPageToken } = await service.keys.listKeys({});
    assert.equal(nextPageToken, "");
    assert.deepEqual(
      keys.map((k) => k.keyId),
      [...created].sort(),
    );
    for (const k of keys) assert.equal(k.krn, `krn:keyhold:kms:test-1:${TEST_ACCOUNT}:key/${k.keyId}`);
  });

  test("page_size and next_page_token walk every key exactly once", async () => {
    const pages = await walk(service.keys, 3);
    assert.deepEqual(
      pages.map((p) => p.length),
      [3, 3, 1],
    );
    const ids = pages.flat().map((k) => k.keyId);
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual(ids, [...created].sort());
  });

  test("a page that ends exactly at the last key has no next_page_token", async () => {
    const pages = await walk(service.keys, 7);
    assert.deepEqual(
      pages.map((p) => p.length),
      [7],
    );
    const byOne = await walk(service.keys, 1);
    assert.equal(byOne.length, 7);
    assert.deepEqual(
      byOne.flat().map((k) => k.keyId),
      [...created].sort(),
    );
  });

  test("a token continues right after the last key it returned, even when keys are created between pages", async () => {
    const first = await service.keys.listKeys({ pageSize: 2 });
    const lastSeen = first.keys[1]!.keyId;
    const added = (await service.keys.createKey({})).keyMetadata!.keyId;
    created.push(added);
    const expected = (await walk(service.keys, 1000)).flat().filter((k) => k.keyId > lastSeen);
    assert.equal(expected.some((k) => k.keyId === added), added > lastSeen);
    const next = await service.keys.listKeys({ pageSize: 1000, pageToken: first.nextPageToken });
    assert.deepEqual(next.keys, expected);
  });

  test("page_size must be between 1 and 1000 (0 means the default)", async () => {
    assert.deepEqual(await refusal(service.keys.listKeys({ pageSize: -1 })), invalid("page_size"));
    assert.deepEqual(await refusal(service.keys.listKeys({ pageSize: 1001 })), invalid("page_size"));
    assert.equal((await service.keys.listKeys({ pageSize: 1000 })).keys.length, created.length);
    assert.equal((await service.keys.listKeys({ pageSize: 0 })).keys.length, created.length);
  });

  test("refuses a page_token this list did not return", async () => {
    assert.deepEqual(await refusal(service.keys.listKeys({ pageToken: "garbage" })), invalid("page_token"));
    assert.deepEqual(await refusal(service.keys.listKeys({ pageToken: Buffer.from("{}").toString("base64url") })), invalid("page_token"));

    const keyId = created[0]!;
    await service.keys.createAlias({ aliasName: "alias/list-keys-a", targetKeyId: keyId });
    await service.keys.createAlias({ aliasName: "alias/list-keys-b", targetKeyId: keyId });
    const aliasToken = (await service.keys.listAliases({ pageSize: 1 })).nextPageToken;
    assert.notEqual(aliasToken, "");
    assert.deepEqual(await refusal(service.keys.listKeys({ pageToken: aliasToken })), invalid("page_token"));

    await service.keys.tagResource({ keyId, tags: [{ tagKey: "a", tagValue: "" }, { tagKey: "b", tagValue: "" }] });
    const tagToken = (await service.keys.listResourceTags({ keyId, pageSize: 1 })).nextPageToken;
    assert.notEqual(tagToken, "");
    assert.deepEqual(await refusal(service.keys.listKeys({ pageToken: tagToken })), invalid("page_token"));
  });

  test("another account lists only its own keys", async () => {
    const other = service.as(OTHER_ACCOUNT);
    assert.deepEqual((await other.keys.listKeys({})).keys, []);
    const theirs = (await other.keys.createKey({})).keyMetadata!.keyId;
    const listed = await other.keys.listKeys({});
    assert.deepEqual(
      listed.keys.map((k) => k.keyId),
      [theirs],
    );
    assert.ok(!(await service.keys.listKeys({})).keys.some((k) => k.keyId === theirs));
  });
});

describe("ListKeys default page size", () => {
  let service: TestKeyService;
  before(async () => {
    service = await startTestKeyService();
    for (let i = 0; i < 101; i++) await service.keys.createKey({});
  });
  after(() => service.close());

  test("an unset page_size returns 100 keys and a token for the rest", async () => {
    const first = await service.keys.listKeys({});
    assert.equal(first.keys.length, 100);
    assert.notEqual(first.nextPageToken, "");
    const second = await service.keys.listKeys({ pageToken: first.nextPageToken });
    assert.equal(second.keys.length, 1);
    assert.equal(second.nextPageToken, "");
    assert.ok(!first.keys.some((k) => k.keyId === second.keys[0]!.keyId));
  });
});

describe("ListKeys on an empty account", () => {
  let service: TestKeyService;
  before(async () => {
    service = await startTestKeyService();
  });
  after(() => service.close());

  test("returns no keys and no token", async () => {
    const page = await service.keys.listKeys({ pageSize: 5 });
    assert.deepEqual(page.keys, []);
    assert.equal(page.nextPageToken, "");
  });
});
