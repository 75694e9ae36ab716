import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { checkpointFromProto, checkpointSignatureProblem, parsePublicKey } from "../domain/checkpoint.ts";
import { rootOfLeafHashes } from "../domain/merkle.ts";
import { CheckpointRegressionError } from "../store/audit-store.ts";
import { ACCOUNT, batch, MANAGEMENT_ACCOUNT, SOURCE, startTestAuditService } from "../test-support.ts";

describe("GetCheckpoint", () => {
  test("the first call signs one; fresh signs the grown log; the signature verifies with the returned key", async () => {
    const service = await startTestAuditService();
    try {
      const client = service.as(ACCOUNT);
      const empty = await client.getCheckpoint({});
      assert.equal(empty.checkpoint?.treeSize, 0n);
      await service.ingest.appendEvents({ source: SOURCE, events: batch(1, 9) });
      assert.equal((await client.getCheckpoint({})).checkpoint?.treeSize, 0n, "not fresh: the latest published one");
      service.clock.advance(1500);
      const fresh = await client.getCheckpoint({ fresh: true });
      const checkpoint = checkpointFromProto(fresh.checkpoint!);
      assert.equal(checkpoint.treeSize, 9);
      assert.equal(checkpoint.timeSeconds, BigInt(Math.floor(service.clock.now().getTime() / 1000)));
      const leaves = await service.app.context.store.leafHashes(0, 9);
      assert.deepEqual(checkpoint.rootHash, rootOfLeafHashes(leaves));
      assert.deepEqual(checkpoint.chainHash, (await service.app.context.store.record(8))!.chainHash);
      const publicKey = parsePublicKey(fresh.publicKeyPem)!;
      assert.equal(checkpointSignatureProblem(checkpoint, publicKey), undefined);
      // Unchanged log: the same checkpoint, not a new signature.
      const again = await client.getCheckpoint({ fresh: true });
      assert.deepEqual(again.checkpoint?.signature, fresh.checkpoint?.signature);
    } finally {
      await service.close();
    }
  });

  test("concurrent fresh requests sign once per size, and sizes only grow", async () => {
    const service = await startTestAuditService();
    try {
      await service.ingest.appendEvents({ source: SOURCE, events: batch(1, 5) });
      const answers = await Promise.all(Array.from({ length: 5 }, () => service.as(ACCOUNT).getCheckpoint({ fresh: true })));
      assert.ok(answers.every((a) => a.checkpoint?.treeSize === 5n));
      assert.equal((await service.app.context.store.checkpointsBetween(0, 100)).length, 1);
    } finally {
      await service.close();
    }
  });

  test("checkpoint size never goes backwards, across a restart too", async () => {
    let service = await startTestAuditService();
    try {
      await service.ingest.appendEvents({ source: SOURCE, events: batch(1, 20) });
      const signed = await service.as(MANAGEMENT_ACCOUNT).getCheckpoint({ fresh: true });
      assert.equal(signed.checkpoint?.treeSize, 20n);
      service = await service.restart();
      const afterRestart = await service.as(MANAGEMENT_ACCOUNT).getCheckpoint({});
      assert.equal(afterRestart.checkpoint?.treeSize, 20n);
      assert.deepEqual(afterRestart.checkpoint?.rootHash, signed.checkpoint?.rootHash);
      // The store refuses to keep a smaller or equal checkpoint, whoever asks.
      const latest = (await service.app.context.store.latestCheckpoint())!;
      await assert.rejects(service.app.context.store.putCheckpoint({ ...latest, treeSize: 19 }), CheckpointRegressionError);
      await assert.rejects(service.app.context.store.putCheckpoint(latest), CheckpointRegressionError);
      await service.ingest.appendEvents({ source: SOURCE, events: batch(21, 25) });
      assert.equal((await service.as(MANAGEMENT_ACCOUNT).getCheckpoint({ fresh: true })).checkpoint?.treeSize, 25n);
      // Closing signs what arrived since: the next start begins at 30.
      await service.ingest.appendEvents({ source: SOURCE, events: batch(26, 30) });
      service = await service.restart();
      assert.equal((await service.as(MANAGEMENT_ACCOUNT).getCheckpoint({})).checkpoint?.treeSize, 30n);
      assert.equal((await service.as(MANAGEMENT_ACCOUNT).verifyLog({})).ok, true);
    } finally {
      await service.close();
    }
  });

  test("periodic checkpoints are signed only when the log grew", async () => {
    const service = await startTestAuditService({ env: { KEYHOLD_AUDIT_CHECKPOINT_INTERVAL_SECONDS: "1" } });
    try {
      await service.ingest.appendEvents({ source: SOURCE, events: batch(1, 3) });
      const deadline = Date.now() + 5000;
      while ((await service.app.context.store.latestCheckpoint()) === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal((await service.app.context.store.latestCheckpoint())?.treeSize, 3);
      await new Promise((r) => setTimeout(r, 1200));
      assert.equal((await service.app.context.store.checkpointsBetween(0, 100)).length, 1, "no new checkpoint for an unchanged log");
    } finally {
      await service.close();
    }
  });
});
