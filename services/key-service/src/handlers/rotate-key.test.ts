import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { KeyManager, KeySpec, KeyState, KeyUsage, KeyVersionSource, Origin, type KeyMetadata } from "@keyhold/proto";
import { NEW_KEY_LIFECYCLE } from "../store/records.ts";
import { invalid, ManualClock, OTHER_ACCOUNT, refusal, startTestKeyService, TEST_ACCOUNT, type TestKeyService } from "../test-support.ts";

const T0 = new Date("2026-03-01T00:00:00.000Z");
const text = (s: string) => new TextEncoder().encode(s);

describe("RotateKey, ListKeyVersions, GetKeyVersion", () => {
  let service: TestKeyService;
  let clock: ManualClock;
  before(async () => {
    clock = new ManualClock(T0);
    service = await startTestKeyService({ clock });
  });
  after(() => service.close());

  const newKey = async (): Promise<KeyMetadata> => (await service.keys.createKey({})).keyMetadata!;

  test("a rotation makes a new primary version; every older version still decrypts", async () => {
    const key = await newKey();
    const first = await service.crypto.encrypt({ keyId: key.keyId, plaintext: text("v1"), encryptionContext: { a: "b" } });
    clock.advance(1000);
    const rotated = await service.keys.rotateKey({ keyId: key.keyId });
    assert.notEqual(rotated.keyVersion!.keyVersionId, key.primaryVersionId);
    assert.equal(rotated.keyMetadata!.primaryVersionId, rotated.keyVersion!.keyVersionId);
    assert.equal(rotated.keyVersion!.primary, true);
    assert.equal(rotated.keyVersion!.source, KeyVersionSource.ON_DEMAND_ROTATION);
    assert.equal(rotated.keyVersion!.keyId, key.krn);
    const second = await service.crypto.encrypt({ keyId: key.keyId, plaintext: text("v2") });
    assert.equal(second.keyVersionId, rotated.keyVersion!.keyVersionId);
    const old = await service.crypto.decrypt({ ciphertextBlob: first.ciphertextBlob, encryptionContext: { a: "b" } });
    assert.deepEqual(old.plaintext, text("v1"));
    assert.equal(old.keyVersionId, key.primaryVersionId);
    assert.deepEqual((await service.crypto.decrypt({ ciphertextBlob: second.ciphertextBlob })).plaintext, text("v2"));
    assert.equal((await service.keys.getKey({ keyId: key.keyId })).keyMetadata!.primaryVersionId, rotated.keyVersion!.keyVersionId);
  });

  test("ReEncrypt moves an old ciphertext to the primary version, or to another key, without returning plaintext", async () => {
    const key = await newKey();
    const other = await newKey();
    const old = await service.crypto.encrypt({ keyId: key.keyId, plaintext: text("moved") });
    clock.advance(1000);
    const primary = (await service.keys.rotateKey({ keyId: key.keyId })).keyVersion!.keyVersionId;
    const moved = await service.crypto.reEncrypt({ ciphertextBlob: old.ciphertextBlob, destinationKeyId: key.keyId });
    assert.equal(moved.sourceKeyVersionId, key.primaryVersionId);
    assert.equal(moved.keyVersionId, primary);
    assert.equal(Object.hasOwn(moved, "plaintext"), false);
    assert.deepEqual((await service.crypto.decrypt({ ciphertextBlob: moved.ciphertextBlob })).plaintext, text("moved"));
    const elsewhere = await service.crypto.reEncrypt({ ciphertextBlob: old.ciphertextBlob, destinationKeyId: other.keyId, destinationEncryptionContext: { to: "other" } });
    assert.equal(elsewhere.keyId, other.krn);
    const back = await service.crypto.decrypt({ ciphertextBlob: elsewhere.ciphertextBlob, encryptionContext: { to: "other" } });
    assert.deepEqual(back.plaintext, text("moved"));
  });

  test("ListKeyVersions lists oldest first and pages; GetKeyVersion describes one", async () => {
    const key = await newKey();
    const ids = [key.primaryVersionId];
    for (let i = 0; i < 4; i++) {
      clock.advance(1000);
      ids.push((await service.keys.rotateKey({ keyId: key.keyId })).keyVersion!.keyVersionId);
    }
    const seen: string[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await service.keys.listKeyVersions({ keyId: key.keyId, pageSize: 2, pageToken });
      seen.push(...page.keyVersions.map((v) => v.keyVersionId));
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken !== "");
    assert.deepEqual(seen, ids);
    assert.equal(pages, 3);
    const all = (await service.keys.listKeyVersions({ keyId: key.keyId })).keyVersions;
    assert.deepEqual(all.map((v) => v.primary), [false, false, false, false, true]);
    assert.equal(all[0]!.source, KeyVersionSource.CREATION);
    const one = (await service.keys.getKeyVersion({ keyId: key.keyId, keyVersionId: ids[0]! })).keyVersion!;
    assert.equal(one.keyVersionId, ids[0]);
    assert.equal(one.primary, false);
    assert.deepEqual(one.creationDate, all[0]!.creationDate);
  });

  test("refusals: bad input, unknown version, another key's version, another account", async () => {
    const key = await newKey();
    const other = await newKey();
    assert.deepEqual(await refusal(service.keys.rotateKey({ keyId: "" })), invalid("key_id"));
    assert.deepEqual(await refusal(service.keys.getKeyVersion({ keyId: key.keyId, keyVersionId: "" })), invalid("key_version_id"));
    assert.deepEqual(await refusal(service.keys.getKeyVersion({ keyId: key.keyId, keyVersionId: "nope" })), invalid("key_version_id"));
    const versionMissing = { code: Code.NotFound, reason: "KEY_VERSION_NOT_FOUND", field: "key_version_id" };
    assert.deepEqual(await refusal(service.keys.getKeyVersion({ keyId: key.keyId, keyVersionId: other.primaryVersionId })), versionMissing);
    assert.deepEqual(await refusal(service.keys.getKeyVersion({ keyId: key.keyId, keyVersionId: "00000000-0000-4000-8000-000000000000" })), versionMissing);
    assert.deepEqual(await refusal(service.keys.listKeyVersions({ keyId: key.keyId, pageSize: 1001 })), invalid("page_size"));
    assert.deepEqual(await refusal(service.keys.listKeyVersions({ keyId: key.keyId, pageToken: "garbage!" })), invalid("page_token"));
    const foreign = (await service.keys.listKeyVersions({ keyId: other.keyId, pageSize: 1 })).nextPageToken;
    clock.advance(1000);
    await service.keys.rotateKey({ keyId: other.keyId });
    const otherToken = (await service.keys.listKeyVersions({ keyId: other.keyId, pageSize: 1 })).nextPageToken;
    assert.equal(foreign, "");
    assert.deepEqual(await refusal(service.keys.listKeyVersions({ keyId: key.keyId, pageToken: otherToken })), invalid("page_token"));
    const them = service.as(OTHER_ACCOUNT);
    const missing = { code: Code.NotFound, reason: "KEY_NOT_FOUND", field: "key_id" };
    assert.deepEqual(await refusal(them.keys.rotateKey({ keyId: key.krn })), missing);
    assert.deepEqual(await refusal(them.keys.listKeyVersions({ keyId: key.krn })), missing);
    assert.deepEqual(await refusal(them.keys.getKeyVersion({ keyId: key.krn, keyVersionId: key.primaryVersionId })), missing);
  });

  test("a disabled key or one pending deletion is not rotated", async () => {
    const key = await newKey();
    await service.keys.disableKey({ keyId: key.keyId });
    assert.deepEqual(await refusal(service.keys.rotateKey({ keyId: key.keyId })), { code: Code.FailedPrecondition, reason: "KEY_DISABLED", field: "key_id" });
    await service.keys.scheduleKeyDeletion({ keyId: key.keyId });
    assert.deepEqual(await refusal(service.keys.rotateKey({ keyId: key.keyId })), { code: Code.FailedPrecondition, reason: "KEY_PENDING_DELETION", field: "key_id" });
    assert.equal((await service.keys.listKeyVersions({ keyId: key.keyId })).keyVersions.length, 1);
  });

  test("keys whose material is held elsewhere, and non-symmetric keys, are refused with UNSUPPORTED_OPERATION", async () => {
    const store = service.app.context.store;
    for (const [origin, keySpec, keyUsage] of [
      [Origin.EXTERNAL, KeySpec.SYMMETRIC_DEFAULT, KeyUsage.ENCRYPT_DECRYPT],
      [Origin.EXTERNAL_KEY_STORE, KeySpec.SYMMETRIC_DEFAULT, KeyUsage.ENCRYPT_DECRYPT],
      [Origin.SOFTWARE, KeySpec.HMAC_256, KeyUsage.GENERATE_VERIFY_MAC],
    ] as const) {
      const keyId = crypto.randomUUID();
      const versionId = crypto.randomUUID();
      await store.createKey({
        key: { keyId, accountId: TEST_ACCOUNT, description: "", keySpec, keyUsage, origin, keyManager: KeyManager.CUSTOMER, state: KeyState.ENABLED, createdAt: T0, primaryVersionId: versionId, ...NEW_KEY_LIFECYCLE },
        firstVersion: { versionId, keyId, accountId: TEST_ACCOUNT, wrappedMaterial: Buffer.alloc(61, 1), wrappedBy: "t", createdAt: T0, source: KeyVersionSource.CREATION, publicKey: undefined },
        tags: [],
        idempotency: undefined,
      });
      const refused = await refusal(service.keys.rotateKey({ keyId }));
      assert.deepEqual(refused, { code: Code.FailedPrecondition, reason: "UNSUPPORTED_OPERATION", field: "key_id" }, `origin ${origin} spec ${keySpec}`);
      const policy = await refusal(service.keys.updateRotationPolicy({ keyId, enabled: true }));
      assert.equal(policy.reason, "UNSUPPORTED_OPERATION");
    }
  });
});
