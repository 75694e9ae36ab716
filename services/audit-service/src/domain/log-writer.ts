// Everything that writes the log: appending batches (exactly once per source), drafting the
// next checkpoint from the stored records (re-derived and proven consistent with the previous
// one), storing signed checkpoints, and retention. AuditLog decides when; a LogWriter does it.
//
// LocalLogWriter does the work on the calling thread, over a store it is given, one operation at
// a time. In a service it runs inside the log writer thread (worker-log-writer.ts), which owns
// the write connection, so decoding, hashing, inserting and fsyncing never block the event loop
// that answers calls.
//
// Several replicas may share one (PostgreSQL) store: appends serialise under the store's append
// lock, and a writer whose cached tail is behind the stored head (another replica appended)
// re-derives the records it has not seen from their stored leaf hashes, checking that each
// chains onto what it appended or saw; a head that does not extend that halts the log. A
// checkpoint another replica signed becomes the new base after its root is checked against the
// writer's own Merkle state; the store refuses a checkpoint drafted against an older one.
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import type { AppendPlan, AppendState, AuditStore, ChainLink, NewRecord, StoredCheckpoint } from "../store/audit-store.ts";
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
  /** The size of the latest checkpoint the draft was proven to extend (null: none yet). */
  readonly previousSize: number | null;
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
  /**
   * Stores a signed checkpoint of a draft: CheckpointRegressionError when its tree does not grow,
   * CheckpointConflictError when another checkpoint than the draft's previous one is the latest
   * by now (another replica signed one: draft again).
   */
  putCheckpoint(checkpoint: StoredCheckpoint, previousSize: number | null): Promise<void>;
  /** Moves the retained start to the newest checkpoint signed before `cutoffSeconds` and deletes what is before it. */
  prune(cutoffSeconds: bigint): Promise<PruneOutcome>;
  /** Refuses every later append (after an integrity failure). */
  halt(problem: string): Promise<void>;
  close(): Promise<void>;
}

/** Records read per store query while re-deriving records. */
const CHUNK = 2000;
/**
 * A tail not brought up to date for this long is caught up before an append, outside the append
 * lock: the records other replicas appended meanwhile are then not read while holding it.
 */
