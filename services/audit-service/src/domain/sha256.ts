// SHA-256 over a few concatenated parts in one call of node:crypto's one-shot hash(): no Hash
// object per record, which costs more than the hashing itself for the log's short inputs
// (a 32-byte chain link, a 65-byte tree node, a few hundred bytes of event).
import { hash } from "node:crypto";

/** Reused for every call (hash() reads it synchronously); grows to the largest input seen. */
let scratch = Buffer.allocUnsafe(1024);

/** SHA-256(prefix byte, when given ‖ first ‖ second, when given). */
export function sha256Of(prefix: number | undefined, first: Uint8Array, second?: Uint8Array): Buffer {
  const length = (prefix === undefined ? 0 : 1) + first.length + (second?.length ?? 0);
  if (length > scratch.length) scratch = Buffer.allocUnsafe(Math.max(length, scratch.length * 2));
  let at = 0;
  if (prefix !== undefined) scratch[at++] = prefix;
  scratch.set(first, at);
  at += first.length;
  if (second !== undefined) scratch.set(second, at);
  return hash("sha256", scratch.subarray(0, length), "buffer");
}
