// Verification of a run of log records against signed checkpoints, shared by VerifyLog (over
// the store) and the offline verifier (over an export). It walks the records in order and
// recomputes everything: each leaf hash from the record's canonical event bytes, each chain
// hash from the previous one, the Merkle root at every checkpoint on the way, and each
// checkpoint's signature with the public key it is given. It reports the FIRST problem:
//   record 41: leaf hash does not match the event (changed record)
//   record 41: chain hash mismatch (changed, deleted or reordered record)
//   record 41: missing (expected index 41, found 42: deleted or reordered record)
//   checkpoint at size N: bad signature | signed by another key (...)
//   checkpoint at size N: root does not match records 0..N-1
//   checkpoint size N but only M records
//   fork: the tree at size N has root X, but the trusted checkpoint says Y
import type * as crypto from "node:crypto";
import { chainHash } from "./chain.ts";
import { checkpointSignatureProblem, type SignedCheckpoint } from "./checkpoint.ts";
import { leafHash, MerkleFrontier } from "./merkle.ts";

/** Where a walk starts: the state of the log just before record `index`. */
export interface StartState {
  readonly index: number;
  /** Chain hash of record index-1 (32 zero bytes at index 0). */
  readonly chainHash: Uint8Array;
  /** The Merkle frontier of records [0, index). */
  readonly frontier: readonly Uint8Array[];
}

export interface VerifiableRecord {
  readonly index: number;
  /** The canonical event bytes; undefined when the record's content is withheld (hash only). */
  readonly eventBytes: Uint8Array | undefined;
  readonly leafHash: Uint8Array;
  readonly chainHash: Uint8Array;
  /** Further checks of the record (e.g. the store's index columns against the event). */
  readonly extraProblem?: () => string | undefined;
}

export interface Problem {
  /** The first bad record, or -1 when the problem is a checkpoint itself (signature, fork). */
  readonly index: number;
  readonly message: string;
}

export interface VerifyOptions {
  readonly publicKey: crypto.KeyObject;
  /** Signed checkpoints to check when the walk reaches their size (any order). */
  readonly checkpoints: readonly SignedCheckpoint[];
  /**
   * Checkpoints the verifier trusts from elsewhere (obtained earlier): a different root at the
   * same size is a fork. Those outside the walked range cannot be checked and are reported.
   */
  readonly trusted?: readonly SignedCheckpoint[];
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

export class LogVerifier {
  private readonly frontier: MerkleFrontier;
  private chain: Buffer;
  private next: number;
  private readonly start: number;
  private readonly byRootSize = new Map<number, SignedCheckpoint[]>();
  private readonly trusted = new Map<number, SignedCheckpoint[]>();
  private readonly options: VerifyOptions;
  private problem: Problem | undefined;
  private withheld = 0;
  private checkpointsChecked = 0;

  constructor(start: StartState, options: VerifyOptions) {
    this.frontier = MerkleFrontier.fromHashes(start.index, start.frontier);
    this.chain = Buffer.from(start.chainHash);
    this.next = start.index;
    this.start = start.index;
    this.options = options;
    for (const cp of options.checkpoints) this.add(this.byRootSize, cp);
    for (const cp of options.trusted ?? []) this.add(this.trusted, cp);
    // A checkpoint at the start itself (e.g. the retained boundary after pruning).
    this.checkSize();
  }

  private add(map: Map<number, SignedCheckpoint[]>, cp: SignedCheckpoint): void {
    const list = map.get(cp.treeSize) ?? [];
    list.push(cp);
    map.set(cp.treeSize, list);
  }

  get firstProblem(): Problem | undefined {
    return this.problem;
  }

  /** Records walked so far. */
  get verified(): number {
    return this.next - this.start;
  }

  /** Records whose content was withheld (checked by hashes only). */
  get withheldRecords(): number {
    return this.withheld;
  }

  get checkedCheckpoints(): number {
    return this.checkpointsChecked;
  }

  get size(): number {
    return this.next;
  }

  /** Feeds the next record; returns the first problem once there is one (and ignores the rest). */
  push(record: VerifiableRecord): Problem | undefined {
    if (this.problem !== undefined) return this.problem;
    const i = this.next;
    if (record.index !== i) {
      return this.fail(i, `record ${i}: missing (expected index ${i}, found ${record.index}: deleted or reordered record)`);
    }
    if (record.leafHash.length !== 32 || record.chainHash.length !== 32) return this.fail(i, `record ${i}: malformed hashes`);
    let leaf: Uint8Array;
    if (record.eventBytes === undefined) {
      leaf = record.leafHash;
      this.withheld++;
    } else {
      leaf = leafHash(record.eventBytes);
      if (!same(leaf, record.leafHash)) return this.fail(i, `record ${i}: leaf hash does not match the event (changed record)`);
    }
    const extra = record.extraProblem?.();
    if (extra !== undefined) return this.fail(i, `record ${i}: ${extra}`);
    const chain = chainHash(this.chain, leaf);
    if (!same(chain, record.chainHash)) return this.fail(i, `record ${i}: chain hash mismatch (changed, deleted or reordered record)`);
    this.chain = chain;
    this.frontier.append(leaf);
    this.next++;
    this.checkSize();
    return this.problem;
  }

  /** After the last record: checkpoints beyond the records, and trusted ones never reached. */
  finish(): Problem | undefined {
    if (this.problem !== undefined) return this.problem;
    const beyond = [...this.byRootSize.keys()].filter((size) => size > this.next).sort((a, b) => a - b);
    if (beyond.length > 0) {
      const size = beyond[beyond.length - 1]!;
      return this.fail(this.next, `checkpoint size ${size} but only ${this.next} records`);
    }
    for (const size of [...this.trusted.keys()].sort((a, b) => a - b)) {
      if (size < this.start) return this.fail(-1, `cannot check the trusted checkpoint at size ${size}: the records start at ${this.start}`);
      if (size > this.next) return this.fail(-1, `cannot check the trusted checkpoint at size ${size}: there are only ${this.next} records`);
    }
    return undefined;
  }

  private fail(index: number, message: string): Problem {
    this.problem = { index, message };
    return this.problem;
  }

  /** Checks every checkpoint (signed and trusted) at the current size. */
  private checkSize(): void {
    const size = this.next;
    const here = this.byRootSize.get(size);
    const trustedHere = this.trusted.get(size);
    if (here === undefined && trustedHere === undefined) return;
    const root = this.frontier.root();
    for (const cp of here ?? []) {
      this.checkpointsChecked++;
      const signature = checkpointSignatureProblem(cp, this.options.publicKey);
      if (signature !== undefined) {
        this.fail(-1, `checkpoint at size ${size}: ${signature}`);
        return;
      }
      if (!same(cp.rootHash, root)) {
        this.fail(-1, `checkpoint at size ${size}: root does not match records 0..${size - 1} (a rewritten or forked log)`);
        return;
      }
      if (!same(cp.chainHash, this.chain)) {
        this.fail(-1, `checkpoint at size ${size}: chain hash does not match record ${size - 1}`);
        return;
      }
    }
    this.byRootSize.delete(size);
    for (const cp of trustedHere ?? []) {
      const signature = checkpointSignatureProblem(cp, this.options.publicKey);
      if (signature !== undefined) {
        this.fail(-1, `trusted checkpoint at size ${size}: ${signature}`);
        return;
      }
      if (!same(cp.rootHash, root)) {
        this.fail(-1, `fork: the tree at size ${size} has root ${hex(root)}, but the trusted checkpoint says ${hex(cp.rootHash)}`);
        return;
      }
    }
    this.trusted.delete(size);
  }
}