const STALE_TAIL_MS = 5000;
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
  /** When the tail last matched the stored head (performance.now()). */
  private tailSyncedAt = 0;
  /** Operations run one at a time (they read and move the cached tail). */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(store: AuditStore) {
    this.store = store;
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  append(source: string, events: readonly Uint8Array[], appendedAt: number): Promise<bigint> {
    return this.exclusive(async () => {
      try {
        return await this.appendOrFail(source, events, appendedAt);
      } catch (error) {
        // The log halts; AuditLog learns why from its next checkpoint draft.
        if (error instanceof IntegrityFailure) throw logHalted(error.message);
        throw error;
      }
    });
  }

  private async appendOrFail(source: string, encoded: readonly Uint8Array[], appendedAt: number): Promise<bigint> {
    if (this.haltedBecause !== undefined) throw logHalted(this.haltedBecause);
    const events = prepareBatch(source, encoded);
    const leaves = events.map((event) => leafHash(event.bytes));
    const tail = await this.tailState();
    if (performance.now() - this.tailSyncedAt > STALE_TAIL_MS) await this.catchUp(tail);
    let unseen: readonly ChainLink[] = [];
    let appended: Buffer[] = [];
    let chain = tail.chain;
    // (The plan may run again when the store retries its transaction: it sets everything afresh.)
    const done = await this.store.append(source, appendedAt, tail.size, (state: AppendState): AppendPlan => {
      chain = this.extendsTail(tail, state);
      unseen = state.unseen;
      appended = [];
      const mark = state.acknowledgedThrough;
      const first = events[0];
      if (first === undefined) return { records: [], acknowledgedThrough: mark };
      if (first.columns.sourceSequence > mark + 1n) throw sequenceGap("events[0].source_sequence", mark, first.columns.sourceSequence);
      const records: NewRecord[] = [];
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
    // Committed: the tail moves on, over what other replicas appended first.
    for (const link of unseen) {
      tail.frontier.append(link.leafHash);
      tail.added.push(link.leafHash);
    }
    for (const leaf of appended) {
      tail.frontier.append(leaf);
      tail.added.push(leaf);
    }
    tail.size += unseen.length + appended.length;
    tail.chain = chain;
    this.tailSyncedAt = performance.now();
    return done.acknowledgedThrough;
  }

  /**
   * Checks that the stored head extends the tail (the records another replica appended since
   * chain onto it) and returns the head's chain hash.
   */
  private extendsTail(tail: TailState, state: AppendState): Buffer {
    const { head, unseen } = state;
    if (head.size < tail.size) {
      this.integrityFailure(`the stored log ends at record ${head.size - 1}, before the ${tail.size} records this writer appended or saw (deleted records)`);
    }
    let chain = tail.chain;
    let next = tail.size;
    for (const link of unseen) {
      if (link.index !== next) this.integrityFailure(`record ${next}: missing (deleted or reordered record)`);
      chain = chainHash(chain, link.leafHash);
      if (!same(chain, link.chainHash)) {
        this.integrityFailure(`record ${next}: chain hash mismatch: the stored log does not extend the ${tail.size} records this writer appended or saw (changed, deleted or reordered record)`);
      }
      next++;
    }
    if (next !== head.size || !same(head.chainHash, chain)) {
      this.integrityFailure(`the stored log ends at record ${head.size - 1} with another chain hash than this writer appended (changed or deleted records)`);
    }
    return chain;
  }

  /** Moves the tail over the records other replicas appended since (outside the append lock). */
  private async catchUp(tail: TailState): Promise<void> {
    const head = await this.store.head();
    if (head.size < tail.size) {
      this.integrityFailure(`the stored log has ${head.size} records, not the ${tail.size} this writer appended or saw (deleted records)`);
    }
    while (tail.size < head.size) {
      const links = await this.store.chainLinks(tail.size, head.size, CHUNK);
      if (links.length === 0) this.integrityFailure(`record ${tail.size}: missing (deleted record)`);
      for (const link of links) {
        if (link.index !== tail.size) this.integrityFailure(`record ${tail.size}: missing (deleted or reordered record)`);
        const chain = chainHash(tail.chain, link.leafHash);
        if (!same(chain, link.chainHash)) {
          this.integrityFailure(`record ${tail.size}: chain hash mismatch: the stored log does not extend the records this writer appended or saw (changed, deleted or reordered record)`);
        }
        tail.frontier.append(link.leafHash);
        tail.added.push(link.leafHash);
        tail.chain = chain;
        tail.size++;
      }
    }
    if (!same(head.chainHash, tail.chain)) {
      this.integrityFailure(`the stored log has ${head.size} records, not the ${tail.size} this writer appended, or another last chain hash (changed or deleted records)`);
    }
    this.tailSyncedAt = performance.now();
  }

  draftCheckpoint(): Promise<DraftOutcome> {
    return this.exclusive(async () => {
      try {
        return await this.draftNow();
      } catch (error) {
        if (error instanceof IntegrityFailure) return { kind: "integrity-failure", problem: error.message };
        throw error;
      }
    });
  }

  private async draftNow(attempt = 1): Promise<DraftOutcome> {
    // The latest checkpoint first: its records were committed before it was stored, so the head read next reaches it.
    const previous = await this.store.latestCheckpoint();
    const tail = await this.tailState();
    await this.catchUp(tail);
    const previousSize = previous?.treeSize ?? 0;
    if (previous !== undefined && previousSize > tail.size) {
      this.integrityFailure(`fork: the log has ${tail.size} records but a checkpoint at size ${previousSize} was signed`);
    }
    if (previous !== undefined && previousSize !== tail.base.size) {
      // A checkpoint this writer did not sign (another replica's): the new base.
      if (!this.rebase(tail, previous)) {
        // Older than the tail's base (read after another replica stored a newer one, or the newer
        // one is gone): read the tail again from the latest checkpoint, and draft from there.
        if (attempt >= 3) throw new Error("audit log writer: the latest checkpoint keeps changing while drafting");
        this.tail = undefined;
        return this.draftNow(attempt + 1);
      }
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
    return {
      kind: "draft",
      draft: { treeSize: tail.size, rootHash: root, chainHash: tail.chain, frontier: tail.frontier.toHashes(), previousSize: previous === undefined ? null : previousSize },
    };
  }

  /**
   * Makes `checkpoint` (at or after the tail's base, at or before its end) the base of consistency
   * proofs, after checking that the writer's own leaves give its root (a checkpoint over other
   * records is a fork). False when it is before the base (the tail must be read again).
   */
  private rebase(tail: TailState, checkpoint: StoredCheckpoint): boolean {
    const offset = checkpoint.treeSize - tail.base.size;
    if (offset < 0 || checkpoint.treeSize > tail.size) return false;
    const base = tail.base.clone();
    for (let i = 0; i < offset; i++) base.append(tail.added[i]!);
    if (!same(base.root(), checkpoint.rootHash)) {
      this.integrityFailure(`fork: the checkpoint at size ${checkpoint.treeSize} does not match the records this writer appended or saw`);
    }
    tail.base = base;
    tail.added = tail.added.slice(offset);
    return true;
  }

  putCheckpoint(checkpoint: StoredCheckpoint, previousSize: number | null): Promise<void> {
    return this.exclusive(async () => {
      await this.store.putCheckpoint(checkpoint, previousSize);
      const tail = this.tail;
      // The new base of consistency proofs.
      if (tail !== undefined && !this.rebaseQuietly(tail, checkpoint)) this.tail = undefined;
    });
  }

  private rebaseQuietly(tail: TailState, checkpoint: StoredCheckpoint): boolean {
    try {
      return this.rebase(tail, checkpoint);
    } catch (error) {
      if (error instanceof IntegrityFailure) return false;
      throw error;
    }
  }

  prune(cutoffSeconds: bigint): Promise<PruneOutcome> {
    return this.exclusive(async () => {
      const boundary = await this.store.newestCheckpointBefore(cutoffSeconds);
      let retainedFrom: number | undefined;
      if (boundary !== undefined && boundary.treeSize > (await this.store.retainedStart())) {
        await this.store.setRetainedStart(boundary.treeSize);
        retainedFrom = boundary.treeSize;
      }
      let deleted = 0;
      for (;;) {
        const count = await this.store.deletePruned(PRUNE_BATCH);
        deleted += count;
        if (count < PRUNE_BATCH) break;
        await yieldToEventLoop();
      }
      return { retainedFrom, deleted };
    });
  }

  async halt(problem: string): Promise<void> {
    this.haltedBecause ??= problem;
  }

  async close(): Promise<void> {
    await this.queue;
  }

  private integrityFailure(problem: string): never {
    this.haltedBecause ??= problem;
    throw new IntegrityFailure(problem);
  }

  /**
   * The tail, read once from the store: the latest checkpoint's Merkle state, then every record
   * since re-derived from its event bytes (leaf and chain hashes checked).
   */
  private async tailState(): Promise<TailState> {
    if (this.tail !== undefined) return this.tail;
    const previous = await this.store.latestCheckpoint();
    const head = await this.store.head();
    const previousSize = previous?.treeSize ?? 0;
    if (head.size < previousSize) this.integrityFailure(`fork: the log has ${head.size} records but a checkpoint at size ${previousSize} was signed`);
    const base = previous === undefined ? MerkleFrontier.empty() : MerkleFrontier.fromHashes(previousSize, previous.frontier);
    const frontier = base.clone();
    let chain = previous?.chainHash ?? GENESIS_CHAIN_HASH;
    const added: Buffer[] = [];
    for (let next = previousSize; next < head.size; ) {
      const batch = await this.store.records(next, head.size, CHUNK);
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
    this.tailSyncedAt = performance.now();
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
