// AuditStore on better-sqlite3: WAL journal, synchronous=FULL (a commit is on disk before an
// append is acknowledged), prepared statements, one transaction per appended batch. Synchronous
// inside (one process owns the file; its log writer thread is the only writer), behind the
// asynchronous AuditStore interface: each call runs to completion before it returns its promise.
import type Database from "better-sqlite3";
import { openMigratedDatabase, type SqliteDatabase } from "@keyhold/sqlite";
import { GENESIS_CHAIN_HASH } from "../domain/chain.ts";
import type { EventColumns } from "../domain/event.ts";
import { SQLITE_MIGRATIONS } from "./migrations.ts";
import {
  CheckpointConflictError,
  CheckpointRegressionError,
  type AppendPlan,
  type AppendState,
  type AuditStore,
  type ChainLink,
  type LogHead,
  type LookupCursor,
  type LookupFilter,
  type StoredCheckpoint,
  type StoredRecord,
} from "./audit-store.ts";

interface RecordRow {
  idx: bigint;
  event: Buffer;
  leaf_hash: Buffer;
  chain_hash: Buffer;
  appended_at: bigint;
  event_id: string;
  time_us: bigint;
  account_id: string;
  principal_krn: string;
  action: string;
  resource: string;
  outcome_code: bigint;
  outcome_reason: string;
  source: string;
  source_sequence: bigint;
}

interface CheckpointRow {
  tree_size: bigint;
  root_hash: Buffer;
  chain_hash: Buffer;
  time_seconds: bigint;
  time_nanos: bigint;
  key_id: string;
  signature: Buffer;
  frontier: Buffer;
}

const toRecord = (row: RecordRow): StoredRecord => ({
  index: Number(row.idx),
  eventBytes: row.event,
  leafHash: row.leaf_hash,
  chainHash: row.chain_hash,
  appendedAt: Number(row.appended_at),
  columns: {
    eventId: row.event_id,
    timeMicros: row.time_us,
    accountId: row.account_id,
    principalKrn: row.principal_krn,
    action: row.action,
    resource: row.resource,
    outcomeCode: Number(row.outcome_code),
    outcomeReason: row.outcome_reason,
    source: row.source,
    sourceSequence: row.source_sequence,
  },
});

function splitFrontier(blob: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let offset = 0; offset + 32 <= blob.length; offset += 32) out.push(Buffer.from(blob.subarray(offset, offset + 32)));
  return out;
}

const toCheckpoint = (row: CheckpointRow): StoredCheckpoint => ({
  treeSize: Number(row.tree_size),
  rootHash: row.root_hash,
  chainHash: row.chain_hash,
  timeSeconds: row.time_seconds,
  timeNanos: Number(row.time_nanos),
  keyId: row.key_id,
  signature: row.signature,
  frontier: splitFrontier(row.frontier),
});

/** Opens (creating and migrating as needed) this service's database file, or ":memory:". */
export function openSqliteDatabase(path: string): SqliteDatabase {
  return openMigratedDatabase(path, SQLITE_MIGRATIONS);
}

const RECORD_COLUMNS = "idx, event, leaf_hash, chain_hash, appended_at, event_id, time_us, account_id, principal_krn, action, resource, outcome_code, outcome_reason, source, source_sequence";

export class SqliteAuditStore implements AuditStore {
  private readonly db: SqliteDatabase;
  private readonly lookupStatements = new Map<string, Database.Statement<Record<string, unknown>, RecordRow>>();
  private readonly statements;

