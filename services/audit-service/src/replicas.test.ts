// Several audit-service replicas on one PostgreSQL database (each with its own pools and log
// writer thread, as separate processes would have): concurrent appends from different sources
// make one chain with every event exactly once, checkpoints signed by either replica are
// consistent and never go backwards, a stored log that does not extend what a replica saw halts
// it, and while the database is down calls fail UNAVAILABLE DATABASE_UNAVAILABLE and a real
// shipper keeps its events until the database is back (none lost, none duplicated).
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { AuditShipper, encodeAuditEvent, Outbox } from "@keyhold/audit-client";
import { createInMemoryTransport, createSilentLogger } from "@keyhold/server-kit";
import { MerkleFrontier } from "./domain/merkle.ts";
import { SKIP_POSTGRES, startPostgresFixture, withSql, type PostgresFixture } from "./test-postgres.ts";
import { batch, makeEvent, MANAGEMENT_ACCOUNT, refusal, startTestAuditService, type TestAuditService } from "./test-support.ts";

if (SKIP_POSTGRES !== false) console.error(`\n*** SKIPPING the audit-service replica tests: ${SKIP_POSTGRES} ***\n`);

const UNAVAILABLE_DATABASE = { code: Code.Unavailable, reason: "DATABASE_UNAVAILABLE", field: undefined };

