// RFC 6962 Merkle tree: known-answer vectors from transparency-dev/merkle (testonly/constants.go
// and proof/verify_test.go, the classic certificate-transparency test tree of 8 leaves), the
// incremental frontier against the recursive definition, and proofs with their verifiers,
// including the corruptions those test files try.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import {
  consistencyProof,
  EMPTY_ROOT,
  inclusionProof,
  leafHash,
  MerkleFrontier,
  rootOfLeafHashes,
  subtreesOfLeaves,
  verifyConsistency,
  verifyInclusion,
} from "./merkle.ts";

const h = (hex: string): Buffer => Buffer.from(hex, "hex");

const LEAF_INPUTS = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"].map(h);

/** Leaf hashes of the 8 inputs (NodeHashes level 0). */
const LEAF_HASHES = [
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
  "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
  "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
  "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
  "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
  "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
  "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
].map(h);

/** Roots of the trees of size 0..8. */
const ROOTS = [
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
].map(h);

/** Frontier (compact tree) hashes of the trees of size 0..8 (CompactTrees). */
const NODE = {
  l0: LEAF_HASHES,
  l1: ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a", "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"].map(h),
  l2: ["d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7", "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"].map(h),
  l3: ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"].map(h),
};
const COMPACT_TREES: Buffer[][] = [
  [],
  [NODE.l0[0]!],
  [NODE.l1[0]!],
  [NODE.l1[0]!, NODE.l0[2]!],
  [NODE.l2[0]!],
  [NODE.l2[0]!, NODE.l0[4]!],
  [NODE.l2[0]!, NODE.l1[2]!],
  [NODE.l2[0]!, NODE.l1[2]!, NODE.l0[6]!],
  [NODE.l3[0]!],
];

