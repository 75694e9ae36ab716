// Asymmetric keys as the handlers use them: which signing and encryption algorithms a key
// offers, request checks, and the operations (private-key work in the PrivateKeyPool).
import { EncryptionAlgorithm, KeySpec, KeyUsage, MessageType, SigningAlgorithm } from "@keyhold/proto";
import { invalidArgument, KeyholdError } from "@keyhold/server-kit";
import type { KeyRecord, KeyVersionRecord } from "../store/records.ts";
import { HASH_BYTES, type HashName, type KeyPairSpec, type SignScheme } from "./asymmetric-engine.ts";
import { specInfo } from "./key-specs.ts";

export const MAX_RAW_MESSAGE_BYTES = 4096;

const SCHEMES: ReadonlyMap<SigningAlgorithm, SignScheme> = new Map<SigningAlgorithm, SignScheme>([
  [SigningAlgorithm.RSASSA_PSS_SHA_256, { kind: "rsa-pss", hash: "sha256" }],
  [SigningAlgorithm.RSASSA_PSS_SHA_384, { kind: "rsa-pss", hash: "sha384" }],
  [SigningAlgorithm.RSASSA_PSS_SHA_512, { kind: "rsa-pss", hash: "sha512" }],
  [SigningAlgorithm.RSASSA_PKCS1_V1_5_SHA_256, { kind: "rsa-pkcs1", hash: "sha256" }],
  [SigningAlgorithm.RSASSA_PKCS1_V1_5_SHA_384, { kind: "rsa-pkcs1", hash: "sha384" }],
  [SigningAlgorithm.RSASSA_PKCS1_V1_5_SHA_512, { kind: "rsa-pkcs1", hash: "sha512" }],
  [SigningAlgorithm.ECDSA_SHA_256, { kind: "ecdsa", hash: "sha256" }],
  [SigningAlgorithm.ECDSA_SHA_384, { kind: "ecdsa", hash: "sha384" }],
  [SigningAlgorithm.ED25519_SHA_512, { kind: "ed25519" }],
]);

const RSA_SIGNING = [
  SigningAlgorithm.RSASSA_PSS_SHA_256,
  SigningAlgorithm.RSASSA_PSS_SHA_384,
  SigningAlgorithm.RSASSA_PSS_SHA_512,
  SigningAlgorithm.RSASSA_PKCS1_V1_5_SHA_256,
  SigningAlgorithm.RSASSA_PKCS1_V1_5_SHA_384,
  SigningAlgorithm.RSASSA_PKCS1_V1_5_SHA_512,
] as const;

export const OAEP_ALGORITHMS: ReadonlyMap<EncryptionAlgorithm, HashName> = new Map<EncryptionAlgorithm, HashName>([
  [EncryptionAlgorithm.RSAES_OAEP_SHA_1, "sha1"],
  [EncryptionAlgorithm.RSAES_OAEP_SHA_256, "sha256"],
]);

/** The signing algorithms a key offers (none unless it is an asymmetric SIGN_VERIFY key). */
export function signingAlgorithmsOf(keySpec: KeySpec, keyUsage: KeyUsage): readonly SigningAlgorithm[] {
  if (keyUsage !== KeyUsage.SIGN_VERIFY) return [];
  switch (keySpec) {
    case KeySpec.RSA_2048:
    case KeySpec.RSA_3072:
    case KeySpec.RSA_4096:
      return RSA_SIGNING;
    case KeySpec.EC_P256:
    case KeySpec.EC_SECG_P256K1:
      return [SigningAlgorithm.ECDSA_SHA_256];
    case KeySpec.EC_P384:
      return [SigningAlgorithm.ECDSA_SHA_384];
    case KeySpec.ED25519:
      return [SigningAlgorithm.ED25519_SHA_512];
    default:
      return [];
  }
}

/** The encryption algorithms of an RSA ENCRYPT_DECRYPT key (none for other keys). */
export function asymmetricEncryptionAlgorithmsOf(keySpec: KeySpec, keyUsage: KeyUsage): readonly EncryptionAlgorithm[] {
  return keyUsage === KeyUsage.ENCRYPT_DECRYPT && specInfo(keySpec).family === "rsa" ? [EncryptionAlgorithm.RSAES_OAEP_SHA_1, EncryptionAlgorithm.RSAES_OAEP_SHA_256] : [];
}

