// The background jobs while key-service is sealed: they skip quietly (no error line per tick,
// nothing rotated or deleted) and do the due work on the first run after unsealing.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createJsonLogger } from "@keyhold/server-kit";
import { ManualClock, startTestKeyService, type TestKeyService } from "../test-support.ts";
import { KeyJobs } from "./key-jobs.ts";
import { DAY_MS } from "./rotation.ts";
import { initializeSeal, SealedRootKeyProvider, writeSealFile } from "./sealed-root-key.ts";

describe("key jobs while sealed", () => {
  const T0 = new Date("2030-01-01T00:00:00Z");
  const clock = new ManualClock(T0);
  const lines: string[] = [];
  let dir: string;
  let shares: readonly string[];
  let service: TestKeyService;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "keyhold-jobs-sealed-"));
    const file = join(dir, "seal.json");
    const seal = initializeSeal(3, 2);
    shares = seal.shares;
    await writeSealFile(file, seal.contents);
    const logger = createJsonLogger({ level: "debug", write: (line) => lines.push(line) });
    service = await startTestKeyService({ clock, rootKey: await SealedRootKeyProvider.open(file, logger) }, { logger });
  });
  after(async () => {
    await service.close();
    await rm(dir, { recursive: true, force: true });
  });

  test("skip quietly while sealed, on every tick; rotate and delete what is due once unsealed", async () => {
    const seal = service.app.context.seal;
    for (const share of shares.slice(0, 2)) seal.submitShare(share);
    const rotating = (await service.keys.createKey({})).keyMetadata!.keyId;
    await service.keys.updateRotationPolicy({ keyId: rotating, enabled: true, rotationPeriodInDays: 7 });
    const deleting = (await service.keys.createKey({})).keyMetadata!.keyId;
    await service.keys.scheduleKeyDeletion({ keyId: deleting, pendingWindowInDays: 7 });
    seal.seal();
    clock.advance(8 * DAY_MS);

    assert.deepEqual(await service.app.jobs.runOnce(), { rotated: 0, deleted: 0, expired: 0, sealed: true });
    // The timer path, ticking every 5 ms for a while: not one warning or error.
    lines.length = 0;
    const jobs = new KeyJobs(service.app.context, 5);
    jobs.start();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await jobs.stop();
    const noisy = lines.filter((line) => /"level":"(warn|error)"/.test(line));
    assert.deepEqual(noisy, [], "no warnings or errors while sealed");
    assert.equal((await service.keys.listKeyVersions({ keyId: rotating })).keyVersions.length, 1, "not rotated while sealed");
    assert.ok((await service.app.context.store.getKey("111122223333", deleting)) !== undefined, "not deleted while sealed");

    for (const share of shares.slice(1, 3)) seal.submitShare(share);
    assert.deepEqual(await service.app.jobs.runOnce(), { rotated: 1, deleted: 1, expired: 0, sealed: false });
    assert.equal((await service.keys.listKeyVersions({ keyId: rotating })).keyVersions.length, 2);
    assert.equal((await service.app.context.store.getKey("111122223333", deleting)), undefined);
  });
});
