// HSM-protected keys (origin HSM): each key version is its own non-extractable object in
// hsm-gateway's PKCS#11 token, named by the key version id (its CKA_ID and CKA_LABEL), so it is
// found again after any restart. Every operation runs in the token through the gateway; no
// material is stored or cached here (the version's wrapped material stays empty).
//
// Offered: SYMMETRIC_DEFAULT (AES-256) for ENCRYPT_DECRYPT; RSA_2048/3072/4096 and
// ECC_NIST_P256/P384 for SIGN_VERIFY. Refused, naming the field: RSA ENCRYPT_DECRYPT (the
// gateway has no RSA-OAEP), HMAC, secp256k1 and Ed25519 (no such mechanisms in the gateway).
import type { HsmClient, HsmKeySpecName, HsmSigningAlgorithmName } from "@keyhold/hsm-client";
import { KeySpec, KeyUsage, SigningAlgorithm } from "@keyhold/proto";
import { invalidArgument, KeyholdError } from "@keyhold/server-kit";
import { invalidCiphertext } from "./ciphertext.ts";
import type { EncryptionContext } from "./encryption-context.ts";
import { assembleHsmCiphertext, hsmAad, parseHsmCiphertext } from "./hsm-ciphertext.ts";
import { sealedError, type SealControl } from "./sealed-root-key.ts";

/** What a version record says wrapped its material: nothing, the material is in the token. */
export const HSM_TOKEN_OBJECT = "HSM token object (key version id)";

const HSM_SPECS: ReadonlyMap<KeySpec, { readonly spec: HsmKeySpecName; readonly usage: KeyUsage }> = new Map([
  [KeySpec.SYMMETRIC_DEFAULT, { spec: "AES_256", usage: KeyUsage.ENCRYPT_DECRYPT }],
  [KeySpec.RSA_2048, { spec: "RSA_2048", usage: KeyUsage.SIGN_VERIFY }],
  [KeySpec.RSA_3072, { spec: "RSA_3072", usage: KeyUsage.SIGN_VERIFY }],
  [KeySpec.RSA_4096, { spec: "RSA_4096", usage: KeyUsage.SIGN_VERIFY }],
  [KeySpec.EC_P256, { spec: "EC_P256", usage: KeyUsage.SIGN_VERIFY }],
  [KeySpec.EC_P384, { spec: "EC_P384", usage: KeyUsage.SIGN_VERIFY }],
]);

const HSM_SIGNING: ReadonlySet<string> = new Set<HsmSigningAlgorithmName>([
  "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
  "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
  "ECDSA_SHA_256", "ECDSA_SHA_384",
]);

/**
 * The gateway's spec for a CreateKey with origin HSM (its usage already resolved by usageFor):
 * INVALID_ARGUMENT naming key_spec or key_usage for what the token cannot hold.
 */
export function hsmSpecFor(keySpec: KeySpec, keyUsage: KeyUsage): HsmKeySpecName {
  const entry = HSM_SPECS.get(keySpec);
  if (entry === undefined) {
    throw invalidArgument("key_spec", "keys with origin HSM must be SYMMETRIC_DEFAULT, RSA_2048, RSA_3072, RSA_4096, EC_P256 or EC_P384");
  }
  if (keyUsage !== entry.usage) {
    throw invalidArgument(
      "key_usage",
      entry.usage === KeyUsage.SIGN_VERIFY
        ? "RSA keys with origin HSM are SIGN_VERIFY only (the HSM gateway offers no RSA-OAEP): set key_usage SIGN_VERIFY"
        : "SYMMETRIC_DEFAULT keys with origin HSM are ENCRYPT_DECRYPT",
    );
  }
  return entry.spec;
}

/** Reasons from the gateway that mean the HSM cannot be reached now. */
const OUT_OF_REACH = new Set(["HSM_UNAVAILABLE", "HSM_TIMEOUT", "SERVICE_UNAVAILABLE"]);

/**
 * A gateway refusal as key-service answers it: HSM out of reach (down, timed out) is UNAVAILABLE
 * HSM_UNAVAILABLE; HSM_BUSY stays (RESOURCE_EXHAUSTED with a retry delay); anything else is a
 * server-side fault (INTERNAL), never blamed on the caller's input.
 */
export function hsmKeyError(error: unknown, what: string): KeyholdError {
  if (error instanceof KeyholdError) {
    if (OUT_OF_REACH.has(error.reason)) return new KeyholdError("HSM_UNAVAILABLE", `the HSM is unavailable: cannot ${what}`, { cause: error });
    if (error.reason === "HSM_BUSY" || error.reason === "SEALED") return error;
  }
  return new KeyholdError("INTERNAL", `the HSM could not ${what}`, { cause: error });
}

export class HsmKeys {
  readonly #hsm: HsmClient | undefined;
  readonly #seal: SealControl;

  constructor(hsm: HsmClient | undefined, seal: SealControl) {
    this.#hsm = hsm;
    this.#seal = seal;
  }

  /** Whether an HSM (hsm-gateway) is configured. */
  get configured(): boolean {
    return this.#hsm !== undefined;
  }

