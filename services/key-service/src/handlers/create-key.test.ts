import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { EncryptionAlgorithm, KeyManager, KeySpec, KeyState, KeyUsage, Origin } from "@keyhold/proto";
import {
  invalid,
  ManualClock,
  OTHER_ACCOUNT,
  refusal,
  startTestKeyService,
  storedCounts,
  TEST_ACCOUNT,
  type TestKeyService,
} from "../test-support.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const CREATED_AT = new Date("2025-03-04T05:06:07.089Z");

describe("CreateKey", () => {
  let service: TestKeyService;
  before(async () => {
    service = await startTestKeyService({ clock: new ManualClock(CREATED_AT) });
  });
  after(() => service.close());

  test("creates an enabled symmetric customer key with defaults and returns its metadata", async () => {
    const { keyMetadata } = await service.keys.createKey({ description: "payments", tags: [{ tagKey: "team", tagValue: "pay" }] });
    const key = keyMetadata!;
    assert.match(key.keyId, UUID);
    assert.equal(key.krn, `krn:keyhold:kms:test-1:${TEST_ACCOUNT}:key/${key.keyId}`);
    assert.equal(key.accountId, TEST_ACCOUNT);
    assert.equal(key.description, "payments");
    assert.equal(key.keySpec, KeySpec.SYMMETRIC_DEFAULT);
    assert.equal(key.keyUsage, KeyUsage.ENCRYPT_DECRYPT);
    assert.equal(key.origin, Origin.SOFTWARE);
    assert.equal(key.keyManager, KeyManager.CUSTOMER);
    assert.equal(key.keyState, KeyState.ENABLED);
    assert.equal(key.enabled, true);
    assert.deepEqual(timestampDate(key.creationDate!), CREATED_AT);
    assert.match(key.primaryVersionId, UUID);
    assert.notEqual(key.primaryVersionId, key.keyId);
    assert.deepEqual(key.encryptionAlgorithms, [EncryptionAlgorithm.SYMMETRIC_DEFAULT]);
    assert.equal(key.deletionDate, undefined);

    const fetched = await service.keys.getKey({ keyId: key.keyId });
    assert.deepEqual(fetched.keyMetadata, key);
    const tags = await service.keys.listResourceTags({ keyId: key.keyId });
    assert.deepEqual(
      tags.tags.map((t) => [t.tagKey, t.tagValue]),
      [["team", "pay"]],
    );
    const encrypted = await service.crypto.encrypt({ keyId: key.keyId, plaintext: new Uint8Array([1, 2]) });
    assert.equal(encrypted.keyVersionId, key.primaryVersionId);
  });

  test("accepts the explicit values the defaults stand for", async () => {
    const { keyMetadata } = await service.keys.createKey({
      keySpec: KeySpec.SYMMETRIC_DEFAULT,
      keyUsage: KeyUsage.ENCRYPT_DECRYPT,
      origin: Origin.SOFTWARE,
    });
    assert.equal(keyMetadata!.keySpec, KeySpec.SYMMETRIC_DEFAULT);
    assert.equal(keyMetadata!.keyUsage, KeyUsage.ENCRYPT_DECRYPT);
    assert.equal(keyMetadata!.origin, Origin.SOFTWARE);
    assert.equal(keyMetadata!.description, "");
  });

  test("two requests without a token create two different keys with different material", async () => {
    const before = (await storedCounts(service)).keys;
    const a = (await service.keys.createKey({ description: "same" })).keyMetadata!;
    const b = (await service.keys.createKey({ description: "same" })).keyMetadata!;
    assert.notEqual(a.keyId, b.keyId);
    assert.notEqual(a.primaryVersionId, b.primaryVersionId);
    assert.equal((await storedCounts(service)).keys, before + 2);
    const blob = (await service.crypto.encrypt({ keyId: a.keyId, plaintext: new Uint8Array([7]) })).ciphertextBlob;
    assert.equal((await refusal(service.crypto.decrypt({ ciphertextBlob: blob, keyId: b.keyId }))).reason, "INVALID_CIPHERTEXT");
  });

  test("description: 8192 characters are accepted, 8193 refused", async () => {
    const longest = "d".repeat(8192);
    assert.equal((await service.keys.createKey({ description: longest })).keyMetadata!.description, longest);
    assert.deepEqual(await refusal(service.keys.createKey({ description: "d".repeat(8193) })), invalid("description"));
  });

  test("refuses key specs, usages and origins this server cannot create", async () => {
    assert.deepEqual(await refusal(service.keys.createKey({ keySpec: KeySpec.SM2 })), invalid("key_spec"));
    assert.deepEqual(await refusal(service.keys.createKey({ keySpec: KeySpec.SM4 })), invalid("key_spec"));
    assert.deepEqual(await refusal(service.keys.createKey({ keySpec: 99 as KeySpec })), invalid("key_spec"));
    assert.deepEqual(await refusal(service.keys.createKey({ keySpec: KeySpec.HMAC_256, keyUsage: KeyUsage.ENCRYPT_DECRYPT })), invalid("key_usage"));
    assert.deepEqual(await refusal(service.keys.createKey({ keyUsage: KeyUsage.SIGN_VERIFY })), invalid("key_usage"));
    assert.deepEqual(await refusal(service.keys.createKey({ keyUsage: KeyUsage.GENERATE_VERIFY_MAC })), invalid("key_usage"));
    // No HSM configured: refused as AWS KMS refuses a custom key store that is not connected (a state, not an input fault).
    assert.deepEqual(await refusal(service.keys.createKey({ origin: Origin.HSM })), { code: Code.FailedPrecondition, reason: "UNSUPPORTED_OPERATION", field: "origin" });
    // What the token cannot hold is an input fault, named before the HSM is looked at.
    assert.deepEqual(await refusal(service.keys.createKey({ origin: Origin.HSM, keySpec: KeySpec.HMAC_256 })), invalid("key_spec"));
    assert.deepEqual(await refusal(service.keys.createKey({ origin: Origin.HSM, keySpec: KeySpec.ED25519 })), invalid("key_spec"));
    assert.deepEqual(await refusal(service.keys.createKey({ origin: Origin.HSM, keySpec: KeySpec.RSA_2048 })), invalid("key_usage"));
    // EXTERNAL_KEY_STORE needs its store and external key (external-key-stores.test.ts covers it).
    assert.deepEqual(await refusal(service.keys.createKey({ origin: Origin.EXTERNAL_KEY_STORE })), invalid("external_key_store_id"));
    assert.deepEqual(await refusal(service.keys.createKey({ origin: Origin.EXTERNAL, keySpec: KeySpec.EC_P256 })), invalid("key_spec"));
  });

  test("refuses invalid tags naming the tag at fault", async () => {
    const tag = (tagKey: string, tagValue = "v") => ({ tagKey, tagValue });
    assert.deepEqual(await refusal(service.keys.createKey({ tags: [tag("")] })), invalid("tags[0].tag_key"));
    assert.deepEqual(await refusal(service.keys.createKey({ tags: [tag("ok"), tag("keyhold:owner")] })), invalid("tags[1].tag_key"));
    assert.deepEqual(await refusal(service.keys.createKey({ tags: [tag("KeyHold:owner")] })), invalid("tags[0].tag_key"));
    assert.deepEqual(await refusal(service.keys.createKey({ tags: [tag("k".repeat(129))] })), invalid("tags[0].tag_key"));
    assert.deepEqual(await refusal(service.keys.createKey({ tags: [tag("semi;colon")] })), invalid("tags[0].tag_key"));
    assert.deepEqual(await refusal(service.keys.createKey({ tags: [tag("a", "v".repeat(129))] })), invalid("tags[0].tag_value"));
    assert.deepEqual(await refusal(service.keys.createKey({ tags: [tag("a", "<script>")] })), invalid("tags[0].tag_value"));
    assert.deepEqual(await refusal(service.keys.createKey({ tags: [tag("a", "1"), tag("b"), tag("a", "2")] })), invalid("tags[2].tag_key"));
    const tooMany = Array.from({ length: 21 }, (_, i) => tag(`t${i}`));
    assert.deepEqual(await refusal(service.keys.createKey({ tags: tooMany })), invalid("tags"));
  });

  test("accepts 20 tags, an empty tag value and the allowed punctuation", async () => {
    const tags = Array.from({ length: 19 }, (_, i) => ({ tagKey: `t${String(i).padStart(2, "0")}`, tagValue: "" }));
    tags.push({ tagKey: "Kostenstelle _.:/=+-@ é", tagValue: "k".repeat(128) });
    const keyId = (await service.keys.createKey({ tags })).keyMetadata!.keyId;
    const stored = await service.keys.listResourceTags({ keyId });
    assert.equal(stored.tags.length, 20);
    assert.ok(stored.tags.some((t) => t.tagKey === "Kostenstelle _.:/=+-@ é" && t.tagValue === "k".repeat(128)));
  });

  test("refuses a malformed idempotency token; 64 characters of the allowed set are fine", async () => {
    assert.deepEqual(await refusal(service.keys.createKey({ idempotencyToken: "has space" })), invalid("idempotency_token"));
    assert.deepEqual(await refusal(service.keys.createKey({ idempotencyToken: "t".repeat(65) })), invalid("idempotency_token"));
    assert.deepEqual(await refusal(service.keys.createKey({ idempotencyToken: "ü" })), invalid("idempotency_token"));
    const ok = await service.keys.createKey({ idempotencyToken: `${"A".repeat(31)}_${"z".repeat(30)}-9` });
    assert.match(ok.keyMetadata!.keyId, UUID);
  });

  test("refused requests store nothing", async () => {
    const before = (await storedCounts(service));
    await refusal(service.keys.createKey({ keySpec: KeySpec.SM4, idempotencyToken: "refused-1" }));
    await refusal(service.keys.createKey({ tags: [{ tagKey: "keyhold:x", tagValue: "" }], idempotencyToken: "refused-2" }));
    await refusal(service.keys.createKey({ description: "d".repeat(8193) }));
    assert.deepEqual((await storedCounts(service)), before);
    // The tokens of refused requests were not consumed.
    const created = await service.keys.createKey({ description: "now valid", idempotencyToken: "refused-1" });
    assert.equal(created.keyMetadata!.description, "now valid");
  });

  describe("idempotency", () => {
    test("the same token and body return the same key and store one key", async () => {
      const request = { description: "idem", tags: [{ tagKey: "env", tagValue: "prod" }], idempotencyToken: "create-once" };
      const before = (await storedCounts(service)).keys;
      const first = (await service.keys.createKey(request)).keyMetadata!;
      const second = (await service.keys.createKey(request)).keyMetadata!;
      assert.deepEqual(second, first);
      assert.equal((await storedCounts(service)).keys, before + 1);
      const tags = await service.keys.listResourceTags({ keyId: first.keyId });
      assert.deepEqual(
        tags.tags.map((t) => [t.tagKey, t.tagValue]),
        [["env", "prod"]],
      );
    });

    test("the same token with another body is ALREADY_EXISTS IDEMPOTENCY_CONFLICT and stores nothing", async () => {
      const first = (await service.keys.createKey({ description: "one", idempotencyToken: "conflict" })).keyMetadata!;
      const before = (await storedCounts(service)).keys;
      assert.deepEqual(await refusal(service.keys.createKey({ description: "two", idempotencyToken: "conflict" })), {
        code: Code.AlreadyExists,
        reason: "IDEMPOTENCY_CONFLICT",
        field: "idempotency_token",
      });
      assert.deepEqual(await refusal(service.keys.createKey({ description: "one", tags: [{ tagKey: "a", tagValue: "" }], idempotencyToken: "conflict" })), {
        code: Code.AlreadyExists,
        reason: "IDEMPOTENCY_CONFLICT",
        field: "idempotency_token",
      });
      assert.equal((await storedCounts(service)).keys, before);
      const unchanged = await service.keys.getKey({ keyId: first.keyId });
      assert.equal(unchanged.keyMetadata!.description, "one");
      // The original body still replays.
      assert.equal((await service.keys.createKey({ description: "one", idempotencyToken: "conflict" })).keyMetadata!.keyId, first.keyId);
    });

    test("concurrent requests with the same token and body all get the one key", async () => {
      const request = { description: "racing", idempotencyToken: "race" };
      const before = (await storedCounts(service)).keys;
      const results = await Promise.all(Array.from({ length: 5 }, () => service.keys.createKey(request)));
      const ids = new Set(results.map((r) => r.keyMetadata!.keyId));
      assert.equal(ids.size, 1);
      assert.equal((await storedCounts(service)).keys, before + 1);
      const [keyId] = ids;
      const blob = (await service.crypto.encrypt({ keyId: keyId!, plaintext: new Uint8Array([1]) })).ciphertextBlob;
      assert.deepEqual((await service.crypto.decrypt({ ciphertextBlob: blob })).plaintext, new Uint8Array([1]));
    });

    test("tokens are per account: the same token in another account creates that account's own key", async () => {
      const request = { description: "shared token", idempotencyToken: "per-account" };
      const mine = (await service.keys.createKey(request)).keyMetadata!;
      const otherBefore = (await storedCounts(service, OTHER_ACCOUNT)).keys;
      const theirs = (await service.as(OTHER_ACCOUNT).keys.createKey(request)).keyMetadata!;
      assert.notEqual(theirs.keyId, mine.keyId);
      assert.equal(theirs.accountId, OTHER_ACCOUNT);
      assert.equal((await storedCounts(service, OTHER_ACCOUNT)).keys, otherBefore + 1);
    });
  });

  test("keys created by one account are invisible to another", async () => {
    const keyId = (await service.keys.createKey({})).keyMetadata!.keyId;
    const listed = await service.as(OTHER_ACCOUNT).keys.listKeys({});
    assert.ok(!listed.keys.some((k) => k.keyId === keyId));
  });
});
