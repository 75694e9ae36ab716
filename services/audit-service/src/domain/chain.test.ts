import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { chainHash, chainOver, GENESIS_CHAIN_HASH } from "./chain.ts";
import { leafHash } from "./merkle.ts";

const sha = (...parts: Buffer[]) => createHash("sha256").update(Buffer.concat(parts)).digest();

test("chain_i = SHA-256(chain_{i-1} ‖ leaf_i), starting from 32 zero bytes", () => {
  assert.deepEqual(GENESIS_CHAIN_HASH, Buffer.alloc(32));
  const leaves = ["a", "b", "c"].map((s) => leafHash(Buffer.from(s)));
  const c0 = sha(Buffer.alloc(32), leaves[0]!);
  const c1 = sha(c0, leaves[1]!);
  const c2 = sha(c1, leaves[2]!);
  assert.deepEqual(chainHash(GENESIS_CHAIN_HASH, leaves[0]!), c0);
  assert.deepEqual(chainOver(GENESIS_CHAIN_HASH, leaves), c2);
  // Known answer: the chain hash of one leaf over the empty input.
  assert.equal(
    chainHash(GENESIS_CHAIN_HASH, leafHash(Buffer.alloc(0))).toString("hex"),
    sha(Buffer.alloc(32), Buffer.from("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d", "hex")).toString("hex"),
  );
});

test("changing, removing or reordering a leaf changes the chain's end", () => {
  const leaves = ["a", "b", "c", "d"].map((s) => leafHash(Buffer.from(s)));
  const end = chainOver(GENESIS_CHAIN_HASH, leaves);
  assert.notDeepEqual(chainOver(GENESIS_CHAIN_HASH, [leaves[0]!, leafHash(Buffer.from("B")), leaves[2]!, leaves[3]!]), end);
  assert.notDeepEqual(chainOver(GENESIS_CHAIN_HASH, [leaves[0]!, leaves[2]!, leaves[3]!]), end);
  assert.notDeepEqual(chainOver(GENESIS_CHAIN_HASH, [leaves[0]!, leaves[2]!, leaves[1]!, leaves[3]!]), end);
});

test("hashes must be 32 bytes", () => {
  assert.throws(() => chainHash(Buffer.alloc(31), Buffer.alloc(32)));
  assert.throws(() => chainHash(Buffer.alloc(32), Buffer.alloc(33)));
});
