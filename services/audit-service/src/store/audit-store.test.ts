// One conformance suite for every AuditStore: the SQLite file and PostgreSQL (a real server,
// skipped with a notice where PostgreSQL is not installed). Appends plan under the append lock
// and commit all or nothing, marks never go back, reads and lookups answer alike, checkpoints
// never go backwards and refuse a stale draft, retention keeps the boundary checkpoint.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { encodeAuditEvent } from "@keyhold/audit-client";
import { chainHash, GENESIS_CHAIN_HASH } from "../domain/chain.ts";
import { eventColumns } from "../domain/event.ts";
import { leafHash, MerkleFrontier } from "../domain/merkle.ts";
import { makeEvent, OTHER_ACCOUNT, ACCOUNT, type EventInit } from "../test-support.ts";
import { POSTGRES_SCHEMA } from "../config.ts";
import { SKIP_POSTGRES, startPostgresFixture, type PostgresFixture } from "../test-postgres.ts";
import { CheckpointConflictError, CheckpointRegressionError, type AppendState, type AuditStore, type NewRecord, type StoredCheckpoint } from "./audit-store.ts";
import { openPostgresAuditStore } from "./postgres-audit-store.ts";
import { openSqliteDatabase, SqliteAuditStore } from "./sqlite-audit-store.ts";

if (SKIP_POSTGRES !== false) console.error(`\n*** SKIPPING the PostgreSQL AuditStore conformance tests: ${SKIP_POSTGRES} ***\n`);

interface Opened {
  readonly store: AuditStore;
  close(): Promise<void>;
}

const SOURCE_A = "key-service-aaaa";
const SOURCE_B = "key-service-bbbb";

/** Records for events of `source` with sequences first..last, chained onto `from`. */
function chained(from: { size: number; chain: Buffer }, source: string, first: number, last: number, init: Partial<EventInit> = {}): NewRecord[] {
  const records: NewRecord[] = [];
  let chain = from.chain;
  for (let s = first; s <= last; s++) {
    const event = makeEvent(s, { source, ...init });
    const bytes = encodeAuditEvent(event);
    const leaf = leafHash(bytes);
    chain = chainHash(chain, leaf);
    records.push({ eventBytes: bytes, leafHash: leaf, chainHash: chain, columns: eventColumns(event) });
  }
  return records;
}

/** Appends events first..last of `source` at the head, as a writer that knows the head would. */
async function appendEvents(store: AuditStore, source: string, first: number, last: number, init: Partial<EventInit> = {}): Promise<NewRecord[]> {
  let planned: NewRecord[] = [];
  const head = await store.head();
  await store.append(source, 1_750_000_000_000, head.size, ({ head: at }) => {
    planned = chained({ size: at.size, chain: at.chainHash }, source, first, last, init);
    return { records: planned, acknowledgedThrough: BigInt(last) };
  });
  return planned;
}

async function checkpointAt(store: AuditStore, size: number, seconds: bigint): Promise<StoredCheckpoint> {
  const frontier = MerkleFrontier.empty();
  for (const leaf of await store.leafHashes(0, size)) frontier.append(leaf);
  const chain = size === 0 ? GENESIS_CHAIN_HASH : (await store.chainLinks(size - 1, size, 1))[0]!.chainHash;
  return { treeSize: size, rootHash: frontier.root(), chainHash: chain, timeSeconds: seconds, timeNanos: 0, keyId: "k", signature: Buffer.alloc(64, 7), frontier: frontier.toHashes() };
}

