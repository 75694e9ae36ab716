// The audit log's storage: an append-only run of records, per-source delivery marks,
// checkpoints and the retention boundary. Asynchronous, so it can be a database server shared by
// several audit-service replicas: SQLite (sqlite-audit-store.ts, one process; synchronous inside)
// or PostgreSQL (postgres-audit-store.ts, several replicas appending to one log).
import type { SignedCheckpoint } from "../domain/checkpoint.ts";
import type { EventColumns } from "../domain/event.ts";

export interface StoredRecord {
  readonly index: number;
  /** Canonical event bytes (the Merkle leaf data). */
  readonly eventBytes: Buffer;
  readonly leafHash: Buffer;
  readonly chainHash: Buffer;
  /** When audit-service appended it (ms since the epoch). */
  readonly appendedAt: number;
  /** The store's lookup columns as stored (VerifyLog checks them against the event). */
  readonly columns: EventColumns;
}

export interface NewRecord {
  readonly eventBytes: Uint8Array;
  readonly leafHash: Buffer;
  readonly chainHash: Buffer;
  readonly columns: EventColumns;
}

/** The end of the log: its size (the next index) and the last record's chain hash. */
export interface LogHead {
  readonly size: number;
  readonly chainHash: Buffer;
}

export interface StoredCheckpoint extends SignedCheckpoint {
  /** The Merkle frontier at tree_size. */
  readonly frontier: readonly Buffer[];
}

/** A stored record's hashes (what a writer re-derives another replica's appends from). */
export interface ChainLink {
  readonly index: number;
  readonly leafHash: Buffer;
  readonly chainHash: Buffer;
}

/** What an append plan decides from, read under the log's append lock. */
export interface AppendState {
  readonly head: LogHead;
  /** The source's mark. */
  readonly acknowledgedThrough: bigint;
  /**
   * The records [known, head.size) that the writer has not seen (another replica appended them),
   * ascending; empty when the head is at or before `known`.
   */
  readonly unseen: readonly ChainLink[];
}

export interface AppendPlan {
  readonly records: readonly NewRecord[];
  /** The source's new mark (at least the old one). */
  readonly acknowledgedThrough: bigint;
}

export type OutcomeFilter = { readonly kind: "ok" } | { readonly kind: "error" } | { readonly kind: "reason"; readonly reason: string };

export interface LookupFilter {
  readonly accountId?: string;
  readonly principalKrn?: string;
  readonly action?: string;
  readonly resource?: string;
  readonly outcome?: OutcomeFilter;
  /** Inclusive, microseconds. */
  readonly startMicros?: bigint;
  /** Exclusive, microseconds. */
  readonly endMicros?: bigint;
}

/** Where the next page (newest first) continues: strictly older than this event. */
export interface LookupCursor {
  readonly timeMicros: bigint;
  readonly index: number;
}

export interface AuditStore {
  head(): Promise<LogHead>;
  /** The index of the oldest retained record (the tree size of the retention checkpoint). */
  retainedStart(): Promise<number>;
  /** The last source_sequence of `source` in the log (0 when none). */
  acknowledgedThrough(source: string): Promise<bigint>;
  /**
   * One transaction under the log's append lock (appends of every replica serialise): `plan`
   * sees the head, the source's mark and the records after `known` (the size the writer knows)
   * and says what to append; the records (appended at `appendedAt`, ms since the epoch, from
   * index head.size on) and the new mark commit together (durably), or nothing does.
   */
  append(source: string, appendedAt: number, known: number, plan: (state: AppendState) => AppendPlan): Promise<AppendPlan>;
  /** Records [from, to), ascending, at most `limit`. */
  records(from: number, to: number, limit: number): Promise<StoredRecord[]>;
  record(index: number): Promise<StoredRecord | undefined>;
  /** The first record carrying this event id (of that account, when given). */
  recordByEventId(eventId: string, accountId?: string): Promise<StoredRecord | undefined>;
  /** Matching records, newest event time first (ties: higher index first). */
  lookup(filter: LookupFilter, after: LookupCursor | undefined, limit: number): Promise<StoredRecord[]>;
  /** Leaf hashes of [from, to), ascending. */
  leafHashes(from: number, to: number): Promise<Buffer[]>;
  /** Leaf and chain hashes of [from, to), ascending, at most `limit`. */
  chainLinks(from: number, to: number, limit: number): Promise<ChainLink[]>;
  latestCheckpoint(): Promise<StoredCheckpoint | undefined>;
  checkpointAtOrBefore(size: number): Promise<StoredCheckpoint | undefined>;
  checkpointAtOrAfter(size: number): Promise<StoredCheckpoint | undefined>;
  /** Checkpoints with fromSize <= tree_size <= toSize, ascending. */
  checkpointsBetween(fromSize: number, toSize: number): Promise<StoredCheckpoint[]>;
  /** The newest checkpoint signed before `seconds` (for retention). */
  newestCheckpointBefore(seconds: bigint): Promise<StoredCheckpoint | undefined>;
  /**
   * Stores a checkpoint, under the same lock as appends. Refuses (CheckpointRegressionError) one
   * whose tree is not larger than the latest; and, when `draftedAfter` is given (the size of the
   * latest checkpoint the draft was proven consistent with, null: none), refuses one when another
   * checkpoint is the latest by now (CheckpointConflictError: another replica stored one
   * meanwhile; draft again). So every stored checkpoint was proven to extend the one before it.
   */
  putCheckpoint(checkpoint: StoredCheckpoint, draftedAfter?: number | null): Promise<void>;
  /** Moves the retention boundary forward to a stored checkpoint's size. */
  setRetainedStart(treeSize: number): Promise<void>;
  /** Deletes up to `limit` records (and checkpoints) below the retention boundary; returns how many records. */
  deletePruned(limit: number): Promise<number>;
  close(): Promise<void>;
}

/** Thrown by putCheckpoint for a tree that does not grow: checkpoint size never goes backwards. */
export class CheckpointRegressionError extends Error {
  override readonly name = "CheckpointRegressionError";
}

/**
 * Thrown by putCheckpoint when the latest stored checkpoint is no longer the one the new
 * checkpoint was drafted against (another replica stored one meanwhile): draft again.
 */
export class CheckpointConflictError extends Error {
  override readonly name = "CheckpointConflictError";
}
