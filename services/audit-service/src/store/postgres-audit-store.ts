// AuditStore on PostgreSQL (schema audit_service), shared by several audit-service replicas.
// Appends and checkpoint stores run in one transaction each that first locks the single
// log_head row, then reads the head (the last record) and the source's mark: appends of every
// replica serialise there, so each plans against the true head and the chain never forks. A
// batch's records go in with one INSERT over unnest()ed arrays, not a round trip per event.
// Commits are durable before they resolve (synchronous_commit as the server has it, on by
// default). An unreachable database fails every call with DATABASE_UNAVAILABLE (UNAVAILABLE).
import type { Logger } from "@keyhold/server-kit";
import { classifyDatabaseError, createPostgresPool, migrate, withTransaction, type PostgresClient, type PostgresPool } from "@keyhold/postgres";
import { GENESIS_CHAIN_HASH } from "../domain/chain.ts";
import { POSTGRES_MIGRATIONS } from "./postgres-migrations.ts";
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

export interface PostgresAuditStoreOptions {
  readonly schema: string;
  readonly maxConnections?: number;
  readonly applicationName?: string;
  readonly logger?: Logger;
}

/** int8 columns arrive as decimal strings (node-postgres keeps them exact). */
type Int8 = string;

interface RecordRow {
  idx: Int8;
  event: Buffer;
  leaf_hash: Buffer;
  chain_hash: Buffer;
  appended_at: Int8;
  event_id: string;
  time_us: Int8;
  account_id: string;
  principal_krn: string;
  action: string;
  resource: string;
  outcome_code: number;
  outcome_reason: string;
  source: string;
  source_sequence: Int8;
}

interface CheckpointRow {
  tree_size: Int8;
  root_hash: Buffer;
  chain_hash: Buffer;
  time_seconds: Int8;
  time_nanos: number;
  key_id: string;
  signature: Buffer;
  frontier: Buffer;
}

const RECORD_COLUMNS = "idx, event, leaf_hash, chain_hash, appended_at, event_id, time_us, account_id, principal_krn, action, resource, outcome_code, outcome_reason, source, source_sequence";
const CHECKPOINT_COLUMNS = "tree_size, root_hash, chain_hash, time_seconds, time_nanos, key_id, signature, frontier";
const RETAINED_START = `COALESCE((SELECT value::bigint FROM meta WHERE name = 'retained_start'), 0)`;

