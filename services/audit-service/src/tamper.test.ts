// Tampering with a real store (the SQLite file, or the PostgreSQL tables by SQL) while
// audit-service is down, then asking VerifyLog (and the offline verifier, for a fork) what is
// wrong: the first bad record, or the checkpoint that the records no longer match. The log: 50
// events of two accounts, checkpoints at 30 and 50.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { Code } from "@connectrpc/connect";
import { chainHash } from "./domain/chain.ts";
import { canonicalEventBytes, decodeEvent, eventColumns } from "./domain/event.ts";
import { verifyExport } from "./domain/export.ts";
import { leafHash } from "./domain/merkle.ts";
import { SKIP_POSTGRES, startPostgresFixture, withSql, type PostgresFixture } from "./test-postgres.ts";
import { batch, exportText, MANAGEMENT_ACCOUNT, OTHER_ACCOUNT, refusal, SOURCE, startTestAuditService, type TestAuditService } from "./test-support.ts";

/** SQL on the store of a stopped service, in one transaction (`?` parameters on both backends). */
interface Sql {
  all<T>(sql: string, ...params: unknown[]): Promise<T[]>;
  run(sql: string, ...params: unknown[]): Promise<void>;
}

interface Backend {
  readonly name: string;
  readonly skip: string | false;
  /** Environment of a new service (its own store). */
  env(): Promise<Record<string, string>>;
  tamper(service: TestAuditService, change: (sql: Sql) => Promise<void>): Promise<void>;
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
}

const sqlite: Backend = {
  name: "SQLite",
  skip: false,
  env: async () => ({}),
  async tamper(service, change) {
    const db = new Database(service.databasePath);
    try {
      db.exec("BEGIN IMMEDIATE");
      await change({
        all: async <T>(sql: string, ...params: unknown[]) => db.prepare(sql).all(...params) as T[],
        run: async (sql, ...params) => void db.prepare(sql).run(...params),
      });
      db.exec("COMMIT");
    } finally {
      db.close();
    }
  },
  setUp: async () => undefined,
  tearDown: async () => undefined,
};

let fixture: PostgresFixture | undefined;
const numbered = (sql: string) => {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
};
const postgres: Backend = {
  name: "PostgreSQL",
  skip: SKIP_POSTGRES,
  env: async () => ({ KEYHOLD_DATABASE_URL: (await fixture!.database()).url }),
  async tamper(service, change) {
    await withSql(service.databaseUrl!, async (client) => {
      await change({
        all: async <T>(sql: string, ...params: unknown[]) => (await client.query(numbered(sql), params)).rows as T[],
        run: async (sql, ...params) => void (await client.query(numbered(sql), params)),
      });
    });
  },
  async setUp() {
    fixture = await startPostgresFixture();
  },
  async tearDown() {
    await fixture?.stop();
  },
};