function conformance(name: string, skip: string | false, open: () => Promise<Opened>): void {
  describe(`AuditStore conformance: ${name}`, { skip }, () => {
    let opened: Opened;
    let store: AuditStore;
    before(async () => {
      opened = await open();
      store = opened.store;
    });
    after(async () => opened?.close());

    test("an empty store: size 0 at the genesis chain hash, no marks, no checkpoints", async () => {
      assert.deepEqual(await store.head(), { size: 0, chainHash: GENESIS_CHAIN_HASH });
      assert.equal(await store.retainedStart(), 0);
      assert.equal(await store.acknowledgedThrough(SOURCE_A), 0n);
      assert.equal(await store.latestCheckpoint(), undefined);
      assert.deepEqual(await store.records(0, 10, 10), []);
    });

    test("an append commits its records and the source's mark together; reads give back what was stored", async () => {
      const seen: AppendState[] = [];
      const records = chained({ size: 0, chain: GENESIS_CHAIN_HASH }, SOURCE_A, 1, 5);
      const plan = await store.append(SOURCE_A, 1_750_000_000_123, 0, (state) => {
        seen.push(state);
        return { records, acknowledgedThrough: 5n };
      });
      assert.equal(plan.records.length, 5);
      assert.deepEqual(seen, [{ head: { size: 0, chainHash: GENESIS_CHAIN_HASH }, acknowledgedThrough: 0n, unseen: [] }]);
      assert.deepEqual(await store.head(), { size: 5, chainHash: records[4]!.chainHash });
      assert.equal(await store.acknowledgedThrough(SOURCE_A), 5n);
      const stored = await store.records(0, 5, 10);
      assert.deepEqual(
        stored.map((r) => r.index),
        [0, 1, 2, 3, 4],
      );
      for (const [i, record] of stored.entries()) {
        assert.deepEqual(Buffer.from(record.eventBytes), Buffer.from(records[i]!.eventBytes));
        assert.deepEqual(record.leafHash, records[i]!.leafHash);
        assert.deepEqual(record.chainHash, records[i]!.chainHash);
        assert.deepEqual(record.columns, records[i]!.columns);
        assert.equal(record.appendedAt, 1_750_000_000_123);
      }
      assert.deepEqual((await store.records(1, 5, 2)).map((r) => r.index), [1, 2]);
      assert.deepEqual((await store.record(3))?.columns, records[3]!.columns);
      assert.equal(await store.record(5), undefined);
      assert.deepEqual(await store.leafHashes(1, 3), [records[1]!.leafHash, records[2]!.leafHash]);
      assert.deepEqual(await store.chainLinks(3, 10, 10), [
        { index: 3, leafHash: records[3]!.leafHash, chainHash: records[3]!.chainHash },
        { index: 4, leafHash: records[4]!.leafHash, chainHash: records[4]!.chainHash },
      ]);
      const byId = await store.recordByEventId(records[2]!.columns.eventId);
      assert.equal(byId?.index, 2);
      assert.equal((await store.recordByEventId(records[2]!.columns.eventId, ACCOUNT))?.index, 2);
      assert.equal(await store.recordByEventId(records[2]!.columns.eventId, OTHER_ACCOUNT), undefined);
      assert.equal(await store.recordByEventId("0190f0f0-0000-7000-8000-000000000000"), undefined);
    });

    test("a writer behind the head is shown the records it has not seen; an empty plan only moves the mark", async () => {
      const head = await store.head();
      const other = await appendEvents(store, SOURCE_B, 1, 3);
      let state: AppendState | undefined;
      await store.append(SOURCE_A, 1, head.size, (s) => {
        state = s;
        return { records: [], acknowledgedThrough: 7n };
      });
      assert.equal(state!.head.size, head.size + 3);
      assert.deepEqual(
        state!.unseen.map((l) => [l.index, l.leafHash, l.chainHash]),
        other.map((r, i) => [head.size + i, r.leafHash, r.chainHash]),
      );
      assert.equal(state!.acknowledgedThrough, 5n);
      assert.equal(await store.acknowledgedThrough(SOURCE_A), 7n);
      assert.equal((await store.head()).size, head.size + 3, "nothing appended");
    });

    test("a plan that throws, or moves a mark back, leaves nothing behind", async () => {
      const head = await store.head();
      await assert.rejects(
        store.append(SOURCE_A, 1, head.size, ({ head: at }) => {
          void chained({ size: at.size, chain: at.chainHash }, SOURCE_A, 8, 9);
          throw new Error("refused");
        }),
        /refused/,
      );
      await assert.rejects(
        store.append(SOURCE_A, 1, head.size, ({ head: at }) => ({ records: chained({ size: at.size, chain: at.chainHash }, SOURCE_A, 8, 9), acknowledgedThrough: 2n })),
        /never goes back/,
      );
      assert.deepEqual(await store.head(), head);
      assert.equal(await store.acknowledgedThrough(SOURCE_A), 7n);
    });

    test("lookups filter by each column and page newest first with a cursor", async () => {
      const base = 1_800_000_000n;
      const at = (second: bigint) => ({ time: { seconds: base + second, nanos: 0 } });
      const src = "key-service-lookup";
      let sequence = 0;
      const add = async (init: Partial<EventInit>) => {
        sequence++;
        return (await appendEvents(store, src, sequence, sequence, init))[0]!;
      };
      const a1 = await add({ ...at(1n), action: "kms:Decrypt", accountId: "222233334444", principalKrn: "krn:keyhold:iam::222233334444:root", resource: "krn:keyhold:kms:test-1:222233334444:key/k1" });
      const a2 = await add({ ...at(3n), action: "kms:Encrypt", accountId: "222233334444", principalKrn: "krn:keyhold:iam::222233334444:user/bob", resource: "krn:keyhold:kms:test-1:222233334444:key/k2", outcome: { code: 7, reason: "ACCESS_DENIED" } });
      const a3 = await add({ ...at(3n), action: "kms:Decrypt", accountId: "222233334444", principalKrn: "krn:keyhold:iam::222233334444:root", resource: "krn:keyhold:kms:test-1:222233334444:key/k1", outcome: { code: 5, reason: "NOT_FOUND" } });
      const ids = (rows: { columns: { eventId: string } }[]) => rows.map((r) => r.columns.eventId);
      const account = { accountId: "222233334444" };
      assert.deepEqual(ids(await store.lookup(account, undefined, 10)), ids([a3, a2, a1]), "newest first, ties by higher index");
      assert.deepEqual(ids(await store.lookup({ ...account, action: "kms:Decrypt" }, undefined, 10)), ids([a3, a1]));
      assert.deepEqual(ids(await store.lookup({ ...account, principalKrn: "krn:keyhold:iam::222233334444:user/bob" }, undefined, 10)), ids([a2]));
      assert.deepEqual(ids(await store.lookup({ ...account, resource: "krn:keyhold:kms:test-1:222233334444:key/k1" }, undefined, 10)), ids([a3, a1]));
      assert.deepEqual(ids(await store.lookup({ ...account, outcome: { kind: "ok" } }, undefined, 10)), ids([a1]));
      assert.deepEqual(ids(await store.lookup({ ...account, outcome: { kind: "error" } }, undefined, 10)), ids([a3, a2]));
      assert.deepEqual(ids(await store.lookup({ ...account, outcome: { kind: "reason", reason: "ACCESS_DENIED" } }, undefined, 10)), ids([a2]));
      const micros = (second: bigint) => (base + second) * 1_000_000n;
      assert.deepEqual(ids(await store.lookup({ ...account, startMicros: micros(2n) }, undefined, 10)), ids([a3, a2]));
      assert.deepEqual(ids(await store.lookup({ ...account, endMicros: micros(3n) }, undefined, 10)), ids([a1]));
      const first = await store.lookup(account, undefined, 1);
      assert.deepEqual(ids(first), ids([a3]));
      const cursor = { timeMicros: first[0]!.columns.timeMicros, index: first[0]!.index };
      assert.deepEqual(ids(await store.lookup(account, cursor, 1)), ids([a2]));
      assert.deepEqual(ids(await store.lookup(account, cursor, 5)), ids([a2, a1]));
      assert.deepEqual(await store.lookup({ accountId: "999988887777" }, undefined, 5), []);
    });

    test("checkpoints: stored with their frontier, found by size and time, never backwards, refused when drafted against a stale latest", async () => {
      const size = (await store.head()).size;
      const early = await checkpointAt(store, 4, 100n);
      await store.putCheckpoint(early, null);
      await assert.rejects(store.putCheckpoint(await checkpointAt(store, 6, 200n), null), CheckpointConflictError);
      await assert.rejects(store.putCheckpoint(await checkpointAt(store, 6, 200n), 2), CheckpointConflictError);
      await assert.rejects(store.putCheckpoint(await checkpointAt(store, 4, 200n), 4), CheckpointRegressionError);
      await assert.rejects(store.putCheckpoint(await checkpointAt(store, 3, 200n)), CheckpointRegressionError);
      const middle = await checkpointAt(store, 6, 200n);
      await store.putCheckpoint(middle, 4);
      const late = await checkpointAt(store, size, 300n);
      await store.putCheckpoint(late);
      assert.deepEqual(await store.latestCheckpoint(), late);
      assert.deepEqual(await store.checkpointAtOrBefore(5), early);
      assert.deepEqual(await store.checkpointAtOrBefore(6), middle);
      assert.deepEqual(await store.checkpointAtOrAfter(5), middle);
      assert.equal(await store.checkpointAtOrAfter(size + 1), undefined);
      assert.deepEqual((await store.checkpointsBetween(4, 6)).map((c) => c.treeSize), [4, 6]);
      assert.deepEqual((await store.checkpointsBetween(0, size)).map((c) => c.treeSize), [4, 6, size]);
      assert.deepEqual(await store.newestCheckpointBefore(250n), middle);
      assert.equal(await store.newestCheckpointBefore(100n), undefined);
      const frontier = MerkleFrontier.fromHashes(middle.treeSize, (await store.checkpointAtOrAfter(6))!.frontier);
      assert.deepEqual(frontier.root(), middle.rootHash);
    });

    test("retention: the boundary moves to a checkpoint only, forward only; records before it are gone, the head stays", async () => {
      const head = await store.head();
      await assert.rejects(store.setRetainedStart(5), /no checkpoint at size 5/);
      await store.setRetainedStart(6);
      await store.setRetainedStart(4);
      assert.equal(await store.retainedStart(), 6);
      assert.equal(await store.record(2), undefined, "below the boundary: not served even before it is deleted");
      assert.equal(await store.deletePruned(4), 4);
      assert.equal(await store.deletePruned(100), 2);
      assert.equal(await store.deletePruned(100), 0);
      assert.deepEqual((await store.checkpointsBetween(0, head.size)).map((c) => c.treeSize), [6, head.size]);
      assert.equal((await store.records(0, head.size, 100))[0]?.index, 6);
      assert.deepEqual(await store.head(), head);
      // Everything pruned up to the latest checkpoint: the head comes from the boundary checkpoint.
      await store.setRetainedStart(head.size);
      await store.deletePruned(1000);
      assert.deepEqual(await store.records(0, head.size, 100), []);
      assert.deepEqual(await store.head(), head);
      const next = await appendEvents(store, SOURCE_A, 8, 8);
      assert.deepEqual(next[0]!.chainHash, chainHash(head.chainHash, next[0]!.leafHash));
      assert.equal((await store.record(head.size))?.index, head.size);
    });
  });
}

conformance("SQLite", false, async () => {
  const dir = mkdtempSync(join(tmpdir(), "keyhold-audit-store-"));
  const store = new SqliteAuditStore(openSqliteDatabase(join(dir, "audit.sqlite")));
  return {
    store,
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

let fixture: PostgresFixture | undefined;
conformance("PostgreSQL", SKIP_POSTGRES, async () => {
  fixture = await startPostgresFixture();
  const database = await fixture.database();
  const store = openPostgresAuditStore(database.url, { schema: POSTGRES_SCHEMA });
  await store.migrate();
  return {
    store,
    async close() {
      await store.close();
      await fixture?.stop();
    },
  };
});