const toRecord = (row: RecordRow): StoredRecord => ({
  index: Number(row.idx),
  eventBytes: row.event,
  leafHash: row.leaf_hash,
  chainHash: row.chain_hash,
  appendedAt: Number(row.appended_at),
  columns: {
    eventId: row.event_id,
    timeMicros: BigInt(row.time_us),
    accountId: row.account_id,
    principalKrn: row.principal_krn,
    action: row.action,
    resource: row.resource,
    outcomeCode: row.outcome_code,
    outcomeReason: row.outcome_reason,
    source: row.source,
    sourceSequence: BigInt(row.source_sequence),
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
  timeSeconds: BigInt(row.time_seconds),
  timeNanos: row.time_nanos,
  keyId: row.key_id,
  signature: row.signature,
  frontier: splitFrontier(row.frontier),
});

const SQL = {
  lock: `SELECT id FROM log_head WHERE id = 1 FOR UPDATE`,
  // The last record (if any) and the retained start: the head. With the source's mark for appends.
  head: `SELECT r.idx, r.chain_hash, ${RETAINED_START} AS retained FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT idx, chain_hash FROM records ORDER BY idx DESC LIMIT 1) r ON true`,
  appendState: `SELECT r.idx, r.chain_hash, ${RETAINED_START} AS retained, (SELECT acknowledged_through FROM sources WHERE source = $1) AS mark
    FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT idx, chain_hash FROM records ORDER BY idx DESC LIMIT 1) r ON true`,
  mark: `SELECT acknowledged_through FROM sources WHERE source = $1`,
  retained: `SELECT ${RETAINED_START} AS retained`,
  insert: `INSERT INTO records (${RECORD_COLUMNS})
    SELECT $1::bigint + u.n - 1, u.event, u.leaf_hash, u.chain_hash, $2::bigint, u.event_id, u.time_us, u.account_id, u.principal_krn, u.action, u.resource,
           u.outcome_code, u.outcome_reason, u.source, u.source_sequence
    FROM unnest($3::bytea[], $4::bytea[], $5::bytea[], $6::text[], $7::bigint[], $8::text[], $9::text[], $10::text[], $11::text[], $12::integer[], $13::text[], $14::text[], $15::bigint[])
      WITH ORDINALITY AS u(event, leaf_hash, chain_hash, event_id, time_us, account_id, principal_krn, action, resource, outcome_code, outcome_reason, source, source_sequence, n)`,
  upsertMark: `INSERT INTO sources (source, acknowledged_through, updated_at) VALUES ($1, $2, $3)
    ON CONFLICT (source) DO UPDATE SET acknowledged_through = excluded.acknowledged_through, updated_at = excluded.updated_at`,
  range: `SELECT ${RECORD_COLUMNS} FROM records WHERE idx >= $1 AND idx < $2 ORDER BY idx LIMIT $3`,
  one: `SELECT ${RECORD_COLUMNS} FROM records WHERE idx = $1 AND idx >= ${RETAINED_START}`,
  byEventId: `SELECT ${RECORD_COLUMNS} FROM records WHERE event_id = $1 AND idx >= ${RETAINED_START} ORDER BY idx LIMIT 1`,
  byEventIdInAccount: `SELECT ${RECORD_COLUMNS} FROM records WHERE event_id = $1 AND account_id = $2 AND idx >= ${RETAINED_START} ORDER BY idx LIMIT 1`,
  leaves: `SELECT leaf_hash FROM records WHERE idx >= $1 AND idx < $2 ORDER BY idx`,
  links: `SELECT idx, leaf_hash, chain_hash FROM records WHERE idx >= $1 AND idx < $2 ORDER BY idx LIMIT $3`,
  latestCheckpoint: `SELECT ${CHECKPOINT_COLUMNS} FROM checkpoints ORDER BY tree_size DESC LIMIT 1`,
  checkpointAtOrBefore: `SELECT ${CHECKPOINT_COLUMNS} FROM checkpoints WHERE tree_size <= $1 ORDER BY tree_size DESC LIMIT 1`,
  checkpointAtOrAfter: `SELECT ${CHECKPOINT_COLUMNS} FROM checkpoints WHERE tree_size >= $1 ORDER BY tree_size LIMIT 1`,
  checkpointsBetween: `SELECT ${CHECKPOINT_COLUMNS} FROM checkpoints WHERE tree_size >= $1 AND tree_size <= $2 ORDER BY tree_size`,
  checkpointBefore: `SELECT ${CHECKPOINT_COLUMNS} FROM checkpoints WHERE time_seconds < $1 ORDER BY time_seconds DESC, tree_size DESC LIMIT 1`,
  insertCheckpoint: `INSERT INTO checkpoints (${CHECKPOINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
  setRetained: `INSERT INTO meta (name, value) VALUES ('retained_start', $1) ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
  deleteRecords: `DELETE FROM records WHERE idx IN (SELECT idx FROM records WHERE idx < $1 ORDER BY idx LIMIT $2)`,
  deleteCheckpoints: `DELETE FROM checkpoints WHERE tree_size < $1`,
} as const;

type Queryable = Pick<PostgresPool, "query"> | PostgresClient;

interface HeadRow {
  idx: Int8 | null;
  chain_hash: Buffer | null;
  retained: Int8;
}

/** Creates the pool (no connection yet); migrate() before first use. */
export function openPostgresAuditStore(url: string, options: PostgresAuditStoreOptions): PostgresAuditStore {
  const pool = createPostgresPool(url, {
    schema: options.schema,
    maxConnections: options.maxConnections ?? 8,
    applicationName: options.applicationName ?? "keyhold-audit-service",
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  return new PostgresAuditStore(pool, options.schema);
}

export class PostgresAuditStore implements AuditStore {
  private readonly pool: PostgresPool;
  private readonly schema: string;

  constructor(pool: PostgresPool, schema: string) {
    this.pool = pool;
    this.schema = schema;
  }

  /** Creates or updates the schema (serialised across replicas starting together). */
  async migrate(): Promise<void> {
    await migrate(this.pool, this.schema, POSTGRES_MIGRATIONS).catch((error: unknown) => {
      throw classifyDatabaseError(error);
    });
  }

  /** One statement on the pool (prepared once per connection); unavailability as DATABASE_UNAVAILABLE. */
  private async query<R extends object>(name: keyof typeof SQL, values: readonly unknown[], on: Queryable = this.pool): Promise<R[]> {
    try {
      const result = await on.query<R>({ name: `audit_${name}`, text: SQL[name], values: values as unknown[] });
      return result.rows;
    } catch (error) {
      throw classifyDatabaseError(error);
    }
  }

  private async headOf(row: HeadRow, on: Queryable): Promise<LogHead> {
    if (row.idx !== null && row.chain_hash !== null) return { size: Number(row.idx) + 1, chainHash: row.chain_hash };
    // No records: nothing appended yet, or everything retained was pruned (the boundary
    // checkpoint then holds the chain hash of its last record).
    const start = Number(row.retained);
    if (start === 0) return { size: 0, chainHash: GENESIS_CHAIN_HASH };
    const [boundary] = await this.query<CheckpointRow>("checkpointAtOrBefore", [start], on);
    if (boundary === undefined || Number(boundary.tree_size) !== start) throw new Error(`audit store: the retention checkpoint at size ${start} is missing`);
    return { size: start, chainHash: boundary.chain_hash };
  }

  async head(): Promise<LogHead> {
    const [row] = await this.query<HeadRow>("head", []);
    return this.headOf(row!, this.pool);
  }

  async retainedStart(): Promise<number> {
    const [row] = await this.query<{ retained: Int8 }>("retained", []);
    return Number(row!.retained);
  }

  async acknowledgedThrough(source: string): Promise<bigint> {
    const [row] = await this.query<{ acknowledged_through: Int8 }>("mark", [source]);
    return row === undefined ? 0n : BigInt(row.acknowledged_through);
  }

  async append(source: string, appendedAt: number, known: number, plan: (state: AppendState) => AppendPlan): Promise<AppendPlan> {
    return withTransaction(this.pool, async (client) => {
      // The append lock first; the reads after it see every append committed before it was granted.
      await this.query("lock", [], client);
      const [row] = await this.query<HeadRow & { mark: Int8 | null }>("appendState", [source], client);
      const head = await this.headOf(row!, client);
      const mark = row!.mark === null ? 0n : BigInt(row!.mark);
      const unseen = head.size > known ? await this.linksOn(client, known, head.size, head.size - known) : [];
      const decided = plan({ head, acknowledgedThrough: mark, unseen });
      if (decided.acknowledgedThrough < mark) throw new Error("audit store: a source's mark never goes back");
      const records = decided.records;
      if (records.length > 0) {
        const column = <T>(pick: (record: (typeof records)[number]) => T): T[] => records.map(pick);
        await this.query(
          "insert",
          [
            head.size,
            appendedAt,
            column((r) => r.eventBytes),
            column((r) => r.leafHash),
            column((r) => r.chainHash),
            column((r) => r.columns.eventId),
            column((r) => r.columns.timeMicros),
            column((r) => r.columns.accountId),
            column((r) => r.columns.principalKrn),
            column((r) => r.columns.action),
            column((r) => r.columns.resource),
            column((r) => r.columns.outcomeCode),
            column((r) => r.columns.outcomeReason),
            column((r) => r.columns.source),
            column((r) => r.columns.sourceSequence),
          ],
          client,
        );
      }
      if (decided.acknowledgedThrough !== mark) await this.query("upsertMark", [source, decided.acknowledgedThrough, appendedAt], client);
      return decided;
    });
  }

  async records(from: number, to: number, limit: number): Promise<StoredRecord[]> {
    return (await this.query<RecordRow>("range", [from, to, limit])).map(toRecord);
  }

  async record(index: number): Promise<StoredRecord | undefined> {
    const [row] = await this.query<RecordRow>("one", [index]);
    return row === undefined ? undefined : toRecord(row);
  }

  async recordByEventId(eventId: string, accountId?: string): Promise<StoredRecord | undefined> {
    const [row] = accountId === undefined ? await this.query<RecordRow>("byEventId", [eventId]) : await this.query<RecordRow>("byEventIdInAccount", [eventId, accountId]);
    return row === undefined ? undefined : toRecord(row);
  }

  async lookup(filter: LookupFilter, after: LookupCursor | undefined, limit: number): Promise<StoredRecord[]> {
    const values: unknown[] = [];
    const param = (value: unknown) => {
      values.push(value);
      return `$${values.length}`;
    };
    const where: string[] = [`idx >= ${RETAINED_START}`];
    if (filter.accountId !== undefined) where.push(`account_id = ${param(filter.accountId)}`);
    if (filter.principalKrn !== undefined) where.push(`principal_krn = ${param(filter.principalKrn)}`);
    if (filter.action !== undefined) where.push(`action = ${param(filter.action)}`);
    if (filter.resource !== undefined) where.push(`resource = ${param(filter.resource)}`);
    if (filter.outcome !== undefined) {
      if (filter.outcome.kind === "ok") where.push("outcome_code = 0");
      else if (filter.outcome.kind === "error") where.push("outcome_code <> 0");
      else where.push(`outcome_reason = ${param(filter.outcome.reason)}`);
    }
    if (filter.startMicros !== undefined) where.push(`time_us >= ${param(filter.startMicros)}`);
    if (filter.endMicros !== undefined) where.push(`time_us < ${param(filter.endMicros)}`);
    if (after !== undefined) {
      const afterUs = param(after.timeMicros);
      where.push(`(time_us < ${afterUs} OR (time_us = ${afterUs} AND idx < ${param(after.index)}))`);
    }
    const sql = `SELECT ${RECORD_COLUMNS} FROM records WHERE ${where.join(" AND ")} ORDER BY time_us DESC, idx DESC LIMIT ${param(limit)}`;
    try {
      return (await this.pool.query<RecordRow>(sql, values)).rows.map(toRecord);
    } catch (error) {
      throw classifyDatabaseError(error);
    }
  }

  async leafHashes(from: number, to: number): Promise<Buffer[]> {
    return (await this.query<{ leaf_hash: Buffer }>("leaves", [from, to])).map((row) => row.leaf_hash);
  }

  async chainLinks(from: number, to: number, limit: number): Promise<ChainLink[]> {
    return this.linksOn(this.pool, from, to, limit);
  }

  private async linksOn(on: Queryable, from: number, to: number, limit: number): Promise<ChainLink[]> {
    const rows = await this.query<{ idx: Int8; leaf_hash: Buffer; chain_hash: Buffer }>("links", [from, to, limit], on);
    return rows.map((row) => ({ index: Number(row.idx), leafHash: row.leaf_hash, chainHash: row.chain_hash }));
  }

  private async oneCheckpoint(name: keyof typeof SQL, values: readonly unknown[]): Promise<StoredCheckpoint | undefined> {
    const [row] = await this.query<CheckpointRow>(name, values);
    return row === undefined ? undefined : toCheckpoint(row);
  }

  latestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    return this.oneCheckpoint("latestCheckpoint", []);
  }

  checkpointAtOrBefore(size: number): Promise<StoredCheckpoint | undefined> {
    return this.oneCheckpoint("checkpointAtOrBefore", [size]);
  }

  checkpointAtOrAfter(size: number): Promise<StoredCheckpoint | undefined> {
    return this.oneCheckpoint("checkpointAtOrAfter", [size]);
  }

  async checkpointsBetween(fromSize: number, toSize: number): Promise<StoredCheckpoint[]> {
    return (await this.query<CheckpointRow>("checkpointsBetween", [fromSize, toSize])).map(toCheckpoint);
  }

  newestCheckpointBefore(seconds: bigint): Promise<StoredCheckpoint | undefined> {
    return this.oneCheckpoint("checkpointBefore", [seconds]);
  }

  async putCheckpoint(checkpoint: StoredCheckpoint, draftedAfter?: number | null): Promise<void> {
    await withTransaction(this.pool, async (client) => {
      // Under the append lock: one replica stores at a time, each against the true latest.
      await this.query("lock", [], client);
      const [latest] = await this.query<CheckpointRow>("latestCheckpoint", [], client);
      const latestSize = latest === undefined ? null : Number(latest.tree_size);
      if (draftedAfter !== undefined && draftedAfter !== latestSize) {
        throw new CheckpointConflictError(`checkpoint drafted after size ${draftedAfter ?? "(none)"}, but the latest is at ${latestSize ?? "(none)"}`);
      }
      if (latestSize !== null && checkpoint.treeSize <= latestSize) {
        throw new CheckpointRegressionError(`checkpoint size never goes backwards: ${checkpoint.treeSize} after ${latestSize}`);
      }
      await this.query(
        "insertCheckpoint",
        [
          checkpoint.treeSize,
          checkpoint.rootHash,
          checkpoint.chainHash,
          checkpoint.timeSeconds,
          checkpoint.timeNanos,
          checkpoint.keyId,
          checkpoint.signature,
          Buffer.concat(checkpoint.frontier.map((h) => Buffer.from(h))),
        ],
        client,
      );
    });
  }

  async setRetainedStart(treeSize: number): Promise<void> {
    await withTransaction(this.pool, async (client) => {
      await this.query("lock", [], client);
      const [row] = await this.query<{ retained: Int8 }>("retained", [], client);
      if (treeSize <= Number(row!.retained)) return;
      const [boundary] = await this.query<CheckpointRow>("checkpointAtOrBefore", [treeSize], client);
      if (boundary === undefined || Number(boundary.tree_size) !== treeSize) throw new Error(`audit store: no checkpoint at size ${treeSize} to retain from`);
      await this.query("setRetained", [String(treeSize)], client);
    });
  }

  async deletePruned(limit: number): Promise<number> {
    return withTransaction(this.pool, async (client) => {
      const [row] = await this.query<{ retained: Int8 }>("retained", [], client);
      const start = Number(row!.retained);
      const deleted = await client.query({ name: "audit_deleteRecords", text: SQL.deleteRecords, values: [start, limit] });
      await this.query("deleteCheckpoints", [start], client);
      return deleted.rowCount ?? 0;
    });
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}
