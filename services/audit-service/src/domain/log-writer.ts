// Everything that writes the log: appending batches (exactly once per source), drafting the
// next checkpoint from the stored records (re-derived and proven consistent with the previous
// one), storing signed checkpoints, and retention. AuditLog decides when; a LogWriter does it.
//
// LocalLogWriter does the work on the calling thread, over a store it is given. In a service it
// runs inside the log writer thread (worker-log-writer.ts), which owns the write connection, so
// decoding, hashing, inserting and fsyncing never block the event loop that answers calls.
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import type { AppendPlan, AuditStore, NewRecord, StoredCheckpoint } from "../store/audit-store.ts";
import { chainHash, GENESIS_CHAIN_HASH } from "./chain.ts";
import { logHalted, sequenceGap } from "./errors.ts";
import { prepareBatch } from "./ingest.ts";
import { consistencyProof, leafHash, MerkleFrontier, rootOfLeafHashes, verifyConsistency, type SubtreeHashes } from "./merkle.ts";

/** The state a new checkpoint signs: everything but the time, key id and signature. */
export interface CheckpointDraft {
  readonly treeSize: number;
  readonly rootHash: Buffer;
  readonly chainHash: Buffer;
  readonly frontier: readonly Buffer[];
}

export type DraftOutcome =
  /** The log did not grow since the latest checkpoint. */
  | { readonly kind: "unchanged"; readonly latest: StoredCheckpoint }
  | { readonly kind: "draft"; readonly draft: CheckpointDraft }
  /** The stored records no longer extend the latest checkpoint: the log must halt. */
  | { readonly kind: "integrity-failure"; readonly problem: string };

export interface PruneOutcome {
  /** The new retained start when the boundary moved. */
  readonly retainedFrom: number | undefined;
  readonly deleted: number;
}

export interface LogWriter {
  /**
   * Appends one source's batch of encoded AuditEvents (decoded and validated here; INVALID_ARGUMENT
   * naming `events[i]…` when one is not acceptable). Events at or below the source's mark are
   * skipped; a batch starting after mark + 1 is AUDIT_SEQUENCE_GAP. Resolves with the new mark
   * once the records are durably committed.
   */
  append(source: string, events: readonly Uint8Array[], appendedAt: number): Promise<bigint>;
  /** The next checkpoint's state, checked record by record against the latest checkpoint. */
  draftCheckpoint(): Promise<DraftOutcome>;
  /** Stores a signed checkpoint (CheckpointRegressionError when its tree does not grow). */
  putCheckpoint(checkpoint: StoredCheckpoint): Promise<void>;
  /** Moves the retained start to the newest checkpoint signed before `cutoffSeconds` and deletes what is before it. */
  prune(cutoffSeconds: bigint): Promise<PruneOutcome>;
  /** Refuses every later append (after an integrity failure). */
  halt(problem: string): Promise<void>;
  close(): Promise<void>;
}

/** Records read per store query while re-deriving records. */
const CHUNK = 2000;
const PRUNE_BATCH = 5000;

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/**
 * What the writer knows of the log's tail without reading it back: the size and last chain hash,
 * the Merkle frontier, and since which checkpoint (its frontier, and the leaves appended since).
 */
interface TailState {
  size: number;
  chain: Buffer;
  readonly frontier: MerkleFrontier;
  base: MerkleFrontier;
  added: Buffer[];
}

/** The store no longer holds what this writer appended or signed: the log must halt. */
class IntegrityFailure extends Error {
  override readonly name = "IntegrityFailure";
}

export class LocalLogWriter implements LogWriter {
  private readonly store: AuditStore;
  private haltedBecause: string | undefined;
  private tail: TailState | undefined;

  constructor(store: AuditStore) {
    this.store = store;
  }

  async append(source: string, events: readonly Uint8Array[], appendedAt: number): Promise<bigint> {
    return this.appendNow(source, events, appendedAt);
  }

