import assert from "node:assert/strict";
import { after, test } from "node:test";
import { Code, ConnectError, createRouterTransport } from "@connectrpc/connect";
import { AuditIngestService, type AuditEvent } from "@keyhold/proto";
import { Outbox } from "./outbox.ts";
import { AuditShipper } from "./shipper.ts";
import { sampleEventBytes, tempDir, waitFor } from "./test-support.ts";

const dir = tempDir();
after(() => dir.remove());

type Mode = "up" | "down" | "lose-answer";

/**
 * An in-memory audit-service: a real Connect router serving AppendEvents with a high-water mark
 * per source. Events at or below the mark are skipped; a gap is refused (events must arrive in
 * order). "lose-answer" stores the batch and then fails, as if the answer were lost on the way.
 */
function fakeAuditService(options: { maxPerCall?: number } = {}) {
  const log: AuditEvent[] = [];
  const highWater = new Map<string, bigint>();
  const state = { mode: "up" as Mode, calls: 0, batchSizes: [] as number[] };
  const transport = createRouterTransport(({ service }) => {
    service(AuditIngestService, {
      appendEvents(request) {
        state.calls += 1;
        if (state.mode === "down") throw new ConnectError("audit-service is down", Code.Unavailable);
        state.batchSizes.push(request.events.length);
        let mark = highWater.get(request.source) ?? 0n;
        let taken = 0;
        for (const event of request.events) {
          if (event.source !== request.source) throw new ConnectError("event from another source", Code.InvalidArgument);
          if (event.sourceSequence <= mark) continue;
          if (event.sourceSequence !== mark + 1n) throw new ConnectError(`gap after ${mark}`, Code.FailedPrecondition);
          if (options.maxPerCall !== undefined && taken === options.maxPerCall) break;
          log.push(event);
          mark = event.sourceSequence;
          taken += 1;
        }
        highWater.set(request.source, mark);
        if (state.mode === "lose-answer") throw new ConnectError("connection reset", Code.Unavailable);
        return { acknowledgedThrough: mark };
      },
    });
  });
  return { log, state, transport };
}

const ids = (events: readonly AuditEvent[]) => events.map((e) => e.eventId);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `event-${from + i}`);
const appendAll = (outbox: Outbox, from: number, to: number) => Promise.all(Array.from({ length: to - from }, (_, i) => outbox.append(sampleEventBytes(from + i))));
const fast = { initialBackoffMs: 5, maxBackoffMs: 40 };

for (const wire of ["passthrough", "messages"] as const) {
  test(`ships every event in order, in batches, and deletes only what was acknowledged (${wire} wire)`, async () => {
    const outbox = await Outbox.open({ path: dir.file(`order-${wire}/outbox.db`), service: "key-service" });
    const audit = fakeAuditService();
    const shipper = new AuditShipper({ outbox, transport: audit.transport, batchSize: 500, wire, ...fast });
    try {
      await appendAll(outbox, 0, 1200);
      shipper.start();
      await waitFor(() => audit.log.length === 1200, "1200 events at audit-service");
      assert.deepEqual(ids(audit.log), range(0, 1200));
      assert.deepEqual(audit.log.map((e) => e.sourceSequence), Array.from({ length: 1200 }, (_, i) => BigInt(i + 1)));
      assert.ok(audit.log.every((e) => e.source === outbox.source));
      assert.ok(Math.max(...audit.state.batchSizes) <= 500);
      // Appends while it runs are shipped as they come.
      await appendAll(outbox, 1200, 1300);
      await waitFor(() => audit.log.length === 1300, "the later events");
      assert.deepEqual(ids(audit.log), range(0, 1300));
      await waitFor(async () => (await outbox.stats()).pending === 0, "acknowledged rows deleted");
      const metrics = await shipper.metrics();
      assert.deepEqual([metrics.unshipped, metrics.oldestAgeMs, metrics.acknowledgedThrough, metrics.shippedEvents], [0, 0, 1300, 1300]);
    } finally {
      await shipper.stop(1000);
      await outbox.close();
    }
  });
}

test("while audit-service is down the outbox grows; when it is back everything arrives once, in order", async () => {
  const outbox = await Outbox.open({ path: dir.file("down/outbox.db"), service: "key-service" });
  const audit = fakeAuditService();
  audit.state.mode = "down";
  const shipper = new AuditShipper({ outbox, transport: audit.transport, batchSize: 100, ...fast });
  try {
    await appendAll(outbox, 0, 250);
    shipper.start();
    await waitFor(() => audit.state.calls >= 4, "several retries");
    await appendAll(outbox, 250, 300);
    const lagging = await shipper.metrics();
    assert.equal(lagging.unshipped, 300);
    assert.ok(lagging.consecutiveFailures >= 3);
    assert.match(lagging.lastError ?? "", /Unavailable|down/);
    assert.ok(lagging.oldestAgeMs >= 0);
    assert.equal((await outbox.stats()).pending, 300, "nothing is deleted while unacknowledged");

    // Back, but the answer to the first batch is lost: the shipper resends it and the receiver skips it.
    audit.state.mode = "lose-answer";
    await waitFor(() => audit.log.length >= 100, "the first batch stored");
    audit.state.mode = "up";
    await waitFor(() => audit.log.length === 300 && audit.state.mode === "up", "everything");
    await waitFor(async () => (await shipper.metrics()).unshipped === 0, "lag back to zero");
    assert.deepEqual(ids(audit.log), range(0, 300), "exactly once, in order");
    assert.equal((await shipper.metrics()).consecutiveFailures, 0);
  } finally {
    await shipper.stop(1000);
    await outbox.close();
  }
});

