// The RFC 6962 (Certificate Transparency) Merkle tree over the log's records:
//   leaf hash = SHA-256(0x00 ‖ leaf data), node hash = SHA-256(0x01 ‖ left ‖ right),
//   MTH of n leaves = node(MTH(first k), MTH(rest)) with k the largest power of two below n.
// An append-only log keeps only the right edge of its tree, the "frontier": the roots of the
// perfect subtrees its size decomposes into (one per set bit of the size, largest first), so
// an append costs O(log n) and the root is one fold over at most 64 hashes. Inclusion and
// consistency proofs (RFC 6962 §2.1.1, §2.1.2) and their verifiers (RFC 9162 §2.1.3.2,
// §2.1.4.2) work over any source of subtree hashes.
import { createHash } from "node:crypto";
import { sha256Of } from "./sha256.ts";

export const HASH_SIZE = 32;

/** The root of the empty tree: SHA-256 of nothing. */
export const EMPTY_ROOT: Buffer = createHash("sha256").digest();

const LEAF_PREFIX = 0x00;
const NODE_PREFIX = 0x01;

export function leafHash(data: Uint8Array): Buffer {
  return sha256Of(LEAF_PREFIX, data);
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return sha256Of(NODE_PREFIX, left, right);
}

/** The largest power of two strictly below n (n ≥ 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPowerOfTwo(n: number): boolean {
  let v = n;
  while (v > 1 && v % 2 === 0) v /= 2;
  return v === 1;
}

function setBitCount(n: number): number {
  let count = 0;
  for (let v = n; v > 0; v = Math.floor(v / 2)) if (v % 2 === 1) count++;
  return count;
}

/** The tree hash of a list of leaf hashes (recursive definition; for ranges, proofs and tests). */
export function rootOfLeafHashes(leaves: readonly Uint8Array[], start = 0, end = leaves.length): Buffer {
  const n = end - start;
  if (n <= 0) return EMPTY_ROOT;
  if (n === 1) return Buffer.from(leaves[start]!);
  const k = splitPoint(n);
  return nodeHash(rootOfLeafHashes(leaves, start, start + k), rootOfLeafHashes(leaves, start + k, end));
}

/**
 * The right edge of an append-only tree: for each set bit of `size`, from the highest, the
 * root of that perfect subtree. Appending merges equal-sized subtrees, like a binary counter.
 */
export class MerkleFrontier {
  private count: number;
  private readonly hashes: Buffer[];

  private constructor(size: number, hashes: Buffer[]) {
    this.count = size;
    this.hashes = hashes;
  }

  static empty(): MerkleFrontier {
    return new MerkleFrontier(0, []);
  }

  /** Restores a frontier saved with `toHashes()`; throws when the count does not fit the size. */
  static fromHashes(size: number, hashes: readonly Uint8Array[]): MerkleFrontier {
    if (!Number.isSafeInteger(size) || size < 0) throw new Error(`frontier: bad size ${size}`);
    if (hashes.length !== setBitCount(size)) throw new Error(`frontier: a tree of ${size} leaves has ${setBitCount(size)} subtree hashes, got ${hashes.length}`);
    for (const h of hashes) if (h.length !== HASH_SIZE) throw new Error("frontier: hashes must be 32 bytes");
    return new MerkleFrontier(size, hashes.map((h) => Buffer.from(h)));
  }

  /** The frontier of a list of leaf hashes. */
  static ofLeaves(leaves: Iterable<Uint8Array>): MerkleFrontier {
    const frontier = MerkleFrontier.empty();
    for (const leaf of leaves) frontier.append(leaf);
    return frontier;
  }

  get size(): number {
    return this.count;
  }

  /** The perfect-subtree roots, largest (leftmost) first. */
  toHashes(): Buffer[] {
    return this.hashes.map((h) => Buffer.from(h));
  }

  /**
   * The frontier's subtrees as [start, end) leaf ranges with their hashes, left to right: the
   * nodes a consistency proof from this size may need from the left part of a larger tree.
   */
  subtrees(): { start: number; end: number; hash: Buffer }[] {
    const out: { start: number; end: number; hash: Buffer }[] = [];
    let start = 0;
    let bit = 1;
    while (bit * 2 <= this.count) bit *= 2;
    let i = 0;
    for (; bit >= 1; bit /= 2) {
      if (Math.floor(this.count / bit) % 2 === 1) {
        out.push({ start, end: start + bit, hash: this.hashes[i]! });
        start += bit;
        i++;
      }
    }
    return out;
  }