  /** append, synchronously (the log writer thread answers from it). */
  appendNow(source: string, encoded: readonly Uint8Array[], appendedAt: number): bigint {
    try {
      return this.appendOrFail(source, encoded, appendedAt);
    } catch (error) {
      // The log halts; AuditLog learns why from its next checkpoint draft.
      if (error instanceof IntegrityFailure) throw logHalted(error.message);
      throw error;
    }
  }

  private appendOrFail(source: string, encoded: readonly Uint8Array[], appendedAt: number): bigint {
    if (this.haltedBecause !== undefined) throw logHalted(this.haltedBecause);
    const events = prepareBatch(source, encoded);
    const leaves = events.map((event) => leafHash(event.bytes));
    const tail = this.tailState();
    let appended: Buffer[] = [];
    let chain = tail.chain;
    const done = this.store.append(source, appendedAt, (head, mark): AppendPlan => {
      if (head.size !== tail.size || !same(head.chainHash, tail.chain)) {
        this.integrityFailure(`the stored log ends at record ${head.size - 1} with another chain hash than this writer appended (changed or deleted records)`);
      }
      const first = events[0];
      if (first === undefined) return { records: [], acknowledgedThrough: mark };
      if (first.columns.sourceSequence > mark + 1n) throw sequenceGap("events[0].source_sequence", mark, first.columns.sourceSequence);
      const records: NewRecord[] = [];
      appended = [];
      chain = tail.chain;
      let through = mark;
      events.forEach((event, i) => {
        const sequence = event.columns.sourceSequence;
        if (sequence <= mark) return;
        const leaf = leaves[i]!;
        chain = chainHash(chain, leaf);
        records.push({ eventBytes: event.bytes, leafHash: leaf, chainHash: chain, columns: event.columns });
        appended.push(leaf);
        through = sequence;
      });
      return { records, acknowledgedThrough: through };
    });
    // Committed: the tail moves on.
    for (const leaf of appended) {
      tail.frontier.append(leaf);
      tail.added.push(leaf);
    }
    tail.size += appended.length;
    tail.chain = chain;
    return done.acknowledgedThrough;
  }

  async draftCheckpoint(): Promise<DraftOutcome> {
    try {
      return this.draftNow();
    } catch (error) {
      if (error instanceof IntegrityFailure) return { kind: "integrity-failure", problem: error.message };
      throw error;
    }
  }

  private draftNow(): DraftOutcome {
    const tail = this.tailState();
    const head = this.store.head();
    if (head.size !== tail.size || !same(head.chainHash, tail.chain)) {
      this.integrityFailure(`the stored log has ${head.size} records, not the ${tail.size} this writer appended, or another last chain hash (changed or deleted records)`);
    }
    const previous = this.store.latestCheckpoint();
    const previousSize = previous?.treeSize ?? 0;
    if (previous !== undefined && previousSize > tail.size) {
      this.integrityFailure(`fork: the log has ${tail.size} records but a checkpoint at size ${previousSize} was signed`);
    }
    if (previous !== undefined && previousSize !== tail.base.size) {
      // A checkpoint this writer did not sign: start over from it.
      this.tail = undefined;
      return this.draftNow();
    }
    if (previous !== undefined && tail.size === previousSize) return { kind: "unchanged", latest: previous };
    const root = tail.frontier.root();
    if (previous !== undefined) {
      if (!same(tail.base.root(), previous.rootHash)) {
        this.integrityFailure(`fork: the Merkle state at size ${previousSize} does not match its signed checkpoint`);
      }
      // Never sign a tree that does not extend the previous checkpoint: prove it (RFC 6962).
      const proof = consistencyProof(previousSize, tail.size, extendedSubtrees(tail.base, tail.added));
      if (!verifyConsistency(previousSize, tail.size, previous.rootHash, root, proof)) {
        this.integrityFailure(`fork: the tree at size ${tail.size} is not consistent with the checkpoint at size ${previousSize}`);
      }
    }
    return { kind: "draft", draft: { treeSize: tail.size, rootHash: root, chainHash: tail.chain, frontier: tail.frontier.toHashes() } };
  }