test("a partial acknowledgement: the rest is sent again from the first unacknowledged event", async () => {
  const outbox = await Outbox.open({ path: dir.file("partial/outbox.db"), service: "key-service" });
  const audit = fakeAuditService({ maxPerCall: 7 });
  const shipper = new AuditShipper({ outbox, transport: audit.transport, batchSize: 50, ...fast });
  try {
    await appendAll(outbox, 0, 120);
    shipper.start();
    await waitFor(() => audit.log.length === 120, "all events");
    assert.deepEqual(ids(audit.log), range(0, 120));
  } finally {
    await shipper.stop(1000);
    await outbox.close();
  }
});

test("after a restart it resumes from the first unacknowledged event, with no duplicates", async () => {
  const path = dir.file("restart/outbox.db");
  const audit = fakeAuditService();
  let outbox = await Outbox.open({ path, service: "key-service" });
  let shipper = new AuditShipper({ outbox, transport: audit.transport, batchSize: 100, ...fast });
  try {
    await appendAll(outbox, 0, 100);
    shipper.start();
    await waitFor(() => audit.log.length === 100, "the first 100");
    // The next answers are lost: stored at audit-service, still in the outbox when the service stops.
    audit.state.mode = "lose-answer";
    await appendAll(outbox, 100, 180);
    await waitFor(() => audit.log.length === 180, "stored but unacknowledged");
    const stopped = await shipper.stop(100);
    assert.equal(stopped.flushed, false);
    assert.equal(stopped.unshipped, 80);
  } finally {
    await shipper.stop(0);
    await outbox.close();
  }

  // Restart, with more events appended before the shipper runs again.
  audit.state.mode = "up";
  outbox = await Outbox.open({ path, service: "key-service" });
  try {
    await appendAll(outbox, 180, 230);
    assert.equal((await outbox.stats()).pending, 130);
    shipper = new AuditShipper({ outbox, transport: audit.transport, batchSize: 40, ...fast });
    shipper.start();
    await waitFor(() => audit.log.length === 230, "everything after the restart");
    await waitFor(async () => (await outbox.stats()).pending === 0, "outbox drained");
    assert.deepEqual(ids(audit.log), range(0, 230));
    assert.equal(new Set(audit.log.map((e) => e.sourceSequence)).size, 230);
  } finally {
    await shipper.stop(1000);
    await outbox.close();
  }
});

test("stop flushes within its deadline; when audit-service is down it gives up at the deadline and keeps the events", async () => {
  const outbox = await Outbox.open({ path: dir.file("stop/outbox.db"), service: "key-service" });
  const audit = fakeAuditService();
  try {
    const first = new AuditShipper({ outbox, transport: audit.transport, batchSize: 100, ...fast });
    first.start();
    await appendAll(outbox, 0, 350);
    assert.deepEqual(await first.stop(5000), { flushed: true, unshipped: 0 });
    assert.equal(audit.log.length, 350);

    audit.state.mode = "down";
    await appendAll(outbox, 350, 400);
    const second = new AuditShipper({ outbox, transport: audit.transport, ...fast });
    const started = Date.now();
    const result = await second.stop(300); // never started: stop() starts, drains what it can, stops
    const took = Date.now() - started;
    assert.deepEqual(result, { flushed: false, unshipped: 50 });
    assert.ok(took >= 250 && took < 2000, `stop took ${took} ms`);
    assert.equal((await outbox.stats()).pending, 50);
  } finally {
    await outbox.close();
  }
});

test("a busy outbox is shipped in full batches: after a batch that was not full, the next one gathers for lingerMs", async () => {
  const outbox = await Outbox.open({ path: dir.file("linger/outbox.db"), service: "key-service" });
  const audit = fakeAuditService();
  const shipper = new AuditShipper({ outbox, transport: audit.transport, batchSize: 1000, lingerMs: 300, ...fast });
  try {
    shipper.start();
    // A steady trickle, as a service under load appends: one event every 2 ms or so.
    const started = performance.now();
    for (let i = 0; i < 400; i++) {
      await outbox.append(sampleEventBytes(i));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const trickleMs = performance.now() - started;
    await waitFor(() => audit.log.length === 400, "all 400 events at audit-service");
    assert.deepEqual(ids(audit.log), range(0, 400));
    // Without lingering after a partial batch it would ship whatever arrived during each round
    // trip (a few events per call: a hundred calls or more); with it, one batch per linger
    // window of the trickle, however long a busy machine makes that trickle take.
    const windows = Math.ceil(trickleMs / 300);
    assert.ok(audit.state.calls <= windows + 2, `${audit.state.calls} AppendEvents calls for 400 events over ${Math.round(trickleMs)} ms: ${audit.state.batchSizes.join(",")}`);
    assert.ok(audit.state.calls * 10 <= 400, `batches average at least 10 events: ${audit.state.batchSizes.join(",")}`);
  } finally {
    await shipper.stop(1000);
    await outbox.close();
  }
});

test("stop() does not wait out the linger: it ships what is left at once", async () => {
  const outbox = await Outbox.open({ path: dir.file("linger-stop/outbox.db"), service: "key-service" });
  const audit = fakeAuditService();
  const shipper = new AuditShipper({ outbox, transport: audit.transport, lingerMs: 60_000, ...fast });
  try {
    // Waiting at start: shipped at once; then, the batch not being full, it lingers (60 s here).
    await appendAll(outbox, 0, 10);
    shipper.start();
    await waitFor(() => audit.log.length === 10, "the first events");
    await appendAll(outbox, 10, 20);
    const started = Date.now();
    const result = await shipper.stop(5_000);
    assert.ok(Date.now() - started < 5_000, "stopped well before the deadline, not after a 60 s linger");
    assert.equal(result.flushed, true);
    assert.deepEqual(ids(audit.log), range(0, 20));
  } finally {
    await outbox.close();
  }
});
