// Signing algorithms: how each maps to a PKCS#11 mechanism over a digest the gateway computes
// (or the caller sent), and the ECDSA signature conversion between PKCS#11's r‖s and DER.
import { createHash } from "node:crypto";
import pkcs11js from "pkcs11js";

export type Hash = "sha256" | "sha384" | "sha512";
export type SigningAlgorithm =
  | "RSASSA_PSS_SHA_256" | "RSASSA_PSS_SHA_384" | "RSASSA_PSS_SHA_512"
  | "RSASSA_PKCS1_V1_5_SHA_256" | "RSASSA_PKCS1_V1_5_SHA_384" | "RSASSA_PKCS1_V1_5_SHA_512"
  | "ECDSA_SHA_256" | "ECDSA_SHA_384" | "ECDSA_SHA_512";

export const HASH_BYTES: Readonly<Record<Hash, number>> = { sha256: 32, sha384: 48, sha512: 64 };

/** DER DigestInfo prefixes (RFC 8017 section 9.2, note 1). */
const DIGEST_INFO: Readonly<Record<Hash, Buffer>> = {
  sha256: Buffer.from("3031300d060960864801650304020105000420", "hex"),
  sha384: Buffer.from("3041300d060960864801650304020205000430", "hex"),
  sha512: Buffer.from("3051300d060960864801650304020305000440", "hex"),
};

const HASH_MECHANISMS: Readonly<Record<Hash, { readonly hashAlg: number; readonly mgf: number }>> = {
  sha256: { hashAlg: pkcs11js.CKM_SHA256, mgf: pkcs11js.CKG_MGF1_SHA256 },
  sha384: { hashAlg: pkcs11js.CKM_SHA384, mgf: pkcs11js.CKG_MGF1_SHA384 },
  sha512: { hashAlg: pkcs11js.CKM_SHA512, mgf: pkcs11js.CKG_MGF1_SHA512 },
};

export interface AlgorithmInfo {
  readonly family: "RSA" | "EC";
  readonly hash: Hash;
  readonly padding: "pss" | "pkcs1" | "ecdsa";
}

export function algorithmInfo(algorithm: SigningAlgorithm): AlgorithmInfo {
  const hash: Hash = algorithm.endsWith("256") ? "sha256" : algorithm.endsWith("384") ? "sha384" : "sha512";
  if (algorithm.startsWith("ECDSA")) return { family: "EC", hash, padding: "ecdsa" };
  return { family: "RSA", hash, padding: algorithm.startsWith("RSASSA_PSS") ? "pss" : "pkcs1" };
}

export function digestOf(hash: Hash, message: Uint8Array): Buffer {
  return createHash(hash).update(message).digest();
}

/** The mechanism and the data to give C_Sign / C_Verify for a digest. */
export function signingInput(info: AlgorithmInfo, digest: Buffer): { mechanism: pkcs11js.Mechanism; data: Buffer } {
  switch (info.padding) {
    case "pkcs1":
      return { mechanism: { mechanism: pkcs11js.CKM_RSA_PKCS }, data: Buffer.concat([DIGEST_INFO[info.hash], digest]) };
    case "pss": {
      const { hashAlg, mgf } = HASH_MECHANISMS[info.hash];
      const parameter: pkcs11js.RsaPSS = { type: pkcs11js.CK_PARAMS_RSA_PSS, hashAlg, mgf, saltLen: HASH_BYTES[info.hash] };
      return {
        mechanism: { mechanism: pkcs11js.CKM_RSA_PKCS_PSS, parameter },
        data: digest,
      };
    }
    case "ecdsa":
      return { mechanism: { mechanism: pkcs11js.CKM_ECDSA }, data: digest };
  }
}

function derInteger(value: Buffer): Buffer {
  let start = 0;
  while (start < value.length - 1 && value[start] === 0) start++;
  let body = value.subarray(start);
  if ((body[0] ?? 0) & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  return Buffer.concat([Buffer.from([0x02, body.length]), body]);
}

/** PKCS#11's r‖s as a DER SEQUENCE of two INTEGERs. */
export function ecdsaRawToDer(raw: Buffer): Buffer {
  const half = raw.length / 2;
  const body = Buffer.concat([derInteger(raw.subarray(0, half)), derInteger(raw.subarray(half))]);
  const length = body.length < 0x80 ? Buffer.from([body.length]) : Buffer.from([0x81, body.length]);
  return Buffer.concat([Buffer.from([0x30]), length, body]);
}

/** A DER ECDSA signature as r‖s of `fieldBytes` each; undefined when it is not well-formed. */
export function ecdsaDerToRaw(der: Uint8Array, fieldBytes: number): Buffer | undefined {
  const input = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  let at = 0;
  if (input[at++] !== 0x30) return undefined;
  let length = input[at++] ?? 0;
  if (length === 0x81) length = input[at++] ?? 0;
  else if (length > 0x80) return undefined;
  if (at + length !== input.length) return undefined;
  const out = Buffer.alloc(fieldBytes * 2);
  for (let i = 0; i < 2; i++) {
    if (input[at++] !== 0x02) return undefined;
    const intLength = input[at++] ?? 0;
    if (intLength === 0 || intLength > 0x7f || at + intLength > input.length) return undefined;
    let value = input.subarray(at, at + intLength);
    at += intLength;
    while (value.length > 1 && value[0] === 0) value = value.subarray(1);
    if (value.length > fieldBytes) return undefined;
    value.copy(out, i * fieldBytes + fieldBytes - value.length);
  }
  return at === input.length ? out : undefined;
}
