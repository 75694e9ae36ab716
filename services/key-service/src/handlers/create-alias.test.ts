import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import type { KeyMetadata } from "@keyhold/proto";
import {
  detailedRefusal,
  invalid,
  ManualClock,
  OTHER_ACCOUNT,
  refusal,
  startTestKeyService,
  storedCounts,
  TEST_ACCOUNT,
  type TestKeyService,
} from "../test-support.ts";

const NOW = new Date("2025-06-01T12:00:00.000Z");

describe("CreateAlias", () => {
  let service: TestKeyService;
  let key: KeyMetadata;
  before(async () => {
    service = await startTestKeyService({ clock: new ManualClock(NOW) });
    key = (await service.keys.createKey({})).keyMetadata!;
  });
  after(() => service.close());

  test("creates an alias that names the key everywhere a key_id is accepted", async () => {
    const { alias } = await service.keys.createAlias({ aliasName: "alias/app/payments_v2-x", targetKeyId: key.keyId });
    assert.equal(alias!.aliasName, "alias/app/payments_v2-x");
    assert.equal(alias!.aliasKrn, `krn:keyhold:kms:test-1:${TEST_ACCOUNT}:alias/app/payments_v2-x`);
    assert.equal(alias!.targetKeyId, key.keyId);
    assert.deepEqual(timestampDate(alias!.creationDate!), NOW);
    assert.deepEqual(timestampDate(alias!.lastUpdatedDate!), NOW);

    assert.equal((await service.keys.getKey({ keyId: "alias/app/payments_v2-x" })).keyMetadata!.keyId, key.keyId);
    assert.equal((await service.keys.getKey({ keyId: alias!.aliasKrn })).keyMetadata!.keyId, key.keyId);
    const encrypted = await service.crypto.encrypt({ keyId: "alias/app/payments_v2-x", plaintext: new Uint8Array([1]) });
    assert.equal(encrypted.keyId, key.krn);
    const listed = await service.keys.listAliases({ keyId: key.keyId });
    assert.deepEqual(listed.aliases, [alias]);
  });

  test("accepts the target as a key krn", async () => {
    const { alias } = await service.keys.createAlias({ aliasName: "alias/by-krn", targetKeyId: key.krn });
    assert.equal(alias!.targetKeyId, key.keyId);
  });

  test("accepts a name of 256 characters", async () => {
    const name = `alias/${"n".repeat(250)}`;
    assert.equal(name.length, 256);
    assert.equal((await service.keys.createAlias({ aliasName: name, targetKeyId: key.keyId })).alias!.aliasName, name);
  });

  test("refuses malformed and reserved alias names", async () => {
    const tooLong = `alias/${"n".repeat(251)}`;
    for (const aliasName of ["", "payments", "alias/", "alias/has space", "alias/semi;colon", "Alias/x", tooLong, "alias/keyhold/x", "alias/keyhold/"]) {
      assert.deepEqual(await refusal(service.keys.createAlias({ aliasName, targetKeyId: key.keyId })), invalid("alias_name"), aliasName);
    }
  });

  test("refuses a target that is missing, malformed or itself an alias", async () => {
    await service.keys.createAlias({ aliasName: "alias/existing", targetKeyId: key.keyId });
    assert.deepEqual(await refusal(service.keys.createAlias({ aliasName: "alias/t1", targetKeyId: "" })), invalid("target_key_id"));
    assert.deepEqual(await refusal(service.keys.createAlias({ aliasName: "alias/t2", targetKeyId: "nope" })), invalid("target_key_id"));
    assert.deepEqual(await refusal(service.keys.createAlias({ aliasName: "alias/t3", targetKeyId: "alias/existing" })), invalid("target_key_id"));
    assert.deepEqual(
      await refusal(service.keys.createAlias({ aliasName: "alias/t4", targetKeyId: `krn:keyhold:kms:test-1:${TEST_ACCOUNT}:alias/existing` })),
      invalid("target_key_id"),
    );
    assert.deepEqual(await refusal(service.keys.createAlias({ aliasName: "alias/t5", targetKeyId: "00000000-0000-4000-8000-000000000000" })), {
      code: Code.NotFound,
      reason: "KEY_NOT_FOUND",
      field: "target_key_id",
    });
  });

  test("a taken name is ALREADY_EXISTS and the alias keeps its target", async () => {
    const second = (await service.keys.createKey({})).keyMetadata!;
    await service.keys.createAlias({ aliasName: "alias/taken", targetKeyId: key.keyId });
    assert.deepEqual(await refusal(service.keys.createAlias({ aliasName: "alias/taken", targetKeyId: second.keyId })), {
      code: Code.AlreadyExists,
      reason: "ALREADY_EXISTS",
      field: "alias_name",
    });
    assert.equal((await service.keys.getKey({ keyId: "alias/taken" })).keyMetadata!.keyId, key.keyId);
  });

  test("refused requests store nothing", async () => {
    await service.keys.createAlias({ aliasName: "alias/refusals", targetKeyId: key.keyId });
    const before = (await storedCounts(service));
    await refusal(service.keys.createAlias({ aliasName: "alias/keyhold/reserved", targetKeyId: key.keyId }));
    await refusal(service.keys.createAlias({ aliasName: "alias/refusals", targetKeyId: key.keyId }));
    await refusal(service.keys.createAlias({ aliasName: "alias/no-target", targetKeyId: "00000000-0000-4000-8000-000000000000" }));
    await refusal(service.as(OTHER_ACCOUNT).keys.createAlias({ aliasName: "alias/cross", targetKeyId: key.keyId }));
    assert.deepEqual((await storedCounts(service)), before);
    assert.equal((await storedCounts(service, OTHER_ACCOUNT)).aliases, 0);
  });

  test("another account cannot point an alias at the key: it looks missing", async () => {
    const other = service.as(OTHER_ACCOUNT);
    const missing = await detailedRefusal(other.keys.createAlias({ aliasName: "alias/steal", targetKeyId: "00000000-0000-4000-8000-000000000000" }));
    assert.deepEqual(await detailedRefusal(other.keys.createAlias({ aliasName: "alias/steal", targetKeyId: key.keyId })), missing);
    assert.deepEqual(await detailedRefusal(other.keys.createAlias({ aliasName: "alias/steal", targetKeyId: key.krn })), missing);
    assert.deepEqual({ code: missing.code, reason: missing.reason, field: missing.field }, {
      code: Code.NotFound,
      reason: "KEY_NOT_FOUND",
      field: "target_key_id",
    });
  });

  test("alias names are per account: the same name in two accounts names each account's own key", async () => {
    const other = service.as(OTHER_ACCOUNT);
    const theirKey = (await other.keys.createKey({})).keyMetadata!;
    await service.keys.createAlias({ aliasName: "alias/shared-name", targetKeyId: key.keyId });
    const { alias } = await other.keys.createAlias({ aliasName: "alias/shared-name", targetKeyId: theirKey.keyId });
    assert.equal(alias!.aliasKrn, `krn:keyhold:kms:test-1:${OTHER_ACCOUNT}:alias/shared-name`);
    assert.equal((await service.keys.getKey({ keyId: "alias/shared-name" })).keyMetadata!.keyId, key.keyId);
    assert.equal((await other.keys.getKey({ keyId: "alias/shared-name" })).keyMetadata!.keyId, theirKey.keyId);
  });
});
