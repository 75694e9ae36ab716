import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { after, test } from "node:test";
import { dirname } from "node:path";
import { pathToFileURL } from "node:url";
import { KeyholdError } from "@keyhold/server-kit";
import Database from "better-sqlite3";
import { Outbox } from "./outbox.ts";
import { outboxEvents, sampleEventBytes, tempDir } from "./test-support.ts";

const dir = tempDir();
after(() => dir.remove());

const isAuditUnavailable = (error: unknown) => error instanceof KeyholdError && error.reason === "AUDIT_UNAVAILABLE";

test("an append that resolved is in the file after it is reopened; the source id is stable", async () => {
  const path = dir.file("durable/outbox.db");
  const outbox = await Outbox.open({ path, service: "key-service" });
  assert.match(outbox.source, /^key-service-[0-9a-f]{16}$/);
  for (let i = 0; i < 10; i++) await outbox.append(sampleEventBytes(i));
  await Promise.all(Array.from({ length: 90 }, (_, i) => outbox.append(sampleEventBytes(10 + i))));
  assert.equal(outbox.lastSequence, 100);
  const source = outbox.source;
  await outbox.close();

  const reopened = await Outbox.open({ path, service: "another-name" });
  try {
    assert.equal(reopened.source, source, "the source id is created once, with the file");
    assert.equal(reopened.lastSequence, 100);
    const rows = await outboxEvents(reopened);
    assert.deepEqual(rows.map((r) => r.sequence), Array.from({ length: 100 }, (_, i) => i + 1));
    assert.deepEqual(rows.map((r) => r.event.eventId), Array.from({ length: 100 }, (_, i) => `event-${i}`));
    assert.equal(rows[0]!.event.principalKrn, "krn:keyhold:iam::111122223333:user/alice");
  } finally {
    await reopened.close();
  }
});

test("appends acknowledged before the process is killed (SIGKILL) are all there afterwards", async () => {
  const path = dir.file("crash/outbox.db");
  const child = `
    import { Outbox } from ${JSON.stringify(pathToFileURL(new URL("./outbox.ts", import.meta.url).pathname).href)};
    import { sampleEventBytes } from ${JSON.stringify(pathToFileURL(new URL("./test-support.ts", import.meta.url).pathname).href)};
    const outbox = await Outbox.open({ path: process.argv[2], service: "crash-test" });
    const acknowledged = [];
    await Promise.all(Array.from({ length: 300 }, (_, i) => outbox.append(sampleEventBytes(i)).then(() => acknowledged.push(i))));
    // More appends in flight when the process dies: they may or may not be there, never half.
    for (let i = 300; i < 600; i++) outbox.append(sampleEventBytes(i)).catch(() => {});
    process.stdout.write(JSON.stringify(acknowledged) + "\\n", () => process.kill(process.pid, "SIGKILL"));
  `;
  const { stdout, stderr, signal } = await new Promise<{ stdout: string; stderr: string; signal: string | null }>((resolve) => {
    const script = dir.file("crash-child.mjs");
    writeFileSync(script, child);
    const proc = execFile(process.execPath, [script, path], (_error, out, err) =>
      resolve({ stdout: out, stderr: err, signal: proc.signalCode }),
    );
  });
  assert.equal(signal, "SIGKILL", stderr);
  const acknowledged = JSON.parse(stdout) as number[];
  assert.equal(acknowledged.length, 300);

  const outbox = await Outbox.open({ path, service: "crash-test" });
  try {
    const ids = (await outboxEvents(outbox)).map((r) => r.event.eventId);
    for (const i of acknowledged) assert.ok(ids.includes(`event-${i}`), `acknowledged event-${i} is missing`);
    assert.deepEqual(ids.slice(0, 300), Array.from({ length: 300 }, (_, i) => `event-${i}`));
    assert.equal(new Set(ids).size, ids.length);
  } finally {
    await outbox.close();
  }
});

