// HMAC keys: GenerateMac and VerifyMac with the key's primary version. The MAC algorithm must
// be the key spec's own (as AWS KMS); verification compares in constant time.
import crypto from "node:crypto";
import { KeyUsage, MacAlgorithm } from "@keyhold/proto";
import { invalidArgument, KeyholdError } from "@keyhold/server-kit";
import type { KeyRecord, KeyVersionRecord } from "../store/records.ts";
import { assertUsableFor } from "./key-resolver.ts";
import { specInfo } from "./key-specs.ts";
import { primaryVersion, type SymmetricDeps } from "./symmetric-operations.ts";

export const MAX_MAC_MESSAGE_BYTES = 4096;

export function validateMacMessage(message: Uint8Array, field: string): void {
  if (message.byteLength === 0) throw invalidArgument(field, "must not be empty");
  if (message.byteLength > MAX_MAC_MESSAGE_BYTES) throw invalidArgument(field, `must be at most ${MAX_MAC_MESSAGE_BYTES} bytes`);
}

export function requireMacAlgorithm(algorithm: MacAlgorithm, field: string): MacAlgorithm {
  if (algorithm === MacAlgorithm.UNSPECIFIED) throw invalidArgument(field, "is required");
  if (MacAlgorithm[algorithm] === undefined) throw invalidArgument(field, "unknown MAC algorithm");
  return algorithm;
}

export interface Mac {
  readonly mac: Buffer;
  readonly version: KeyVersionRecord;
}

/** The HMAC of `message` under the key's primary version, checking state, usage and algorithm. */
export async function computeMac(deps: SymmetricDeps, key: KeyRecord, algorithm: MacAlgorithm, message: Uint8Array): Promise<Mac> {
  assertUsableFor(key, KeyUsage.GENERATE_VERIFY_MAC, "key_id", deps.clock.now());
  const mac = specInfo(key.keySpec).mac;
  if (mac === undefined) throw new KeyholdError("KEY_USAGE_MISMATCH", "key_id: the key's usage does not allow this operation", { field: "key_id" });
  if (mac.algorithm !== algorithm) throw invalidArgument("mac_algorithm", `the key computes ${MacAlgorithm[mac.algorithm]} only`);
  const version = await primaryVersion(deps.store, key);
  const digest = await deps.materials.withMaterial(version, (material) => crypto.createHmac(mac.digest, material).update(message).digest());
  return { mac: digest, version };
}

/** Constant-time comparison of a computed MAC with a presented one (any length). */
export function macsEqual(computed: Buffer, presented: Uint8Array): boolean {
  if (presented.byteLength !== computed.length) {
    // Compare against itself so a wrong length costs the same as a wrong value.
    crypto.timingSafeEqual(computed, computed);
    return false;
  }
  return crypto.timingSafeEqual(computed, presented);
}
