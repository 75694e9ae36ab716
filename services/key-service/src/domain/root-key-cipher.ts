// AES-256-GCM wrapping under a 32-byte root key held in memory (the local key file's and the
// unsealed root key's): 0x01 ‖ IV (12) ‖ body ‖ tag (16), `aad` bound.
import crypto from "node:crypto";
import { KeyholdError } from "@keyhold/server-kit";

export const ROOT_KEY_BYTES = 32;
/** The first byte of material wrapped under an in-memory root key (the HSM root's is 0x02). */
export const FILE_WRAP_FORMAT = 0x01;
const WRAP_FORMAT_1 = FILE_WRAP_FORMAT;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const WRAP_OVERHEAD = 1 + IV_LENGTH + TAG_LENGTH;

function unwrapFailed(cause?: unknown): KeyholdError {
  return new KeyholdError("INTERNAL", "root key could not unwrap key material", cause === undefined ? {} : { cause });
}

export function wrapUnder(key: Buffer, material: Uint8Array, aad: Uint8Array): Buffer {
  const iv = crypto.randomBytes(IV_LENGTH);
  const cipher = crypto.createCipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_LENGTH });
  cipher.setAAD(aad);
  const body = cipher.update(material);
  const final = cipher.final();
  return Buffer.concat([Buffer.of(WRAP_FORMAT_1), iv, body, final, cipher.getAuthTag()]);
}

export function unwrapUnder(key: Buffer, wrapped: Uint8Array, aad: Uint8Array): Buffer {
  if (wrapped.length < WRAP_OVERHEAD || wrapped[0] !== WRAP_FORMAT_1) throw unwrapFailed();
  const buf = Buffer.from(wrapped.buffer, wrapped.byteOffset, wrapped.byteLength);
  const tagStart = buf.length - TAG_LENGTH;
  const decipher = crypto.createDecipheriv("aes-256-gcm", key, buf.subarray(1, 1 + IV_LENGTH), { authTagLength: TAG_LENGTH });
  decipher.setAAD(aad);
  decipher.setAuthTag(buf.subarray(tagStart));
  const material = decipher.update(buf.subarray(1 + IV_LENGTH, tagStart));
  try {
    const final = decipher.final();
    return final.length === 0 ? material : Buffer.concat([material, final]);
  } catch (error) {
    material.fill(0);
    throw unwrapFailed(error);
  }
}
