// What a Keyhold service (key-service) needs from hsm-gateway, as a small typed interface over
// the generated client: plain strings for specs and algorithms, byte arrays in and out, and the
// gateway's refusals as KeyholdErrors with the same reason (a gateway that cannot be reached,
// or that does not answer within the client's deadline, is HSM_UNAVAILABLE / HSM_TIMEOUT).
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { HsmKeySpec, HsmKeyUsage, HsmMessageType, HsmService, HsmSigningAlgorithm } from "@keyhold/proto";
import { fromPeerError, KeyholdError } from "@keyhold/server-kit";

export type HsmKeySpecName = "AES_256" | "RSA_2048" | "RSA_3072" | "RSA_4096" | "EC_P256" | "EC_P384";
export type HsmKeyUsageName = "ENCRYPT_DECRYPT" | "SIGN_VERIFY" | "WRAP_UNWRAP";
export type HsmSigningAlgorithmName =
  | "RSASSA_PSS_SHA_256" | "RSASSA_PSS_SHA_384" | "RSASSA_PSS_SHA_512"
  | "RSASSA_PKCS1_V1_5_SHA_256" | "RSASSA_PKCS1_V1_5_SHA_384" | "RSASSA_PKCS1_V1_5_SHA_512"
  | "ECDSA_SHA_256" | "ECDSA_SHA_384" | "ECDSA_SHA_512";

export interface HsmHealth {
  readonly tokenPresent: boolean;
  readonly loggedIn: boolean;
  readonly tokenLabel: string;
  readonly pool: { readonly size: number; readonly inUse: number; readonly waiting: number; readonly capacity: number };
}

export interface SignOptions {
  /** The message is already a digest of the algorithm's hash (default: the raw message). */
  readonly isDigest?: boolean;
}

/** hsm-gateway as key-service uses it. Key ids are the caller's (e.g. a key version id). */
export interface HsmClient {
  /** A key made inside the token; for RSA and EC the DER SubjectPublicKeyInfo. ALREADY_EXISTS for a used id. */
  generateKey(keyId: string, spec: HsmKeySpecName, usage: HsmKeyUsageName): Promise<{ readonly publicKey: Uint8Array | undefined }>;
  /** AES-256-GCM: a fresh 12-byte IV; the ciphertext ends with the 16-byte tag. */
  encrypt(keyId: string, plaintext: Uint8Array, aad?: Uint8Array): Promise<{ readonly iv: Uint8Array; readonly ciphertext: Uint8Array }>;
  /** INVALID_CIPHERTEXT when the ciphertext, IV or AAD does not authenticate. */
  decrypt(keyId: string, iv: Uint8Array, ciphertext: Uint8Array, aad?: Uint8Array): Promise<Uint8Array>;
  /** RSA signature, or DER-encoded ECDSA signature. */
  sign(keyId: string, algorithm: HsmSigningAlgorithmName, message: Uint8Array, options?: SignOptions): Promise<Uint8Array>;
  verify(keyId: string, algorithm: HsmSigningAlgorithmName, message: Uint8Array, signature: Uint8Array, options?: SignOptions): Promise<boolean>;
  /** Key material (16 to 1024 bytes, a multiple of 8) wrapped by a WRAP_UNWRAP key (AES-KWP). */
  wrapKey(wrappingKeyId: string, material: Uint8Array): Promise<Uint8Array>;
  /** The material back; the caller zeroes it when done. */
  unwrapKey(wrappingKeyId: string, wrapped: Uint8Array): Promise<Uint8Array>;
  /** Unwraps an AES-256 key into the token as a non-extractable ENCRYPT_DECRYPT key (BYOK). */
  importKey(wrappingKeyId: string, wrapped: Uint8Array, keyId: string): Promise<void>;
  getPublicKey(keyId: string): Promise<{ readonly spec: HsmKeySpecName; readonly publicKey: Uint8Array }>;
  generateRandom(length: number): Promise<Uint8Array>;
  /** Destroys the key's token objects; KEY_NOT_FOUND when there are none. */
  destroyKey(keyId: string): Promise<number>;
  health(): Promise<HsmHealth>;
}

export interface RemoteHsmClientOptions {
  /** Deadline of each call (default 10 s); the gateway's own per-call deadline may be shorter. */
  readonly timeoutMs?: number;
}

const SPEC_NAMES: readonly HsmKeySpecName[] = ["AES_256", "RSA_2048", "RSA_3072", "RSA_4096", "EC_P256", "EC_P384"];

/** HsmClient over a Connect transport to hsm-gateway (in-process, or gRPC over mTLS). */
export class RemoteHsmClient implements HsmClient {
  readonly #client: Client<typeof HsmService>;
  readonly #timeoutMs: number;

