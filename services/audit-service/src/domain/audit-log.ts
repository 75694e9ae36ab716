// The log itself, over its store, writer and signer: exactly-once appends per source, signed
// checkpoints (periodic and on demand, never two inconsistent ones), verification of the
// stored records, the start state of an export, and retention. Reads go to the store on this
// thread; every write goes through the LogWriter (in a service, the log writer thread).
//
// Integrity failures halt the log: when the store no longer extends the latest signed
// checkpoint (records deleted or rewritten), appends and signatures are refused (UNAVAILABLE
// AUDIT_UNAVAILABLE, so shippers keep their outboxes and retry) until an operator has looked;
// VerifyLog keeps working and names the problem.
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import type { KeyObject } from "node:crypto";
import type { Logger } from "@keyhold/server-kit";
import { CheckpointConflictError, type AuditStore, type StoredCheckpoint, type StoredRecord } from "../store/audit-store.ts";
import { GENESIS_CHAIN_HASH } from "./chain.ts";
import { parsePublicKey, signCheckpoint, type CheckpointSigner } from "./checkpoint.ts";
import { logHalted } from "./errors.ts";
import { decodeEvent, eventColumns, type EventColumns } from "./event.ts";
import type { LogWriter } from "./log-writer.ts";
import { MerkleFrontier } from "./merkle.ts";
import { LogVerifier, type Problem, type StartState } from "./verify.ts";

export interface Clock {
  now(): Date;
}

/** An event ready for the log: its canonical bytes and lookup columns. */
export interface PreparedEvent {
  readonly bytes: Uint8Array;
  readonly columns: EventColumns;
}

export interface AuditLogOptions {
  /** Where reads go (on this thread). */
  readonly store: AuditStore;
  /** Where writes go: a LocalLogWriter over the same store, or the log writer thread. */
  readonly writer: LogWriter;
  readonly signer: CheckpointSigner;
  readonly clock: Clock;
  readonly logger: Logger;
  /** 0 keeps everything. */
  readonly retentionDays: number;
}

export interface VerifyOutcome {
  readonly ok: boolean;
  readonly verifiedRecords: number;
  readonly problem: Problem | undefined;
}

/** Records read per store query while walking the log (the event loop runs between chunks). */
const CHUNK = 2000;
/** Drafts of one checkpoint when other replicas keep storing theirs first. */
const DRAFT_ATTEMPTS = 10;

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/** The store's lookup columns that differ from the event, or undefined. */
export function columnsProblem(record: StoredRecord): string | undefined {
  let expected: EventColumns;
  try {
    expected = eventColumns(decodeEvent(record.eventBytes));
  } catch {
    return "event bytes do not decode";
  }
  const stored = record.columns;
  for (const key of Object.keys(expected) as (keyof EventColumns)[]) {
    if (stored[key] !== expected[key]) return `lookup column ${key} does not match the event (changed record)`;
  }
  return undefined;
}

export class AuditLog {
  readonly store: AuditStore;
  readonly signer: CheckpointSigner;
  readonly publicKey: KeyObject;
  private readonly writer: LogWriter;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly retentionDays: number;
  private haltedBecause: string | undefined;
  /** Serializes checkpoint signing and pruning. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Exports in progress (pruning waits for them). */
  private readers = 0;

  /** Opens the log over its store, after the checks at start (see checkAtStart). */
  static async open(options: AuditLogOptions): Promise<AuditLog> {
    const log = new AuditLog(options);
    await log.checkAtStart();
    return log;
  }

  private constructor(options: AuditLogOptions) {
    this.store = options.store;
    this.writer = options.writer;
    this.signer = options.signer;
    this.clock = options.clock;
    this.logger = options.logger;
    this.retentionDays = options.retentionDays;
    const publicKey = parsePublicKey(options.signer.publicKeyPem);
    if (publicKey === undefined) throw new Error("checkpoint signer: the public key is not Ed25519");
    this.publicKey = publicKey;
  }

  /** Why the log is halted, or undefined while it is healthy. */
  get halted(): string | undefined {
    return this.haltedBecause;
  }

  private halt(problem: string): never {
    if (this.haltedBecause === undefined) {
      this.haltedBecause = problem;
      // The writer refuses appends too (belt and braces: this log already refuses them).
      this.writer.halt(problem).catch(() => undefined);
      this.logger.error("audit log halted: integrity check failed; appends and checkpoints are refused until an operator investigates (run VerifyLog)", {
        problem,
      });
    }
    throw logHalted(problem);
  }

