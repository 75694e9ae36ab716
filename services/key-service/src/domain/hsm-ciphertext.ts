// The ciphertext of an HSM-protected symmetric key: format v1 with algorithm 0x02 (AES-256-GCM
// run inside the token under the key version's token key). Specified in docs/ciphertext.md.
//
//   0      1                 17     18        30             n-16   n
//   | 0x01 | key version id  | 0x02 | IV (12) | AES-GCM body | tag |
//
// The token draws the IV, so the AAD is what is known before the call: the 18 bytes before the
// IV (format, key version id, algorithm) ‖ the canonical encryption context — the same context
// binding as software keys. The IV itself is authenticated by GCM (another IV fails the tag).
import { prefixedCanonicalEncryptionContext, type EncryptionContext } from "./encryption-context.ts";
import {
  ALGORITHM_AES_256_GCM_HSM, asBuffer, FORMAT_VERSION_1, invalidCiphertext, keyVersionIdBytes, OFFSET_ALGORITHM, OFFSET_KEY_VERSION_ID, TAG_LENGTH,
} from "./ciphertext.ts";

/** Bytes before the IV; all of them are AAD. */
export const HSM_AAD_HEADER_LENGTH = OFFSET_ALGORITHM + 1; // 18
export const HSM_IV_LENGTH = 12;
const OFFSET_BODY = HSM_AAD_HEADER_LENGTH + HSM_IV_LENGTH; // 30
/** Header, IV and tag: an HSM ciphertext is this much longer than its plaintext. */
export const HSM_CIPHERTEXT_OVERHEAD = OFFSET_BODY + TAG_LENGTH; // 46

/** The AAD the token's AES-GCM binds: header ‖ canonical(encryption context). */
export function hsmAad(keyVersionId: string, context: EncryptionContext): Buffer {
  const aad = prefixedCanonicalEncryptionContext(HSM_AAD_HEADER_LENGTH, context);
  aad[0] = FORMAT_VERSION_1;
  keyVersionIdBytes(keyVersionId).copy(aad, OFFSET_KEY_VERSION_ID);
  aad[OFFSET_ALGORITHM] = ALGORITHM_AES_256_GCM_HSM;
  return aad;
}

/** The blob from the token's answer: `sealed` is the GCM body followed by its tag. */
export function assembleHsmCiphertext(aad: Buffer, iv: Uint8Array, sealed: Uint8Array): Buffer {
  if (iv.byteLength !== HSM_IV_LENGTH || sealed.byteLength < TAG_LENGTH) throw invalidCiphertext();
  const out = Buffer.allocUnsafe(OFFSET_BODY + sealed.byteLength);
  aad.copy(out, 0, 0, HSM_AAD_HEADER_LENGTH);
  out.set(iv, HSM_AAD_HEADER_LENGTH);
  out.set(sealed, OFFSET_BODY);
  return out;
}

/**
 * The IV and body ‖ tag of an algorithm 0x02 blob, and the AAD to open it with. Anything else
 * (a software ciphertext, a truncated blob) is the uniform invalidCiphertext().
 */
export function parseHsmCiphertext(blob: Uint8Array, context: EncryptionContext): { aad: Buffer; iv: Buffer; sealed: Buffer } {
  const buf = asBuffer(blob);
  if (buf.length < HSM_CIPHERTEXT_OVERHEAD || buf[0] !== FORMAT_VERSION_1 || buf[OFFSET_ALGORITHM] !== ALGORITHM_AES_256_GCM_HSM) throw invalidCiphertext();
  const aad = prefixedCanonicalEncryptionContext(HSM_AAD_HEADER_LENGTH, context);
  buf.copy(aad, 0, 0, HSM_AAD_HEADER_LENGTH);
  return { aad, iv: buf.subarray(HSM_AAD_HEADER_LENGTH, OFFSET_BODY), sealed: buf.subarray(OFFSET_BODY) };
}