  constructor(db: SqliteDatabase) {
    this.db = db;
    const safe = <S extends { safeIntegers(toggle?: boolean): S }>(statement: S): S => statement.safeIntegers(true);
    this.statements = {
      last: safe(db.prepare<[], { idx: bigint; chain_hash: Buffer }>(`SELECT idx, chain_hash FROM records ORDER BY idx DESC LIMIT 1`)),
      mark: safe(db.prepare<[string], { acknowledged_through: bigint }>(`SELECT acknowledged_through FROM sources WHERE source = ?`)),
      upsertMark: db.prepare(
        `INSERT INTO sources (source, acknowledged_through, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (source) DO UPDATE SET acknowledged_through = excluded.acknowledged_through, updated_at = excluded.updated_at`,
      ),
      insert: db.prepare(
        `INSERT INTO records (${RECORD_COLUMNS})
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      range: safe(db.prepare<[number, number, number], RecordRow>(`SELECT ${RECORD_COLUMNS} FROM records WHERE idx >= ? AND idx < ? ORDER BY idx LIMIT ?`)),
      one: safe(db.prepare<[number], RecordRow>(`SELECT ${RECORD_COLUMNS} FROM records WHERE idx = ?`)),
      byEventId: safe(db.prepare<[string, number], RecordRow>(`SELECT ${RECORD_COLUMNS} FROM records WHERE event_id = ? AND idx >= ? ORDER BY idx LIMIT 1`)),
      byEventIdInAccount: safe(
        db.prepare<[string, string, number], RecordRow>(`SELECT ${RECORD_COLUMNS} FROM records WHERE event_id = ? AND account_id = ? AND idx >= ? ORDER BY idx LIMIT 1`),
      ),
      leaves: db.prepare<[number, number], { leaf_hash: Buffer }>(`SELECT leaf_hash FROM records WHERE idx >= ? AND idx < ? ORDER BY idx`),
      links: db.prepare<[number, number, number], { idx: number; leaf_hash: Buffer; chain_hash: Buffer }>(
        `SELECT idx, leaf_hash, chain_hash FROM records WHERE idx >= ? AND idx < ? ORDER BY idx LIMIT ?`,
      ),
      latestCheckpoint: safe(db.prepare<[], CheckpointRow>(`SELECT * FROM checkpoints ORDER BY tree_size DESC LIMIT 1`)),
      checkpointAtOrBefore: safe(db.prepare<[number], CheckpointRow>(`SELECT * FROM checkpoints WHERE tree_size <= ? ORDER BY tree_size DESC LIMIT 1`)),
      checkpointAtOrAfter: safe(db.prepare<[number], CheckpointRow>(`SELECT * FROM checkpoints WHERE tree_size >= ? ORDER BY tree_size LIMIT 1`)),
      checkpointsBetween: safe(db.prepare<[number, number], CheckpointRow>(`SELECT * FROM checkpoints WHERE tree_size >= ? AND tree_size <= ? ORDER BY tree_size`)),
      checkpointBefore: safe(
        db.prepare<[bigint], CheckpointRow>(`SELECT * FROM checkpoints WHERE time_seconds < ? ORDER BY time_seconds DESC, tree_size DESC LIMIT 1`),
      ),
      insertCheckpoint: db.prepare(
        `INSERT INTO checkpoints (tree_size, root_hash, chain_hash, time_seconds, time_nanos, key_id, signature, frontier)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      getMeta: db.prepare<[string], { value: string }>(`SELECT value FROM meta WHERE name = ?`),
      setMeta: db.prepare(`INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`),
      deleteRecords: db.prepare(`DELETE FROM records WHERE idx IN (SELECT idx FROM records WHERE idx < ? ORDER BY idx LIMIT ?)`),
      deleteCheckpoints: db.prepare(`DELETE FROM checkpoints WHERE tree_size < ?`),
    };
  }

  async head(): Promise<LogHead> {
    return this.headNow();
  }

  private headNow(): LogHead {
    const last = this.statements.last.get();
    if (last !== undefined) return { size: Number(last.idx) + 1, chainHash: last.chain_hash };
    // Empty table: nothing appended yet, or everything retained was pruned (the boundary
    // checkpoint then holds the chain hash of its last record).
    const start = this.retainedStartNow();
    if (start === 0) return { size: 0, chainHash: GENESIS_CHAIN_HASH };
    const boundary = this.statements.checkpointAtOrBefore.get(start);
    if (boundary === undefined || Number(boundary.tree_size) !== start) throw new Error(`audit store: the retention checkpoint at size ${start} is missing`);
    return { size: start, chainHash: boundary.chain_hash };
  }

  async retainedStart(): Promise<number> {
    return this.retainedStartNow();
  }

  private retainedStartNow(): number {
    const row = this.statements.getMeta.get("retained_start");
    return row === undefined ? 0 : Number(row.value);
  }

  async acknowledgedThrough(source: string): Promise<bigint> {
    return this.markNow(source);
  }

  private markNow(source: string): bigint {
    return this.statements.mark.get(source)?.acknowledged_through ?? 0n;
  }

  async append(source: string, appendedAt: number, known: number, plan: (state: AppendState) => AppendPlan): Promise<AppendPlan> {
    return this.db.transaction((): AppendPlan => {
      const head = this.headNow();
      const mark = this.markNow(source);
      // (One process writes a SQLite log: the head is where its writer left it, unless the file was changed.)
      const unseen = head.size > known ? this.linksNow(known, head.size, head.size - known) : [];
      const decided = plan({ head, acknowledgedThrough: mark, unseen });
      if (decided.acknowledgedThrough < mark) throw new Error("audit store: a source's mark never goes back");
      let idx = head.size;
      for (const record of decided.records) {
        const c: EventColumns = record.columns;
        // (Positional parameters, in RECORD_COLUMNS order: no object per row.)
        this.statements.insert.run(
          idx, record.eventBytes, record.leafHash, record.chainHash, appendedAt, c.eventId, c.timeMicros, c.accountId,
          c.principalKrn, c.action, c.resource, c.outcomeCode, c.outcomeReason, c.source, c.sourceSequence,
        );
        idx++;
      }
      if (decided.acknowledgedThrough !== mark) this.statements.upsertMark.run(source, decided.acknowledgedThrough, appendedAt);
      return decided;
    }).immediate();
  }

  async records(from: number, to: number, limit: number): Promise<StoredRecord[]> {
    return this.statements.range.all(from, to, limit).map(toRecord);
  }

  async record(index: number): Promise<StoredRecord | undefined> {
    const row = this.statements.one.get(index);
    return row === undefined || Number(row.idx) < this.retainedStartNow() ? undefined : toRecord(row);
  }

  async recordByEventId(eventId: string, accountId?: string): Promise<StoredRecord | undefined> {
    const row =
      accountId === undefined
        ? this.statements.byEventId.get(eventId, this.retainedStartNow())
        : this.statements.byEventIdInAccount.get(eventId, accountId, this.retainedStartNow());
    return row === undefined ? undefined : toRecord(row);
  }

  async lookup(filter: LookupFilter, after: LookupCursor | undefined, limit: number): Promise<StoredRecord[]> {
    const where: string[] = ["idx >= @start"];
    const params: Record<string, unknown> = { start: this.retainedStartNow(), limit };
    if (filter.accountId !== undefined) {
      where.push("account_id = @account_id");
      params["account_id"] = filter.accountId;
    }
    if (filter.principalKrn !== undefined) {
      where.push("principal_krn = @principal_krn");
      params["principal_krn"] = filter.principalKrn;
    }
    if (filter.action !== undefined) {
      where.push("action = @action");
      params["action"] = filter.action;
    }
    if (filter.resource !== undefined) {
      where.push("resource = @resource");
      params["resource"] = filter.resource;
    }
    if (filter.outcome !== undefined) {
      if (filter.outcome.kind === "ok") where.push("outcome_code = 0");
      else if (filter.outcome.kind === "error") where.push("outcome_code <> 0");
      else {
        where.push("outcome_reason = @outcome_reason");
        params["outcome_reason"] = filter.outcome.reason;
      }
    }
    if (filter.startMicros !== undefined) {
      where.push("time_us >= @start_us");
      params["start_us"] = filter.startMicros;
    }
    if (filter.endMicros !== undefined) {
      where.push("time_us < @end_us");
      params["end_us"] = filter.endMicros;
    }
    if (after !== undefined) {
      where.push("(time_us < @after_us OR (time_us = @after_us AND idx < @after_idx))");
      params["after_us"] = after.timeMicros;
      params["after_idx"] = after.index;
    }
    const sql = `SELECT ${RECORD_COLUMNS} FROM records WHERE ${where.join(" AND ")} ORDER BY time_us DESC, idx DESC LIMIT @limit`;
    let statement = this.lookupStatements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare<Record<string, unknown>, RecordRow>(sql).safeIntegers(true);
      this.lookupStatements.set(sql, statement);
    }
    return statement.all(params).map(toRecord);
  }

