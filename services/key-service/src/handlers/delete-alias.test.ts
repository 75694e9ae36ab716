import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import type { KeyMetadata } from "@keyhold/proto";
import { detailedRefusal, invalid, OTHER_ACCOUNT, refusal, startTestKeyService, storedCounts, type TestKeyService } from "../test-support.ts";

const ALIAS_NOT_FOUND = { code: Code.NotFound, reason: "ALIAS_NOT_FOUND", field: "alias_name" };

describe("DeleteAlias", () => {
  let service: TestKeyService;
  let key: KeyMetadata;
  before(async () => {
    service = await startTestKeyService();
    key = (await service.keys.createKey({})).keyMetadata!;
  });
  after(() => service.close());

  test("deletes the alias and nothing else", async () => {
    await service.keys.createAlias({ aliasName: "alias/delete-me", targetKeyId: key.keyId });
    await service.keys.createAlias({ aliasName: "alias/keep-me", targetKeyId: key.keyId });
    const before = (await storedCounts(service));
    const response = await service.keys.deleteAlias({ aliasName: "alias/delete-me" });
    assert.equal(response.$typeName, "keyhold.key.v1.DeleteAliasResponse");
    assert.deepEqual((await storedCounts(service)), { keys: before.keys, aliases: before.aliases - 1 });
    assert.deepEqual(await refusal(service.keys.getKey({ keyId: "alias/delete-me" })), { code: Code.NotFound, reason: "ALIAS_NOT_FOUND", field: "key_id" });
    assert.deepEqual(await refusal(service.crypto.encrypt({ keyId: "alias/delete-me", plaintext: new Uint8Array([1]) })), {
      code: Code.NotFound,
      reason: "ALIAS_NOT_FOUND",
      field: "key_id",
    });
    assert.deepEqual(
      (await service.keys.listAliases({ keyId: key.keyId })).aliases.map((a) => a.aliasName),
      ["alias/keep-me"],
    );
    assert.equal((await service.keys.getKey({ keyId: key.keyId })).keyMetadata!.keyId, key.keyId);
  });

  test("deleting again is ALIAS_NOT_FOUND; the name can then be created anew", async () => {
    const other = (await service.keys.createKey({})).keyMetadata!;
    await service.keys.createAlias({ aliasName: "alias/twice", targetKeyId: key.keyId });
    await service.keys.deleteAlias({ aliasName: "alias/twice" });
    assert.deepEqual(await refusal(service.keys.deleteAlias({ aliasName: "alias/twice" })), ALIAS_NOT_FOUND);
    await service.keys.createAlias({ aliasName: "alias/twice", targetKeyId: other.keyId });
    assert.equal((await service.keys.getKey({ keyId: "alias/twice" })).keyMetadata!.keyId, other.keyId);
  });

  test("refuses malformed and reserved names without deleting anything", async () => {
    await service.keys.createAlias({ aliasName: "alias/survivor", targetKeyId: key.keyId });
    const before = (await storedCounts(service));
    for (const aliasName of ["", "survivor", "alias/", "alias/bad name", "alias/keyhold/survivor", `krn:keyhold:kms:test-1:111122223333:alias/survivor`]) {
      assert.deepEqual(await refusal(service.keys.deleteAlias({ aliasName })), invalid("alias_name"), aliasName);
    }
    assert.deepEqual((await storedCounts(service)), before);
  });

  test("another account cannot delete the alias: it looks missing and the alias remains", async () => {
    const other = service.as(OTHER_ACCOUNT);
    await service.keys.createAlias({ aliasName: "alias/not-yours", targetKeyId: key.keyId });
    const missing = await detailedRefusal(other.keys.deleteAlias({ aliasName: "alias/nobody-has-this" }));
    assert.deepEqual(await detailedRefusal(other.keys.deleteAlias({ aliasName: "alias/not-yours" })), missing);
    assert.deepEqual({ code: missing.code, reason: missing.reason, field: missing.field }, ALIAS_NOT_FOUND);
    assert.equal((await service.keys.getKey({ keyId: "alias/not-yours" })).keyMetadata!.keyId, key.keyId);
  });

  test("deleting an alias leaves the same name in another account alone", async () => {
    const other = service.as(OTHER_ACCOUNT);
    const theirKey = (await other.keys.createKey({})).keyMetadata!;
    await other.keys.createAlias({ aliasName: "alias/both", targetKeyId: theirKey.keyId });
    await service.keys.createAlias({ aliasName: "alias/both", targetKeyId: key.keyId });
    await service.keys.deleteAlias({ aliasName: "alias/both" });
    assert.equal((await other.keys.getKey({ keyId: "alias/both" })).keyMetadata!.keyId, theirKey.keyId);
    assert.equal((await refusal(service.keys.getKey({ keyId: "alias/both" }))).reason, "ALIAS_NOT_FOUND");
  });
});