  constructor(transport: Transport, options: RemoteHsmClientOptions = {}) {
    this.#client = createClient(HsmService, transport);
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  async #call<T>(run: (options: { timeoutMs: number }) => Promise<T>): Promise<T> {
    try {
      return await run({ timeoutMs: this.#timeoutMs });
    } catch (error) {
      throw hsmError(error);
    }
  }

  async generateKey(keyId: string, spec: HsmKeySpecName, usage: HsmKeyUsageName) {
    const answer = await this.#call((o) => this.#client.generateKey({ keyId, keySpec: HsmKeySpec[spec], keyUsage: HsmKeyUsage[usage] }, o));
    return { publicKey: answer.publicKey.byteLength === 0 ? undefined : answer.publicKey };
  }

  async encrypt(keyId: string, plaintext: Uint8Array, aad: Uint8Array = new Uint8Array()) {
    const { iv, ciphertext } = await this.#call((o) => this.#client.encrypt({ keyId, plaintext, aad }, o));
    return { iv, ciphertext };
  }

  async decrypt(keyId: string, iv: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array = new Uint8Array()) {
    return (await this.#call((o) => this.#client.decrypt({ keyId, iv, ciphertext, aad }, o))).plaintext;
  }

  async sign(keyId: string, algorithm: HsmSigningAlgorithmName, message: Uint8Array, options: SignOptions = {}) {
    const request = { keyId, signingAlgorithm: HsmSigningAlgorithm[algorithm], messageType: messageType(options), message };
    return (await this.#call((o) => this.#client.sign(request, o))).signature;
  }

  async verify(keyId: string, algorithm: HsmSigningAlgorithmName, message: Uint8Array, signature: Uint8Array, options: SignOptions = {}) {
    const request = { keyId, signingAlgorithm: HsmSigningAlgorithm[algorithm], messageType: messageType(options), message, signature };
    return (await this.#call((o) => this.#client.verify(request, o))).valid;
  }

  async wrapKey(wrappingKeyId: string, material: Uint8Array) {
    // The request message is encoded from a copy: the caller's buffer stays the caller's to zero.
    return (await this.#call((o) => this.#client.wrapKey({ wrappingKeyId, keyMaterial: material.slice() }, o))).wrappedKey;
  }

  async unwrapKey(wrappingKeyId: string, wrapped: Uint8Array) {
    return (await this.#call((o) => this.#client.unwrapKey({ wrappingKeyId, wrappedKey: wrapped }, o))).keyMaterial;
  }

  async importKey(wrappingKeyId: string, wrapped: Uint8Array, keyId: string) {
    await this.#call((o) => this.#client.unwrapKey({ wrappingKeyId, wrappedKey: wrapped, importKeyId: keyId }, o));
  }

  async getPublicKey(keyId: string) {
    const answer = await this.#call((o) => this.#client.getPublicKey({ keyId }, o));
    const spec = SPEC_NAMES.find((name) => HsmKeySpec[name] === answer.keySpec);
    if (spec === undefined) throw new KeyholdError("INTERNAL", "hsm-gateway answered an unknown key spec");
    return { spec, publicKey: answer.publicKey };
  }

  async generateRandom(length: number) {
    return (await this.#call((o) => this.#client.generateRandom({ length }, o))).random;
  }

  async destroyKey(keyId: string) {
    return (await this.#call((o) => this.#client.destroyKey({ keyId }, o))).destroyedObjects;
  }

  async health(): Promise<HsmHealth> {
    const s = await this.#call((o) => this.#client.getStatus({}, o));
    return {
      tokenPresent: s.tokenPresent,
      loggedIn: s.loggedIn,
      tokenLabel: s.tokenLabel,
      pool: { size: s.poolSize, inUse: s.poolInUse, waiting: s.poolWaiting, capacity: s.poolCapacity },
    };
  }
}

function messageType(options: SignOptions): HsmMessageType {
  return options.isDigest === true ? HsmMessageType.DIGEST : HsmMessageType.RAW;
}

/** The gateway's refusal as a KeyholdError; no answer at all is HSM_UNAVAILABLE, a late one HSM_TIMEOUT. */
export function hsmError(error: unknown): KeyholdError {
  const converted = fromPeerError(error, "hsm-gateway");
  if (converted.reason !== "SERVICE_UNAVAILABLE") return converted;
  const code = ConnectError.from(error).code;
  if (code === Code.DeadlineExceeded) return new KeyholdError("HSM_TIMEOUT", "hsm-gateway did not answer within the deadline", { cause: error });
  return new KeyholdError("HSM_UNAVAILABLE", "hsm-gateway is unavailable", { cause: error });
}
