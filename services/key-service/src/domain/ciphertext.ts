// The self-describing symmetric ciphertext, format v1. The layout, derivation and vectors are
// specified in docs/ciphertext.md; change nothing here without a new format version.
//
//   0      1                 17    18          50             82               n-16   n
//   | 0x01 | key version id  | 0x01 | nonce (32) | commitment (32) | AES-GCM body | tag |
//
// Every message gets its own AES-256 key, IV and key commitment from HKDF-SHA-256 over the key
// version's material with the random nonce as salt, so a key version has no message limit.
import crypto from "node:crypto";
import { KeyholdError } from "@keyhold/server-kit";
import { prefixedCanonicalEncryptionContext } from "./encryption-context.ts";
import type { EncryptionContext } from "./encryption-context.ts";

export const FORMAT_VERSION_1 = 0x01;
/** AES-256-GCM with HKDF-SHA-256 per-message key derivation and key commitment. */
export const ALGORITHM_AES_256_GCM_HKDF_SHA256_COMMIT = 0x01;
/**
 * AES-256-GCM inside the HSM under the key version's token key (HSM-protected keys): the layout
 * after the algorithm byte is IV (12) ‖ body ‖ tag (16); see hsm-ciphertext.ts.
 */
export const ALGORITHM_AES_256_GCM_HSM = 0x02;

export const MATERIAL_LENGTH = 32;
export const NONCE_LENGTH = 32;
export const KEY_VERSION_ID_LENGTH = 16;
const COMMITMENT_LENGTH = 32;
export const TAG_LENGTH = 16;
const AES_KEY_LENGTH = 32;
const IV_LENGTH = 12;

export const OFFSET_KEY_VERSION_ID = 1;
export const OFFSET_ALGORITHM = OFFSET_KEY_VERSION_ID + KEY_VERSION_ID_LENGTH; // 17
const OFFSET_NONCE = OFFSET_ALGORITHM + 1; // 18
const OFFSET_COMMITMENT = OFFSET_NONCE + NONCE_LENGTH; // 50
/** Bytes before the AES-GCM body. */
export const HEADER_LENGTH = OFFSET_COMMITMENT + COMMITMENT_LENGTH; // 82
/** Header and GCM tag: a ciphertext is this much longer than its plaintext. */
export const CIPHERTEXT_OVERHEAD: number = HEADER_LENGTH + TAG_LENGTH; // 98

// HKDF output: AES key ‖ IV ‖ commitment.
const DERIVED_LENGTH = AES_KEY_LENGTH + IV_LENGTH + COMMITMENT_LENGTH; // 76
const DERIVED_IV = AES_KEY_LENGTH; // 32
const DERIVED_COMMITMENT = DERIVED_IV + IV_LENGTH; // 44

const INFO_LABEL = Buffer.from("keyhold/ciphertext/v1", "ascii");

const INVALID_CIPHERTEXT_MESSAGE =
  "ciphertext_blob: the ciphertext is invalid, or does not match the key or encryption context";

