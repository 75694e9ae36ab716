// The gateway's operations on the token, each on a leased session through the OperationRunner.
// Keys are found by CKA_ID (the caller's key id) and class; found handles are kept per
// connection generation and forgotten when the token says they are invalid. AES-GCM, random and
// lookups run inline (microseconds); key generation, signing, verification and wrapping run on
// the libuv thread pool through pkcs11js's asynchronous calls, so the event loop keeps serving.
import { randomBytes } from "node:crypto";
import pkcs11js from "pkcs11js";
import { ckrOf, type Handle, type Lease, type OperationRunner, type Token } from "@keyhold/pkcs11";
import { KeyholdError } from "@keyhold/server-kit";
import {
  CURVES, importedSecretKeyTemplate, keyPairTemplates, secretKeyTemplate, transientSecretTemplate,
  type KeySpec, type KeyUsage,
} from "./key-specs.ts";
import { ecSpki, rsaSpki } from "./public-key.ts";
import { algorithmInfo, digestOf, ecdsaDerToRaw, ecdsaRawToDer, HASH_BYTES, signingInput, type SigningAlgorithm } from "./signing.ts";

export const GCM_IV_BYTES = 12;
export const GCM_TAG_BYTES = 16;

export interface CallBudget {
  /** performance.now() time by which the call must answer. */
  readonly deadline: number;
  readonly signal?: AbortSignal;
}

type ObjectClass = "secret" | "private" | "public";
const CLASS_VALUE: Readonly<Record<ObjectClass, number>> = {
  secret: pkcs11js.CKO_SECRET_KEY,
  private: pkcs11js.CKO_PRIVATE_KEY,
  public: pkcs11js.CKO_PUBLIC_KEY,
};

function keyNotFound(keyId: string): KeyholdError {
  return new KeyholdError("KEY_NOT_FOUND", `no HSM key ${keyId}`);
}

function isStaleHandle(error: unknown): boolean {
  const ckr = ckrOf(error);
  return ckr === "CKR_OBJECT_HANDLE_INVALID" || ckr === "CKR_KEY_HANDLE_INVALID";
}

export class Hsm {
  readonly #token: Token;
  readonly #runner: OperationRunner;
  /** Per object class, key id → handle, for the current connection generation only. */
  readonly #handles: Readonly<Record<ObjectClass, Map<string, Handle>>> = { secret: new Map(), private: new Map(), public: new Map() };
  #handlesGeneration = -1;
  /** Key ids being generated or imported now (a second request for one is ALREADY_EXISTS). */
  readonly #pending = new Set<string>();

  constructor(token: Token, runner: OperationRunner) {
    this.#token = token;
    this.#runner = runner;
  }

