import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { KeyVersionSource } from "@keyhold/proto";
import { DAY_MS } from "../domain/rotation.ts";
import { invalid, ManualClock, refusal, startTestKeyService, type TestKeyService } from "../test-support.ts";

const T0 = new Date("2026-01-01T00:00:00.000Z");

describe("UpdateRotationPolicy, GetRotationPolicy and the rotation scheduler", () => {
  let service: TestKeyService;
  let clock: ManualClock;
  before(async () => {
    clock = new ManualClock(T0);
    service = await startTestKeyService({ clock });
  });
  after(() => service.close());

  const versionsOf = async (keyId: string) => (await service.keys.listKeyVersions({ keyId })).keyVersions;

  test("off by default; on with the default period of 365 days; off again", async () => {
    const keyId = (await service.keys.createKey({})).keyMetadata!.keyId;
    const initial = (await service.keys.getRotationPolicy({ keyId })).rotationPolicy!;
    assert.equal(initial.enabled, false);
    assert.equal(initial.nextRotationDate, undefined);
    const on = (await service.keys.updateRotationPolicy({ keyId, enabled: true })).rotationPolicy!;
    assert.equal(on.enabled, true);
    assert.equal(on.rotationPeriodInDays, 365);
    assert.equal(timestampDate(on.nextRotationDate!).getTime(), clock.now().getTime() + 365 * DAY_MS);
    assert.deepEqual((await service.keys.getRotationPolicy({ keyId })).rotationPolicy, on);
    const off = (await service.keys.updateRotationPolicy({ keyId, enabled: false })).rotationPolicy!;
    assert.equal(off.enabled, false);
    assert.equal(off.nextRotationDate, undefined);
  });

  test("the period is 7 to 2560 days, and only with enabled", async () => {
    const keyId = (await service.keys.createKey({})).keyMetadata!.keyId;
    for (const days of [6, 2561, -1, 2147483647]) {
      assert.deepEqual(await refusal(service.keys.updateRotationPolicy({ keyId, enabled: true, rotationPeriodInDays: days })), invalid("rotation_period_in_days"), `${days}`);
    }
    assert.deepEqual(await refusal(service.keys.updateRotationPolicy({ keyId, enabled: false, rotationPeriodInDays: 30 })), invalid("rotation_period_in_days"));
    for (const days of [7, 2560]) {
      assert.equal((await service.keys.updateRotationPolicy({ keyId, enabled: true, rotationPeriodInDays: days })).rotationPolicy!.rotationPeriodInDays, days);
    }
  });

  test("the scheduler rotates what is due, once per period, and leaves the rest", async () => {
    clock.set(T0);
    const due = (await service.keys.createKey({})).keyMetadata!.keyId;
    const later = (await service.keys.createKey({})).keyMetadata!.keyId;
    const never = (await service.keys.createKey({})).keyMetadata!.keyId;
    await service.keys.updateRotationPolicy({ keyId: due, enabled: true, rotationPeriodInDays: 7 });
    await service.keys.updateRotationPolicy({ keyId: later, enabled: true, rotationPeriodInDays: 30 });
    clock.advance(7 * DAY_MS - 1);
    await service.app.jobs.runOnce();
    assert.equal((await versionsOf(due)).length, 1, "not yet due");
    clock.advance(1);
    const [a, b] = await Promise.all([service.app.jobs.runOnce(), service.app.jobs.runOnce()]);
    assert.equal(a, b, "overlapping runs are one run");
    await service.app.jobs.runOnce();
    const versions = await versionsOf(due);
    assert.equal(versions.length, 2, "rotated exactly once for the period");
    assert.equal(versions[1]!.source, KeyVersionSource.AUTOMATIC_ROTATION);
    assert.equal(versions[1]!.primary, true);
    const policy = (await service.keys.getRotationPolicy({ keyId: due })).rotationPolicy!;
    assert.equal(timestampDate(policy.nextRotationDate!).getTime(), T0.getTime() + 14 * DAY_MS);
    assert.equal((await versionsOf(later)).length, 1);
    assert.equal((await versionsOf(never)).length, 1);
    // A service that was down for many periods rotates once, and schedules from now.
    clock.advance(100 * DAY_MS);
    await service.app.jobs.runOnce();
    await service.app.jobs.runOnce();
    assert.equal((await versionsOf(due)).length, 3);
    assert.equal((await versionsOf(later)).length, 2);
    const after = (await service.keys.getRotationPolicy({ keyId: due })).rotationPolicy!;
    assert.equal(timestampDate(after.nextRotationDate!).getTime(), clock.now().getTime() + 7 * DAY_MS);
  });

  test("a disabled key is not rotated; enabled again after its date, it rotates at the next run", async () => {
    clock.set(T0);
    const keyId = (await service.keys.createKey({})).keyMetadata!.keyId;
    await service.keys.updateRotationPolicy({ keyId, enabled: true, rotationPeriodInDays: 7 });
    await service.keys.disableKey({ keyId });
    clock.advance(8 * DAY_MS);
    await service.app.jobs.runOnce();
    assert.equal((await versionsOf(keyId)).length, 1);
    await service.keys.enableKey({ keyId });
    await service.app.jobs.runOnce();
    assert.equal((await versionsOf(keyId)).length, 2);
  });

  test("a key pending deletion refuses policy changes", async () => {
    const keyId = (await service.keys.createKey({})).keyMetadata!.keyId;
    await service.keys.scheduleKeyDeletion({ keyId });
    assert.deepEqual(await refusal(service.keys.updateRotationPolicy({ keyId, enabled: true })), {
      code: Code.FailedPrecondition,
      reason: "KEY_PENDING_DELETION",
      field: "key_id",
    });
  });
});

