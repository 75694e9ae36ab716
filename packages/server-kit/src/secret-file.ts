// Small secrets kept in local files (development root key, checkpoint signing key, audit HMAC
// key): created once, atomically, readable by the owner only; refused when anyone else may read
// or write them. One implementation, so every secret file gets the same care.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { KeyholdError } from "./errors.ts";

export interface SecretFileSpec {
  /** How errors name the file, e.g. "root key file". */
  readonly what: string;
  /** Larger files are refused before they are read. */
  readonly maxBytes: number;
  /** The contents for a new file; zeroed after writing. */
  readonly generate: () => Buffer;
}

export interface SecretFile {
  readonly bytes: Buffer;
  /** True when this call created the file. */
  readonly created: boolean;
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}

/** Reads the secret file, creating it first (mode 0600, directory 0700) when it does not exist. */
export async function readOrCreateSecretFile(file: string, spec: SecretFileSpec): Promise<SecretFile> {
  const resolved = path.resolve(file);
  const existing = await readSecretFile(resolved, spec);
  if (existing !== undefined) return { bytes: existing, created: false };
  await createSecretFile(resolved, spec);
  const bytes = await readSecretFile(resolved, spec);
  if (bytes === undefined) throw new KeyholdError("INTERNAL", `${spec.what} ${resolved} vanished after creation`);
  return { bytes, created: true };
}

/** The file's bytes, or undefined when there is no such file. */
async function readSecretFile(file: string, spec: SecretFileSpec): Promise<Buffer | undefined> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, "r");
  } catch (error) {
    if (isErrno(error, "ENOENT")) return undefined;
    throw new KeyholdError("INTERNAL", `${spec.what} ${file} cannot be opened`, { cause: error });
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new KeyholdError("INTERNAL", `${spec.what} ${file} is not a regular file`);
    if ((stat.mode & 0o077) !== 0) {
      throw new KeyholdError(
        "INTERNAL",
        `${spec.what} ${file} has mode ${(stat.mode & 0o777).toString(8).padStart(4, "0")}: group and others must have no access (chmod 600)`,
      );
    }
    if (stat.size > spec.maxBytes) throw new KeyholdError("INTERNAL", `${spec.what} ${file} is ${stat.size} bytes, more than a key can be; refusing to use it`);
    const bytes = Buffer.alloc(stat.size);
    const { bytesRead } = await handle.read(bytes, 0, stat.size, 0);
    if (bytesRead !== stat.size) {
      bytes.fill(0);
      throw new KeyholdError("INTERNAL", `${spec.what} ${file} could not be read in full`);
    }
    return bytes;
  } finally {
    await handle.close();
  }
}

/**
 * Writes the contents to a temporary file created exclusively with mode 0600, syncs it, then
 * links it into place: the file appears whole or not at all, and a concurrent first start
 * (link fails with EEXIST) keeps the other process's secret.
 */
async function createSecretFile(file: string, spec: SecretFileSpec): Promise<void> {
  const dir = path.dirname(file);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = path.join(dir, `.${path.basename(file)}.${randomBytes(8).toString("hex")}.tmp`);
  const contents = spec.generate();
  try {
    const handle = await fs.open(temp, "wx", 0o600);
    try {
      await handle.writeFile(contents);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await fs.link(temp, file);
    } catch (error) {
      if (!isErrno(error, "EEXIST")) throw error;
    }
    const dirHandle = await fs.open(dir, "r");
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  } catch (error) {
    if (error instanceof KeyholdError) throw error;
    throw new KeyholdError("INTERNAL", `${spec.what} ${file} could not be created`, { cause: error });
  } finally {
    contents.fill(0);
    await fs.rm(temp, { force: true });
  }
}