  append(leaf: Uint8Array): void {
    if (leaf.length !== HASH_SIZE) throw new Error("frontier: leaf hashes must be 32 bytes");
    let hash: Buffer = Buffer.from(leaf);
    // Each trailing set bit of the old size is a subtree of the new leaf's size to merge with.
    for (let size = this.count; size % 2 === 1; size = Math.floor(size / 2)) {
      hash = nodeHash(this.hashes.pop()!, hash);
    }
    this.hashes.push(hash);
    this.count++;
  }

  root(): Buffer {
    if (this.hashes.length === 0) return EMPTY_ROOT;
    let hash = this.hashes[this.hashes.length - 1]!;
    for (let i = this.hashes.length - 2; i >= 0; i--) hash = nodeHash(this.hashes[i]!, hash);
    return Buffer.from(hash);
  }

  clone(): MerkleFrontier {
    return new MerkleFrontier(this.count, this.hashes.map((h) => Buffer.from(h)));
  }
}

/** Returns the hash of the subtree over leaves [start, end) (end > start). */
export type SubtreeHashes = (start: number, end: number) => Buffer;

/** Subtree hashes computed from a list of all leaf hashes. */
export function subtreesOfLeaves(leaves: readonly Uint8Array[]): SubtreeHashes {
  return (start, end) => rootOfLeafHashes(leaves, start, end);
}

function checkIndex(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer`);
}

/** RFC 6962 PATH(index, D[0:size]): the audit path of one leaf, bottom up. */
export function inclusionProof(index: number, size: number, subtree: SubtreeHashes): Buffer[] {
  checkIndex("index", index);
  checkIndex("size", size);
  if (index >= size) throw new RangeError(`index ${index} is not in a tree of ${size} leaves`);
  const path = (m: number, start: number, n: number): Buffer[] => {
    if (n === 1) return [];
    const k = splitPoint(n);
    if (m < k) return [...path(m, start, k), subtree(start + k, start + n)];
    return [...path(m - k, start + k, n - k), subtree(start, start + k)];
  };
  return path(index, 0, size);
}

/** RFC 6962 PROOF(m, D[0:n]): proves the tree of size n extends the tree of size m. */
export function consistencyProof(m: number, n: number, subtree: SubtreeHashes): Buffer[] {
  checkIndex("m", m);
  checkIndex("n", n);
  if (m > n) throw new RangeError(`the older tree (${m}) is larger than the newer (${n})`);
  if (m === 0 || m === n) return [];
  const sub = (mm: number, start: number, nn: number, complete: boolean): Buffer[] => {
    if (mm === nn) return complete ? [] : [subtree(start, start + nn)];
    const k = splitPoint(nn);
    if (mm <= k) return [...sub(mm, start, k, complete), subtree(start + k, start + nn)];
    return [...sub(mm - k, start + k, nn - k, false), subtree(start, start + k)];
  };
  return sub(m, 0, n, true);
}

function equalHash(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/** RFC 9162 §2.1.3.2: true when `proof` shows leaf `leaf` at `index` in the tree of `size` with `root`. */
export function verifyInclusion(index: number, size: number, leaf: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  if (leaf.length !== HASH_SIZE || root.length !== HASH_SIZE) return false;
  let fn = index;
  let sn = size - 1;
  let r: Buffer = Buffer.from(leaf);
  for (const p of proof) {
    if (p.length !== HASH_SIZE || sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equalHash(r, root);
}

/** RFC 9162 §2.1.4.2: true when `proof` shows the tree (size2, root2) extends (size1, root1). */
export function verifyConsistency(size1: number, size2: number, root1: Uint8Array, root2: Uint8Array, proof: readonly Uint8Array[]): boolean {
  if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2) || size1 < 0 || size2 < size1) return false;
  if (size1 === size2) return proof.length === 0 && equalHash(root1, root2);
  if (size1 === 0) return proof.length === 0;
  if (root1.length !== HASH_SIZE || root2.length !== HASH_SIZE || proof.length === 0) return false;
  for (const p of proof) if (p.length !== HASH_SIZE) return false;
  // When size1 is a power of two, the old root is itself the first node of the path.
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : [...proof];
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr: Buffer = Buffer.from(path[0]!);
  let sr: Buffer = Buffer.from(path[0]!);
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equalHash(fr, root1) && equalHash(sr, root2);
}
