// The hash chain: each record commits to its predecessor, so a changed, removed, inserted or
// reordered record breaks every chain hash after it:
//   chain_i = SHA-256(chain_{i-1} ‖ leaf_hash_i),  chain_{-1} = 32 zero bytes.
import { sha256Of } from "./sha256.ts";

/** The chain hash "before the first record". */
export const GENESIS_CHAIN_HASH: Buffer = Buffer.alloc(32);

export function chainHash(previous: Uint8Array, leafHash: Uint8Array): Buffer {
  if (previous.length !== 32 || leafHash.length !== 32) throw new Error("chain: hashes must be 32 bytes");
  return sha256Of(undefined, previous, leafHash);
}

/** The chain hash after a run of leaf hashes, starting from `previous`. */
export function chainOver(previous: Uint8Array, leafHashes: Iterable<Uint8Array>): Buffer {
  let chain: Buffer = Buffer.from(previous);
  for (const leaf of leafHashes) chain = chainHash(chain, leaf);
  return chain;
}