  async leafHashes(from: number, to: number): Promise<Buffer[]> {
    return this.statements.leaves.all(from, to).map((row) => row.leaf_hash);
  }

  async chainLinks(from: number, to: number, limit: number): Promise<ChainLink[]> {
    return this.linksNow(from, to, limit);
  }

  private linksNow(from: number, to: number, limit: number): ChainLink[] {
    return this.statements.links.all(from, to, limit).map((row) => ({ index: Number(row.idx), leafHash: row.leaf_hash, chainHash: row.chain_hash }));
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    const row = this.statements.latestCheckpoint.get();
    return row === undefined ? undefined : toCheckpoint(row);
  }

  async checkpointAtOrBefore(size: number): Promise<StoredCheckpoint | undefined> {
    const row = this.statements.checkpointAtOrBefore.get(size);
    return row === undefined ? undefined : toCheckpoint(row);
  }

  async checkpointAtOrAfter(size: number): Promise<StoredCheckpoint | undefined> {
    const row = this.statements.checkpointAtOrAfter.get(size);
    return row === undefined ? undefined : toCheckpoint(row);
  }

  async checkpointsBetween(fromSize: number, toSize: number): Promise<StoredCheckpoint[]> {
    return this.statements.checkpointsBetween.all(fromSize, toSize).map(toCheckpoint);
  }

