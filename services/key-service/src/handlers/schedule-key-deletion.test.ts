import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { KeyState } from "@keyhold/proto";
import { DAY_MS } from "../domain/rotation.ts";
import { invalid, ManualClock, OTHER_ACCOUNT, refusal, startTestKeyService, type Refusal, type TestKeyService } from "../test-support.ts";

const T0 = new Date("2026-05-01T12:00:00.000Z");
const pending: Refusal = { code: Code.FailedPrecondition, reason: "KEY_PENDING_DELETION", field: "key_id" };

describe("ScheduleKeyDeletion, CancelKeyDeletion, UpdateDeletionProtection and the purge", () => {
  let service: TestKeyService;
  let clock: ManualClock;
  before(async () => {
    clock = new ManualClock(T0);
    service = await startTestKeyService({ clock });
  });
  after(() => service.close());

  const newKey = async () => (await service.keys.createKey({})).keyMetadata!;

  test("schedules with the default window of 30 days, or 7-30 days", async () => {
    const key = await newKey();
    const scheduled = (await service.keys.scheduleKeyDeletion({ keyId: key.keyId })).keyMetadata!;
    assert.equal(scheduled.keyState, KeyState.PENDING_DELETION);
    assert.equal(scheduled.enabled, false);
    assert.equal(timestampDate(scheduled.deletionDate!).getTime(), clock.now().getTime() + 30 * DAY_MS);
    for (const days of [7, 30]) {
      const other = await newKey();
      const m = (await service.keys.scheduleKeyDeletion({ keyId: other.keyId, pendingWindowInDays: days })).keyMetadata!;
      assert.equal(timestampDate(m.deletionDate!).getTime(), clock.now().getTime() + days * DAY_MS);
    }
    const fresh = await newKey();
    for (const days of [6, 31, -7]) {
      assert.deepEqual(await refusal(service.keys.scheduleKeyDeletion({ keyId: fresh.keyId, pendingWindowInDays: days })), invalid("pending_window_in_days"));
    }
    assert.equal((await service.keys.getKey({ keyId: fresh.keyId })).keyMetadata!.keyState, KeyState.ENABLED);
  });

  test("a key pending deletion refuses every use and change, and scheduling again", async () => {
    const key = await newKey();
    const sealed = await service.crypto.encrypt({ keyId: key.keyId, plaintext: new Uint8Array([7]) });
    await service.keys.scheduleKeyDeletion({ keyId: key.keyId });
    const keyId = key.keyId;
    assert.deepEqual(await refusal(service.crypto.encrypt({ keyId, plaintext: new Uint8Array([1]) })), pending);
    assert.deepEqual(await refusal(service.crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob })), pending);
    assert.deepEqual(await refusal(service.crypto.generateDataKey({ keyId })), pending);
    assert.deepEqual(await refusal(service.crypto.generateDataKeyWithoutPlaintext({ keyId })), pending);
    assert.deepEqual(await refusal(service.crypto.reEncrypt({ ciphertextBlob: sealed.ciphertextBlob, destinationKeyId: (await newKey()).keyId })), { ...pending, field: "source_key_id" });
    assert.deepEqual(await refusal(service.keys.enableKey({ keyId })), pending);
    assert.deepEqual(await refusal(service.keys.disableKey({ keyId })), pending);
    assert.deepEqual(await refusal(service.keys.rotateKey({ keyId })), pending);
    assert.deepEqual(await refusal(service.keys.scheduleKeyDeletion({ keyId })), pending);
    assert.deepEqual(await refusal(service.keys.updateDeletionProtection({ keyId, enabled: true })), pending);
    // Describing, listing and cancelling still work.
    assert.equal((await service.keys.getKey({ keyId })).keyMetadata!.keyState, KeyState.PENDING_DELETION);
    assert.equal((await service.keys.listKeyVersions({ keyId })).keyVersions.length, 1);
  });

  test("cancelling returns the key Disabled, with no deletion date; it decrypts again once enabled", async () => {
    const key = await newKey();
    const sealed = await service.crypto.encrypt({ keyId: key.keyId, plaintext: new Uint8Array([9]) });
    await service.keys.scheduleKeyDeletion({ keyId: key.keyId });
    const cancelled = (await service.keys.cancelKeyDeletion({ keyId: key.keyId })).keyMetadata!;
    assert.equal(cancelled.keyState, KeyState.DISABLED);
    assert.equal(cancelled.deletionDate, undefined);
    assert.equal((await refusal(service.crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob }))).reason, "KEY_DISABLED");
    await service.keys.enableKey({ keyId: key.keyId });
    assert.deepEqual((await service.crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob })).plaintext, new Uint8Array([9]));
    // Nothing to cancel now.
    assert.deepEqual(await refusal(service.keys.cancelKeyDeletion({ keyId: key.keyId })), { code: Code.FailedPrecondition, reason: "KEY_INVALID_STATE", field: "key_id" });
    // A disabled key can be scheduled too, and cancelled back to Disabled.
    await service.keys.disableKey({ keyId: key.keyId });
    await service.keys.scheduleKeyDeletion({ keyId: key.keyId, pendingWindowInDays: 7 });
    assert.equal((await service.keys.cancelKeyDeletion({ keyId: key.keyId })).keyMetadata!.keyState, KeyState.DISABLED);
  });

  test("deletion protection blocks scheduling until it is turned off", async () => {
    const key = await newKey();
    const protectedKey = (await service.keys.updateDeletionProtection({ keyId: key.keyId, enabled: true })).keyMetadata!;
    assert.equal(protectedKey.deletionProtection, true);
    assert.deepEqual(await refusal(service.keys.scheduleKeyDeletion({ keyId: key.keyId })), { code: Code.FailedPrecondition, reason: "DELETION_PROTECTED", field: "key_id" });
    assert.equal((await service.keys.getKey({ keyId: key.keyId })).keyMetadata!.keyState, KeyState.ENABLED);
    assert.equal((await service.keys.updateDeletionProtection({ keyId: key.keyId, enabled: false })).keyMetadata!.deletionProtection, false);
    assert.equal((await service.keys.scheduleKeyDeletion({ keyId: key.keyId })).keyMetadata!.keyState, KeyState.PENDING_DELETION);
    // Turning protection off on a key pending deletion is allowed (and changes nothing else).
    assert.equal((await service.keys.updateDeletionProtection({ keyId: key.keyId, enabled: false })).keyMetadata!.keyState, KeyState.PENDING_DELETION);
  });

  test("when the window ends the purge destroys the key: it reads as deleted and its ciphertexts never decrypt", async () => {
    clock.set(T0);
    const key = await newKey();
    const kept = await newKey();
    await service.keys.createAlias({ aliasName: "alias/doomed", targetKeyId: key.keyId });
    await service.keys.tagResource({ keyId: key.keyId, tags: [{ tagKey: "t", tagValue: "v" }] });
    const sealed = await service.crypto.encrypt({ keyId: key.keyId, plaintext: new Uint8Array([5]) });
    clock.advance(1000);
    const rotated = (await service.keys.rotateKey({ keyId: key.keyId })).keyVersion!.keyVersionId;
    const sealed2 = await service.crypto.encrypt({ keyId: key.keyId, plaintext: new Uint8Array([6]) });
    await service.keys.scheduleKeyDeletion({ keyId: key.keyId, pendingWindowInDays: 7 });
    clock.advance(7 * DAY_MS - 1);
    await service.app.jobs.runOnce(); // (other tests' keys may be due)
    assert.equal((await service.keys.getKey({ keyId: key.keyId })).keyMetadata!.keyState, KeyState.PENDING_DELETION);
    clock.advance(1);
    assert.ok((await service.app.jobs.runOnce()).deleted >= 1);
    assert.deepEqual(await refusal(service.keys.getKey({ keyId: key.keyId })), { code: Code.NotFound, reason: "KEY_NOT_FOUND", field: "key_id" });
    assert.deepEqual(await refusal(service.keys.cancelKeyDeletion({ keyId: key.keyId })), { code: Code.NotFound, reason: "KEY_NOT_FOUND", field: "key_id" });
    assert.deepEqual(await refusal(service.keys.getKey({ keyId: "alias/doomed" })), { code: Code.NotFound, reason: "ALIAS_NOT_FOUND", field: "key_id" });
    for (const blob of [sealed.ciphertextBlob, sealed2.ciphertextBlob]) {
      assert.deepEqual(await refusal(service.crypto.decrypt({ ciphertextBlob: blob })), { code: Code.InvalidArgument, reason: "INVALID_CIPHERTEXT", field: "ciphertext_blob" });
    }
    const store = service.app.context.store;
    assert.equal((await store.getVersion(key.primaryVersionId)), undefined);
    assert.equal((await store.getVersion(rotated)), undefined);
    const listed = (await service.keys.listKeys({ pageSize: 1000 })).keys.map((k) => k.keyId);
    assert.ok(!listed.includes(key.keyId));
    assert.ok(listed.includes(kept.keyId));
    assert.equal((await service.keys.getKey({ keyId: kept.keyId })).keyMetadata!.keyState, KeyState.ENABLED);
    assert.deepEqual(await service.app.jobs.runOnce(), { rotated: 0, deleted: 0, expired: 0, sealed: false });
  });

  test("a cancelled deletion is not purged when its old date passes", async () => {
    clock.set(T0);
    const key = await newKey();
    await service.keys.scheduleKeyDeletion({ keyId: key.keyId, pendingWindowInDays: 7 });
    await service.keys.cancelKeyDeletion({ keyId: key.keyId });
    clock.advance(8 * DAY_MS);
    await service.app.jobs.runOnce();
    assert.equal((await service.keys.getKey({ keyId: key.keyId })).keyMetadata!.keyState, KeyState.DISABLED);
  });

  test("another account cannot schedule, cancel or protect", async () => {
    const key = await newKey();
    const them = service.as(OTHER_ACCOUNT);
    const missing = { code: Code.NotFound, reason: "KEY_NOT_FOUND", field: "key_id" };
    assert.deepEqual(await refusal(them.keys.scheduleKeyDeletion({ keyId: key.krn })), missing);
    assert.deepEqual(await refusal(them.keys.cancelKeyDeletion({ keyId: key.krn })), missing);
    assert.deepEqual(await refusal(them.keys.updateDeletionProtection({ keyId: key.krn, enabled: true })), missing);
    assert.deepEqual(await refusal(service.keys.scheduleKeyDeletion({ keyId: "" })), invalid("key_id"));
  });
});