describe("the rotation schedule survives a restart", () => {
  test("a policy set before a restart rotates after it, once", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "keyhold-rotation-restart-"));
    try {
      const clock = new ManualClock(T0);
      const first = await startTestKeyService({ clock }, { dataDir });
      const keyId = (await first.keys.createKey({})).keyMetadata!.keyId;
      const sealed = await first.crypto.encrypt({ keyId, plaintext: new Uint8Array([1, 2, 3]) });
      await first.keys.updateRotationPolicy({ keyId, enabled: true, rotationPeriodInDays: 10 });
      await first.close();

      clock.advance(10 * DAY_MS);
      const second = await startTestKeyService({ clock }, { dataDir });
      try {
        assert.deepEqual(await second.app.jobs.runOnce(), { rotated: 1, deleted: 0, expired: 0, sealed: false });
        assert.deepEqual(await second.app.jobs.runOnce(), { rotated: 0, deleted: 0, expired: 0, sealed: false });
        const versions = (await second.keys.listKeyVersions({ keyId })).keyVersions;
        assert.equal(versions.length, 2);
        assert.deepEqual((await second.crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob })).plaintext, new Uint8Array([1, 2, 3]));
        assert.equal((await second.crypto.encrypt({ keyId, plaintext: new Uint8Array([4]) })).keyVersionId, versions[1]!.keyVersionId);
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test("started jobs run at startup by themselves: a deletion due while the service was down happens", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "keyhold-jobs-timer-"));
    try {
      const clock = new ManualClock(T0);
      const first = await startTestKeyService({ clock }, { dataDir });
      const keyId = (await first.keys.createKey({})).keyMetadata!.keyId;
      await first.keys.scheduleKeyDeletion({ keyId, pendingWindowInDays: 7 });
      await first.close();
      clock.advance(7 * DAY_MS);
      const second = await startTestKeyService({ clock, startJobs: true }, { dataDir });
      try {
        const deadline = Date.now() + 5000;
        const gone = () => second.keys.getKey({ keyId }).then(
          () => false,
          (error: unknown) => ConnectError.from(error).code === Code.NotFound,
        );
        while (!(await gone())) {
          assert.ok(Date.now() < deadline, "the key was not deleted by the started jobs");
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
