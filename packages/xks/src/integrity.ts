// The bytes XKS binds around AES-GCM: the AAD given to the external key manager and the
// ciphertext data integrity value (CDIV).
import { createHash } from "node:crypto";

export const MAX_CIPHERTEXT_METADATA_BYTES = 20;

/**
 * The AAD for the external HSM: 2-byte big-endian length of additionalAuthenticatedData ‖ it ‖
 * 1-byte length of ciphertextMetadata ‖ it (absent: length 0), so metadata cannot be passed off
 * as AAD or the other way round (XKS Proxy API v1, Encrypt, ciphertextMetadata).
 */
export function hsmAad(additionalAuthenticatedData: Uint8Array, ciphertextMetadata: Uint8Array): Buffer {
  if (additionalAuthenticatedData.length > 0xffff) throw new RangeError("additionalAuthenticatedData is longer than 65535 bytes");
  if (ciphertextMetadata.length > MAX_CIPHERTEXT_METADATA_BYTES) throw new RangeError("ciphertextMetadata is longer than 20 bytes");
  const out = Buffer.alloc(2 + additionalAuthenticatedData.length + 1 + ciphertextMetadata.length);
  out.writeUInt16BE(additionalAuthenticatedData.length, 0);
  out.set(additionalAuthenticatedData, 2);
  out[2 + additionalAuthenticatedData.length] = ciphertextMetadata.length;
  out.set(ciphertextMetadata, 3 + additionalAuthenticatedData.length);
  return out;
}

/** CDIV (SHA_256): SHA-256 over AAD (if any) ‖ ciphertextMetadata (if any) ‖ IV ‖ ciphertext ‖ tag. */
export function ciphertextDataIntegrityValue(parts: {
  readonly additionalAuthenticatedData: Uint8Array;
  readonly ciphertextMetadata: Uint8Array;
  readonly initializationVector: Uint8Array;
  readonly ciphertext: Uint8Array;
  readonly authenticationTag: Uint8Array;
}): Buffer {
  return createHash("sha256")
    .update(parts.additionalAuthenticatedData)
    .update(parts.ciphertextMetadata)
    .update(parts.initializationVector)
    .update(parts.ciphertext)
    .update(parts.authenticationTag)
    .digest();
}