/** The one error for every ciphertext that cannot be opened, whatever the cause (no oracle). */
export function invalidCiphertext(): KeyholdError {
  return new KeyholdError("INVALID_CIPHERTEXT", INVALID_CIPHERTEXT_MESSAGE, { field: "ciphertext_blob" });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function keyVersionIdBytes(keyVersionId: string): Buffer {
  if (!UUID.test(keyVersionId)) throw new KeyholdError("INTERNAL", "key version id is not a UUID");
  return Buffer.from(keyVersionId.replaceAll("-", ""), "hex");
}

function formatUuid(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// Material that is all zeros is a cache buffer zeroed after eviction (a use-after-free in the
// caller), never real key material (probability 2^-256): refuse rather than encrypt under it.
function checkMaterial(material: Uint8Array): void {
  if (material.length !== MATERIAL_LENGTH) {
    throw new KeyholdError("INTERNAL", `key material must be ${MATERIAL_LENGTH} bytes`);
  }
  let any = 0;
  for (let i = 0; i < MATERIAL_LENGTH; i++) any |= material[i] as number;
  if (any === 0) throw new KeyholdError("INTERNAL", "key material is unavailable (zeroed)");
}

/** HKDF-SHA-256(ikm = material, salt = nonce, info = label ‖ key version id) → 76 bytes. */
function derive(material: Uint8Array, nonce: Uint8Array, keyVersionId: Uint8Array): Buffer {
  const info = Buffer.allocUnsafe(INFO_LABEL.length + KEY_VERSION_ID_LENGTH);
  INFO_LABEL.copy(info, 0);
  info.set(keyVersionId, INFO_LABEL.length);
  return Buffer.from(crypto.hkdfSync("sha256", material, nonce, info, DERIVED_LENGTH));
}

/** The smallest blob of each algorithm: its header and the GCM tag. */
const MINIMUM_LENGTH: ReadonlyMap<number, number> = new Map([
  [ALGORITHM_AES_256_GCM_HKDF_SHA256_COMMIT, CIPHERTEXT_OVERHEAD],
  [ALGORITHM_AES_256_GCM_HSM, OFFSET_ALGORITHM + 1 + IV_LENGTH + TAG_LENGTH],
]);

/**
 * The key version id (lower-case hyphenated UUID) named by a ciphertext's header, for either
 * algorithm. Throws invalidCiphertext() when the blob is shorter than its algorithm's header
 * and tag, or names an unknown format or algorithm.
 */
export function readKeyVersionId(blob: Uint8Array): string {
  const buf = asBuffer(blob);
  const minimum = buf[0] === FORMAT_VERSION_1 ? MINIMUM_LENGTH.get(buf[OFFSET_ALGORITHM] ?? -1) : undefined;
  if (minimum === undefined || buf.length < minimum) throw invalidCiphertext();
  return formatUuid(buf.toString("hex", OFFSET_KEY_VERSION_ID, OFFSET_ALGORITHM));
}

function checkShape(buf: Buffer): void {
  if (
    buf.length < CIPHERTEXT_OVERHEAD ||
    buf[0] !== FORMAT_VERSION_1 ||
    buf[OFFSET_ALGORITHM] !== ALGORITHM_AES_256_GCM_HKDF_SHA256_COMMIT
  ) {
    throw invalidCiphertext();
  }
}

/** Encrypts under the key version's 32-byte material with a fresh random nonce. */
export function sealSymmetric(
  material: Uint8Array,
  keyVersionId: string,
  plaintext: Uint8Array,
  context: EncryptionContext,
): Buffer {
  return sealSymmetricWithNonce(material, keyVersionId, plaintext, context, crypto.randomBytes(NONCE_LENGTH));
}

/** sealSymmetric with a caller-chosen nonce: for known-answer tests only. Never reuse a nonce. */
export function sealSymmetricWithNonce(
  material: Uint8Array,
  keyVersionId: string,
  plaintext: Uint8Array,
  context: EncryptionContext,
  nonce: Uint8Array,
): Buffer {
  checkMaterial(material);
  if (nonce.length !== NONCE_LENGTH) throw new KeyholdError("INTERNAL", `nonce must be ${NONCE_LENGTH} bytes`);
  const id = keyVersionIdBytes(keyVersionId);

  // AAD = header ‖ canonical context, built in one buffer; its first 82 bytes are the header.
  const aad = prefixedCanonicalEncryptionContext(HEADER_LENGTH, context);
  aad[0] = FORMAT_VERSION_1;
  id.copy(aad, OFFSET_KEY_VERSION_ID);
  aad[OFFSET_ALGORITHM] = ALGORITHM_AES_256_GCM_HKDF_SHA256_COMMIT;
  aad.set(nonce, OFFSET_NONCE);

  const derived = derive(material, nonce, id);
  try {
    derived.copy(aad, OFFSET_COMMITMENT, DERIVED_COMMITMENT, DERIVED_LENGTH);
    const cipher = crypto.createCipheriv(
      "aes-256-gcm",
      derived.subarray(0, AES_KEY_LENGTH),
      derived.subarray(DERIVED_IV, DERIVED_COMMITMENT),
      { authTagLength: TAG_LENGTH },
    );
    cipher.setAAD(aad);
    const body = cipher.update(plaintext);
    const final = cipher.final(); // empty for GCM
    const out = Buffer.allocUnsafe(HEADER_LENGTH + body.length + final.length + TAG_LENGTH);
    aad.copy(out, 0, 0, HEADER_LENGTH);
    let offset = HEADER_LENGTH + body.copy(out, HEADER_LENGTH);
    offset += final.copy(out, offset);
    cipher.getAuthTag().copy(out, offset);
    return out;
  } finally {
    derived.fill(0);
  }
}

/**
 * Decrypts a blob made by sealSymmetric under the same material and context. Any failure —
 * malformed, truncated, tampered, wrong key, wrong context — throws invalidCiphertext().
 * The key commitment is checked, in constant time, before GCM runs.
 */
export function openSymmetric(material: Uint8Array, blob: Uint8Array, context: EncryptionContext): Buffer {
  checkMaterial(material);
  const buf = asBuffer(blob);
  checkShape(buf);
  const aad = prefixedCanonicalEncryptionContext(HEADER_LENGTH, context);
  buf.copy(aad, 0, 0, HEADER_LENGTH);

  const derived = derive(
    material,
    buf.subarray(OFFSET_NONCE, OFFSET_COMMITMENT),
    buf.subarray(OFFSET_KEY_VERSION_ID, OFFSET_ALGORITHM),
  );
  try {
    if (
      !crypto.timingSafeEqual(
        derived.subarray(DERIVED_COMMITMENT, DERIVED_LENGTH),
        buf.subarray(OFFSET_COMMITMENT, HEADER_LENGTH),
      )
    ) {
      throw invalidCiphertext();
    }
    const tagStart = buf.length - TAG_LENGTH;
    const decipher = crypto.createDecipheriv(
      "aes-256-gcm",
      derived.subarray(0, AES_KEY_LENGTH),
      derived.subarray(DERIVED_IV, DERIVED_COMMITMENT),
      { authTagLength: TAG_LENGTH },
    );
    decipher.setAAD(aad);
    decipher.setAuthTag(buf.subarray(tagStart));
    const plaintext = decipher.update(buf.subarray(HEADER_LENGTH, tagStart));
    let final: Buffer;
    try {
      final = decipher.final(); // verifies the tag; empty for GCM
    } catch {
      plaintext.fill(0); // unauthenticated output never leaves
      throw invalidCiphertext();
    }
    return final.length === 0 ? plaintext : Buffer.concat([plaintext, final]);
  } finally {
    derived.fill(0);
  }
}
