import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { Worker } from "node:worker_threads";
import { encodeAuditEvent } from "@keyhold/audit-client";
import { KeyholdError } from "@keyhold/server-kit";
import { openSqliteDatabase, SqliteAuditStore } from "../store/sqlite-audit-store.ts";
import { makeEvent, SOURCE } from "../test-support.ts";
import { WorkerLogWriter } from "./worker-log-writer.ts";

const encoded = (first: number, last: number, init: Parameters<typeof makeEvent>[1] = {}) =>
  Array.from({ length: last - first + 1 }, (_, i) => encodeAuditEvent(makeEvent(first + i, init)));

async function withWriter(run: (writer: WorkerLogWriter, store: SqliteAuditStore) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "keyhold-log-writer-"));
  const path = join(dir, "audit.sqlite");
  const store = new SqliteAuditStore(openSqliteDatabase(path));
  const writer = await WorkerLogWriter.start({ databasePath: path });
  try {
    await run(writer, store);
  } finally {
    await writer.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test("appends commit in the writer thread before they resolve; other connections see them", async () => {
  await withWriter(async (writer, store) => {
    assert.equal(await writer.append(SOURCE, encoded(1, 3), Date.now()), 3n);
    assert.equal(store.head().size, 3);
    assert.equal(store.acknowledgedThrough(SOURCE), 3n);
    // A retried overlapping batch appends only what is new.
    assert.equal(await writer.append(SOURCE, encoded(2, 5), Date.now()), 5n);
    assert.equal(store.head().size, 5);
    const draft = await writer.draftCheckpoint();
    assert.equal(draft.kind, "draft");
    assert.ok(draft.kind === "draft" && Buffer.isBuffer(draft.draft.rootHash) && draft.draft.treeSize === 5);
  });
});

test("refusals cross the thread with their reason, field and metadata", async () => {
  await withWriter(async (writer) => {
    const bad = await writer.append(SOURCE, encoded(1, 1, { eventId: "not-a-uuid" }), Date.now()).then(
      () => assert.fail("accepted"),
      (error: unknown) => error,
    );
    assert.ok(bad instanceof KeyholdError);
    assert.equal(bad.reason, "INVALID_ARGUMENT");
    assert.equal(bad.field, "events[0].event_id");
    const garbage = await writer.append(SOURCE, [Uint8Array.of(0xff, 0xff)], Date.now()).catch((error: unknown) => error);
    assert.ok(garbage instanceof KeyholdError && garbage.field === "events[0]");
    const gap = await writer.append(SOURCE, encoded(7, 8), Date.now()).catch((error: unknown) => error);
    assert.ok(gap instanceof KeyholdError);
    assert.equal(gap.reason, "AUDIT_SEQUENCE_GAP");
    assert.equal(gap.metadata["acknowledged_through"], "0");
  });
});

test("when the writer thread dies, pending and later appends fail with AUDIT_UNAVAILABLE", async () => {
  await withWriter(async (writer) => {
    const worker = (writer as unknown as { worker: Worker }).worker;
    const pending = writer.append(SOURCE, encoded(1, 200), Date.now());
    await worker.terminate();
    const outcomes = [await pending.then(() => "ok", (error: unknown) => error), await writer.append(SOURCE, encoded(1, 1), Date.now()).catch((error: unknown) => error)];
    // (The first may have committed before the thread died; the second cannot.)
    const last = outcomes[1];
    assert.ok(last instanceof KeyholdError && last.reason === "AUDIT_UNAVAILABLE");
    for (const outcome of outcomes) assert.ok(outcome === "ok" || (outcome instanceof KeyholdError && outcome.reason === "AUDIT_UNAVAILABLE"));
  });
});
