// The root of trust: wraps software key material before it is stored, unwraps it on load.
// Production uses a non-extractable key in the HSM (through hsm-gateway); a local key file is
// the development fallback only.
import crypto from "node:crypto";
import fs from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import path from "node:path";
import { KeyholdError } from "@keyhold/server-kit";
import type { Logger } from "@keyhold/server-kit";

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

const ROOT_KEY_LENGTH = 32;
const WRAP_FORMAT_1 = 0x01;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const WRAP_OVERHEAD = 1 + IV_LENGTH + TAG_LENGTH;

function unwrapFailed(cause?: unknown): KeyholdError {
  return new KeyholdError("INTERNAL", "root key could not unwrap key material", cause === undefined ? {} : { cause });
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}

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
  static async open(file: string, logger: Logger): Promise<LocalFileRootKeyProvider> {
    const resolved = path.resolve(file);
    let key = await readKeyFile(resolved);
    if (key === undefined) {
      await createKeyFile(resolved);
      key = await readKeyFile(resolved);
      if (key === undefined) throw new KeyholdError("INTERNAL", `root key file ${resolved} vanished after creation`);
      logger.info("created a new local root key file", { path: resolved });
    }
    logger.warn(
      "ROOT KEY FROM A LOCAL FILE: for development only. The key that protects all key material is on disk " +
        "in the clear; use an HSM-held root key in production.",
      { path: resolved },
    );
    return new LocalFileRootKeyProvider(resolved, key);
  }

  async wrap(material: Uint8Array, aad: Uint8Array): Promise<Buffer> {
    const key = this.#usableKey();
    const iv = crypto.randomBytes(IV_LENGTH);
    const cipher = crypto.createCipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_LENGTH });
    cipher.setAAD(aad);
    const body = cipher.update(material);
    const final = cipher.final();
    return Buffer.concat([Buffer.of(WRAP_FORMAT_1), iv, body, final, cipher.getAuthTag()]);
  }

  async unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Buffer> {
    const key = this.#usableKey();
    if (wrapped.length < WRAP_OVERHEAD || wrapped[0] !== WRAP_FORMAT_1) throw unwrapFailed();
    const buf = Buffer.from(wrapped.buffer, wrapped.byteOffset, wrapped.byteLength);
    const tagStart = buf.length - TAG_LENGTH;
    const decipher = crypto.createDecipheriv("aes-256-gcm", key, buf.subarray(1, 1 + IV_LENGTH), {
      authTagLength: TAG_LENGTH,
    });
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

  async close(): Promise<void> {
    this.#key.fill(0);
    this.#closed = true;
  }

  #usableKey(): Buffer {
    if (this.#closed) throw new KeyholdError("INTERNAL", "root key provider is closed");
    return this.#key;
  }
}

/** The key in `file`, or undefined when there is no such file. */
async function readKeyFile(file: string): Promise<Buffer | undefined> {
  let handle: FileHandle;
  try {
    handle = await fs.open(file, "r");
  } catch (error) {
    if (isErrno(error, "ENOENT")) return undefined;
    throw new KeyholdError("INTERNAL", `root key file ${file} cannot be opened`, { cause: error });
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new KeyholdError("INTERNAL", `root key file ${file} is not a regular file`);
    if ((stat.mode & 0o077) !== 0) {
      throw new KeyholdError(
        "INTERNAL",
        `root key file ${file} has mode ${(stat.mode & 0o777).toString(8).padStart(4, "0")}: ` +
          "group and others must have no access (chmod 600)",
      );
    }
    if (stat.size !== ROOT_KEY_LENGTH) {
      throw new KeyholdError(
        "INTERNAL",
        `root key file ${file} is ${stat.size} bytes, expected exactly ${ROOT_KEY_LENGTH}; refusing to use it`,
      );
    }
    const key = Buffer.alloc(ROOT_KEY_LENGTH);
    const { bytesRead } = await handle.read(key, 0, ROOT_KEY_LENGTH, 0);
    if (bytesRead !== ROOT_KEY_LENGTH) {
      key.fill(0);
      throw new KeyholdError("INTERNAL", `root key file ${file} could not be read in full`);
    }
    return key;
  } finally {
    await handle.close();
  }
}

/**
 * Writes 32 random bytes to a temporary file created exclusively with mode 0600, syncs it, then
 * links it into place: the key file appears whole or not at all, and a concurrent first start
 * (link fails with EEXIST) keeps the other process's key.
 */
async function createKeyFile(file: string): Promise<void> {
  const dir = path.dirname(file);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = path.join(dir, `.${path.basename(file)}.${crypto.randomBytes(8).toString("hex")}.tmp`);
  const key = crypto.randomBytes(ROOT_KEY_LENGTH);
  try {
    const handle = await fs.open(temp, "wx", 0o600);
    try {
      await handle.writeFile(key);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await fs.link(temp, file);
    } catch (error) {
      if (!isErrno(error, "EEXIST")) throw error;
    }
    await syncDirectory(dir);
  } catch (error) {
    if (error instanceof KeyholdError) throw error;
    throw new KeyholdError("INTERNAL", `root key file ${file} could not be created`, { cause: error });
  } finally {
    key.fill(0);
    await fs.rm(temp, { force: true });
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