for (const backend of [sqlite, postgres]) {
  describe(`tampering with the store (${backend.name})`, { skip: backend.skip }, () => {
    before(() => backend.setUp());
    after(() => backend.tearDown());

    async function preparedLog(): Promise<TestAuditService> {
      const service = await startTestAuditService({ env: await backend.env() });
      await service.ingest.appendEvents({ source: SOURCE, events: [...batch(1, 15), ...batch(16, 30, { accountId: OTHER_ACCOUNT })] });
      const first = await service.as(MANAGEMENT_ACCOUNT).getCheckpoint({ fresh: true });
      assert.equal(first.checkpoint?.treeSize, 30n);
      await service.ingest.appendEvents({ source: SOURCE, events: batch(31, 50) });
      await service.stop(); // signs the checkpoint at 50
      return service;
    }

    const tamper = (service: TestAuditService, change: (sql: Sql) => Promise<void>) => backend.tamper(service, change);

    async function verifyAfter(service: TestAuditService): Promise<{ ok: boolean; firstBadIndex: bigint; problem: string; restarted: TestAuditService }> {
      const restarted = await service.restart();
      const answer = await restarted.as(MANAGEMENT_ACCOUNT).verifyLog({});
      return { ok: answer.ok, firstBadIndex: answer.firstBadIndex, problem: answer.problem, restarted };
    }

    /** Rewrites record `index` with `event` bytes and recomputes every later leaf and chain hash: a self-consistent fork. */
    async function rebuildFrom(db: Sql, index: number, change: (bytes: Buffer) => Uint8Array): Promise<void> {
      const rows = await db.all<{ idx: number | string; event: Buffer }>("SELECT idx, event FROM records WHERE idx >= ? ORDER BY idx", index);
      let chain = (await db.all<{ chain_hash: Buffer }>("SELECT chain_hash FROM records WHERE idx = ?", index - 1))[0]!.chain_hash;
      for (const row of rows) {
        const bytes = Number(row.idx) === index ? Buffer.from(change(row.event)) : row.event;
        const leaf = leafHash(bytes);
        chain = chainHash(chain, leaf);
        await db.run("UPDATE records SET event = ?, leaf_hash = ?, chain_hash = ?, action = ? WHERE idx = ?", bytes, leaf, chain, decodeEvent(bytes).action, row.idx);
      }
    }

      test("untouched, the log verifies", async () => {
        const { ok, problem, restarted } = await verifyAfter(await preparedLog());
        try {
          assert.equal(problem, "");
          assert.ok(ok);
        } finally {
          await restarted.close();
        }
      });

      test("a changed byte of a stored record names the record", async () => {
        const service = await preparedLog();
        await tamper(service, async (db) => {
          const [{ event }] = (await db.all<{ event: Buffer }>("SELECT event FROM records WHERE idx = 41")) as [{ event: Buffer }];
          event[event.length - 3]! ^= 0x01;
          await db.run("UPDATE records SET event = ? WHERE idx = 41", event);
        });
        const { ok, firstBadIndex, problem, restarted } = await verifyAfter(service);
        try {
          assert.equal(ok, false);
          assert.equal(firstBadIndex, 41n);
          assert.equal(problem, "record 41: leaf hash does not match the event (changed record)");
        } finally {
          await restarted.close();
        }
      });

      test("a changed record with a recomputed leaf hash breaks the chain at that record", async () => {
        const service = await preparedLog();
        await tamper(service, async (db) => {
          const [{ event }] = (await db.all<{ event: Buffer }>("SELECT event FROM records WHERE idx = 12")) as [{ event: Buffer }];
          const changed = decodeEvent(event);
          changed.action = "kms:Decrypt";
          const bytes = Buffer.from(canonicalEventBytes(changed));
          await db.run("UPDATE records SET event = ?, leaf_hash = ?, action = ? WHERE idx = 12", bytes, leafHash(bytes), "kms:Decrypt");
        });
        const { firstBadIndex, problem, restarted } = await verifyAfter(service);
        try {
          assert.equal(firstBadIndex, 12n);
          assert.equal(problem, "record 12: chain hash mismatch (changed, deleted or reordered record)");
        } finally {
          await restarted.close();
        }
      });

      test("a changed lookup column (to hide an event from LookupEvents) names the record", async () => {
        const service = await preparedLog();
        await tamper(service, (db) => db.run("UPDATE records SET account_id = ? WHERE idx = 5", "999999999999"));
        const { firstBadIndex, problem, restarted } = await verifyAfter(service);
        try {
          assert.equal(firstBadIndex, 5n);
          assert.equal(problem, "record 5: lookup column accountId does not match the event (changed record)");
        } finally {
          await restarted.close();
        }
      });

      test("a deleted record names the record", async () => {
        const service = await preparedLog();
        await tamper(service, (db) => db.run("DELETE FROM records WHERE idx = 41"));
        const { firstBadIndex, problem, restarted } = await verifyAfter(service);
        try {
          assert.equal(firstBadIndex, 41n);
          assert.equal(problem, "record 41: missing (expected index 41, found 42: deleted or reordered record)");
        } finally {
          await restarted.close();
        }
      });

      test("a deleted record with the later ones renumbered breaks the chain there", async () => {
        const service = await preparedLog();
        await tamper(service, async (db) => {
          await db.run("DELETE FROM records WHERE idx = 20");
          for (let i = 21; i < 50; i++) await db.run("UPDATE records SET idx = ? WHERE idx = ?", i - 1, i);
        });
        const { firstBadIndex, problem, restarted } = await verifyAfter(service);
        try {
          assert.equal(firstBadIndex, 20n);
          assert.equal(problem, "record 20: chain hash mismatch (changed, deleted or reordered record)");
        } finally {
          await restarted.close();
        }
      });

      test("two swapped records name the first of them", async () => {
        const service = await preparedLog();
        await tamper(service, async (db) => {
          await db.run("UPDATE records SET idx = 1000000 WHERE idx = 20");
          await db.run("UPDATE records SET idx = 20 WHERE idx = 21");
          await db.run("UPDATE records SET idx = 21 WHERE idx = 1000000");
        });
        const { firstBadIndex, problem, restarted } = await verifyAfter(service);
        try {
          assert.equal(firstBadIndex, 20n);
          assert.equal(problem, "record 20: chain hash mismatch (changed, deleted or reordered record)");
        } finally {
          await restarted.close();
        }
      });

      test("a truncated tail: the checkpoint claims more records; appends and new checkpoints are refused", async () => {
        const service = await preparedLog();
        await tamper(service, (db) => db.run("DELETE FROM records WHERE idx >= 45"));
        const { firstBadIndex, problem, restarted } = await verifyAfter(service);
        try {
          assert.equal(problem, "checkpoint size 50 but only 45 records");
          assert.equal(firstBadIndex, 45n);
          assert.ok(restarted.app.context.log.halted?.includes("checkpoint size 50 but only 45 records"));
          const unavailable = { code: Code.Unavailable, reason: "AUDIT_UNAVAILABLE", field: undefined };
          assert.deepEqual(await refusal(restarted.ingest.appendEvents({ source: SOURCE, events: batch(51, 51) })), unavailable);
          assert.deepEqual(await refusal(restarted.as(MANAGEMENT_ACCOUNT).getCheckpoint({ fresh: true })), unavailable);
          // Nothing was signed over the shorter log: the latest checkpoint is still the one at 50.
          assert.equal((await restarted.as(MANAGEMENT_ACCOUNT).getCheckpoint({})).checkpoint?.treeSize, 50n);
        } finally {
          await restarted.close();
        }
      });

      test("a self-consistent fork (rebuilt chain, different content) contradicts the signed checkpoints", async () => {
        const service = await preparedLog();
        // The export a security officer took before the rewrite, and the checkpoint they kept.
        const before = await service.restart();
        const trusted = (await before.as(MANAGEMENT_ACCOUNT).getCheckpoint({})).checkpoint!;
        await before.stop();
        await tamper(service, (db) =>
          rebuildFrom(db, 10, (bytes) => {
            const event = decodeEvent(bytes);
            event.action = "kms:Decrypt";
            return canonicalEventBytes(event);
          }),
        );
        const { ok, firstBadIndex, problem, restarted } = await verifyAfter(service);
        try {
          assert.equal(ok, false);
          assert.equal(firstBadIndex, -1n);
          assert.equal(problem, "checkpoint at size 30: root does not match records 0..29 (a rewritten or forked log)");
          // Every record chains; only the signed roots give the rewrite away.
          const records = await restarted.app.context.store.records(0, 50, 100);
          assert.equal(records[10]!.columns.action, eventColumns(decodeEvent(records[10]!.eventBytes)).action);
          // The service noticed at start: nothing more is appended to or signed over the rewritten log.
          assert.equal(restarted.app.context.log.halted, "checkpoint at size 50: chain hash does not match record 49 (a rewritten or forked log)");
          assert.equal((await refusal(restarted.ingest.appendEvents({ source: SOURCE, events: batch(51, 51) }))).reason, "AUDIT_UNAVAILABLE");
          assert.equal((await refusal(restarted.as(MANAGEMENT_ACCOUNT).getCheckpoint({ fresh: true }))).reason, "AUDIT_UNAVAILABLE");
          // An attacker who also deleted the checkpoints and re-signed is caught by the checkpoint kept earlier.
          const forged = await forgedExport(restarted);
          const result = verifyExport(forged, restarted.app.context.log.publicKey, [
            { treeSize: Number(trusted.treeSize), rootHash: Buffer.from(trusted.rootHash), chainHash: Buffer.from(trusted.chainHash), timeSeconds: trusted.time!.seconds, timeNanos: trusted.time!.nanos, keyId: trusted.keyId, signature: Buffer.from(trusted.signature) },
          ]);
          assert.equal(result.ok, false);
          assert.match(result.problem!.message, /^fork: the tree at size 50 has root [0-9a-f]{64}, but the trusted checkpoint says [0-9a-f]{64}$/);
        } finally {
          await restarted.close();
        }
      });

      test("a checkpoint whose signature was changed, or one signed with another key, is named", async () => {
        const service = await preparedLog();
        await tamper(service, async (db) => {
          const [{ signature }] = (await db.all<{ signature: Buffer }>("SELECT signature FROM checkpoints WHERE tree_size = 30")) as [{ signature: Buffer }];
          signature[5]! ^= 0x40;
          await db.run("UPDATE checkpoints SET signature = ? WHERE tree_size = 30", signature);
        });
        const { firstBadIndex, problem, restarted } = await verifyAfter(service);
        try {
          assert.equal(firstBadIndex, -1n);
          assert.equal(problem, "checkpoint at size 30: bad signature");
        } finally {
          await restarted.close();
        }
      });

    /**
     * What an attacker with the store could produce: the rewritten records exported with a
     * checkpoint signed over them (here with the service's own key, as if the key were stolen too;
     * without it the signature check fails first).
     */
    async function forgedExport(service: TestAuditService): Promise<string> {
      await tamper(service, (db) => db.run("DELETE FROM checkpoints"));
      const log = service.app.context.log as unknown as { haltedBecause: string | undefined };
      log.haltedBecause = undefined;
      return exportText(service.as(MANAGEMENT_ACCOUNT).exportEvents({}));
    }
  });
}
