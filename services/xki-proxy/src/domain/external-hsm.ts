// The customer's HSM as xki-proxy uses it: AES-256 keys named by their CKA_LABEL (the XKS
// externalKeyId), AES-GCM inside the token, and the few key administration steps the admin API
// offers (create, list, enable, disable). Every call runs on a leased session of the shared
// @keyhold/pkcs11 pool through its OperationRunner, within the caller's deadline: a token slower
// than that answers HSM_TIMEOUT at once (the session comes back when the native call ends). The
// cryptographic calls run on the libuv thread pool (pkcs11js *Async), so a slow HSM never holds
// the event loop. A key is disabled by clearing its CKA_ENCRYPT and CKA_DECRYPT in the token, so
// the HSM itself refuses it and every proxy instance on the token sees the same status.
import { randomBytes } from "node:crypto";
import pkcs11js from "pkcs11js";
import { ckrOf, type Handle, type Lease, type OperationRunner, type Token } from "@keyhold/pkcs11";
import { KeyholdError } from "@keyhold/server-kit";

export const GCM_IV_BYTES = 12;
export const GCM_TAG_BYTES = 16;

export type KeyStatus = "ENABLED" | "DISABLED";

export interface KeyInfo {
  readonly label: string;
  readonly keySpec: "AES_256";
  /** What the token allows: ENCRYPT, DECRYPT (and WRAP, UNWRAP when set). */
  readonly keyUsage: readonly string[];
  readonly status: KeyStatus;
}

export interface Sealed {
  readonly iv: Buffer;
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
}

function keyNotFound(label: string): KeyholdError {
  return new KeyholdError("KEY_NOT_FOUND", `no AES key labelled ${label} in the HSM`);
}

function isStaleHandle(error: unknown): boolean {
  const ckr = ckrOf(error);
  return ckr === "CKR_OBJECT_HANDLE_INVALID" || ckr === "CKR_KEY_HANDLE_INVALID";
}

function bool(value: Buffer | undefined): boolean {
  return value !== undefined && value.length > 0 && value[0] !== 0;
}

/** A new AES-256 key: in the token, private, sensitive, never extractable; modifiable only so it can be disabled. */
export function aesKeyTemplate(label: string): pkcs11js.Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_LABEL, value: label },
    { type: pkcs11js.CKA_ID, value: Buffer.from(label, "utf8") },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    { type: pkcs11js.CKA_MODIFIABLE, value: true },
    { type: pkcs11js.CKA_ENCRYPT, value: true },
    { type: pkcs11js.CKA_DECRYPT, value: true },
    { type: pkcs11js.CKA_WRAP, value: false },
    { type: pkcs11js.CKA_UNWRAP, value: false },
    { type: pkcs11js.CKA_SIGN, value: false },
    { type: pkcs11js.CKA_VERIFY, value: false },
    { type: pkcs11js.CKA_DERIVE, value: false },
  ];
}

function gcm(iv: Buffer, aad: Uint8Array): pkcs11js.Mechanism {
  // PKCS#11 v2.40 CK_GCM_PARAMS (what SoftHSMv2 reads): IV length in bits and a 128-bit tag.
  const parameter: pkcs11js.AesGCM = { type: pkcs11js.CK_PARAMS_AES_GCM_v240, iv, aad: Buffer.from(aad), ivBits: iv.length * 8, tagBits: GCM_TAG_BYTES * 8 };
  return { mechanism: pkcs11js.CKM_AES_GCM, parameter };
}

/**
 * How AES-GCM calls reach the module: on the libuv thread pool (the default: a slow or hung HSM
 * never holds the event loop, and the deadline always answers), or inline on the event loop (for
 * an HSM whose calls take microseconds, e.g. SoftHSMv2 or a PCIe card: no thread hand-off per
 * call). Inline falls back to the thread pool for a while after any call slower than
 * INLINE_SLOW_MS, but a call that never returns would hold the proxy: inline is opt-in.
 */
export type HsmCallMode = "thread-pool" | "inline";

export const INLINE_SLOW_MS = 10;
const INLINE_FALLBACK_MS = 60_000;