  async newestCheckpointBefore(seconds: bigint): Promise<StoredCheckpoint | undefined> {
    const row = this.statements.checkpointBefore.get(seconds);
    return row === undefined ? undefined : toCheckpoint(row);
  }

  async putCheckpoint(checkpoint: StoredCheckpoint, draftedAfter?: number | null): Promise<void> {
    this.db.transaction(() => {
      const latest = this.statements.latestCheckpoint.get();
      const latestSize = latest === undefined ? null : Number(latest.tree_size);
      if (draftedAfter !== undefined && draftedAfter !== latestSize) {
        throw new CheckpointConflictError(`checkpoint drafted after size ${draftedAfter ?? "(none)"}, but the latest is at ${latestSize ?? "(none)"}`);
      }
      if (latest !== undefined && checkpoint.treeSize <= Number(latest.tree_size)) {
        throw new CheckpointRegressionError(`checkpoint size never goes backwards: ${checkpoint.treeSize} after ${Number(latest.tree_size)}`);
      }
      this.statements.insertCheckpoint.run(
        checkpoint.treeSize,
        checkpoint.rootHash,
        checkpoint.chainHash,
        checkpoint.timeSeconds,
        checkpoint.timeNanos,
        checkpoint.keyId,
        checkpoint.signature,
        Buffer.concat(checkpoint.frontier.map((h) => Buffer.from(h))),
      );
    }).immediate();
  }

  async setRetainedStart(treeSize: number): Promise<void> {
    this.db.transaction(() => {
      const current = this.retainedStartNow();
      if (treeSize <= current) return;
      const boundary = this.statements.checkpointAtOrBefore.get(treeSize);
      if (boundary === undefined || Number(boundary.tree_size) !== treeSize) throw new Error(`audit store: no checkpoint at size ${treeSize} to retain from`);
      this.statements.setMeta.run("retained_start", String(treeSize));
    }).immediate();
  }

  async deletePruned(limit: number): Promise<number> {
    return this.db.transaction(() => {
      const start = this.retainedStartNow();
      const deleted = this.statements.deleteRecords.run(start, limit).changes;
      this.statements.deleteCheckpoints.run(start);
      return deleted;
    }).immediate();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
