// The production root of trust: an AES-256 key inside the HSM (through hsm-gateway) that wraps
// software key material with AES-256-GCM in the token, binding the caller's AAD. The token key
// is sensitive and non-extractable: it never leaves the token. Found again by its id (CKA_ID and
// CKA_LABEL) after a restart, created on first start when absent.
//
// Wrapped format 2: 0x02 ‖ IV (12) ‖ AES-256-GCM body ‖ tag (16). The first byte tells it apart
// from the local key file's format 1, so a store being migrated holds both and stays readable.
import type { HsmClient } from "@keyhold/hsm-client";
import { KeyholdError, type Logger } from "@keyhold/server-kit";
import type { RootKeyProvider } from "./root-key.ts";

export const HSM_WRAP_FORMAT = 0x02;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const WRAP_OVERHEAD = 1 + IV_LENGTH + TAG_LENGTH;
const PROBE_AAD = Buffer.from("keyhold/root-key/probe/v1", "utf8");

/** Reasons from the gateway that are about the HSM being out of reach: passed on as they are. */
const HSM_TROUBLE = new Set(["HSM_UNAVAILABLE", "HSM_TIMEOUT", "HSM_BUSY"]);

function rootKeyError(what: string, cause: unknown): KeyholdError {
  if (cause instanceof KeyholdError && HSM_TROUBLE.has(cause.reason)) return cause;
  return new KeyholdError("INTERNAL", `HSM root key could not ${what} key material`, { cause });
}

/** Whether the token holds key `keyId` (an AES-GCM call on it is not KEY_NOT_FOUND). */
async function exists(hsm: HsmClient, keyId: string): Promise<boolean> {
  try {
    await hsm.encrypt(keyId, PROBE_AAD, PROBE_AAD);
    return true;
  } catch (error) {
    if (error instanceof KeyholdError && error.reason === "KEY_NOT_FOUND") return false;
    throw error;
  }
}

/** Whether `wrapped` is in the HSM root key's format (by its first byte). */
export function isHsmWrapped(wrapped: Uint8Array): boolean {
  return wrapped.length > 0 && wrapped[0] === HSM_WRAP_FORMAT;
}

export class HsmRootKeyProvider implements RootKeyProvider {
  readonly description: string;
  readonly #hsm: HsmClient;
  readonly #keyId: string;
  #closed = false;

  private constructor(hsm: HsmClient, keyId: string) {
    this.#hsm = hsm;
    this.#keyId = keyId;
    this.description = `HSM key ${keyId}`;
  }

  /**
   * The root key `keyId` in the gateway's token, generated there (AES-256, sensitive,
   * non-extractable) when the token has none; then one wrap/unwrap proves it works. Fails (the
   * gateway's reason) when the HSM cannot be reached.
   */
  static async open(hsm: HsmClient, keyId: string, logger: Logger): Promise<HsmRootKeyProvider> {
    const provider = new HsmRootKeyProvider(hsm, keyId);
    const probe = Buffer.alloc(32, 0x5a);
    if (!(await exists(hsm, keyId))) {
      try {
        await hsm.generateKey(keyId, "AES_256", "ENCRYPT_DECRYPT");
        logger.info("created the root key in the HSM (AES-256, sensitive, non-extractable)", { hsmKeyId: keyId });
      } catch (error) {
        // Another instance created it at the same moment: use theirs.
        if (!(error instanceof KeyholdError && error.reason === "ALREADY_EXISTS")) throw error;
      }
    }
    const wrapped = await provider.wrap(probe, PROBE_AAD);
    const back = await provider.unwrap(wrapped, PROBE_AAD);
    const same = back.equals(probe);
    back.fill(0);
    if (!same) throw new KeyholdError("INTERNAL", `HSM root key ${keyId} did not give back what it wrapped`);
    logger.info("root key in the HSM", { hsmKeyId: keyId });
    return provider;
  }

  async wrap(material: Uint8Array, aad: Uint8Array): Promise<Buffer> {
    this.#checkOpen();
    // The gateway may zero the plaintext it was given: hand it a copy, and zero that copy here.
    const copy = Uint8Array.prototype.slice.call(material);
    try {
      const { iv, ciphertext } = await this.#hsm.encrypt(this.#keyId, copy, aad);
      if (iv.length !== IV_LENGTH || ciphertext.length < TAG_LENGTH) throw new Error("hsm-gateway answered an AES-GCM result of the wrong shape");
      return Buffer.concat([Buffer.of(HSM_WRAP_FORMAT), iv, ciphertext]);
    } catch (error) {
      throw rootKeyError("wrap", error);
    } finally {
      copy.fill(0);
    }
  }

  async unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Buffer> {
    this.#checkOpen();
    if (wrapped.length < WRAP_OVERHEAD || wrapped[0] !== HSM_WRAP_FORMAT) {
      throw new KeyholdError("INTERNAL", "root key could not unwrap key material");
    }
    const buf = Buffer.from(wrapped.buffer, wrapped.byteOffset, wrapped.byteLength);
    let material: Uint8Array;
    try {
      material = await this.#hsm.decrypt(this.#keyId, buf.subarray(1, 1 + IV_LENGTH), buf.subarray(1 + IV_LENGTH), aad);
    } catch (error) {
      throw rootKeyError("unwrap", error);
    }
    // A buffer of our own (the caller owns and zeroes it); the answer's bytes are zeroed.
    const owned = Buffer.from(material);
    material.fill(0);
    return owned;
  }

  async close(): Promise<void> {
    // The token key stays in the token; the gateway client belongs to whoever made it.
    this.#closed = true;
  }

  #checkOpen(): void {
    if (this.#closed) throw new KeyholdError("INTERNAL", "root key provider is closed");
  }
}

/**
 * Wraps with `primary` and unwraps by the wrapped format's first byte: what `primary` wrote, or
 * what the legacy provider wrote before a migration. Closing closes both.
 */
export class FormatDispatchingRootKeyProvider implements RootKeyProvider {
  readonly description: string;
  readonly #primary: RootKeyProvider;
  readonly #legacy: RootKeyProvider;
  readonly #isPrimaryFormat: (wrapped: Uint8Array) => boolean;

  constructor(primary: RootKeyProvider, legacy: RootKeyProvider, isPrimaryFormat: (wrapped: Uint8Array) => boolean) {
    this.#primary = primary;
    this.#legacy = legacy;
    this.#isPrimaryFormat = isPrimaryFormat;
    this.description = primary.description;
  }

  wrap(material: Uint8Array, aad: Uint8Array): Promise<Buffer> {
    return this.#primary.wrap(material, aad);
  }

  unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Buffer> {
    return (this.#isPrimaryFormat(wrapped) ? this.#primary : this.#legacy).unwrap(wrapped, aad);
  }

  async close(): Promise<void> {
    await this.#primary.close();
    await this.#legacy.close();
  }
}
