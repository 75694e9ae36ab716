// Retention: records older than the retention period are pruned up to a checkpoint, which stays
// (with its chain hash and Merkle frontier) so the retained log verifies and exports from there.
import assert from "node:assert/strict";
import { test } from "node:test";
import { exportText, batch, MANAGEMENT_ACCOUNT, ManualClock, SOURCE, startTestAuditService, invalid, refusal } from "../test-support.ts";
import { verifyExport } from "./export.ts";

const DAY = 86_400_000;

test("pruning keeps the log verifiable from the retained checkpoint onward", async () => {
  const clock = new ManualClock();
  let service = await startTestAuditService({ clock, env: { KEYHOLD_AUDIT_RETENTION_DAYS: "30" } });
  try {
    const client = () => service.as(MANAGEMENT_ACCOUNT);
    await service.ingest.appendEvents({ source: SOURCE, events: batch(1, 10, {}, clock) });
    await client().getCheckpoint({ fresh: true }); // size 10, day 0
    clock.advance(10 * DAY);
    await service.ingest.appendEvents({ source: SOURCE, events: batch(11, 17, {}, clock) });
    await client().getCheckpoint({ fresh: true }); // size 17, day 10
    clock.advance(25 * DAY);
    await service.ingest.appendEvents({ source: SOURCE, events: batch(18, 20, {}, clock) });
    await client().getCheckpoint({ fresh: true }); // size 20, day 35

    // Day 35: only the checkpoint at 10 (day 0) is older than 30 days.
    assert.equal(await service.app.context.log.prune(), 10);
    const store = service.app.context.store;
    assert.equal(await store.retainedStart(), 10);
    assert.equal(await store.record(9), undefined);
    assert.equal((await store.checkpointsBetween(0, 100)).map((c) => c.treeSize).join(","), "10,17,20");
    assert.equal((await client().lookupEvents({ pageSize: 1000 })).events.length, 10);

    const verified = await client().verifyLog({});
    assert.deepEqual([verified.ok, verified.verifiedRecords, verified.problem], [true, 10n, ""]);
    assert.deepEqual(await refusal(client().verifyLog({ fromIndex: 5n })), invalid("from_index"));

    const text = await exportText(client().exportEvents({}));
    assert.equal(JSON.parse(text.split("\n")[0]!).start_index, 10);
    const offline = verifyExport(text, service.app.context.log.publicKey);
    assert.deepEqual([offline.ok, offline.records, offline.checkpointSize], [true, 10, 20]);

    // Appending, signing and verifying go on after a restart.
    service = await service.restart();
    await service.ingest.appendEvents({ source: SOURCE, events: batch(21, 22, {}, clock) });
    assert.equal((await service.as(MANAGEMENT_ACCOUNT).getCheckpoint({ fresh: true })).checkpoint?.treeSize, 22n);
    assert.equal((await service.as(MANAGEMENT_ACCOUNT).verifyLog({})).ok, true);

    // Day 70: everything up to the checkpoint at 22 (day 35) goes: the retained log is empty,
    // and still starts from a signed state that the next records chain onto.
    clock.advance(35 * DAY);
    assert.equal(await service.app.context.log.prune(), 12);
    assert.equal(await service.app.context.store.retainedStart(), 22);
    assert.equal((await service.app.context.store.head()).size, 22);
    await service.ingest.appendEvents({ source: SOURCE, events: batch(23, 24, {}, clock) });
    assert.equal((await service.as(MANAGEMENT_ACCOUNT).getCheckpoint({ fresh: true })).checkpoint?.treeSize, 24n);
    const after = await service.as(MANAGEMENT_ACCOUNT).verifyLog({});
    assert.deepEqual([after.ok, after.verifiedRecords], [true, 2n]);
  } finally {
    await service.close();
  }
});

test("with no retention configured nothing is pruned", async () => {
  const clock = new ManualClock();
  const service = await startTestAuditService({ clock });
  try {
    await service.ingest.appendEvents({ source: SOURCE, events: batch(1, 5, {}, clock) });
    await service.as(MANAGEMENT_ACCOUNT).getCheckpoint({ fresh: true });
    clock.advance(10_000 * DAY);
    assert.equal(await service.app.context.log.prune(), 0);
    assert.equal(await service.app.context.store.retainedStart(), 0);
  } finally {
    await service.close();
  }
});
