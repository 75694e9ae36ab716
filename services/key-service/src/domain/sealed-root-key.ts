// A sealed root key (as Vault's seal): at initialization a random 32-byte root key is split
// with Shamir's secret sharing into n shares, any t of which recover it; only a verifier
// (HMAC-SHA256 of a fixed label under the root key) and the split's parameters are stored, in
// the seal file. key-service starts SEALED: wrap and unwrap refuse with FAILED_PRECONDITION
// `SEALED` until t valid shares have been submitted. seal() zeroes the root key again and tells
// listeners (the material cache) to drop what they hold.
//
// Shares are never logged and never kept longer than needed: pending shares are zeroed when
// they combine, when progress is reset, and on seal().
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { open, readFile } from "node:fs/promises";
import path from "node:path";
import { invalidArgument, KeyholdError, type Logger } from "@keyhold/server-kit";
import type { RootKeyProvider } from "./root-key.ts";
import { ROOT_KEY_BYTES, unwrapUnder, wrapUnder } from "./root-key-cipher.ts";
import { combine, decodeShare, sameShare, ShamirError, split, zeroShare, type Share } from "./shamir.ts";

export interface SealStatus {
  /** False when this root of trust cannot be sealed (a local key file, an HSM). */
  readonly sealable: boolean;
  readonly sealed: boolean;
  /** Shares needed to unseal (t); 0 when not sealable. */
  readonly threshold: number;
  /** Shares made at initialization (n); 0 when not sealable. */
  readonly shares: number;
  /** Valid shares given so far towards unsealing (k of t). */
  readonly progress: number;
}

/** The operator's side of the seal: what SealService serves. */
export interface SealControl {
  status(): SealStatus;
  /** Adds one share; unseals once t shares combine to the root key. */
  submitShare(share: string): SealStatus;
  /** Forgets the shares given so far. */
  resetProgress(): SealStatus;
  /** Zeroes the in-memory root key (and, through listeners, cached material). */
  seal(): SealStatus;
  /** Called after every seal(). */
  onSeal(listener: () => void): void;
}

/** For roots of trust that are never sealed: status only. */
export const NOT_SEALABLE: SealControl = {
  status: () => ({ sealable: false, sealed: false, threshold: 0, shares: 0, progress: 0 }),
  submitShare: () => {
    throw notSealable();
  },
  resetProgress: () => {
    throw notSealable();
  },
  seal: () => {
    throw notSealable();
  },
  onSeal: () => {},
};

function notSealable(): KeyholdError {
  return new KeyholdError("UNSUPPORTED_OPERATION", "this key-service's root key is not sealed (KEYHOLD_ROOT_KEY=sealed seals it)");
}

export function sealedError(): KeyholdError {
  return new KeyholdError("SEALED", "key-service is sealed: the root key is unavailable until enough unseal shares are given (SealService/Unseal)");
}

/** What the seal file holds: no secret, only what checks a recovered root key. */
export interface SealFileContents {
  readonly format: "keyhold-seal-v1";
  readonly shares: number;
  readonly threshold: number;
  /** hex: the split's set id, carried by every share (not secret). */
  readonly setId: string;
  /** base64 HMAC-SHA256(root key, VERIFIER_LABEL). */
  readonly verifier: string;
  readonly createdAt: string;
}

const VERIFIER_LABEL = "keyhold/sealed-root-key/verifier/v1";

function verifierOf(rootKey: Buffer): Buffer {
  return createHmac("sha256", rootKey).update(VERIFIER_LABEL).digest();
}

/**
 * A new sealed root: a fresh random root key, its n shares (to print once to the operator,
 * never to log) and the seal file contents. The root key itself is zeroed before returning.
 */
export function initializeSeal(shares: number, threshold: number, now: Date = new Date()): { contents: SealFileContents; shares: string[] } {
  const rootKey = randomBytes(ROOT_KEY_BYTES);
  try {
    const texts = split(rootKey, shares, threshold);
    const verifier = verifierOf(rootKey);
    const first = decodeShare(texts[0]!);
    const setId = first.setId.toString("hex");
    zeroShare(first);
    const contents: SealFileContents = { format: "keyhold-seal-v1", shares, threshold, setId, verifier: verifier.toString("base64"), createdAt: now.toISOString() };
    verifier.fill(0);
    return { contents, shares: texts };
  } finally {
    rootKey.fill(0);
  }
}

/** Writes a new seal file (mode 0600); refuses to overwrite one. */
export async function writeSealFile(file: string, contents: SealFileContents): Promise<void> {
  const handle = await open(path.resolve(file), "wx", 0o600);
  try {
    await handle.writeFile(JSON.stringify(contents, null, 2) + "\n");
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function readSealFile(file: string): Promise<SealFileContents> {
  const resolved = path.resolve(file);
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(resolved, "utf8"));
  } catch (error) {
    throw new KeyholdError("INTERNAL", `seal file ${resolved} cannot be read (run "keyhold seal init" first)`, { cause: error });
  }
  const c = parsed as Partial<SealFileContents>;
  if (
    c.format !== "keyhold-seal-v1" ||
    typeof c.shares !== "number" ||
    typeof c.threshold !== "number" ||
    typeof c.verifier !== "string" ||
    typeof c.setId !== "string" ||
    !/^[0-9a-f]{16}$/.test(c.setId) ||
    Buffer.from(c.verifier, "base64").length !== 32 ||
    !(c.threshold >= 2 && c.threshold <= c.shares && c.shares <= 255)
  ) {
    throw new KeyholdError("INTERNAL", `seal file ${resolved} is not a keyhold-seal-v1 file`);
  }
  return c as SealFileContents;
}