/** Inclusion proofs: 0-based leaf index, tree size, proof (verify_test.go uses 1-based leaves). */
const INCLUSION: { index: number; size: number; proof: Buffer[] }[] = [
  { index: 0, size: 1, proof: [] },
  { index: 0, size: 8, proof: ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"].map(h) },
  { index: 5, size: 8, proof: ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b", "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0", "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"].map(h) },
  { index: 2, size: 3, proof: ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"].map(h) },
  { index: 1, size: 5, proof: ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"].map(h) },
];

const CONSISTENCY: { size1: number; size2: number; proof: Buffer[] }[] = [
  { size1: 1, size2: 1, proof: [] },
  { size1: 1, size2: 8, proof: ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"].map(h) },
  { size1: 6, size2: 8, proof: ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a", "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0", "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"].map(h) },
  { size1: 2, size2: 5, proof: ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"].map(h) },
  { size1: 6, size2: 7, proof: ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a", "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f", "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"].map(h) },
];

const someHash = h("abacaba000000000000000000000000000000000000000000060061e00123456");

function flip(proof: readonly Buffer[], i: number, bit: number): Buffer[] {
  return proof.map((p, j) => {
    if (j !== i) return p;
    const copy = Buffer.from(p);
    copy[0]! ^= bit;
    return copy;
  });
}

describe("RFC 6962 Merkle tree hash", () => {
  test("leaf hashes of the test vector inputs", () => {
    assert.deepEqual(LEAF_INPUTS.map(leafHash), LEAF_HASHES);
  });

  test("the empty tree's root is SHA-256 of nothing", () => {
    assert.deepEqual(EMPTY_ROOT, ROOTS[0]);
    assert.deepEqual(rootOfLeafHashes([]), ROOTS[0]);
    assert.deepEqual(MerkleFrontier.empty().root(), ROOTS[0]);
  });

  test("roots of every prefix of the 8 leaves, recursively and incrementally", () => {
    const frontier = MerkleFrontier.empty();
    for (let size = 1; size <= 8; size++) {
      assert.deepEqual(rootOfLeafHashes(LEAF_HASHES.slice(0, size)), ROOTS[size], `MTH of ${size}`);
      frontier.append(LEAF_HASHES[size - 1]!);
      assert.equal(frontier.size, size);
      assert.deepEqual(frontier.root(), ROOTS[size], `frontier root of ${size}`);
      assert.deepEqual(frontier.toHashes(), COMPACT_TREES[size], `compact tree of ${size}`);
    }
  });

  test("a frontier saved and restored continues to the same roots", () => {
    for (let size = 0; size <= 8; size++) {
      const restored = MerkleFrontier.fromHashes(size, COMPACT_TREES[size]!);
      assert.deepEqual(restored.root(), ROOTS[size]);
      for (let next = size; next < 8; next++) restored.append(LEAF_HASHES[next]!);
      assert.deepEqual(restored.root(), ROOTS[8]);
    }
    assert.throws(() => MerkleFrontier.fromHashes(3, [NODE.l1[0]!]), /has 2 subtree hashes/);
  });

  test("the frontier equals the recursive definition for every size up to 300", () => {
    const leaves = Array.from({ length: 300 }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));
    const frontier = MerkleFrontier.empty();
    for (let size = 1; size <= leaves.length; size++) {
      frontier.append(leaves[size - 1]!);
      assert.deepEqual(frontier.root(), rootOfLeafHashes(leaves.slice(0, size)), `size ${size}`);
    }
  });

  test("an independent reading of the definition agrees (leaf 0x00 prefix, node 0x01 prefix)", () => {
    const sha = (...parts: Buffer[]) => createHash("sha256").update(Buffer.concat(parts)).digest();
    const l = LEAF_INPUTS.map((d) => sha(Buffer.of(0), d));
    const n = (a: Buffer, b: Buffer) => sha(Buffer.of(1), a, b);
    // Size 7: ((l0 l1)(l2 l3)) ((l4 l5) l6)
    assert.deepEqual(n(n(n(l[0]!, l[1]!), n(l[2]!, l[3]!)), n(n(l[4]!, l[5]!), l[6]!)), ROOTS[7]);
  });
});

describe("inclusion proofs", () => {
  const subtree = subtreesOfLeaves(LEAF_HASHES);

  test("generated proofs equal the vectors and verify", () => {
    for (const { index, size, proof } of INCLUSION) {
      const leaves = LEAF_HASHES.slice(0, size);
      assert.deepEqual(inclusionProof(index, size, subtreesOfLeaves(leaves)), proof, `PATH(${index}, ${size})`);
      assert.ok(verifyInclusion(index, size, LEAF_HASHES[index]!, proof, ROOTS[size]!), `verify ${index} in ${size}`);
    }
  });

  test("every leaf of every tree up to 8 proves and verifies", () => {
    for (let size = 1; size <= 8; size++) {
      for (let index = 0; index < size; index++) {
        const proof = inclusionProof(index, size, subtree);
        assert.ok(verifyInclusion(index, size, LEAF_HASHES[index]!, proof, ROOTS[size]!));
      }
    }
  });

  test("corrupted proofs, indexes, sizes, leaves and roots are refused", () => {
    for (const { index, size, proof } of INCLUSION.filter((v) => v.proof.length > 0)) {
      const leaf = LEAF_HASHES[index]!;
      const root = ROOTS[size]!;
      const probes: [number, number, Uint8Array, Uint8Array[], Uint8Array, string][] = [
        [index - 1, size, leaf, proof, root, "index - 1"],
        [index + 1, size, leaf, proof, root, "index + 1"],
        [index ^ 2, size, leaf, proof, root, "index ^ 2"],
        [index, size * 2, leaf, proof, root, "size * 2"],
        [index, Math.floor(size / 2), leaf, proof, root, "size / 2"],
        [index, size, Buffer.from("WrongLeaf"), proof, root, "wrong leaf"],
        [index, size, leaf, proof, EMPTY_ROOT, "empty root"],
        [index, size, leaf, proof, someHash, "random root"],
        [index, size, leaf, [...proof, Buffer.alloc(0)], root, "trailing garbage"],
        [index, size, leaf, [...proof, root], root, "trailing root"],
        [index, size, leaf, [Buffer.alloc(0), ...proof], root, "preceding garbage"],
        [index, size, leaf, [root, ...proof], root, "preceding root"],
        [index, size, leaf, proof.slice(0, -1), root, "removed component"],
        ...proof.map((_, i): [number, number, Uint8Array, Uint8Array[], Uint8Array, string] => [index, size, leaf, flip(proof, i, 8), root, `proof[${i}] bit 3`]),
      ];
      if (proof.length > 1) probes.push([index, size, leaf, [proof[0]!, someHash, ...proof.slice(1)], root, "inserted component"]);
      for (const [i, s, l, p, r, what] of probes) {
        assert.equal(verifyInclusion(i, s, l, p, r), false, `PATH(${index}, ${size}) accepted with ${what}`);
      }
    }
  });

  test("a single-leaf tree: the root is the leaf hash and the proof is empty", () => {
    const leaf = leafHash(Buffer.from("data"));
    assert.ok(verifyInclusion(0, 1, leaf, [], leaf));
    assert.equal(verifyInclusion(0, 1, leaf, [], Buffer.alloc(0)), false);
    assert.equal(verifyInclusion(0, 1, Buffer.alloc(0), [], leaf), false);
    for (const [index, size] of [[0, 0], [1, 0], [2, 1]] as const) assert.equal(verifyInclusion(index, size, someHash, [], EMPTY_ROOT), false);
  });
});

describe("consistency proofs", () => {
  test("generated proofs equal the vectors and verify", () => {
    for (const { size1, size2, proof } of CONSISTENCY) {
      assert.deepEqual(consistencyProof(size1, size2, subtreesOfLeaves(LEAF_HASHES.slice(0, size2))), proof, `PROOF(${size1}, ${size2})`);
      assert.ok(verifyConsistency(size1, size2, ROOTS[size1]!, ROOTS[size2]!, proof), `verify ${size1} -> ${size2}`);
    }
  });

  test("every pair of sizes up to 8 proves and verifies", () => {
    const subtree = subtreesOfLeaves(LEAF_HASHES);
    for (let m = 0; m <= 8; m++) {
      for (let n = m; n <= 8; n++) {
        const proof = consistencyProof(m, n, subtree);
        assert.ok(verifyConsistency(m, n, ROOTS[m]!, ROOTS[n]!, proof), `${m} -> ${n}`);
      }
    }
  });

  test("corrupted proofs, sizes and roots are refused", () => {
    for (const { size1, size2, proof } of CONSISTENCY.filter((v) => v.proof.length > 0)) {
      const root1 = ROOTS[size1]!;
      const root2 = ROOTS[size2]!;
      const probes: [number, number, Uint8Array, Uint8Array, Uint8Array[], string][] = [
        [size1 - 1, size2, root1, root2, proof, "size1 - 1"],
        [size1 + 1, size2, root1, root2, proof, "size1 + 1"],
        [size1 ^ 2, size2, root1, root2, proof, "size1 ^ 2"],
        [size1, size2 * 2, root1, root2, proof, "size2 * 2"],
        [size1, Math.floor(size2 / 2), root1, root2, proof, "size2 / 2"],
        [size1, size2, Buffer.from("WrongRoot"), root2, proof, "wrong root1"],
        [size1, size2, root1, Buffer.from("WrongRoot"), proof, "wrong root2"],
        [size1, size2, root2, root1, proof, "swapped roots"],
        [size1, size2, root1, root2, [], "empty proof"],
        [size1, size2, root1, root2, [...proof, Buffer.alloc(0)], "trailing garbage"],
        [size1, size2, root1, root2, [...proof, root1], "trailing root1"],
        [size1, size2, root1, root2, [...proof, root2], "trailing root2"],
        [size1, size2, root1, root2, [Buffer.alloc(0), ...proof], "preceding garbage"],
        [size1, size2, root1, root2, [root1, ...proof], "preceding root1"],
        [size1, size2, root1, root2, [root2, ...proof], "preceding root2"],
        [size1, size2, root1, root2, [proof[0]!, ...proof], "preceding proof[0]"],
        [size1, size2, root1, root2, proof.slice(0, -1), "truncated proof"],
        ...proof.map((_, i): [number, number, Uint8Array, Uint8Array, Uint8Array[], string] => [size1, size2, root1, root2, flip(proof, i, 16), `proof[${i}] bit 4`]),
      ];
      for (const [m, n, r1, r2, p, what] of probes) {
        assert.equal(verifyConsistency(m, n, r1, r2, p), false, `PROOF(${size1}, ${size2}) accepted with ${what}`);
      }
    }
  });

  test("edge cases: equal sizes need equal roots and no proof; time travel is refused", () => {
    const r1 = Buffer.from("don't care 1");
    const r2 = Buffer.from("don't care 2");
    assert.equal(verifyConsistency(0, 0, r1, r2, []), false);
    assert.equal(verifyConsistency(1, 1, r1, r2, []), false);
    assert.ok(verifyConsistency(0, 0, r1, r1, []));
    assert.ok(verifyConsistency(0, 1, r1, r2, []));
    assert.ok(verifyConsistency(1, 1, r2, r2, []));
    assert.equal(verifyConsistency(1, 0, r1, r2, []), false);
    assert.equal(verifyConsistency(2, 1, r1, r2, []), false);
    assert.equal(verifyConsistency(1, 2, r1, r2, []), false);
    assert.equal(verifyConsistency(0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]), false);
    assert.equal(verifyConsistency(1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]), false);
  });

  test("a proof from a frontier's subtrees plus the new leaves equals one from all leaves", () => {
    const leaves = Array.from({ length: 100 }, (_, i) => leafHash(Buffer.from(`record ${i}`)));
    for (const m of [1, 2, 3, 7, 8, 13, 32, 63, 64, 65, 99]) {
      const before = MerkleFrontier.ofLeaves(leaves.slice(0, m));
      const nodes = new Map(before.subtrees().map((s) => [`${s.start}:${s.end}`, s.hash]));
      const fromFrontier = (start: number, end: number) => (end <= m ? nodes.get(`${start}:${end}`)! : rootOfLeafHashes(leaves, start, end));
      const proof = consistencyProof(m, 100, fromFrontier);
      assert.deepEqual(proof, consistencyProof(m, 100, subtreesOfLeaves(leaves)), `m = ${m}`);
      assert.ok(verifyConsistency(m, 100, before.root(), rootOfLeafHashes(leaves), proof));
    }
  });
});