export class ExternalHsm {
  readonly #token: Token;
  readonly #runner: OperationRunner;
  readonly #mode: HsmCallMode;
  readonly #onSlowInline: (ms: number) => void;
  /** performance.now() until which inline mode uses the thread pool (after a slow call). */
  #threadPoolUntil = 0;
  /** `${generation}/${label}` → handle, for the current connection generation only. */
  readonly #handles = new Map<string, Handle>();
  #handlesGeneration = -1;
  readonly #creating = new Set<string>();

  constructor(token: Token, runner: OperationRunner, options: { readonly mode?: HsmCallMode; readonly onSlowInline?: (ms: number) => void } = {}) {
    this.#token = token;
    this.#runner = runner;
    this.#mode = options.mode ?? "thread-pool";
    this.#onSlowInline = options.onSlowInline ?? (() => undefined);
  }

  /** Runs `inline` on the event loop (inline mode, while calls are fast) or `threadPool`. */
  async #call(inline: () => Buffer, threadPool: () => Promise<Buffer>): Promise<Buffer> {
    const now = performance.now();
    if (this.#mode === "thread-pool" || now < this.#threadPoolUntil) return threadPool();
    const out = inline();
    const ms = performance.now() - now;
    if (ms > INLINE_SLOW_MS) {
      this.#threadPoolUntil = performance.now() + INLINE_FALLBACK_MS;
      this.#onSlowInline(ms);
    }
    return Promise.resolve(out);
  }