export class SealedRootKeyProvider implements RootKeyProvider, SealControl {
  readonly description: string;
  readonly #contents: SealFileContents;
  readonly #logger: Logger;
  #rootKey: Buffer | undefined;
  #pending: Share[] = [];
  readonly #listeners: (() => void)[] = [];
  #closed = false;

  constructor(description: string, contents: SealFileContents, logger: Logger) {
    this.description = description;
    this.#contents = contents;
    this.#logger = logger;
  }

  static async open(file: string, logger: Logger): Promise<SealedRootKeyProvider> {
    const contents = await readSealFile(file);
    logger.warn("key-service is SEALED: every operation that needs the root key is refused until enough unseal shares are given", {
      threshold: contents.threshold,
      shares: contents.shares,
    });
    return new SealedRootKeyProvider(`sealed root key (${contents.threshold} of ${contents.shares} shares, ${path.resolve(file)})`, contents, logger);
  }

  status(): SealStatus {
    return { sealable: true, sealed: this.#rootKey === undefined, threshold: this.#contents.threshold, shares: this.#contents.shares, progress: this.#pending.length };
  }

  submitShare(text: string): SealStatus {
    if (this.#closed) throw new KeyholdError("INTERNAL", "root key provider is closed");
    if (this.#rootKey !== undefined) return this.status();
    let share: Share;
    try {
      share = decodeShare(text);
    } catch (error) {
      if (error instanceof ShamirError) throw invalidArgument("share", error.message);
      throw error;
    }
    if (share.threshold !== this.#contents.threshold || share.x > this.#contents.shares || share.setId.toString("hex") !== this.#contents.setId) {
      zeroShare(share);
      throw invalidArgument("share", "not a share of this key-service's root key");
    }
    const given = this.#pending.find((p) => p.x === share.x);
    if (given !== undefined) {
      const same = sameShare(given, share);
      zeroShare(share);
      if (same) return this.status();
      throw invalidArgument("share", `a different share with index ${share.x} was already given (reset progress to start over)`);
    }
    this.#pending.push(share);
    if (this.#pending.length < this.#contents.threshold) {
      this.#logger.info("unseal share accepted", { progress: this.#pending.length, threshold: this.#contents.threshold });
      return this.status();
    }
    let rootKey: Buffer;
    try {
      rootKey = combine(this.#pending);
    } catch (error) {
      this.#logger.warn("unseal shares do not combine to the root key; progress reset", {});
      if (error instanceof ShamirError) throw invalidArgument("share", `the shares do not combine to the root key (${error.message}); progress was reset`);
      throw error;
    } finally {
      this.#clearPending();
    }
    const verifier = verifierOf(rootKey);
    const ok = timingSafeEqual(verifier, Buffer.from(this.#contents.verifier, "base64"));
    verifier.fill(0);
    if (!ok || rootKey.length !== ROOT_KEY_BYTES) {
      rootKey.fill(0);
      this.#logger.warn("unseal shares combine to a key that is not this key-service's root key; progress reset", {});
      throw invalidArgument("share", "the shares are not shares of this key-service's root key; progress was reset");
    }
    this.#rootKey = rootKey;
    this.#logger.info("key-service unsealed", {});
    return this.status();
  }

  resetProgress(): SealStatus {
    this.#clearPending();
    return this.status();
  }

  seal(): SealStatus {
    this.#rootKey?.fill(0);
    this.#rootKey = undefined;
    this.#clearPending();
    for (const listener of this.#listeners) listener();
    this.#logger.warn("key-service sealed: the root key and cached key material were zeroed", {});
    return this.status();
  }

  onSeal(listener: () => void): void {
    this.#listeners.push(listener);
  }

  async wrap(material: Uint8Array, aad: Uint8Array): Promise<Buffer> {
    return wrapUnder(this.#usableKey(), material, aad);
  }

  async unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Buffer> {
    return unwrapUnder(this.#usableKey(), wrapped, aad);
  }

  async close(): Promise<void> {
    this.#rootKey?.fill(0);
    this.#rootKey = undefined;
    this.#clearPending();
    this.#closed = true;
  }

  #clearPending(): void {
    for (const share of this.#pending) zeroShare(share);
    this.#pending = [];
  }

  #usableKey(): Buffer {
    if (this.#closed) throw new KeyholdError("INTERNAL", "root key provider is closed");
    if (this.#rootKey === undefined) throw sealedError();
    return this.#rootKey;
  }
}

/** The seal control of a root key provider: itself when sealable, else NOT_SEALABLE. */
export function sealControlOf(provider: RootKeyProvider): SealControl {
  return provider instanceof SealedRootKeyProvider ? provider : NOT_SEALABLE;
}