  async putCheckpoint(checkpoint: StoredCheckpoint): Promise<void> {
    this.store.putCheckpoint(checkpoint);
    const tail = this.tail;
    if (tail !== undefined && checkpoint.treeSize === tail.size && same(checkpoint.rootHash, tail.frontier.root())) {
      // The new base of consistency proofs.
      tail.base = tail.frontier.clone();
      tail.added = [];
    } else {
      this.tail = undefined;
    }
  }

  async prune(cutoffSeconds: bigint): Promise<PruneOutcome> {
    const boundary = this.store.newestCheckpointBefore(cutoffSeconds);
    let retainedFrom: number | undefined;
    if (boundary !== undefined && boundary.treeSize > this.store.retainedStart()) {
      this.store.setRetainedStart(boundary.treeSize);
      retainedFrom = boundary.treeSize;
    }
    let deleted = 0;
    for (;;) {
      const count = this.store.deletePruned(PRUNE_BATCH);
      deleted += count;
      if (count < PRUNE_BATCH) break;
      await yieldToEventLoop();
    }
    return { retainedFrom, deleted };
  }

  async halt(problem: string): Promise<void> {
    this.haltedBecause ??= problem;
  }

  async close(): Promise<void> {}

  private integrityFailure(problem: string): never {
    this.haltedBecause ??= problem;
    throw new IntegrityFailure(problem);
  }

  /**
   * The tail, read once from the store: the latest checkpoint's Merkle state, then every record
   * since re-derived from its event bytes (leaf and chain hashes checked).
   */
  private tailState(): TailState {
    if (this.tail !== undefined) return this.tail;
    const previous = this.store.latestCheckpoint();
    const head = this.store.head();
    const previousSize = previous?.treeSize ?? 0;
    if (head.size < previousSize) this.integrityFailure(`fork: the log has ${head.size} records but a checkpoint at size ${previousSize} was signed`);
    const base = previous === undefined ? MerkleFrontier.empty() : MerkleFrontier.fromHashes(previousSize, previous.frontier);
    const frontier = base.clone();
    let chain = previous?.chainHash ?? GENESIS_CHAIN_HASH;
    const added: Buffer[] = [];
    for (let next = previousSize; next < head.size; ) {
      const batch = this.store.records(next, head.size, CHUNK);
      if (batch.length === 0) this.integrityFailure(`record ${next}: missing (deleted record)`);
      for (const record of batch) {
        if (record.index !== next) this.integrityFailure(`record ${next}: missing (deleted or reordered record)`);
        const leaf = leafHash(record.eventBytes);
        if (!same(leaf, record.leafHash)) this.integrityFailure(`record ${next}: leaf hash does not match the event (changed record)`);
        chain = chainHash(chain, leaf);
        if (!same(chain, record.chainHash)) this.integrityFailure(`record ${next}: chain hash mismatch (changed, deleted or reordered record)`);
        frontier.append(leaf);
        added.push(leaf);
        next++;
      }
    }
    this.tail = { size: head.size, chain, frontier, base, added };
    return this.tail;
  }
}

/** Subtree hashes of a tree that extends `before` by `added` leaves (a consistency proof's inputs). */
function extendedSubtrees(before: MerkleFrontier, added: readonly Buffer[]): SubtreeHashes {
  const oldSize = before.size;
  const nodes = new Map(before.subtrees().map((s) => [`${s.start}:${s.end}`, s.hash]));
  return (start, end) => {
    if (end <= oldSize) {
      const hash = nodes.get(`${start}:${end}`);
      if (hash === undefined) throw new Error(`no subtree [${start}, ${end}) in the frontier of size ${oldSize}`);
      return hash;
    }
    if (start >= oldSize) return rootOfLeafHashes(added, start - oldSize, end - oldSize);
    throw new Error(`subtree [${start}, ${end}) straddles size ${oldSize}`);
  };
}