/** The generator input for an asymmetric key spec. */
export function keyPairSpecOf(keySpec: KeySpec): KeyPairSpec | undefined {
  const info = specInfo(keySpec);
  if (info.family === "rsa") return { type: "rsa", bits: info.rsaBits! };
  if (info.family === "ec") return { type: "ec", curve: info.curve! };
  if (info.family === "ed25519") return { type: "ed25519" };
  return undefined;
}

export function keyUsageMismatch(field = "key_id"): KeyholdError {
  return new KeyholdError("KEY_USAGE_MISMATCH", `${field}: the key's usage does not allow this operation`, { field });
}

export interface SignInput {
  readonly scheme: SignScheme;
  readonly digest: boolean;
}

/**
 * Checks a Sign/Verify request against the key: the algorithm is one the key offers, and the
 * message fits its type (RAW: 1-4096 bytes; DIGEST: exactly the hash length; not for Ed25519,
 * which signs messages only, as AWS KMS's ED25519_SHA_512).
 */
export function signInput(key: KeyRecord, algorithm: SigningAlgorithm, messageType: MessageType, message: Uint8Array): SignInput {
  if (algorithm === SigningAlgorithm.UNSPECIFIED) throw invalidArgument("signing_algorithm", "is required");
  const scheme = SCHEMES.get(algorithm);
  if (scheme === undefined) throw invalidArgument("signing_algorithm", "unknown signing algorithm");
  if (messageType !== MessageType.UNSPECIFIED && messageType !== MessageType.RAW && messageType !== MessageType.DIGEST) {
    throw invalidArgument("message_type", "must be RAW or DIGEST");
  }
  if (key.keyUsage !== KeyUsage.SIGN_VERIFY) throw keyUsageMismatch();
  const offered = signingAlgorithmsOf(key.keySpec, key.keyUsage);
  if (!offered.includes(algorithm)) {
    throw invalidArgument("signing_algorithm", `the key offers ${offered.map((a) => SigningAlgorithm[a]).join(", ")}`);
  }
  const digest = messageType === MessageType.DIGEST;
  if (digest) {
    if (scheme.kind === "ed25519") throw invalidArgument("message_type", "ED25519_SHA_512 signs RAW messages only");
    if (message.byteLength !== HASH_BYTES[scheme.hash]) throw invalidArgument("message", `a ${scheme.hash.toUpperCase()} digest is ${HASH_BYTES[scheme.hash]} bytes`);
  } else {
    if (message.byteLength === 0) throw invalidArgument("message", "must not be empty");
    if (message.byteLength > MAX_RAW_MESSAGE_BYTES) throw invalidArgument("message", `must be at most ${MAX_RAW_MESSAGE_BYTES} bytes; sign a DIGEST instead`);
  }
  return { scheme, digest };
}

/** Checks the OAEP algorithm of an AsymmetricEncrypt/Decrypt request against an RSA ENCRYPT_DECRYPT key. */
export function oaepHashFor(key: KeyRecord, algorithm: EncryptionAlgorithm, field: string): HashName {
  if (algorithm === EncryptionAlgorithm.UNSPECIFIED) throw invalidArgument(field, "is required");
  const hash = OAEP_ALGORITHMS.get(algorithm);
  if (hash === undefined) throw invalidArgument(field, "must be RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256");
  if (key.keyUsage !== KeyUsage.ENCRYPT_DECRYPT || specInfo(key.keySpec).family !== "rsa") throw keyUsageMismatch();
  return hash;
}

/** The public key of an asymmetric key's primary version. */
export function publicKeyOf(version: KeyVersionRecord): Buffer {
  if (version.publicKey === undefined) throw new KeyholdError("INTERNAL", "asymmetric key version without a public key");
  return version.publicKey;
}

export function publicKeyPem(spki: Buffer): string {
  const base64 = spki.toString("base64").replace(/.{64}/g, "$&\n");
  return `-----BEGIN PUBLIC KEY-----\n${base64}${base64.endsWith("\n") ? "" : "\n"}-----END PUBLIC KEY-----\n`;
}