test("group commit: concurrent appends share transactions", async (t) => {
  const outbox = await Outbox.open({ path: dir.file("group/outbox.db"), service: "key-service" });
  try {
    // A burst: the first append starts a transaction, the other 1999 share the next one or two.
    await Promise.all(Array.from({ length: 2000 }, (_, i) => outbox.append(sampleEventBytes(i))));
    const burst = await outbox.stats();
    assert.equal(burst.events, 2000);
    assert.ok(burst.transactions <= 4, `2000 concurrent appends took ${burst.transactions} transactions`);

    // 50 appenders, each appending again as soon as its previous append is durable.
    await Promise.all(
      Array.from({ length: 50 }, async (_, worker) => {
        for (let i = 0; i < 100; i++) await outbox.append(sampleEventBytes(10_000 + worker * 100 + i));
      }),
    );
    const steady = await outbox.stats();
    const transactions = steady.transactions - burst.transactions;
    t.diagnostic(`2000-append burst: ${burst.transactions} transactions; 50 appenders × 100: ${transactions} transactions`);
    assert.equal(steady.events - burst.events, 5000);
    assert.ok(transactions <= 5000 / 10, `5000 appends from 50 appenders took ${transactions} transactions`);
    // Order within the file is the order in which appends were made.
    const rows = await outboxEvents(outbox);
    assert.deepEqual(rows.slice(0, 2000).map((r) => r.event.eventId), Array.from({ length: 2000 }, (_, i) => `event-${i}`));
  } finally {
    await outbox.close();
  }
});

test("acknowledge deletes through a sequence; sequences are never reused, even after a reopen", async () => {
  const path = dir.file("ack/outbox.db");
  const outbox = await Outbox.open({ path, service: "policy-service" });
  await Promise.all(Array.from({ length: 10 }, (_, i) => outbox.append(sampleEventBytes(i))));
  await outbox.acknowledge(4);
  assert.deepEqual((await outboxEvents(outbox)).map((r) => r.sequence), [5, 6, 7, 8, 9, 10]);
  const stats = await outbox.stats();
  assert.equal(stats.pending, 6);
  assert.equal((await outbox.stats(7)).pending, 3);
  assert.ok(stats.oldestAppendedAt !== undefined && Math.abs(Date.now() - stats.oldestAppendedAt) < 60_000);
  await outbox.acknowledge(10);
  assert.equal((await outbox.stats()).pending, 0);
  assert.equal((await outbox.stats()).oldestAppendedAt, undefined);
  await outbox.close();

  const reopened = await Outbox.open({ path, service: "policy-service" });
  try {
    await reopened.append(sampleEventBytes(11));
    assert.deepEqual((await outboxEvents(reopened)).map((r) => r.sequence), [11]);
  } finally {
    await reopened.close();
  }
});

test("one owner: a second open of a file in use fails", async () => {
  const path = dir.file("owner/outbox.db");
  const first = await Outbox.open({ path, service: "key-service" });
  try {
    await first.append(sampleEventBytes(1));
    await assert.rejects(Outbox.open({ path, service: "key-service" }), isAuditUnavailable);
    await first.append(sampleEventBytes(2));
  } finally {
    await first.close();
  }
});

test("a path that cannot hold the file fails to open with AUDIT_UNAVAILABLE", async () => {
  const path = dir.file("not-a-file/outbox.db");
  mkdirSync(path, { recursive: true });
  await assert.rejects(Outbox.open({ path, service: "key-service" }), isAuditUnavailable);
});

test("a closed outbox refuses appends; close waits for appends in flight", async () => {
  const outbox = await Outbox.open({ path: dir.file("closed/outbox.db"), service: "key-service" });
  const inFlight = Promise.all(Array.from({ length: 100 }, (_, i) => outbox.append(sampleEventBytes(i))));
  const closing = outbox.close();
  await assert.rejects(outbox.append(sampleEventBytes(100)), isAuditUnavailable);
  await inFlight;
  await closing;
  assert.equal(outbox.healthy, false);
  await assert.rejects(outbox.append(sampleEventBytes(101)), isAuditUnavailable);
});