describe("audit-service replicas sharing one PostgreSQL database", { skip: SKIP_POSTGRES }, () => {
  let fixture: PostgresFixture;
  before(async () => {
    fixture = await startPostgresFixture();
  });
  after(() => fixture?.stop());

  /** Two replicas on a fresh database, sharing the checkpoint signing key (as a deployment does). */
  async function twoReplicas(): Promise<[TestAuditService, TestAuditService, string]> {
    const url = (await fixture.database()).url;
    const env = { KEYHOLD_DATABASE_URL: url };
    const a = await startTestAuditService({ env });
    const b = await startTestAuditService({ env, dir: a.dir });
    return [a, b, url];
  }

  async function closeBoth(a: TestAuditService, b: TestAuditService): Promise<void> {
    await b.stop();
    await a.close();
  }

  test("concurrent appends through two replicas: one chain, every event exactly once, consistent checkpoints from both", async () => {
    const [a, b, url] = await twoReplicas();
    try {
      const sources = { a: "key-service-replica-a", b: "key-service-replica-b", shared: "key-service-replica-shared" };
      const PER_SOURCE = 600;
      const STEP = 40;
      const signed: { size: number; root: Buffer }[] = [];
      const ship = async (replica: TestAuditService, source: string) => {
        for (let first = 1; first <= PER_SOURCE; first += STEP) {
          const answer = await replica.ingest.appendEvents({ source, events: batch(first, first + STEP - 1, { source }) });
          assert.equal(answer.acknowledgedThrough, BigInt(first + STEP - 1));
        }
      };
      const sign = async (replica: TestAuditService) => {
        for (let i = 0; i < 8; i++) {
          const { checkpoint } = await replica.as(MANAGEMENT_ACCOUNT).getCheckpoint({ fresh: true });
          signed.push({ size: Number(checkpoint!.treeSize), root: Buffer.from(checkpoint!.rootHash) });
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      };
      // One source shipped by both replicas at once, as a shipper failing over would: overlapping
      // batches, each event once.
      const both = async () => {
        for (let first = 1; first <= PER_SOURCE; first += STEP) {
          const events = batch(first, first + STEP - 1, { source: sources.shared });
          const answers = await Promise.all([a.ingest.appendEvents({ source: sources.shared, events }), b.ingest.appendEvents({ source: sources.shared, events })]);
          for (const answer of answers) assert.equal(answer.acknowledgedThrough, BigInt(first + STEP - 1));
        }
      };
      await Promise.all([ship(a, sources.a), ship(b, sources.b), both(), sign(a), sign(b)]);

      const total = 3 * PER_SOURCE;
      for (const replica of [a, b]) {
        assert.equal(replica.app.context.log.halted, undefined);
        const verified = await replica.as(MANAGEMENT_ACCOUNT).verifyLog({});
        assert.deepEqual([verified.ok, verified.problem, verified.verifiedRecords], [true, "", BigInt(total)]);
      }
      const records = await a.app.context.store.records(0, total + 10, total + 10);
      assert.equal(records.length, total);
      for (const source of Object.values(sources)) {
        const sequences = records.filter((r) => r.columns.source === source).map((r) => Number(r.columns.sourceSequence));
        assert.deepEqual(sequences, Array.from({ length: PER_SOURCE }, (_, i) => i + 1), `${source}: each event once, in order`);
      }
      assert.equal(new Set(records.map((r) => r.columns.eventId)).size, total, "the shared source's batches, sent through both, are in the log once");

      // Every checkpoint either replica answered, and every stored one, has the root of the
      // stored records at its size; stored sizes only grow.
      const leaves = records.map((r) => r.leafHash);
      const rootAt = (size: number) => {
        const frontier = MerkleFrontier.empty();
        for (const leaf of leaves.slice(0, size)) frontier.append(leaf);
        return frontier.root();
      };
      for (const { size, root } of signed) assert.deepEqual(root, rootAt(size), `answered checkpoint at ${size}`);
      const stored = await a.app.context.store.checkpointsBetween(0, total);
      assert.ok(stored.length >= 2);
      for (const checkpoint of stored) assert.deepEqual(checkpoint.rootHash, rootAt(checkpoint.treeSize));
      const sizes = await withSql(url, async (client) => (await client.query<{ tree_size: string }>("SELECT tree_size FROM checkpoints ORDER BY tree_size")).rows.map((r) => Number(r.tree_size)));
      assert.deepEqual(sizes, [...new Set(sizes)].sort((x, y) => x - y));

      // A retry through the other replica appends nothing.
      const resent = await b.ingest.appendEvents({ source: sources.a, events: batch(PER_SOURCE - 9, PER_SOURCE, { source: sources.a }) });
      assert.equal(resent.acknowledgedThrough, BigInt(PER_SOURCE));
      assert.equal((await b.app.context.store.head()).size, total);
      // Both go on signing after each other's checkpoints.
      await a.ingest.appendEvents({ source: sources.a, events: batch(PER_SOURCE + 1, PER_SOURCE + 1, { source: sources.a }) });
      assert.equal((await b.as(MANAGEMENT_ACCOUNT).getCheckpoint({ fresh: true })).checkpoint?.treeSize, BigInt(total + 1));
      await b.ingest.appendEvents({ source: sources.b, events: batch(PER_SOURCE + 1, PER_SOURCE + 1, { source: sources.b }) });
      assert.equal((await a.as(MANAGEMENT_ACCOUNT).getCheckpoint({ fresh: true })).checkpoint?.treeSize, BigInt(total + 2));
      assert.equal((await a.as(MANAGEMENT_ACCOUNT).verifyLog({})).ok, true);
    } finally {
      await closeBoth(a, b);
    }
  });

  test("a stored log that does not extend what a replica appended or saw halts that replica", async () => {
    const [a, b, url] = await twoReplicas();
    try {
      const source = "key-service-halt";
      await a.ingest.appendEvents({ source, events: batch(1, 5, { source }) });
      await b.ingest.appendEvents({ source, events: batch(6, 8, { source }) });
      // b's records are a's news (no halt); then someone rewrites record 6 underneath both.
      await a.ingest.appendEvents({ source, events: batch(9, 9, { source }) });
      assert.equal(a.app.context.log.halted, undefined);
      await withSql(url, (client) => client.query("UPDATE records SET chain_hash = $1 WHERE idx = 8", [Buffer.alloc(32, 9)]));
      const unavailable = { code: Code.Unavailable, reason: "AUDIT_UNAVAILABLE", field: undefined };
      assert.deepEqual(await refusal(b.ingest.appendEvents({ source, events: batch(10, 10, { source }) })), unavailable);
      assert.deepEqual(await refusal(b.as(MANAGEMENT_ACCOUNT).getCheckpoint({ fresh: true })), unavailable);
      assert.match(b.app.context.log.halted ?? "", /chain hash/);
      assert.equal(await b.app.context.store.acknowledgedThrough(source), 9n, "nothing appended over the rewritten record");
    } finally {
      await closeBoth(a, b);
    }
  });

  test("while the database is down calls fail UNAVAILABLE DATABASE_UNAVAILABLE; a shipper keeps its events and delivers each once when it is back", async () => {
    const url = (await fixture.database()).url;
    const service = await startTestAuditService({ env: { KEYHOLD_DATABASE_URL: url } });
    const outbox = await Outbox.open({ path: join(service.dir, "outbox", "key-service.db"), service: "key-service" });
    const transport = createInMemoryTransport(service.app.bindings, service.app.interceptors, createSilentLogger(), { callingService: "key-service" });
    const shipper = new AuditShipper({ outbox, transport, batchSize: 100, lingerMs: 10, initialBackoffMs: 20, maxBackoffMs: 200 });
    const appendToOutbox = (from: number, to: number) => Promise.all(Array.from({ length: to - from }, () => outbox.append(encodeAuditEvent(makeEvent(0, { source: "" })))));
    const drained = async () => {
      const deadline = Date.now() + 30_000;
      while ((await shipper.metrics()).unshipped > 0) {
        if (Date.now() > deadline) assert.fail("the shipper did not drain its outbox");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    shipper.start();
    try {
      await appendToOutbox(0, 250);
      await drained();
      assert.equal((await service.app.context.store.head()).size, 250);

      await fixture.server.halt();
      try {
        await appendToOutbox(250, 500);
        const deadline = Date.now() + 15_000;
        while ((await shipper.metrics()).consecutiveFailures < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
        assert.ok((await shipper.metrics()).consecutiveFailures >= 2, "AppendEvents failed while the database was down");
        assert.ok((await shipper.metrics()).unshipped >= 250, "the events wait in the outbox");
        const client = service.as(MANAGEMENT_ACCOUNT);
        assert.deepEqual(await refusal(service.ingest.appendEvents({ source: outbox.source, events: [] })), UNAVAILABLE_DATABASE);
        assert.deepEqual(await refusal(client.lookupEvents({ pageSize: 10 })), UNAVAILABLE_DATABASE);
        assert.deepEqual(await refusal(client.getCheckpoint({})), UNAVAILABLE_DATABASE);
        assert.deepEqual(await refusal(client.verifyLog({})), UNAVAILABLE_DATABASE);
        assert.equal(service.app.context.log.halted, undefined, "an outage is not an integrity failure");
      } finally {
        await fixture.server.resume();
      }
      await appendToOutbox(500, 600);
      await drained();

      const records = await service.app.context.store.records(0, 1000, 1000);
      assert.deepEqual(
        records.map((r) => Number(r.columns.sourceSequence)),
        Array.from({ length: 600 }, (_, i) => i + 1),
        "every event once, in order",
      );
      assert.equal(new Set(records.map((r) => r.columns.eventId)).size, 600);
      const verified = await service.as(MANAGEMENT_ACCOUNT).verifyLog({});
      assert.deepEqual([verified.ok, verified.verifiedRecords], [true, 600n]);
    } finally {
      await shipper.stop();
      await outbox.close();
      await service.close();
    }
  });
});