  /**
   * The gateway, or the refusal AWS KMS gives for a custom key store that is not connected
   * (CustomKeyStoreInvalidStateException, not retryable): FAILED_PRECONDITION
   * UNSUPPORTED_OPERATION naming `field`.
   */
  #gateway(field = "origin"): HsmClient {
    if (this.#hsm === undefined) {
      throw new KeyholdError("UNSUPPORTED_OPERATION", `${field}: no HSM is configured on this server (KEYHOLD_HSM_MODULE): keys with origin HSM are not available`, { field });
    }
    return this.#hsm;
  }

  /** Refuses when no HSM is configured (before anything else is done for an origin HSM key). */
  assertConfigured(field = "origin"): void {
    this.#gateway(field);
  }

  /** Sealed key-service does no cryptography, whatever holds the key. */
  #unsealed(): void {
    if (this.#seal.status().sealed) throw sealedError();
  }

  /**
   * Makes the version's key in the token; for RSA and EC, its DER SubjectPublicKeyInfo. `field`
   * names the request field a refusal is about (origin in CreateKey, key_id in RotateKey).
   */
  async create(versionId: string, spec: HsmKeySpecName, field = "origin"): Promise<{ publicKey: Buffer | undefined }> {
    const hsm = this.#gateway(field);
    this.#unsealed();
    try {
      const { publicKey } = await hsm.generateKey(versionId, spec, spec === "AES_256" ? "ENCRYPT_DECRYPT" : "SIGN_VERIFY");
      return { publicKey: publicKey === undefined ? undefined : Buffer.from(publicKey) };
    } catch (error) {
      throw hsmKeyError(error, "create the key");
    }
  }

  /** Encrypts in the token under the version's key: a self-describing algorithm 0x02 blob. */
  async encrypt(versionId: string, plaintext: Uint8Array, context: EncryptionContext): Promise<Buffer> {
    const hsm = this.#gateway("key_id");
    this.#unsealed();
    const aad = hsmAad(versionId, context);
    let answer: { readonly iv: Uint8Array; readonly ciphertext: Uint8Array };
    try {
      answer = await hsm.encrypt(versionId, plaintext, aad);
    } catch (error) {
      throw hsmKeyError(error, "encrypt");
    }
    return assembleHsmCiphertext(aad, answer.iv, answer.ciphertext);
  }

  /** Decrypts an algorithm 0x02 blob in the token; every authentication failure is INVALID_CIPHERTEXT. */
  async decrypt(versionId: string, blob: Uint8Array, context: EncryptionContext): Promise<Buffer> {
    const hsm = this.#gateway("key_id");
    const { aad, iv, sealed } = parseHsmCiphertext(blob, context);
    this.#unsealed();
    try {
      return Buffer.from(await hsm.decrypt(versionId, iv, sealed, aad));
    } catch (error) {
      if (error instanceof KeyholdError && error.reason === "INVALID_CIPHERTEXT") throw invalidCiphertext();
      throw hsmKeyError(error, "decrypt");
    }
  }

  async sign(versionId: string, algorithm: SigningAlgorithm, message: Uint8Array, isDigest: boolean): Promise<Buffer> {
    const hsm = this.#gateway("key_id");
    const name = hsmAlgorithm(algorithm);
    this.#unsealed();
    try {
      return Buffer.from(await hsm.sign(versionId, name, message, { isDigest }));
    } catch (error) {
      throw hsmKeyError(error, "sign");
    }
  }

  async verify(versionId: string, algorithm: SigningAlgorithm, message: Uint8Array, isDigest: boolean, signature: Uint8Array): Promise<boolean> {
    const hsm = this.#gateway("key_id");
    const name = hsmAlgorithm(algorithm);
    this.#unsealed();
    try {
      return await hsm.verify(versionId, name, message, signature, { isDigest });
    } catch (error) {
      throw hsmKeyError(error, "verify");
    }
  }

  /** The public key of the version's key pair, read from the token. */
  async publicKey(versionId: string): Promise<Buffer> {
    const hsm = this.#gateway("key_id");
    this.#unsealed();
    try {
      return Buffer.from((await hsm.getPublicKey(versionId)).publicKey);
    } catch (error) {
      throw hsmKeyError(error, "read the public key");
    }
  }

  /** Destroys the version's token objects; true when there were some, false when none were left. */
  async destroy(versionId: string): Promise<boolean> {
    const hsm = this.#gateway();
    try {
      return (await hsm.destroyKey(versionId)) > 0;
    } catch (error) {
      if (error instanceof KeyholdError && error.reason === "KEY_NOT_FOUND") return false;
      throw hsmKeyError(error, "destroy the key");
    }
  }
}

function hsmAlgorithm(algorithm: SigningAlgorithm): HsmSigningAlgorithmName {
  const name = SigningAlgorithm[algorithm];
  if (name === undefined || !HSM_SIGNING.has(name)) throw invalidArgument("signing_algorithm", "is not offered for keys with origin HSM");
  return name as HsmSigningAlgorithmName;
}