test("an outbox written by the row-per-event schema (version 1) opens with its events, sequences and source", async () => {
  const path = dir.file("v1/outbox.db");
  mkdirSync(dirname(path), { recursive: true });
  const old = new Database(path);
  old.exec(`
    CREATE TABLE outbox_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
    CREATE TABLE outbox (sequence INTEGER PRIMARY KEY AUTOINCREMENT, event BLOB NOT NULL, appended_at INTEGER NOT NULL) STRICT;
    INSERT INTO outbox_meta (name, value) VALUES ('source', 'key-service-00112233aabbccdd');
  `);
  const insert = old.prepare("INSERT INTO outbox (event, appended_at) VALUES (?, ?)");
  for (let i = 1; i <= 5; i++) insert.run(Buffer.from(sampleEventBytes(i)), Date.now());
  old.prepare("DELETE FROM outbox WHERE sequence <= 2").run();
  old.pragma("user_version = 1");
  old.close();

  const outbox = await Outbox.open({ path, service: "key-service" });
  try {
    assert.equal(outbox.source, "key-service-00112233aabbccdd");
    assert.equal(outbox.lastSequence, 5);
    const rows = await outboxEvents(outbox);
    assert.deepEqual(rows.map((r) => r.sequence), [3, 4, 5]);
    assert.deepEqual(rows.map((r) => r.event.eventId), ["event-3", "event-4", "event-5"]);
    await outbox.append(sampleEventBytes(6));
    assert.deepEqual((await outboxEvents(outbox)).map((r) => r.sequence), [3, 4, 5, 6]);
  } finally {
    await outbox.close();
  }
});

test("a partly acknowledged group: its acknowledged events are gone from reads and counts, also after a reopen", async () => {
  const path = dir.file("partial/outbox.db");
  const outbox = await Outbox.open({ path, service: "key-service" });
  await Promise.all(Array.from({ length: 6 }, (_, i) => outbox.append(sampleEventBytes(i))));
  assert.equal((await outbox.stats()).transactions, 1, "one group");
  await outbox.acknowledge(4);
  assert.deepEqual((await outboxEvents(outbox)).map((r) => r.sequence), [5, 6]);
  assert.equal((await outbox.stats()).pending, 2);
  await outbox.close();
  const reopened = await Outbox.open({ path, service: "key-service" });
  try {
    assert.deepEqual((await outboxEvents(reopened)).map((r) => r.sequence), [5, 6]);
    assert.equal((await reopened.stats()).pending, 2);
  } finally {
    await reopened.close();
  }
});

test("an acknowledgement rides with the next append's commit, or commits alone after deleteDelayMs", async () => {
  const path = dir.file("deferred-delete/outbox.db");
  const outbox = await Outbox.open({ path, service: "key-service", deleteDelayMs: 300 });
  try {
    await Promise.all(Array.from({ length: 5 }, (_, i) => outbox.append(sampleEventBytes(i))));
    const before = (await outbox.stats()).transactions;
    // Rides along: the acknowledgement and the next append share one transaction.
    const acknowledged = outbox.acknowledge(3);
    await outbox.append(sampleEventBytes(5));
    await acknowledged;
    assert.equal((await outbox.stats()).transactions, before + 1);
    assert.deepEqual((await outboxEvents(outbox)).map((r) => r.sequence), [4, 5, 6]);
    // Alone: committed by its timer, not at once.
    const started = Date.now();
    await outbox.acknowledge(5);
    assert.ok(Date.now() - started >= 250, `committed after ${Date.now() - started} ms`);
    assert.equal((await outbox.stats()).transactions, before + 2);
    assert.deepEqual((await outboxEvents(outbox)).map((r) => r.sequence), [6]);
    // Close commits a pending one at once.
    void outbox.acknowledge(6);
  } finally {
    await outbox.close();
  }
  const reopened = await Outbox.open({ path, service: "key-service" });
  try {
    assert.equal((await reopened.stats()).pending, 0);
  } finally {
    await reopened.close();
  }
});

test("a process awaiting an acknowledgement stays alive until the deletion is committed (the delete timer is not unref'd)", async () => {
  const path = dir.file("awaited-ack/outbox.db");
  // Nothing else keeps this child's event loop alive while it awaits the deletion: with an
  // unref'd timer the process would exit (code 0) before printing "deleted".
  const child = `
    import { Outbox } from ${JSON.stringify(pathToFileURL(new URL("./outbox.ts", import.meta.url).pathname).href)};
    import { sampleEventBytes } from ${JSON.stringify(pathToFileURL(new URL("./test-support.ts", import.meta.url).pathname).href)};
    const outbox = await Outbox.open({ path: process.argv[2], service: "ack-test", deleteDelayMs: 200 });
    await outbox.append(sampleEventBytes(1));
    await outbox.acknowledge(outbox.lastSequence);
    process.stdout.write("deleted " + (await outbox.stats()).pending + "\\n");
    await outbox.close();
  `;
  const script = dir.file("ack-child.mjs");
  writeFileSync(script, child);
  const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [script, path], (_error, out, err) => resolve({ stdout: out, stderr: err }));
  });
  assert.equal(stdout.trim(), "deleted 0", stderr);
});
