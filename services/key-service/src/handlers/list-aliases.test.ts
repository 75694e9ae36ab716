import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, type Client } from "@connectrpc/connect";
import type { AliasListEntry, KeyMetadata, KeyService } from "@keyhold/proto";
import { detailedRefusal, invalid, OTHER_ACCOUNT, refusal, startTestKeyService, TEST_ACCOUNT, type TestKeyService } from "../test-support.ts";

async function walk(keys: Client<typeof KeyService>, pageSize: number, keyId = ""): Promise<AliasListEntry[][]> {
  const pages: AliasListEntry[][] = [];
  let pageToken = "";
  do {
    const page = await keys.listAliases({ keyId, pageSize, pageToken });
    pages.push(page.aliases);
    pageToken = page.nextPageToken;
    assert.ok(pages.length <= 1000, "paging does not end");
  } while (pageToken !== "");
  return pages;
}

const names = (aliases: readonly AliasListEntry[]) => aliases.map((a) => a.aliasName);

describe("ListAliases", () => {
  let service: TestKeyService;
  let a: KeyMetadata;
  let b: KeyMetadata;
  const ofA = ["alias/a1", "alias/a2", "alias/a3", "alias/z/a4"];
  const ofB = ["alias/b1", "alias/b2", "alias/m/b3"];
  before(async () => {
    service = await startTestKeyService();
    a = (await service.keys.createKey({})).keyMetadata!;
    b = (await service.keys.createKey({})).keyMetadata!;
    // Created out of order: the list is ordered by name, not by creation.
    for (const aliasName of [...ofA].reverse()) await service.keys.createAlias({ aliasName, targetKeyId: a.keyId });
    for (const aliasName of ofB) await service.keys.createAlias({ aliasName, targetKeyId: b.keyId });
  });
  after(() => service.close());

  test("lists every alias of the account by name, with its krn and target", async () => {
    const { aliases, nextPageToken } = await service.keys.listAliases({});
    assert.equal(nextPageToken, "");
    assert.deepEqual(names(aliases), [...ofA, ...ofB].sort());
    for (const alias of aliases) {
      assert.equal(alias.aliasKrn, `krn:keyhold:kms:test-1:${TEST_ACCOUNT}:${alias.aliasName}`);
      assert.equal(alias.targetKeyId, ofA.includes(alias.aliasName) ? a.keyId : b.keyId);
      assert.ok(alias.creationDate !== undefined && alias.lastUpdatedDate !== undefined);
    }
  });

  test("key_id (id or krn) lists only the aliases of that key", async () => {
    assert.deepEqual(names((await service.keys.listAliases({ keyId: a.keyId })).aliases), ofA);
    assert.deepEqual(names((await service.keys.listAliases({ keyId: b.krn })).aliases), [...ofB].sort());
    const lonely = (await service.keys.createKey({})).keyMetadata!;
    const none = await service.keys.listAliases({ keyId: lonely.keyId });
    assert.deepEqual(none.aliases, []);
    assert.equal(none.nextPageToken, "");
  });

  test("page_size and next_page_token walk every alias exactly once, with and without key_id", async () => {
    const all = await walk(service.keys, 2);
    assert.deepEqual(
      all.map((p) => p.length),
      [2, 2, 2, 1],
    );
    assert.deepEqual(names(all.flat()), [...ofA, ...ofB].sort());
    const ofKey = await walk(service.keys, 3, a.keyId);
    assert.deepEqual(
      ofKey.map((p) => p.length),
      [3, 1],
    );
    assert.deepEqual(names(ofKey.flat()), ofA);
    const exact = await walk(service.keys, 4, a.keyId);
    assert.equal(exact.length, 1);
  });

  test("a token is bound to its list: all aliases, or the aliases of one key", async () => {
    const allToken = (await service.keys.listAliases({ pageSize: 1 })).nextPageToken;
    const aToken = (await service.keys.listAliases({ keyId: a.keyId, pageSize: 1 })).nextPageToken;
    assert.notEqual(allToken, "");
    assert.notEqual(aToken, "");
    assert.deepEqual(await refusal(service.keys.listAliases({ keyId: a.keyId, pageToken: allToken })), invalid("page_token"));
    assert.deepEqual(await refusal(service.keys.listAliases({ pageToken: aToken })), invalid("page_token"));
    assert.deepEqual(await refusal(service.keys.listAliases({ keyId: b.keyId, pageToken: aToken })), invalid("page_token"));
    const keysToken = (await service.keys.listKeys({ pageSize: 1 })).nextPageToken;
    assert.deepEqual(await refusal(service.keys.listAliases({ pageToken: keysToken })), invalid("page_token"));
    assert.deepEqual(await refusal(service.keys.listAliases({ pageToken: "not a token" })), invalid("page_token"));
    // The right list accepts it.
    assert.deepEqual(names((await service.keys.listAliases({ keyId: a.keyId, pageToken: aToken })).aliases), ofA.slice(1));
  });

  test("page_size must be between 1 and 1000", async () => {
    assert.deepEqual(await refusal(service.keys.listAliases({ pageSize: -5 })), invalid("page_size"));
    assert.deepEqual(await refusal(service.keys.listAliases({ pageSize: 1001 })), invalid("page_size"));
    assert.equal((await service.keys.listAliases({ pageSize: 1000 })).aliases.length, ofA.length + ofB.length);
  });

  test("key_id must name a key, not an alias; an unknown key is KEY_NOT_FOUND", async () => {
    assert.deepEqual(await refusal(service.keys.listAliases({ keyId: "alias/a1" })), invalid("key_id"));
    assert.deepEqual(await refusal(service.keys.listAliases({ keyId: "nope" })), invalid("key_id"));
    assert.deepEqual(await refusal(service.keys.listAliases({ keyId: "00000000-0000-4000-8000-000000000000" })), {
      code: Code.NotFound,
      reason: "KEY_NOT_FOUND",
      field: "key_id",
    });
  });

  test("another account sees none of these aliases, and filtering by one of these keys looks missing", async () => {
    const other = service.as(OTHER_ACCOUNT);
    assert.deepEqual((await other.keys.listAliases({})).aliases, []);
    const missing = await detailedRefusal(other.keys.listAliases({ keyId: "00000000-0000-4000-8000-000000000000" }));
    assert.deepEqual(await detailedRefusal(other.keys.listAliases({ keyId: a.keyId })), missing);
    assert.deepEqual(await detailedRefusal(other.keys.listAliases({ keyId: a.krn })), missing);
    assert.equal(missing.reason, "KEY_NOT_FOUND");
  });
});
