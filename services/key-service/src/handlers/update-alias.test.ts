import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { KeyManager, KeySpec, KeyState, KeyUsage, Origin, type KeyMetadata, KeyVersionSource } from "@keyhold/proto";
import { NEW_KEY_LIFECYCLE } from "../store/records.ts";
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

const CREATED = new Date("2025-01-01T00:00:00.000Z");
const UPDATED = new Date("2025-02-02T02:02:02.000Z");

describe("UpdateAlias", () => {
  let service: TestKeyService;
  let clock: ManualClock;
  let a: KeyMetadata;
  let b: KeyMetadata;
  before(async () => {
    clock = new ManualClock(CREATED);
    service = await startTestKeyService({ clock });
    a = (await service.keys.createKey({ description: "a" })).keyMetadata!;
    b = (await service.keys.createKey({ description: "b" })).keyMetadata!;
  });
  after(() => service.close());

  const aliasOf = async (aliasName: string) => (await service.keys.getKey({ keyId: aliasName })).keyMetadata!.keyId;

  test("points the alias at another key; new encryptions use it and old ciphertexts still decrypt", async () => {
    clock.set(CREATED);
    await service.keys.createAlias({ aliasName: "alias/rotate", targetKeyId: a.keyId });
    const plaintext = new Uint8Array([3, 1, 4]);
    const before = await service.crypto.encrypt({ keyId: "alias/rotate", plaintext });
    assert.equal(before.keyId, a.krn);

    clock.set(UPDATED);
    const { alias } = await service.keys.updateAlias({ aliasName: "alias/rotate", targetKeyId: b.keyId });
    assert.equal(alias!.aliasName, "alias/rotate");
    assert.equal(alias!.aliasKrn, `krn:keyhold:kms:test-1:${TEST_ACCOUNT}:alias/rotate`);
    assert.equal(alias!.targetKeyId, b.keyId);
    assert.deepEqual(timestampDate(alias!.creationDate!), CREATED);
    assert.deepEqual(timestampDate(alias!.lastUpdatedDate!), UPDATED);
    assert.deepEqual((await service.keys.listAliases({ keyId: b.keyId })).aliases, [alias]);
    assert.deepEqual((await service.keys.listAliases({ keyId: a.keyId })).aliases, []);

    const after = await service.crypto.encrypt({ keyId: "alias/rotate", plaintext });
    assert.equal(after.keyId, b.krn);
    assert.deepEqual((await service.crypto.decrypt({ ciphertextBlob: before.ciphertextBlob })).plaintext, plaintext);
  });

  test("accepts the target as a key krn, and the same target again", async () => {
    await service.keys.createAlias({ aliasName: "alias/same", targetKeyId: a.keyId });
    assert.equal((await service.keys.updateAlias({ aliasName: "alias/same", targetKeyId: b.krn })).alias!.targetKeyId, b.keyId);
    assert.equal((await service.keys.updateAlias({ aliasName: "alias/same", targetKeyId: b.keyId })).alias!.targetKeyId, b.keyId);
  });

  test("an alias that does not exist is ALIAS_NOT_FOUND, and nothing is created", async () => {
    assert.deepEqual(await refusal(service.keys.updateAlias({ aliasName: "alias/never-created", targetKeyId: a.keyId })), {
      code: Code.NotFound,
      reason: "ALIAS_NOT_FOUND",
      field: "alias_name",
    });
    assert.deepEqual(await refusal(service.keys.getKey({ keyId: "alias/never-created" })), {
      code: Code.NotFound,
      reason: "ALIAS_NOT_FOUND",
      field: "key_id",
    });
  });

  test("refuses malformed or reserved names and a malformed, alias or missing target, leaving the alias", async () => {
    await service.keys.createAlias({ aliasName: "alias/fixed", targetKeyId: a.keyId });
    assert.deepEqual(await refusal(service.keys.updateAlias({ aliasName: "fixed", targetKeyId: b.keyId })), invalid("alias_name"));
    assert.deepEqual(await refusal(service.keys.updateAlias({ aliasName: "alias/keyhold/fixed", targetKeyId: b.keyId })), invalid("alias_name"));
    assert.deepEqual(await refusal(service.keys.updateAlias({ aliasName: "alias/fixed", targetKeyId: "" })), invalid("target_key_id"));
    assert.deepEqual(await refusal(service.keys.updateAlias({ aliasName: "alias/fixed", targetKeyId: "alias/rotate" })), invalid("target_key_id"));
    assert.deepEqual(await refusal(service.keys.updateAlias({ aliasName: "alias/fixed", targetKeyId: "00000000-0000-4000-8000-000000000000" })), {
      code: Code.NotFound,
      reason: "KEY_NOT_FOUND",
      field: "target_key_id",
    });
    assert.equal(await aliasOf("alias/fixed"), a.keyId);
  });

  test("refuses a target with another key spec or usage than the alias's current key", async () => {
    const store = service.app.context.store;
    const hmacKeyId = "11111111-2222-4333-8444-555555555555";
    const versionId = "11111111-2222-4333-8444-666666666666";
    await store.createKey({
      key: {
        keyId: hmacKeyId,
        accountId: TEST_ACCOUNT,
        description: "hmac",
        keySpec: KeySpec.HMAC_256,
        keyUsage: KeyUsage.GENERATE_VERIFY_MAC,
        origin: Origin.SOFTWARE,
        keyManager: KeyManager.CUSTOMER,
        state: KeyState.ENABLED,
        createdAt: CREATED,
        primaryVersionId: versionId,
        ...NEW_KEY_LIFECYCLE,
      },
      firstVersion: { versionId, keyId: hmacKeyId, accountId: TEST_ACCOUNT, wrappedMaterial: Buffer.alloc(60, 1), wrappedBy: "test", createdAt: CREATED, source: KeyVersionSource.CREATION, publicKey: undefined },
      tags: [],
      idempotency: undefined,
    });
    await service.keys.createAlias({ aliasName: "alias/symmetric-only", targetKeyId: a.keyId });
    assert.deepEqual(await refusal(service.keys.updateAlias({ aliasName: "alias/symmetric-only", targetKeyId: hmacKeyId })), invalid("target_key_id"));
    assert.equal(await aliasOf("alias/symmetric-only"), a.keyId);
  });

  test("another account's key as target looks missing, and the alias keeps its target", async () => {
    const theirs = (await service.as(OTHER_ACCOUNT).keys.createKey({})).keyMetadata!;
    await service.keys.createAlias({ aliasName: "alias/no-cross", targetKeyId: a.keyId });
    const missing = await detailedRefusal(service.keys.updateAlias({ aliasName: "alias/no-cross", targetKeyId: "00000000-0000-4000-8000-000000000000" }));
    assert.deepEqual(await detailedRefusal(service.keys.updateAlias({ aliasName: "alias/no-cross", targetKeyId: theirs.keyId })), missing);
    assert.deepEqual(await detailedRefusal(service.keys.updateAlias({ aliasName: "alias/no-cross", targetKeyId: theirs.krn })), missing);
    assert.equal(missing.reason, "KEY_NOT_FOUND");
    assert.equal(await aliasOf("alias/no-cross"), a.keyId);
  });

  test("another account cannot update the alias: it looks missing and the alias is unchanged", async () => {
    const other = service.as(OTHER_ACCOUNT);
    const theirKey = (await other.keys.createKey({})).keyMetadata!;
    await service.keys.createAlias({ aliasName: "alias/mine-only", targetKeyId: a.keyId });
    const missing = await detailedRefusal(other.keys.updateAlias({ aliasName: "alias/nobody-has-this", targetKeyId: theirKey.keyId }));
    assert.deepEqual(await detailedRefusal(other.keys.updateAlias({ aliasName: "alias/mine-only", targetKeyId: theirKey.keyId })), missing);
    assert.equal(missing.reason, "ALIAS_NOT_FOUND");
    assert.equal(await aliasOf("alias/mine-only"), a.keyId);
    assert.equal((await storedCounts(service, OTHER_ACCOUNT)).aliases, 0);
  });
});