  /**
   * Cheap checks at start: the store still reaches the latest checkpoint, whose Merkle state
   * matches its root and whose chain hash is the stored one of its last record.
   */
  private async checkAtStart(): Promise<void> {
    const latest = await this.store.latestCheckpoint();
    if (latest === undefined) return;
    try {
      const head = await this.store.head();
      if (head.size < latest.treeSize) {
        this.halt(`checkpoint size ${latest.treeSize} but only ${head.size} records (the log was truncated or replaced)`);
      }
      if (!same(MerkleFrontier.fromHashes(latest.treeSize, latest.frontier).root(), latest.rootHash)) {
        this.halt(`checkpoint at size ${latest.treeSize}: its stored Merkle state does not match its root`);
      }
      const last = latest.treeSize === 0 ? undefined : await this.store.record(latest.treeSize - 1);
      if (last !== undefined && !same(last.chainHash, latest.chainHash)) {
        this.halt(`checkpoint at size ${latest.treeSize}: chain hash does not match record ${latest.treeSize - 1} (a rewritten or forked log)`);
      }
    } catch (error) {
      if (this.haltedBecause === undefined) throw error;
    }
    if (latest.keyId !== this.signer.keyId) {
      this.logger.warn("the latest checkpoint was signed by another key than the configured one", { latestKeyId: latest.keyId, keyId: this.signer.keyId });
    }
  }

  /**
   * Appends a batch of one source's encoded events, in source_sequence order (see
   * LogWriter.append). Resolves with the source's new mark once the records are durably committed.
   */
  async append(source: string, events: readonly Uint8Array[]): Promise<bigint> {
    if (this.haltedBecause !== undefined) throw logHalted(this.haltedBecause);
    return this.writer.append(source, events, this.clock.now().getTime());
  }

  latestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    return this.store.latestCheckpoint();
  }

  private serialize<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** The latest checkpoint, signing a new one first when the log grew since (or when there is none yet). */
  checkpoint(): Promise<StoredCheckpoint> {
    return this.serialize(() => this.signNext());
  }

  /** Drafts, signs and stores; drafts again when another replica stored a checkpoint meanwhile. */
  private async signNext(): Promise<StoredCheckpoint> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.signOnce();
      } catch (error) {
        if (!(error instanceof CheckpointConflictError) || attempt >= DRAFT_ATTEMPTS) throw error;
        this.logger.debug("another replica stored a checkpoint first: drafting again", { attempt });
      }
    }
  }

  private async signOnce(): Promise<StoredCheckpoint> {
    if (this.haltedBecause !== undefined) throw logHalted(this.haltedBecause);
    const outcome = await this.writer.draftCheckpoint();
    if (outcome.kind === "unchanged") return outcome.latest;
    if (outcome.kind === "integrity-failure") this.halt(outcome.problem);
    const { draft } = outcome;
    const ms = this.clock.now().getTime();
    const signed = await signCheckpoint(
      {
        treeSize: draft.treeSize,
        rootHash: draft.rootHash,
        chainHash: draft.chainHash,
        timeSeconds: BigInt(Math.floor(ms / 1000)),
        timeNanos: (((ms % 1000) + 1000) % 1000) * 1_000_000,
      },
      this.signer,
    );
    const stored: StoredCheckpoint = { ...signed, frontier: draft.frontier };
    try {
      await this.writer.putCheckpoint(stored, draft.previousSize);
    } catch (error) {
      if (!(error instanceof CheckpointConflictError)) throw error;
      // Another replica stored one first: when it covers everything this draft did, it is the answer.
      const latest = await this.store.latestCheckpoint();
      if (latest !== undefined && latest.treeSize >= draft.treeSize) return latest;
      throw error;
    }
    this.logger.debug("signed a checkpoint", { treeSize: stored.treeSize });
    return stored;
  }

  /** The state just before record `index` (for exports): chain hash and Merkle frontier. */
  async startState(index: number): Promise<StartState> {
    const base = await this.store.checkpointAtOrBefore(index);
    const baseSize = base?.treeSize ?? 0;
    if (base === undefined && (await this.store.retainedStart()) > 0) throw new Error("audit log: the retention checkpoint is missing");
    const frontier = base === undefined ? MerkleFrontier.empty() : MerkleFrontier.fromHashes(baseSize, base.frontier);
    for (let next = baseSize; next < index; ) {
      const leaves = await this.store.leafHashes(next, Math.min(index, next + 50_000));
      if (leaves.length === 0) throw new Error(`audit log: record ${next} is missing`);
      for (const leaf of leaves) frontier.append(leaf);
      next += leaves.length;
    }
    let chain: Buffer;
    if (index === baseSize) chain = base?.chainHash ?? GENESIS_CHAIN_HASH;
    else {
      const previous = await this.store.record(index - 1);
      if (previous === undefined) throw new Error(`audit log: record ${index - 1} is missing`);
      chain = previous.chainHash;
    }
    return { index, chainHash: chain, frontier: frontier.toHashes() };
  }

  /**
   * Walks the stored records of [from, to) (to undefined: to the end, also checking that no
   * checkpoint claims more records than there are). The walk starts at the newest checkpoint at
   * or before `from`, so its starting point is signed; it checks every record's leaf hash, lookup
   * columns and chain hash, and every checkpoint on the way (root, chain, signature).
   */
  async verify(from: number, to: number | undefined): Promise<VerifyOutcome> {
    const retained = await this.store.retainedStart();
    const base = await this.store.checkpointAtOrBefore(Math.max(from, retained));
    if (base === undefined && retained > 0) return { ok: false, verifiedRecords: 0, problem: { index: retained, message: `checkpoint at size ${retained} (the retention boundary) is missing` } };
    if (base !== undefined && base.treeSize < retained) return { ok: false, verifiedRecords: 0, problem: { index: retained, message: `checkpoint at size ${retained} (the retention boundary) is missing` } };
    const start: StartState =
      base === undefined ? { index: 0, chainHash: GENESIS_CHAIN_HASH, frontier: [] } : { index: base.treeSize, chainHash: base.chainHash, frontier: base.frontier };
    // Checkpoints before the head: another replica's checkpoint is stored only after its records,
    // so every checkpoint read here is within the records walked.
    const checkpoints = await this.store.checkpointsBetween(start.index, to ?? Number.MAX_SAFE_INTEGER);
    const end = to ?? (await this.store.head()).size;
    const verifier = new LogVerifier(start, { publicKey: this.publicKey, checkpoints });
    let problem = verifier.firstProblem;
    for (let next = start.index; problem === undefined && next < end; ) {
      const batch = await this.store.records(next, end, CHUNK);
      if (batch.length === 0) break;
      for (const record of batch) {
        problem = verifier.push({
          index: record.index,
          eventBytes: record.eventBytes,
          leafHash: record.leafHash,
          chainHash: record.chainHash,
          extraProblem: () => columnsProblem(record),
        });
        if (problem !== undefined) break;
      }
      next = batch[batch.length - 1]!.index + 1;
      if (problem === undefined && next < end) await yieldToEventLoop();
    }
    if (problem === undefined && verifier.size < end) {
      problem = { index: verifier.size, message: `record ${verifier.size}: missing (deleted record)` };
    }
    problem ??= verifier.finish();
    return { ok: problem === undefined, verifiedRecords: verifier.verified, problem };
  }

  /** Marks an export in progress (pruning waits); call the returned function when done. */
  beginRead(): () => void {
    this.readers++;
    let released = false;
    return () => {
      if (!released) this.readers--;
      released = true;
    };
  }

  /**
   * Retention: moves the retained start to the newest checkpoint signed more than
   * `retentionDays` ago and deletes the records (and checkpoints) before it in small batches.
   * The boundary checkpoint stays, with its chain hash and Merkle frontier, so the retained
   * log remains verifiable from there on. Returns how many records were deleted.
   */
  prune(): Promise<number> {
    return this.serialize(async () => {
      if (this.retentionDays <= 0 || this.readers > 0) return 0;
      const cutoff = BigInt(Math.floor(this.clock.now().getTime() / 1000) - this.retentionDays * 86_400);
      const { retainedFrom, deleted } = await this.writer.prune(cutoff);
      if (retainedFrom !== undefined) this.logger.info("retention: the log now starts at a checkpoint", { treeSize: retainedFrom });
      return deleted;
    });
  }

  /** Waits for signing and pruning in progress. */
  async drain(): Promise<void> {
    await this.queue;
  }

  /** Waits for signing and pruning in progress, then closes the writer. */
  async close(): Promise<void> {
    await this.drain();
    await this.writer.close();
  }
}
