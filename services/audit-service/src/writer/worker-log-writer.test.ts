import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { getPriority } from "node:os";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { Worker } from "node:worker_threads";
import { encodeAuditEvent } from "@keyhold/audit-client";
import { KeyholdError } from "@keyhold/server-kit";
import { openSqliteDatabase, SqliteAuditStore } from "../store/sqlite-audit-store.ts";
import { makeEvent, SOURCE } from "../test-support.ts";
import { currentThreadId, lowerThreadPriority } from "./thread-priority.ts";
import { WorkerLogWriter } from "./worker-log-writer.ts";

const encoded = (first: number, last: number, init: Parameters<typeof makeEvent>[1] = {}) =>
  Array.from({ length: last - first + 1 }, (_, i) => encodeAuditEvent(makeEvent(first + i, init)));

async function withWriter(run: (writer: WorkerLogWriter, store: SqliteAuditStore) => Promise<void>, nice = 0): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "keyhold-log-writer-"));
  const path = join(dir, "audit.sqlite");
  const store = new SqliteAuditStore(openSqliteDatabase(path));
  const writer = await WorkerLogWriter.start({ database: { kind: "sqlite", path }, nice });
  try {
    await run(writer, store);
  } finally {
    await writer.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test("appends commit in the writer thread before they resolve; other connections see them", async () => {
  await withWriter(async (writer, store) => {
    assert.equal(await writer.append(SOURCE, encoded(1, 3), Date.now()), 3n);
    assert.equal((await store.head()).size, 3);
    assert.equal(await store.acknowledgedThrough(SOURCE), 3n);
    // A retried overlapping batch appends only what is new.
    assert.equal(await writer.append(SOURCE, encoded(2, 5), Date.now()), 5n);
    assert.equal((await store.head()).size, 5);
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

/** Nice values of this process's threads named `name` (Linux /proc; field 19 of stat). */
function niceOfThreads(name: string): number[] {
  const values: number[] = [];
  for (const tid of readdirSync("/proc/self/task")) {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    if (comm !== name) continue;
    values.push(Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]));
  }
  return values;
}

test("the writer thread runs at the configured nice value; the event loop's thread keeps its own", { skip: process.platform !== "linux" }, async () => {
  const mainBefore = getPriority(currentThreadId());
  await withWriter(async (writer) => {
    assert.deepEqual(writer.priority, { applied: true, nice: 7 });
    // The thread is named after the Worker (truncated to 15 characters by the kernel).
    assert.deepEqual(niceOfThreads("keyhold-audit-l"), [7]);
    assert.equal(await writer.append(SOURCE, encoded(1, 2), Date.now()), 2n);
  }, 7);
  assert.equal(getPriority(currentThreadId()), mainBefore, "only the writer thread was reniced");
  assert.equal(getPriority(process.pid), mainBefore);
});

test("nice 0 leaves the writer thread's priority alone", async () => {
  await withWriter(async (writer) => {
    assert.equal(writer.priority.applied, false);
    assert.equal(await writer.append(SOURCE, encoded(1, 1), Date.now()), 1n);
  }, 0);
});

test("lowerThreadPriority refuses values outside 0..19", () => {
  assert.throws(() => lowerThreadPriority(20), RangeError);
  assert.throws(() => lowerThreadPriority(-1), RangeError);
  assert.throws(() => lowerThreadPriority(1.5), RangeError);
});