  get #module(): pkcs11js.PKCS11 {
    return this.#token.module;
  }

  #find(lease: Lease, keyId: string, cls: ObjectClass): Handle[] {
    const module = this.#module;
    module.C_FindObjectsInit(lease.session, [
      { type: pkcs11js.CKA_ID, value: Buffer.from(keyId, "utf8") },
      { type: pkcs11js.CKA_CLASS, value: CLASS_VALUE[cls] },
    ]);
    try {
      return module.C_FindObjects(lease.session, 16);
    } finally {
      module.C_FindObjectsFinal(lease.session);
    }
  }

  #findAll(lease: Lease, keyId: string): Handle[] {
    const module = this.#module;
    module.C_FindObjectsInit(lease.session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(keyId, "utf8") }]);
    try {
      return module.C_FindObjects(lease.session, 16);
    } finally {
      module.C_FindObjectsFinal(lease.session);
    }
  }

  #handle(lease: Lease, keyId: string, cls: ObjectClass): Handle {
    if (lease.generation !== this.#handlesGeneration) {
      // A new connection: handles of the old one mean nothing.
      for (const handles of Object.values(this.#handles)) handles.clear();
      this.#handlesGeneration = lease.generation;
    }
    const handles = this.#handles[cls];
    const cached = handles.get(keyId);
    if (cached !== undefined) return cached;
    const found = this.#find(lease, keyId, cls)[0];
    if (found === undefined) {
      this.#token.checkPresent();
      throw keyNotFound(keyId);
    }
    if (handles.size > 10_000) handles.clear();
    handles.set(keyId, found);
    return found;
  }

  #forget(keyId: string): void {
    for (const handles of Object.values(this.#handles)) handles.delete(keyId);
  }

  /** Runs `use` with the key's handle; a handle the token no longer knows is looked up once more. */
  async #withKey<T>(lease: Lease, keyId: string, cls: ObjectClass, use: (key: Handle) => T | Promise<T>): Promise<T> {
    try {
      return await use(this.#handle(lease, keyId, cls));
    } catch (error) {
      if (!isStaleHandle(error)) throw error;
      this.#forget(keyId);
      return await use(this.#handle(lease, keyId, cls));
    }
  }

  #publicSpec(lease: Lease, publicKey: Handle): KeySpec {
    const module = this.#module;
    const [type] = module.C_GetAttributeValue(lease.session, publicKey, [{ type: pkcs11js.CKA_KEY_TYPE }]);
    const keyType = type?.value?.readUIntLE(0, Math.min(6, type.value.length));
    if (keyType === pkcs11js.CKK_RSA) {
      const [modulus] = module.C_GetAttributeValue(lease.session, publicKey, [{ type: pkcs11js.CKA_MODULUS }]);
      const bits = (modulus?.value?.length ?? 0) * 8;
      if (bits === 2048) return "RSA_2048";
      if (bits === 3072) return "RSA_3072";
      if (bits === 4096) return "RSA_4096";
    } else if (keyType === pkcs11js.CKK_EC) {
      const [params] = module.C_GetAttributeValue(lease.session, publicKey, [{ type: pkcs11js.CKA_EC_PARAMS }]);
      if (params?.value?.equals(CURVES.EC_P256.params) === true) return "EC_P256";
      if (params?.value?.equals(CURVES.EC_P384.params) === true) return "EC_P384";
    }
    throw new KeyholdError("KEY_USAGE_MISMATCH", "the HSM key is of a kind the gateway does not use");
  }

  #spki(lease: Lease, publicKey: Handle, spec: KeySpec): Buffer {
    const module = this.#module;
    if (spec === "EC_P256" || spec === "EC_P384") {
      const [point] = module.C_GetAttributeValue(lease.session, publicKey, [{ type: pkcs11js.CKA_EC_POINT }]);
      return ecSpki(spec, point?.value ?? Buffer.alloc(0));
    }
    const [modulus, exponent] = module.C_GetAttributeValue(lease.session, publicKey, [{ type: pkcs11js.CKA_MODULUS }, { type: pkcs11js.CKA_PUBLIC_EXPONENT }]);
    return rsaSpki(modulus?.value ?? Buffer.alloc(0), exponent?.value ?? Buffer.alloc(0));
  }

  #claim(keyId: string): () => void {
    if (this.#pending.has(keyId)) throw new KeyholdError("ALREADY_EXISTS", `HSM key ${keyId} already exists`);
    this.#pending.add(keyId);
    return () => this.#pending.delete(keyId);
  }

  #destroyAll(lease: Lease, keyId: string): number {
    const objects = this.#findAll(lease, keyId);
    if (objects.length === 0) this.#token.checkPresent();
    for (const object of objects) this.#module.C_DestroyObject(lease.session, object);
    this.#forget(keyId);
    return objects.length;
  }

  async generateKey(keyId: string, spec: KeySpec, usage: KeyUsage, budget: CallBudget): Promise<{ publicKey: Buffer | undefined }> {
    const done = this.#claim(keyId);
    try {
      return await this.#runner.run(
        {
          method: "GenerateKey",
          retry: false,
          ...budget,
          // The caller was told HSM_TIMEOUT: the key must not appear afterwards.
          late: () => this.#lateCleanup(keyId),
        },
        async (lease) => {
          if (this.#findAll(lease, keyId).length > 0) throw new KeyholdError("ALREADY_EXISTS", `HSM key ${keyId} already exists`);
          const module = this.#module;
          if (spec === "AES_256") {
            await module.C_GenerateKeyAsync(lease.session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, secretKeyTemplate(keyId, usage));
            return { publicKey: undefined };
          }
          const templates = keyPairTemplates(keyId, spec);
          const pair = await module.C_GenerateKeyPairAsync(lease.session, templates.mechanism, templates.publicKey, templates.privateKey);
          return { publicKey: this.#spki(lease, pair.publicKey, spec) };
        },
      );
    } finally {
      done();
    }
  }

  /** Destroys what a timed-out generation or import made after all (best effort, on a session of its own). */
  #lateCleanup(keyId: string): void {
    this.#runner
      .run({ method: "DestroyKey", retry: true, deadline: performance.now() + 10_000 }, (cleanup) => this.#destroyAll(cleanup, keyId))
      .catch(() => undefined);
  }

  /**
   * AES-GCM runs inline (microseconds): on a session free right now when there is one (no queue,
   * no timer), else through the runner's queue like every other operation.
   */
  #inline<T>(method: "Encrypt" | "Decrypt", keyId: string, budget: CallBudget, use: (lease: Lease, key: Handle) => T): Promise<T> {
    const operation = (lease: Lease): T => this.#withKeyNow(lease, keyId, "secret", (key) => use(lease, key));
    try {
      const now = this.#runner.runNow(method, operation);
      if (now !== undefined) return Promise.resolve(now.value);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return this.#runner.run({ method, retry: true, ...budget }, operation);
  }

  /** #withKey for synchronous use. */
  #withKeyNow<T>(lease: Lease, keyId: string, cls: ObjectClass, use: (key: Handle) => T): T {
    try {
      return use(this.#handle(lease, keyId, cls));
    } catch (error) {
      if (!isStaleHandle(error)) throw error;
      this.#forget(keyId);
      return use(this.#handle(lease, keyId, cls));
    }
  }

  encrypt(keyId: string, plaintext: Uint8Array, aad: Uint8Array, budget: CallBudget): Promise<{ iv: Buffer; ciphertext: Buffer }> {
    return this.#inline("Encrypt", keyId, budget, (lease, key) => {
      const iv = randomBytes(GCM_IV_BYTES);
      const module = this.#module;
      const input = Buffer.from(plaintext);
      try {
        module.C_EncryptInit(lease.session, gcm(iv, aad), key);
        const ciphertext = module.C_Encrypt(lease.session, input, Buffer.alloc(plaintext.byteLength + GCM_TAG_BYTES));
        return { iv, ciphertext };
      } finally {
        input.fill(0);
      }
    });
  }

  decrypt(keyId: string, iv: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array, budget: CallBudget): Promise<Buffer> {
    return this.#inline("Decrypt", keyId, budget, (lease, key) => {
      const module = this.#module;
      module.C_DecryptInit(lease.session, gcm(Buffer.from(iv), aad), key);
      try {
        return module.C_Decrypt(lease.session, Buffer.from(ciphertext), Buffer.alloc(ciphertext.byteLength));
      } catch (error) {
        throw this.#authenticationFailure(lease, error, "the ciphertext, IV or AAD does not authenticate");
      }
    });
  }

  sign(keyId: string, algorithm: SigningAlgorithm, message: Uint8Array, isDigest: boolean, budget: CallBudget): Promise<Buffer> {
    const info = algorithmInfo(algorithm);
    const digest = this.#digest(info.hash, message, isDigest);
    return this.#runner.run({ method: "Sign", retry: true, ...budget }, (lease) =>
      this.#withKey(lease, keyId, "private", async (key) => {
        this.#checkFamily(lease, keyId, info.family);
        const input = signingInput(info, digest);
        const module = this.#module;
        module.C_SignInit(lease.session, input.mechanism, key);
        const signature = await module.C_SignAsync(lease.session, input.data, Buffer.alloc(1024));
        return info.padding === "ecdsa" ? ecdsaRawToDer(signature) : signature;
      }),
    );
  }

  verify(keyId: string, algorithm: SigningAlgorithm, message: Uint8Array, isDigest: boolean, signature: Uint8Array, budget: CallBudget): Promise<boolean> {
    const info = algorithmInfo(algorithm);
    const digest = this.#digest(info.hash, message, isDigest);
    return this.#runner.run({ method: "Verify", retry: true, ...budget }, (lease) =>
      this.#withKey(lease, keyId, "public", async (key) => {
        const spec = this.#checkFamily(lease, keyId, info.family);
        let raw: Buffer = Buffer.from(signature);
        if (info.padding === "ecdsa") {
          const converted = ecdsaDerToRaw(signature, CURVES[spec as keyof typeof CURVES].fieldBytes);
          if (converted === undefined) return false;
          raw = converted;
        }
        const input = signingInput(info, digest);
        const module = this.#module;
        module.C_VerifyInit(lease.session, input.mechanism, key);
        try {
          return await module.C_VerifyAsync(lease.session, input.data, raw);
        } catch (error) {
          const ckr = ckrOf(error);
          if (ckr === "CKR_SIGNATURE_INVALID" || ckr === "CKR_SIGNATURE_LEN_RANGE") return false;
          throw error;
        }
      }),
    );
  }

  /**
   * A failed tag check: SoftHSMv2 answers CKR_GENERAL_ERROR, others CKR_FUNCTION_FAILED or
   * CKR_ENCRYPTED_DATA_INVALID. When the session still answers, the token is fine and the input
   * is at fault (INVALID_CIPHERTEXT); otherwise the original error stands (the device failed).
   */
  #authenticationFailure(lease: Lease, error: unknown, message: string): unknown {
    const ckr = ckrOf(error);
    if (ckr !== "CKR_GENERAL_ERROR" && ckr !== "CKR_FUNCTION_FAILED") return error;
    try {
      this.#module.C_GetSessionInfo(lease.session);
    } catch {
      return error;
    }
    return new KeyholdError("INVALID_CIPHERTEXT", message, { metadata: { ckr } });
  }

  #digest(hash: "sha256" | "sha384" | "sha512", message: Uint8Array, isDigest: boolean): Buffer {
    if (!isDigest) return digestOf(hash, message);
    if (message.byteLength !== HASH_BYTES[hash]) {
      throw new KeyholdError("INVALID_ARGUMENT", `message: a ${hash} digest is ${HASH_BYTES[hash]} bytes`, { field: "message" });
    }
    return Buffer.from(message);
  }

  /** The key's spec, when it is of the algorithm's family; else KEY_USAGE_MISMATCH. */
  #checkFamily(lease: Lease, keyId: string, family: "RSA" | "EC"): KeySpec {
    const publicKey = this.#handle(lease, keyId, "public");
    const spec = this.#publicSpec(lease, publicKey);
    if ((family === "EC") !== spec.startsWith("EC")) {
      throw new KeyholdError("KEY_USAGE_MISMATCH", `HSM key ${keyId} is ${spec}: it cannot use this signing algorithm`);
    }
    return spec;
  }

  wrapKey(wrappingKeyId: string, material: Uint8Array, budget: CallBudget): Promise<Buffer> {
    return this.#runner.run({ method: "WrapKey", retry: true, ...budget }, (lease) =>
      this.#withKey(lease, wrappingKeyId, "secret", async (wrappingKey) => {
        const module = this.#module;
        const value = Buffer.from(material);
        let transient: Handle | undefined;
        try {
          transient = module.C_CreateObject(lease.session, [...transientSecretTemplate(), { type: pkcs11js.CKA_VALUE, value }]);
          return await module.C_WrapKeyAsync(lease.session, { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, wrappingKey, transient, Buffer.alloc(material.byteLength + 16));
        } finally {
          value.fill(0);
          if (transient !== undefined) module.C_DestroyObject(lease.session, transient);
        }
      }),
    );
  }

  unwrapKey(wrappingKeyId: string, wrapped: Uint8Array, budget: CallBudget): Promise<Buffer> {
    return this.#runner.run({ method: "UnwrapKey", retry: true, ...budget }, (lease) =>
      this.#withKey(lease, wrappingKeyId, "secret", async (wrappingKey) => {
        const module = this.#module;
        let transient: Handle;
        try {
          transient = await module.C_UnwrapKeyAsync(lease.session, { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, wrappingKey, Buffer.from(wrapped), transientSecretTemplate());
        } catch (error) {
          throw this.#authenticationFailure(lease, error, "the wrapped key does not unwrap under this key");
        }
        try {
          const [value] = module.C_GetAttributeValue(lease.session, transient, [{ type: pkcs11js.CKA_VALUE }]);
          return value?.value ?? Buffer.alloc(0);
        } finally {
          module.C_DestroyObject(lease.session, transient);
        }
      }),
    );
  }

  async importKey(wrappingKeyId: string, wrapped: Uint8Array, keyId: string, budget: CallBudget): Promise<void> {
    const done = this.#claim(keyId);
    try {
      await this.#runner.run({ method: "UnwrapKey", retry: false, ...budget, late: () => this.#lateCleanup(keyId) }, (lease) =>
        this.#withKey(lease, wrappingKeyId, "secret", async (wrappingKey) => {
          if (this.#findAll(lease, keyId).length > 0) throw new KeyholdError("ALREADY_EXISTS", `HSM key ${keyId} already exists`);
          const template = importedSecretKeyTemplate(keyId);
          try {
            await this.#module.C_UnwrapKeyAsync(lease.session, { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, wrappingKey, Buffer.from(wrapped), template);
          } catch (error) {
            throw this.#authenticationFailure(lease, error, "the wrapped key does not unwrap under this key");
          }
        }),
      );
    } finally {
      done();
    }
  }

  getPublicKey(keyId: string, budget: CallBudget): Promise<{ spec: KeySpec; publicKey: Buffer }> {
    return this.#runner.run({ method: "GetPublicKey", retry: true, ...budget }, (lease) =>
      this.#withKey(lease, keyId, "public", (publicKey) => {
        const spec = this.#publicSpec(lease, publicKey);
        return { spec, publicKey: this.#spki(lease, publicKey, spec) };
      }),
    );
  }

  generateRandom(length: number, budget: CallBudget): Promise<Buffer> {
    return this.#runner.run({ method: "GenerateRandom", retry: true, ...budget }, (lease) => this.#module.C_GenerateRandom(lease.session, Buffer.alloc(length)));
  }

  async destroyKey(keyId: string, budget: CallBudget): Promise<number> {
    const destroyed = await this.#runner.run({ method: "DestroyKey", retry: true, ...budget }, (lease) => this.#destroyAll(lease, keyId));
    if (destroyed === 0) throw keyNotFound(keyId);
    return destroyed;
  }
}

function gcm(iv: Buffer, aad: Uint8Array): pkcs11js.Mechanism {
  // The PKCS#11 v2.40 CK_GCM_PARAMS (what SoftHSMv2 reads): IV length in bits, and the tag length.
  // pkcs11js reads the AAD during the call only: a Buffer is passed as it is.
  const gcmParams: pkcs11js.AesGCM = {
    type: pkcs11js.CK_PARAMS_AES_GCM_v240,
    iv,
    aad: Buffer.isBuffer(aad) ? aad : Buffer.from(aad.buffer, aad.byteOffset, aad.byteLength),
    ivBits: iv.length * 8,
    tagBits: GCM_TAG_BYTES * 8,
  };
  return {
    mechanism: pkcs11js.CKM_AES_GCM,
    parameter: gcmParams,
  };
}
