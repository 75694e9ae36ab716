// Deletion windows, restore, forced delete and the purge when the window ends (injected clock,
// scheduler ticked by hand).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { invalid, refusal, startTestSecretsService, START, type TestSecretsService } from "../test-support.ts";

const DAY = 86_400_000;

describe("DeleteSecret and RestoreSecret", () => {
  let t: TestSecretsService;
  before(async () => {
    t = await startTestSecretsService();
  });
  after(async () => {
    await t.close();
  });

  test("a recovery window hides the value until restored; the default window is 30 days", async () => {
    const { secrets } = t.admin;
    await secrets.createSecret({ name: "windowed", secretString: "keep me" });
    const deleted = await secrets.deleteSecret({ secretId: "windowed", recoveryWindowInDays: 7 });
    assert.equal(timestampDate(deleted.deletionDate!).getTime(), t.clock.now().getTime() + 7 * DAY);
    assert.deepEqual(await refusal(secrets.getSecretValue({ secretId: "windowed" })), {
      code: Code.FailedPrecondition,
      reason: "SECRET_PENDING_DELETION",
      field: "secret_id",
    });
    assert.equal((await secrets.describeSecret({ secretId: "windowed" })).metadata!.deletionDate !== undefined, true);
    assert.deepEqual((await secrets.listSecrets({ namePrefix: "windowed" })).secrets, [], "hidden from lists");
    assert.equal((await secrets.listSecrets({ namePrefix: "windowed", includePlannedDeletion: true })).secrets.length, 1);
    await secrets.restoreSecret({ secretId: "windowed" });
    assert.equal((await secrets.getSecretValue({ secretId: "windowed" })).secretString, "keep me");
    const again = await secrets.deleteSecret({ secretId: "windowed" });
    assert.equal(timestampDate(again.deletionDate!).getTime(), t.clock.now().getTime() + 30 * DAY);
  });

  test("the scheduler purges when the window ends, and the name is free again", async () => {
    const { secrets } = t.admin;
    await secrets.createSecret({ name: "purged", secretString: "old" });
    await secrets.deleteSecret({ secretId: "purged", recoveryWindowInDays: 7 });
    t.clock.advance(7 * DAY - 1);
    await t.app.scheduler.tick();
    assert.ok((await secrets.describeSecret({ secretId: "purged" })).metadata, "still there one millisecond before");
    t.clock.advance(1);
    const result = await t.app.scheduler.tick();
    assert.ok(result.purged >= 1);
    assert.equal((await refusal(secrets.describeSecret({ secretId: "purged" }))).reason, "SECRET_NOT_FOUND");
    await secrets.createSecret({ name: "purged", secretString: "new" });
    assert.equal((await secrets.getSecretValue({ secretId: "purged" })).secretString, "new");
    assert.ok(t.clock.now().getTime() > START.getTime());
  });

  test("forced delete removes at once; bad windows are refused", async () => {
    const { secrets } = t.admin;
    await secrets.createSecret({ name: "forced", secretString: "x" });
    assert.deepEqual(await refusal(secrets.deleteSecret({ secretId: "forced", recoveryWindowInDays: 6 })), invalid("recovery_window_in_days"));
    assert.deepEqual(await refusal(secrets.deleteSecret({ secretId: "forced", recoveryWindowInDays: 31 })), invalid("recovery_window_in_days"));
    assert.deepEqual(
      await refusal(secrets.deleteSecret({ secretId: "forced", recoveryWindowInDays: 7, forceDeleteWithoutRecovery: true })),
      invalid("recovery_window_in_days"),
    );
    await secrets.deleteSecret({ secretId: "forced", forceDeleteWithoutRecovery: true });
    assert.equal((await refusal(secrets.getSecretValue({ secretId: "forced" }))).reason, "SECRET_NOT_FOUND");
    assert.equal((await refusal(secrets.restoreSecret({ secretId: "forced" }))).reason, "SECRET_NOT_FOUND");
  });
});