  get #module(): pkcs11js.PKCS11 {
    return this.#token.module;
  }

  #findByLabel(lease: Lease, label: string): Handle[] {
    const module = this.#module;
    module.C_FindObjectsInit(lease.session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_LABEL, value: label },
    ]);
    try {
      return module.C_FindObjects(lease.session, 2);
    } finally {
      module.C_FindObjectsFinal(lease.session);
    }
  }

  #handle(lease: Lease, label: string): Handle {
    if (lease.generation !== this.#handlesGeneration) {
      this.#handles.clear();
      this.#handlesGeneration = lease.generation;
    }
    const cacheKey = `${lease.generation}/${label}`;
    const cached = this.#handles.get(cacheKey);
    if (cached !== undefined) return cached;
    const found = this.#findByLabel(lease, label)[0];
    if (found === undefined) {
      // A lost token or login must not read as a lost key.
      this.#token.checkPresent();
      throw keyNotFound(label);
    }
    if (this.#handles.size > 10_000) this.#handles.clear();
    this.#handles.set(cacheKey, found);
    return found;
  }

  async #withKey<T>(lease: Lease, label: string, use: (key: Handle) => Promise<T>): Promise<T> {
    try {
      return await use(this.#handle(lease, label));
    } catch (error) {
      if (!isStaleHandle(error)) throw error;
      this.#handles.delete(`${lease.generation}/${label}`);
      return await use(this.#handle(lease, label));
    }
  }

  #info(lease: Lease, label: string, key: Handle): KeyInfo {
    const attributes = this.#module.C_GetAttributeValue(lease.session, key, [
      { type: pkcs11js.CKA_ENCRYPT },
      { type: pkcs11js.CKA_DECRYPT },
      { type: pkcs11js.CKA_WRAP },
      { type: pkcs11js.CKA_UNWRAP },
      { type: pkcs11js.CKA_VALUE_LEN },
    ]);
    const [encrypt, decrypt, wrap, unwrap, length] = attributes.map((a) => a.value);
    const bits = (length?.readUIntLE(0, Math.min(6, length.length)) ?? 0) * 8;
    if (bits !== 256) throw new KeyholdError("KEY_USAGE_MISMATCH", `HSM key ${label} is AES-${bits}, not AES-256`);
    // Neither encrypt nor decrypt: the key is disabled (what DisableKey does); its usage is what
    // it does once enabled again.
    const status: KeyStatus = bool(encrypt) || bool(decrypt) ? "ENABLED" : "DISABLED";
    const disabled = status === "DISABLED";
    const keyUsage = [disabled || bool(encrypt) ? "ENCRYPT" : "", disabled || bool(decrypt) ? "DECRYPT" : "", bool(wrap) ? "WRAP" : "", bool(unwrap) ? "UNWRAP" : ""].filter((u) => u !== "");
    return { label, keySpec: "AES_256", keyUsage, status };
  }

  /** A refusal by the token (CKR_KEY_FUNCTION_NOT_PERMITTED) as KEY_DISABLED or KEY_USAGE_MISMATCH. */
  #refusal(lease: Lease, label: string, key: Handle, error: unknown, operation: "ENCRYPT" | "DECRYPT"): unknown {
    const ckr = ckrOf(error);
    if (ckr !== "CKR_KEY_FUNCTION_NOT_PERMITTED" && ckr !== "CKR_KEY_TYPE_INCONSISTENT") return error;
    const info = this.#info(lease, label, key);
    if (info.status === "DISABLED") return new KeyholdError("KEY_DISABLED", `HSM key ${label} is disabled`);
    return new KeyholdError("KEY_USAGE_MISMATCH", `HSM key ${label} does not allow ${operation}`, { metadata: { ckr } });
  }

  /** AES-256-GCM in the token with a fresh 96-bit IV; the tag is split from the ciphertext. */
  encrypt(label: string, plaintext: Uint8Array, aad: Uint8Array, deadline: number): Promise<Sealed> {
    return this.#runner.run({ method: "Encrypt", retry: true, deadline }, (lease) =>
      this.#withKey(lease, label, async (key) => {
        const module = this.#module;
        const iv = randomBytes(GCM_IV_BYTES);
        try {
          module.C_EncryptInit(lease.session, gcm(iv, aad), key);
        } catch (error) {
          throw this.#refusal(lease, label, key, error, "ENCRYPT");
        }
        const input = Buffer.from(plaintext);
        try {
          const output = Buffer.alloc(plaintext.byteLength + GCM_TAG_BYTES);
          const out = await this.#call(
            () => module.C_Encrypt(lease.session, input, output),
            () => module.C_EncryptAsync(lease.session, input, output),
          );
          return { iv, ciphertext: out.subarray(0, out.length - GCM_TAG_BYTES), tag: out.subarray(out.length - GCM_TAG_BYTES) };
        } finally {
          input.fill(0);
        }
      }),
    );
  }

  /** AES-256-GCM decryption in the token; a tag that does not verify is INVALID_CIPHERTEXT. */
  decrypt(label: string, sealed: Sealed, aad: Uint8Array, deadline: number): Promise<Buffer> {
    return this.#runner.run({ method: "Decrypt", retry: true, deadline }, (lease) =>
      this.#withKey(lease, label, async (key) => {
        const module = this.#module;
        try {
          module.C_DecryptInit(lease.session, gcm(Buffer.from(sealed.iv), aad), key);
        } catch (error) {
          throw this.#refusal(lease, label, key, error, "DECRYPT");
        }
        const input = Buffer.concat([sealed.ciphertext, sealed.tag]);
        try {
          const output = Buffer.alloc(input.length);
          return await this.#call(
            () => module.C_Decrypt(lease.session, input, output),
            () => module.C_DecryptAsync(lease.session, input, output),
          );
        } catch (error) {
          throw this.#authenticationFailure(lease, error);
        }
      }),
    );
  }

  /**
   * A tag that does not verify: SoftHSMv2 answers CKR_GENERAL_ERROR, others CKR_FUNCTION_FAILED,
   * CKR_ENCRYPTED_DATA_INVALID or CKR_ENCRYPTED_DATA_LEN_RANGE. When the session still answers,
   * the input is at fault; otherwise the device is (the original error stands).
   */
  #authenticationFailure(lease: Lease, error: unknown): unknown {
    const ckr = ckrOf(error);
    if (ckr === "CKR_ENCRYPTED_DATA_INVALID" || ckr === "CKR_ENCRYPTED_DATA_LEN_RANGE") {
      return new KeyholdError("INVALID_CIPHERTEXT", "the ciphertext, IV, tag or AAD does not authenticate", { metadata: { ckr } });
    }
    if (ckr !== "CKR_GENERAL_ERROR" && ckr !== "CKR_FUNCTION_FAILED") return error;
    try {
      this.#module.C_GetSessionInfo(lease.session);
    } catch {
      return error;
    }
    return new KeyholdError("INVALID_CIPHERTEXT", "the ciphertext, IV, tag or AAD does not authenticate", { metadata: { ckr } });
  }

  /** The key's spec, usage and status (KEY_NOT_FOUND when the token has no such AES key). */
  describe(label: string, deadline: number): Promise<KeyInfo> {
    return this.#runner.run({ method: "GetKeyMetadata", retry: true, deadline }, (lease) =>
      this.#withKey(lease, label, (key) => Promise.resolve(this.#info(lease, label, key))),
    );
  }

  /** Generates an AES-256 key labelled `label` (ALREADY_EXISTS when the label is taken). */
  async createKey(label: string, deadline: number): Promise<KeyInfo> {
    if (this.#creating.has(label)) throw new KeyholdError("ALREADY_EXISTS", `HSM key ${label} already exists`);
    this.#creating.add(label);
    try {
      return await this.#runner.run({ method: "CreateKey", retry: false, deadline }, async (lease) => {
        if (this.#findByLabel(lease, label).length > 0) throw new KeyholdError("ALREADY_EXISTS", `HSM key ${label} already exists`);
        const key = await this.#module.C_GenerateKeyAsync(lease.session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, aesKeyTemplate(label));
        return this.#info(lease, label, key);
      });
    } finally {
      this.#creating.delete(label);
    }
  }

  /** Creates the key unless the token has it already (the health check key, the credential sealing key). */
  async ensureKey(label: string, deadline: number): Promise<void> {
    try {
      await this.describe(label, deadline);
    } catch (error) {
      if (!(error instanceof KeyholdError && error.reason === "KEY_NOT_FOUND")) throw error;
      await this.createKey(label, deadline).catch((raced: unknown) => {
        if (!(raced instanceof KeyholdError && raced.reason === "ALREADY_EXISTS")) throw raced;
      });
    }
  }

  /** Every AES key in the token, by label (keys without a label are not addressable by XKS and left out). */
  listKeys(deadline: number): Promise<KeyInfo[]> {
    return this.#runner.run({ method: "ListKeys", retry: true, deadline }, (lease) => {
      const module = this.#module;
      module.C_FindObjectsInit(lease.session, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      ]);
      const handles: Handle[] = [];
      try {
        for (;;) {
          const batch = module.C_FindObjects(lease.session, 256);
          handles.push(...batch);
          if (batch.length < 256) break;
        }
      } finally {
        module.C_FindObjectsFinal(lease.session);
      }
      const keys: KeyInfo[] = [];
      for (const handle of handles) {
        const [label] = module.C_GetAttributeValue(lease.session, handle, [{ type: pkcs11js.CKA_LABEL }]);
        const name = label?.value?.toString("utf8") ?? "";
        if (name === "") continue;
        try {
          keys.push(this.#info(lease, name, handle));
        } catch (error) {
          // Not AES-256: not an XKS key.
          if (!(error instanceof KeyholdError)) throw error;
        }
      }
      return Promise.resolve(keys.sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0)));
    });
  }

  /** Enables (CKA_ENCRYPT and CKA_DECRYPT true) or disables (both false) the key in the token. */
  setEnabled(label: string, enabled: boolean, deadline: number): Promise<KeyInfo> {
    return this.#runner.run({ method: enabled ? "EnableKey" : "DisableKey", retry: true, deadline }, (lease) =>
      this.#withKey(lease, label, (key) => {
        try {
          this.#module.C_SetAttributeValue(lease.session, key, [
            { type: pkcs11js.CKA_ENCRYPT, value: enabled },
            { type: pkcs11js.CKA_DECRYPT, value: enabled },
          ]);
        } catch (error) {
          const ckr = ckrOf(error);
          if (ckr !== "CKR_ATTRIBUTE_READ_ONLY" && ckr !== "CKR_ACTION_PROHIBITED") throw error;
          // A key made outside the proxy with CKA_MODIFIABLE false: only the HSM's own tools change it.
          throw new KeyholdError("UNSUPPORTED_OPERATION", `HSM key ${label} is not modifiable: enable or disable it with the HSM's own tools`, { metadata: { ckr } });
        }
        return Promise.resolve(this.#info(lease, label, key));
      }),
    );
  }
}
