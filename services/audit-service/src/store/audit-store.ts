// The audit log's storage: an append-only run of records, per-source delivery marks,
// checkpoints and the retention boundary. Implemented on SQLite (sqlite-audit-store.ts).
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
  head(): LogHead;
  /** The index of the oldest retained record (the tree size of the retention checkpoint). */
  retainedStart(): number;
  /** The last source_sequence of `source` in the log (0 when none). */
  acknowledgedThrough(source: string): bigint;
  /**
   * One transaction: `plan` sees the head and the source's mark and says what to append;
   * the records (appended at `appendedAt`, ms since the epoch) and the new mark commit together
   * (fsynced), or nothing does.
   */
  append(source: string, appendedAt: number, plan: (head: LogHead, acknowledgedThrough: bigint) => AppendPlan): AppendPlan;
  /** Records [from, to), ascending, at most `limit`. */
  records(from: number, to: number, limit: number): StoredRecord[];
  record(index: number): StoredRecord | undefined;
  /** The first record carrying this event id (of that account, when given). */
  recordByEventId(eventId: string, accountId?: string): StoredRecord | undefined;
  /** Matching records, newest event time first (ties: higher index first). */
  lookup(filter: LookupFilter, after: LookupCursor | undefined, limit: number): StoredRecord[];
  /** Leaf hashes of [from, to), ascending. */
  leafHashes(from: number, to: number): Buffer[];
  latestCheckpoint(): StoredCheckpoint | undefined;
  checkpointAtOrBefore(size: number): StoredCheckpoint | undefined;
  checkpointAtOrAfter(size: number): StoredCheckpoint | undefined;
  /** Checkpoints with fromSize <= tree_size <= toSize, ascending. */
  checkpointsBetween(fromSize: number, toSize: number): StoredCheckpoint[];
  /** The newest checkpoint signed before `seconds` (for retention). */
  newestCheckpointBefore(seconds: bigint): StoredCheckpoint | undefined;
  /** Stores a checkpoint; refuses (throws) one whose tree is not larger than the latest. */
  putCheckpoint(checkpoint: StoredCheckpoint): void;
  /** Moves the retention boundary forward to a stored checkpoint's size. */
  setRetainedStart(treeSize: number): void;
  /** Deletes up to `limit` records (and checkpoints) below the retention boundary; returns how many records. */
  deletePruned(limit: number): number;
  close(): void;
}

/** Thrown by putCheckpoint for a tree that does not grow: checkpoint size never goes backwards. */
export class CheckpointRegressionError extends Error {
  override readonly name = "CheckpointRegressionError";
}
