// Plaintext data keys of recently read versions, so a hot GetSecretValue makes no round trip to
// key-service (as the caching clients of AWS and Alibaba do). Bounded (least recently used go
// first) and short-lived; a key is zeroed when it leaves. An entry is used only for the exact
// encrypted data key it came from, and only after the caller is authorized for kms:Decrypt on
// the version's key exactly as key-service would authorize the call (see versions.ts), so a
// policy change takes effect at once; a disabled key takes effect within the TTL.
import type { Clock } from "../context.ts";

interface Entry {
  readonly encryptedDataKey: Buffer;
  readonly plaintext: Buffer;
  readonly expiresAt: number;
}

export class DataKeyCache {
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;
  private readonly ttlMs: number;
  private readonly clock: Clock;

  constructor(maxEntries: number, ttlMs: number, clock: Clock) {
    this.maxEntries = maxEntries;
    this.ttlMs = ttlMs;
    this.clock = clock;
  }

  get enabled(): boolean {
    return this.ttlMs > 0 && this.maxEntries > 0;
  }

  /** A copy of the cached data key (the caller zeroes it), or undefined. */
  get(secretId: string, versionId: string, encryptedDataKey: Buffer): Buffer | undefined {
    const key = `${secretId}\0${versionId}`;
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.clock.now().getTime() || !entry.encryptedDataKey.equals(encryptedDataKey)) {
      this.drop(key, entry);
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, entry);
    return Buffer.from(entry.plaintext);
  }

  /** Keeps a copy of `plaintext`. */
  set(secretId: string, versionId: string, encryptedDataKey: Buffer, plaintext: Buffer): void {
    if (!this.enabled) return;
    const key = `${secretId}\0${versionId}`;
    const old = this.entries.get(key);
    if (old !== undefined) this.drop(key, old);
    this.entries.set(key, { encryptedDataKey: Buffer.from(encryptedDataKey), plaintext: Buffer.from(plaintext), expiresAt: this.clock.now().getTime() + this.ttlMs });
    while (this.entries.size > this.maxEntries) {
      const [oldestKey, oldest] = this.entries.entries().next().value as [string, Entry];
      this.drop(oldestKey, oldest);
    }
  }

  clear(): void {
    for (const [key, entry] of this.entries) this.drop(key, entry);
  }

  private drop(key: string, entry: Entry): void {
    entry.plaintext.fill(0);
    this.entries.delete(key);
  }
}
