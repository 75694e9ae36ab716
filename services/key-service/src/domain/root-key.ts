// The root of trust: wraps software key material before it is stored, unwraps it on load.
// Production uses a non-extractable key in the HSM (through hsm-gateway); a local key file is
// the development fallback only.
import crypto from "node:crypto";
import path from "node:path";
import { KeyholdError, readOrCreateSecretFile, type Logger } from "@keyhold/server-kit";
import { FILE_WRAP_FORMAT, ROOT_KEY_BYTES, unwrapUnder, wrapUnder } from "./root-key-cipher.ts";

export { FILE_WRAP_FORMAT };

export interface RootKeyProvider {
  /** For logs and status: which root of trust this is. Never holds secrets. */
  readonly description: string;
  /** Encrypts key material, binding `aad` (e.g. the key version's identity). */
  wrap(material: Uint8Array, aad: Uint8Array): Promise<Buffer>;
  /** Reverses wrap; the same `aad` is required. */
  unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Buffer>;
  /** Releases the root key; the provider is unusable afterwards. */
  close(): Promise<void>;
}

export interface LocalFileRootKeyOptions {
  /**
   * Opened only to read material wrapped before a move to the HSM root key (a different
   * warning). The caller checks that the file exists: it is not meant to be created then.
   */
  readonly legacyReader?: boolean;
}

const ROOT_KEY_LENGTH = ROOT_KEY_BYTES;


/**
 * A 32-byte AES-256 root key in a local file, created on first start. For development only:
 * the key sits on disk in the clear. Wrapped format: 0x01 ‖ IV (12) ‖ AES-256-GCM body ‖ tag (16).
 */
export class LocalFileRootKeyProvider implements RootKeyProvider {
  readonly description: string;
  #key: Buffer;
  #closed = false;

  private constructor(file: string, key: Buffer) {
    this.description = `local key file ${file} (development only)`;
    this.#key = key;
  }

  /**
   * Opens the key file at `file`, creating it (32 random bytes, mode 0600, parent directory
   * 0700) when it does not exist. Refuses a file of the wrong size, or one that group or others
   * may read or write.
   */
  static async open(file: string, logger: Logger, options: LocalFileRootKeyOptions = {}): Promise<LocalFileRootKeyProvider> {
    const resolved = path.resolve(file);
    const { bytes: key, created } = await readOrCreateSecretFile(resolved, {
      what: "root key file",
      maxBytes: 4096,
      generate: () => crypto.randomBytes(ROOT_KEY_LENGTH),
    });
    if (key.length !== ROOT_KEY_LENGTH) {
      key.fill(0);
      throw new KeyholdError("INTERNAL", `root key file ${resolved} is ${key.length} bytes, expected exactly ${ROOT_KEY_LENGTH}; refusing to use it`);
    }
    if (created) logger.info("created a new local root key file", { path: resolved });
    if (options.legacyReader === true) {
      logger.warn(
        "LOCAL ROOT KEY FILE STILL PRESENT: the HSM root key wraps new key material; material the file wrapped stays " +
          "readable until `keyhold migrate-root-key --to hsm` has re-wrapped it. Then remove the file.",
        { path: resolved },
      );
      return new LocalFileRootKeyProvider(resolved, key);
    }
    logger.warn(
      "ROOT KEY FROM A LOCAL FILE: for development only. The key that protects all key material is on disk " +
        "in the clear; use an HSM-held root key in production.",
      { path: resolved },
    );
    return new LocalFileRootKeyProvider(resolved, key);
  }

  async wrap(material: Uint8Array, aad: Uint8Array): Promise<Buffer> {
    return wrapUnder(this.#usableKey(), material, aad);
  }

  async unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Buffer> {
    return unwrapUnder(this.#usableKey(), wrapped, aad);
  }

  async close(): Promise<void> {
    this.#key.fill(0);
    this.#closed = true;
  }

  #usableKey(): Buffer {
    if (this.#closed) throw new KeyholdError("INTERNAL", "root key provider is closed");
    return this.#key;
  }
}
