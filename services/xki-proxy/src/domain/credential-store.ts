// Where admin-added SigV4 credentials survive a restart: a JSON file (mode 0600) in the data
// directory, each secret sealed with AES-256-GCM by a key inside the HSM (the spec's advice:
// "store it as ciphertext and use a key in the external key manager to decrypt the secret when
// the proxy starts up"), bound to its prefix and access key id. The file alone reveals no secret.
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Credential } from "./credentials.ts";
import type { ExternalHsm } from "./external-hsm.ts";

interface StoredCredential {
  readonly prefix: string;
  readonly accessKeyId: string;
  readonly createTime: string;
  readonly iv: string;
  readonly ciphertext: string;
  readonly tag: string;
}

interface StoredFile {
  readonly version: 1;
  readonly credentials: readonly StoredCredential[];
}

/** Long enough for a slow token at start; credential changes are rare. */
const SEAL_DEADLINE_MS = 5_000;

function aadOf(prefix: string, accessKeyId: string): Buffer {
  return Buffer.from(`keyhold-xki-credential\0${prefix}\0${accessKeyId}`, "utf8");
}

export class CredentialStore {
  readonly #file: string;
  readonly #dir: string;
  readonly #hsm: ExternalHsm;
  readonly #keyLabel: string;
  #writing: Promise<void> = Promise.resolve();

  constructor(dataDir: string, hsm: ExternalHsm, keyLabel: string) {
    this.#dir = dataDir;
    this.#file = join(dataDir, "credentials.json");
    this.#hsm = hsm;
    this.#keyLabel = keyLabel;
  }

  /** The stored credentials, unsealed by the HSM ([] when there is no file yet). */
  async load(): Promise<Credential[]> {
    let text: string;
    try {
      text = await readFile(this.#file, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    const stored = JSON.parse(text) as StoredFile;
    if (stored.version !== 1 || !Array.isArray(stored.credentials)) throw new Error(`${this.#file}: not a credentials file of version 1`);
    const list = stored.credentials as readonly StoredCredential[];
    const out: Credential[] = [];
    for (const c of list) {
      const secret = await this.#hsm.decrypt(
        this.#keyLabel,
        { iv: Buffer.from(c.iv, "base64"), ciphertext: Buffer.from(c.ciphertext, "base64"), tag: Buffer.from(c.tag, "base64") },
        aadOf(c.prefix, c.accessKeyId),
        performance.now() + SEAL_DEADLINE_MS,
      );
      out.push({ prefix: c.prefix, accessKeyId: c.accessKeyId, secretAccessKey: secret.toString("utf8"), createTime: new Date(c.createTime), source: "admin" });
      secret.fill(0);
    }
    return out;
  }

  /** Writes `credentials` (sealing each secret); one write at a time, atomically (rename). */
  save(credentials: readonly Credential[]): Promise<void> {
    const run = this.#writing.then(async () => {
      await this.#hsm.ensureKey(this.#keyLabel, performance.now() + SEAL_DEADLINE_MS);
      const sealed: StoredCredential[] = [];
      for (const c of credentials) {
        const s = await this.#hsm.encrypt(this.#keyLabel, Buffer.from(c.secretAccessKey, "utf8"), aadOf(c.prefix, c.accessKeyId), performance.now() + SEAL_DEADLINE_MS);
        sealed.push({ prefix: c.prefix, accessKeyId: c.accessKeyId, createTime: c.createTime.toISOString(), iv: s.iv.toString("base64"), ciphertext: s.ciphertext.toString("base64"), tag: s.tag.toString("base64") });
      }
      const body: StoredFile = { version: 1, credentials: sealed };
      await mkdir(this.#dir, { recursive: true, mode: 0o700 });
      const temporary = `${this.#file}.${process.pid}.tmp`;
      await writeFile(temporary, JSON.stringify(body, null, 2) + "\n", { mode: 0o600 });
      await rename(temporary, this.#file);
    });
    this.#writing = run.catch(() => undefined);
    return run;
  }
}
