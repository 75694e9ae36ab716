// The symmetric engine as the handlers use it: encrypt under a key's primary version, decrypt
// a self-describing ciphertext by the version it names. No transport here.
import { KeySpec, KeyUsage, Origin } from "@keyhold/proto";
import type { Clock } from "../context.ts";
import { KeyholdError, invalidArgument } from "@keyhold/server-kit";
import type { KeyStore } from "../store/key-store.ts";
import type { KeyRecord, KeyVersionRecord } from "../store/records.ts";
import { CIPHERTEXT_OVERHEAD, invalidCiphertext, openSymmetric, readKeyVersionId, sealSymmetric } from "./ciphertext.ts";
import type { EncryptionContext } from "./encryption-context.ts";
import type { HsmKeys } from "./hsm-keys.ts";
import { assertUsableFor } from "./key-resolver.ts";
import type { KeyMaterials } from "./key-materials.ts";

export const MAX_PLAINTEXT_BYTES = 6144;
const MAX_CIPHERTEXT_BYTES = MAX_PLAINTEXT_BYTES + CIPHERTEXT_OVERHEAD;

export interface SymmetricDeps {
  readonly store: KeyStore;
  readonly materials: KeyMaterials;
  /** Keys with origin HSM encrypt and decrypt in the token. */
  readonly hsmKeys: HsmKeys;
  readonly clock: Clock;
}

const SYMMETRIC_SPECS: readonly KeySpec[] = [KeySpec.SYMMETRIC_DEFAULT];

export interface Sealed {
  readonly blob: Buffer;
  readonly version: KeyVersionRecord;
}

export interface Opened {
  readonly plaintext: Buffer;
  readonly key: KeyRecord;
  readonly version: KeyVersionRecord;
}

export function validatePlaintext(plaintext: Uint8Array, field: string): void {
  if (plaintext.byteLength === 0) throw invalidArgument(field, "must not be empty");
  if (plaintext.byteLength > MAX_PLAINTEXT_BYTES) {
    throw new KeyholdError("PLAINTEXT_TOO_LARGE", `${field}: must be at most ${MAX_PLAINTEXT_BYTES} bytes; use a data key for more`, { field });
  }
}

export function primaryVersion(store: KeyStore, key: KeyRecord): KeyVersionRecord {
  const version = store.getVersion(key.primaryVersionId);
  if (version === undefined) throw new KeyholdError("INTERNAL", "key has no primary version");
  return version;
}

/** Encrypts under the key's primary version; the key must be enabled for ENCRYPT_DECRYPT. */
export async function sealUnderKey(deps: SymmetricDeps, key: KeyRecord, plaintext: Uint8Array, context: EncryptionContext, field: string): Promise<Sealed> {
  assertUsableFor(key, KeyUsage.ENCRYPT_DECRYPT, field, deps.clock.now(), SYMMETRIC_SPECS);
  const version = primaryVersion(deps.store, key);
  if (key.origin === Origin.HSM) return { blob: await deps.hsmKeys.encrypt(version.versionId, plaintext, context), version };
  const blob = await deps.materials.withSymmetric(version, (material) => sealSymmetric(material, version.versionId, plaintext, context));
  return { blob, version };
}

/**
 * The key version a ciphertext names. Anything malformed or unknown is the one uniform
 * INVALID_CIPHERTEXT (the caller authorizes on the version's key before opening it).
 */
export function versionOfCiphertext(deps: SymmetricDeps, blob: Uint8Array, field: string): KeyVersionRecord {
  if (blob.byteLength === 0) throw invalidArgument(field, "must not be empty");
  if (blob.byteLength > MAX_CIPHERTEXT_BYTES) throw invalidCiphertext();
  const version = deps.store.getVersion(readKeyVersionId(blob));
  if (version === undefined) throw invalidCiphertext();
  return version;
}

/**
 * Decrypts with the version the ciphertext names (already authorized). Another key than
 * `expected`, a wrong context or any tampering is the uniform INVALID_CIPHERTEXT; a
 * disabled key is KEY_DISABLED naming `keyField` (key_id in Decrypt, source_key_id in ReEncrypt).
 */
export async function openWithVersion(
  deps: SymmetricDeps,
  version: KeyVersionRecord,
  blob: Uint8Array,
  context: EncryptionContext,
  expected: KeyRecord | undefined,
  keyField: string,
): Promise<Opened> {
  if (expected !== undefined && (version.keyId !== expected.keyId || version.accountId !== expected.accountId)) throw invalidCiphertext();
  const key = deps.store.getKey(version.accountId, version.keyId);
  if (key === undefined) throw invalidCiphertext();
  assertUsableFor(key, KeyUsage.ENCRYPT_DECRYPT, keyField, deps.clock.now(), SYMMETRIC_SPECS);
  const plaintext =
    key.origin === Origin.HSM
      ? await deps.hsmKeys.decrypt(version.versionId, blob, context)
      : await deps.materials.withSymmetric(version, (material) => openSymmetric(material, blob, context));
  return { plaintext, key, version };
}
