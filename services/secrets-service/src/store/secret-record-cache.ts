// What secrets-service keeps in memory of its store, per secret: the secret's record, its
// labels, its tags and some of its versions (sealed: the encrypted data key and the AES-GCM
// ciphertext, never a plaintext value or data key; those are the DataKeyCache's business), plus
// the name → id index and each account's default key. Bounded (least recently used secrets
// go first) and timed (an entry older than ttlMs is never used; 0: nothing is cached).
// Invalidation is per secret (everything of it at once) or of everything. The generation counts
// invalidations: a read that started at another generation may have read what an invalidated
// write replaced, so what it found is not cached (a slow read never puts back a stale record).
import type { SecretRecord, SecretVersionRecord, TagRecord } from "./records.ts";

/** Versions kept per secret (the hot path reads the CURRENT one; least recently used go first). */
const VERSIONS_PER_SECRET = 8;

interface Slot<V> {
  readonly value: V;
  readonly expiresAt: number;
}

interface SecretEntry {
  record?: Slot<SecretRecord>;
  labels?: Slot<ReadonlyMap<string, readonly string[]>>;
  tags?: Slot<readonly TagRecord[]>;
  readonly versions: Map<string, Slot<SecretVersionRecord>>;
}

export interface RecordCacheStats {
  readonly hits: number;
  readonly misses: number;
}

const scoped = (accountId: string, name: string) => `${accountId}/${name}`;

const copyLabels = (labels: ReadonlyMap<string, readonly string[]>): Map<string, string[]> => new Map([...labels].map(([id, names]) => [id, [...names]]));

/** The cache owns its own copies of the sealed bytes: a caller changing a Buffer changes nothing here. */
const copyVersion = (version: SecretVersionRecord): SecretVersionRecord => ({
  ...version,
  encryptedDataKey: Buffer.from(version.encryptedDataKey),
  sealedValue: Buffer.from(version.sealedValue),
});

export class SecretRecordCache {
  readonly #entries = new Map<string, SecretEntry>();
  readonly #names = new Map<string, string>();
  readonly #defaultKeys = new Map<string, Slot<string>>();
  readonly #maxSecrets: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  #hits = 0;
  #misses = 0;
  /** Counts invalidations: a load started at another generation may be stale. */
  generation = 0;

  /** `now`: a monotonic clock in milliseconds (tests move it by hand). */
  constructor(maxSecrets: number, ttlMs: number, now: () => number = () => performance.now()) {
    this.#maxSecrets = maxSecrets;
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  /** Lookups answered from memory, and lookups that went to the store (no secret ids: counts only). */
  get stats(): RecordCacheStats {
    return { hits: this.#hits, misses: this.#misses };
  }

  /** Secrets with something cached. */
  get size(): number {
    return this.#entries.size;
  }

  secret(secretId: string): SecretRecord | undefined {
    return this.#count(this.#fresh(this.#entry(secretId)?.record));
  }

  secretByName(accountId: string, name: string): SecretRecord | undefined {
    const secretId = this.#names.get(scoped(accountId, name));
    const record = secretId === undefined ? undefined : this.#fresh(this.#entry(secretId)?.record);
    // The name may have been purged and made again (another id): the record must still carry it.
    return this.#count(record?.accountId === accountId && record.name === name ? record : undefined);
  }

  /** A copy the caller may change. */
  labels(secretId: string): Map<string, string[]> | undefined {
    const labels = this.#count(this.#fresh(this.#entry(secretId)?.labels));
    return labels === undefined ? undefined : copyLabels(labels);
  }

  tags(secretId: string): readonly TagRecord[] | undefined {
    return this.#count(this.#fresh(this.#entry(secretId)?.tags));
  }

  version(secretId: string, versionId: string): SecretVersionRecord | undefined {
    const versions = this.#entry(secretId)?.versions;
    const slot = versions?.get(versionId);
    if (versions !== undefined && slot !== undefined) {
      versions.delete(versionId);
      versions.set(versionId, slot);
    }
    const version = this.#count(this.#fresh(slot));
    return version === undefined ? undefined : copyVersion(version);
  }

  defaultKey(accountId: string): string | undefined {
    return this.#count(this.#fresh(this.#defaultKeys.get(accountId)));
  }

  /** Caches what a read started at `generation` found, unless something was invalidated meanwhile. */
  offerSecret(record: SecretRecord | undefined, generation: number): void {
    if (record === undefined || !this.#accepts(generation)) return;
    this.#open(record.secretId).record = this.#slot(record);
    const name = scoped(record.accountId, record.name);
    this.#names.delete(name);
    this.#names.set(name, record.secretId);
    if (this.#names.size > this.#maxSecrets) this.#names.delete(this.#names.keys().next().value!);
  }

  offerLabels(secretId: string, labels: ReadonlyMap<string, readonly string[]> | undefined, generation: number): void {
    if (labels === undefined || !this.#accepts(generation)) return;
    this.#open(secretId).labels = this.#slot(copyLabels(labels));
  }

  offerTags(secretId: string, tags: readonly TagRecord[], generation: number): void {
    if (!this.#accepts(generation)) return;
    this.#open(secretId).tags = this.#slot(tags.map((tag) => ({ ...tag })));
  }

  offerVersion(version: SecretVersionRecord | undefined, generation: number): void {
    if (version === undefined || !this.#accepts(generation)) return;
    const versions = this.#open(version.secretId).versions;
    versions.delete(version.versionId);
    versions.set(version.versionId, this.#slot(copyVersion(version)));
    if (versions.size > VERSIONS_PER_SECRET) versions.delete(versions.keys().next().value!);
  }

  /** An account's default key never changes once recorded: only a found one is cached. */
  offerDefaultKey(accountId: string, keyKrn: string | undefined, generation: number): void {
    if (keyKrn === undefined || !this.#accepts(generation)) return;
    this.#defaultKeys.delete(accountId);
    this.#defaultKeys.set(accountId, this.#slot(keyKrn));
    if (this.#defaultKeys.size > this.#maxSecrets) this.#defaultKeys.delete(this.#defaultKeys.keys().next().value!);
  }

  /** Forgets everything of one secret (its record, labels, tags and versions). */
  invalidateSecret(secretId: string): void {
    this.generation++;
    this.#entries.delete(secretId);
  }

  invalidateAll(): void {
    this.generation++;
    this.#entries.clear();
    this.#names.clear();
    this.#defaultKeys.clear();
  }

  #accepts(generation: number): boolean {
    return this.#ttlMs > 0 && generation === this.generation;
  }

  #slot<V>(value: V): Slot<V> {
    return { value, expiresAt: this.#now() + this.#ttlMs };
  }

  #fresh<V>(slot: Slot<V> | undefined): V | undefined {
    return slot !== undefined && slot.expiresAt > this.#now() ? slot.value : undefined;
  }

  #count<V>(value: V | undefined): V | undefined {
    if (value === undefined) this.#misses++;
    else this.#hits++;
    return value;
  }

  /** The secret's entry, now the most recently used. */
  #entry(secretId: string): SecretEntry | undefined {
    const entry = this.#entries.get(secretId);
    if (entry !== undefined) {
      this.#entries.delete(secretId);
      this.#entries.set(secretId, entry);
    }
    return entry;
  }

  #open(secretId: string): SecretEntry {
    let entry = this.#entry(secretId);
    if (entry === undefined) {
      entry = { versions: new Map() };
      this.#entries.set(secretId, entry);
      if (this.#entries.size > this.#maxSecrets) this.#entries.delete(this.#entries.keys().next().value!);
    }
    return entry;
  }
}
