// LocalLogWriter with another writer on the same store (two connections to one SQLite file, as
// two replicas on one database): each takes the other's appends as its news when their chain
// extends what it saw, drafts over the other's checkpoints, loses a checkpoint race without
// storing an inconsistent one, and halts when the stored log does not extend what it saw.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import { encodeAuditEvent } from "@keyhold/audit-client";
import { KeyholdError } from "@keyhold/server-kit";
import { CheckpointConflictError, type StoredCheckpoint } from "../store/audit-store.ts";
import { openSqliteDatabase, SqliteAuditStore } from "../store/sqlite-audit-store.ts";
import { makeEvent } from "../test-support.ts";
import { LocalLogWriter, type CheckpointDraft, type LogWriter } from "./log-writer.ts";
import { MerkleFrontier } from "./merkle.ts";

const events = (source: string, first: number, last: number) => Array.from({ length: last - first + 1 }, (_, i) => encodeAuditEvent(makeEvent(first + i, { source })));

function signed(draft: CheckpointDraft, seconds: bigint): StoredCheckpoint {
  return { treeSize: draft.treeSize, rootHash: draft.rootHash, chainHash: draft.chainHash, timeSeconds: seconds, timeNanos: 0, keyId: "k", signature: Buffer.alloc(64), frontier: draft.frontier };
}

async function draft(writer: LogWriter): Promise<CheckpointDraft> {
  const outcome = await writer.draftCheckpoint();
  assert.equal(outcome.kind, "draft", JSON.stringify(outcome));
  return (outcome as { draft: CheckpointDraft }).draft;
}

async function withTwoWriters(run: (a: LocalLogWriter, b: LocalLogWriter, store: SqliteAuditStore, path: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "keyhold-log-writer-"));
  const path = join(dir, "audit.sqlite");
  const stores = [new SqliteAuditStore(openSqliteDatabase(path)), new SqliteAuditStore(openSqliteDatabase(path))];
  try {
    await run(new LocalLogWriter(stores[0]!), new LocalLogWriter(stores[1]!), stores[0]!, path);
  } finally {
    for (const store of stores) await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test("two writers on one store: each takes the other's appends as news, and their checkpoints stay consistent", async () => {
  await withTwoWriters(async (a, b, store) => {
    assert.equal(await a.append("key-service-a", events("key-service-a", 1, 5), 1), 5n);
    assert.equal(await b.append("key-service-b", events("key-service-b", 1, 3), 1), 3n);
    assert.equal(await a.append("key-service-a", events("key-service-a", 6, 7), 1), 7n);
    // b resends what a already appended for its source: nothing new.
    assert.equal(await b.append("key-service-a", events("key-service-a", 6, 7), 1), 7n);
    assert.equal((await store.head()).size, 10);

    // Both draft at 10; a stores first; b's draft (against no checkpoint) is refused, not stored.
    const fromA = await draft(a);
    const fromB = await draft(b);
    assert.deepEqual([fromA.treeSize, fromA.previousSize, fromB.treeSize], [10, null, 10]);
    assert.deepEqual(fromA.rootHash, fromB.rootHash);
    await a.putCheckpoint(signed(fromA, 100n), fromA.previousSize);
    await assert.rejects(b.putCheckpoint(signed(fromB, 101n), fromB.previousSize), CheckpointConflictError);
    // b drafts again over a's checkpoint: unchanged, then a proven extension after more appends.
    assert.equal((await b.draftCheckpoint()).kind, "unchanged");
    await b.append("key-service-b", events("key-service-b", 4, 9), 1);
    await a.append("key-service-a", events("key-service-a", 8, 8), 1);
    const next = await draft(b);
    assert.deepEqual([next.treeSize, next.previousSize], [17, 10]);
    await b.putCheckpoint(signed(next, 102n), next.previousSize);
    const leaves = await store.leafHashes(0, 17);
    const frontier = MerkleFrontier.empty();
    for (const leaf of leaves) frontier.append(leaf);
    assert.deepEqual(next.rootHash, frontier.root());
    // a goes on from b's checkpoint.
    await a.append("key-service-a", events("key-service-a", 9, 9), 1);
    const fromAgain = await draft(a);
    assert.deepEqual([fromAgain.treeSize, fromAgain.previousSize], [18, 17]);
    assert.deepEqual((await store.checkpointsBetween(0, 100)).map((c) => c.treeSize), [10, 17]);
  });
});

test("a stored log that does not extend what a writer appended or saw halts it; the other replica's appends do not", async () => {
  await withTwoWriters(async (a, b, _store, path) => {
    await a.append("key-service-a", events("key-service-a", 1, 4), 1);
    await b.append("key-service-b", events("key-service-b", 1, 2), 1);
    // Someone rewrites record 5 (b's last) underneath a, which has not seen it yet.
    const db = new Database(path);
    db.prepare("UPDATE records SET chain_hash = ? WHERE idx = 5").run(Buffer.alloc(32, 1));
    db.close();
    const refused = await a.append("key-service-a", events("key-service-a", 5, 5), 1).catch((error: unknown) => error);
    assert.ok(refused instanceof KeyholdError && refused.reason === "AUDIT_UNAVAILABLE", String(refused));
    assert.match(refused.cause instanceof Error ? refused.cause.message : "", /record 5: chain hash mismatch/);
    const outcome = await a.draftCheckpoint();
    assert.equal(outcome.kind, "integrity-failure");
    // And a truncated log halts the writer that appended the removed records.
    const db2 = new Database(path);
    db2.prepare("DELETE FROM records WHERE idx >= 4").run();
    db2.close();
    const truncated = await b.append("key-service-b", events("key-service-b", 3, 3), 1).catch((error: unknown) => error);
    assert.ok(truncated instanceof KeyholdError && truncated.reason === "AUDIT_UNAVAILABLE");
    assert.equal((await b.draftCheckpoint()).kind, "integrity-failure");
  });
});
