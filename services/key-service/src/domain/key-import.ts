// Imported key material (BYOK), as AWS KMS: GetParametersForImport makes an RSA wrapping key and
// an import token (valid 24 h, stored server side with the wrapping key's private half wrapped
// by the root key); ImportKeyMaterial unwraps the customer's material in the PrivateKeyPool,
// checks it is the key's material (a commitment recorded at the first import), and stores it
// wrapped by the root key like generated material.
import crypto from "node:crypto";
import { KeySpec, Origin, WrappingAlgorithm, WrappingKeySpec } from "@keyhold/proto";
import { invalidArgument, KeyholdError } from "@keyhold/server-kit";
import type { KeyRecord } from "../store/records.ts";
import { specInfo } from "./key-specs.ts";

export const IMPORT_PARAMETERS_TTL_MS = 24 * 3_600_000;
export const MAX_VALID_TO_MS = 365 * 86_400_000;
export const IMPORT_TOKEN_BYTES = 32;
const AES_KEY_WRAP_PAD_IV = Buffer.from("a65959a6", "hex");

export function wrappingKeyBits(spec: WrappingKeySpec, field: string): number {
  switch (spec) {
    case WrappingKeySpec.UNSPECIFIED:
    case WrappingKeySpec.RSA_2048:
      return 2048;
    case WrappingKeySpec.RSA_3072:
      return 3072;
    case WrappingKeySpec.RSA_4096:
      return 4096;
    default:
      throw invalidArgument(field, "must be RSA_2048, RSA_3072 or RSA_4096");
  }
}

export function wrappingAlgorithm(algorithm: WrappingAlgorithm, field: string): WrappingAlgorithm {
  if (algorithm === WrappingAlgorithm.UNSPECIFIED) throw invalidArgument(field, "is required");
  if (algorithm !== WrappingAlgorithm.RSAES_OAEP_SHA_256 && algorithm !== WrappingAlgorithm.RSA_AES_KEY_WRAP_SHA_256) {
    throw invalidArgument(field, "must be RSAES_OAEP_SHA_256 or RSA_AES_KEY_WRAP_SHA_256");
  }
  return algorithm;
}

/** Key specs whose material can be imported: symmetric and HMAC keys. */
export function assertImportableSpec(keySpec: KeySpec, field: string): void {
  const family = specInfo(keySpec).family;
  if (family !== "symmetric" && family !== "hmac") throw invalidArgument(field, "keys with origin EXTERNAL must be SYMMETRIC_DEFAULT or HMAC keys");
}

/** Refuses keys that do not take imported material. */
export function assertExternal(key: KeyRecord, field: string): void {
  if (key.origin === Origin.EXTERNAL_KEY_STORE) {
    throw new KeyholdError("UNSUPPORTED_OPERATION", `${field}: the key's material is held in its external key store and cannot be imported`, { field });
  }
  if (key.origin !== Origin.EXTERNAL) {
    throw new KeyholdError("UNSUPPORTED_OPERATION", `${field}: only keys created with origin EXTERNAL take imported key material`, { field });
  }
}

/** The id an import token is stored under (its SHA-256): the token itself is not stored. */
export function importTokenId(token: Uint8Array): string {
  return crypto.createHash("sha256").update(token).digest("hex");
}

/** The additional data binding a wrapping key's stored private half to one key and token. */
export function wrappingKeyAad(accountId: string, keyId: string, tokenId: string): Buffer {
  return Buffer.from(`keyhold/import-wrapping-key/v1\n${accountId}\n${keyId}\n${tokenId}`, "utf8");
}

export function invalidImportToken(): KeyholdError {
  return new KeyholdError("INVALID_IMPORT_TOKEN", "import_token: the import token is unknown, expired, or for another key", { field: "import_token" });
}

export function undecryptableMaterial(): KeyholdError {
  return new KeyholdError("INVALID_CIPHERTEXT", "encrypted_key_material: the key material could not be unwrapped with these import parameters", {
    field: "encrypted_key_material",
  });
}

/** RSA_AES_KEY_WRAP_SHA_256: splits the RSA-OAEP part (modulus length) from the AES-KWP part. */
export function splitKeyWrap(encrypted: Uint8Array, modulusBytes: number): { rsaPart: Uint8Array; wrapped: Uint8Array } {
  if (encrypted.byteLength <= modulusBytes) throw undecryptableMaterial();
  return { rsaPart: encrypted.subarray(0, modulusBytes), wrapped: encrypted.subarray(modulusBytes) };
}

/** AES Key Wrap with Padding (RFC 5649) unwrap with a 256-bit key. */
export function aesKeyUnwrapPad(aesKey: Uint8Array, wrapped: Uint8Array): Buffer {
  if (aesKey.byteLength !== 32) throw undecryptableMaterial();
  try {
    const decipher = crypto.createDecipheriv("id-aes256-wrap-pad", aesKey, AES_KEY_WRAP_PAD_IV);
    return Buffer.concat([decipher.update(wrapped), decipher.final()]);
  } catch {
    throw undecryptableMaterial();
  }
}

/** Material lengths each importable spec accepts (as AWS KMS). */
export function checkMaterialLength(keySpec: KeySpec, material: Buffer): void {
  const [min, max] =
    keySpec === KeySpec.SYMMETRIC_DEFAULT ? [32, 32] : keySpec === KeySpec.HMAC_256 ? [32, 64] : keySpec === KeySpec.HMAC_384 ? [48, 128] : [64, 128];
  if (material.length < min || material.length > max) {
    throw invalidArgument("encrypted_key_material", `key material for ${KeySpec[keySpec]} must be ${min === max ? `${min}` : `${min}-${max}`} bytes`);
  }
}

/** A commitment to imported material, so a re-import can be checked without keeping the material. */
export function materialCommitment(keyId: string, material: Uint8Array): Buffer {
  return crypto.createHmac("sha256", material).update(`keyhold/imported-material/v1\n${keyId}`).digest();
}

export function sameCommitment(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}
