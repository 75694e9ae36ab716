// A read-through cache in front of a SecretStore, so GetSecretValue, BatchGetSecretValue and
// DescribeSecret resolve the secret, its labels, its sealed version and its tags without a
// database query: a hit is answered from memory (SecretRecordCache). Every write through this
// store drops the secret from the cache before and after it (a read racing the write may have
// loaded the old record; the cache's generation keeps it from being cached) and is reported to
// `changed` (secret-cache-invalidation.ts publishes it to the other replicas, whose messages come
// back through the cache's invalidateSecret()). Entries live at most the cache's TTL: a bound on
// how stale a replica can be when a message is lost. Nothing is cached that the store would not
// return: no plaintext, and no negative answers (a secret made on another replica is found at
// once).
// While the bus cannot hear the other replicas (`trusted` false), reads go to the database.
// `withFreshReads()` is the same store whose reads all go to the database (writes still
// invalidate and publish): for decisions that must see another replica's last write at once,
// whatever the bus did (rotation, whose steps may be answered through another replica).
import type { ApiKeyRetirement, SecretRecord, SecretVersionRecord, TagRecord } from "./records.ts";
import type { SecretRecordCache } from "./secret-record-cache.ts";
import type { Page, SecretFilter, SecretStore, SecretUpdate, VersionChange, VersionPlan } from "./secret-store.ts";

export interface CachingSecretStoreOptions {
  /**
   * Told of every write of a secret, after it (default: nobody); the write answers once what it
   * returns has settled (the other replicas have been told).
   */
  readonly changed?: (secretId: string) => void | Promise<void>;
  /**
   * Whether the cache may answer now (default: always). False while other replicas'
   * invalidations may be missed (the bus lost its subscription): reads then go to the database,
   * and nothing they find is cached, until the bus is back (and has flushed the cache).
   */
  readonly trusted?: () => boolean;
}

export class CachingSecretStore implements SecretStore {
  private readonly inner: SecretStore;
  private readonly cache: SecretRecordCache;
  private readonly changed: (secretId: string) => void | Promise<void>;
  private readonly trusted: () => boolean;
  private readonly cachedReads: boolean;

  constructor(inner: SecretStore, cache: SecretRecordCache, options: CachingSecretStoreOptions = {}, cachedReads = true) {
    this.inner = inner;
    this.cache = cache;
    this.changed = options.changed ?? (() => undefined);
    this.trusted = options.trusted ?? (() => true);
    this.cachedReads = cachedReads;
  }

  /** This store with every read from the database; writes invalidate and publish as usual. */
  withFreshReads(): SecretStore {
    return new CachingSecretStore(this.inner, this.cache, { changed: this.changed }, false);
  }

  /** Drops the secret from the cache, runs the write, drops it again and tells the other replicas. */
  private async write<T>(secretId: string, write: () => Promise<T>): Promise<T> {
    this.cache.invalidateSecret(secretId);
    try {
      return await write();
    } finally {
      // Also after a failure: a commit whose answer was lost may have happened.
      this.cache.invalidateSecret(secretId);
      await this.changed(secretId);
    }
  }

  /** The cached value, or the store's (cached unless something was invalidated while it was read). */
  private async read<T>(cached: () => T | undefined, load: () => Promise<T>, offer: (value: T, generation: number) => void): Promise<T> {
    if (!this.cachedReads || !this.trusted()) return load();
    const hit = cached();
    if (hit !== undefined) return hit;
    const generation = this.cache.generation;
    const loaded = await load();
    offer(loaded, generation);
    return loaded;
  }

  createSecret(secret: SecretRecord, tags: readonly TagRecord[], first: VersionChange | undefined): Promise<boolean> {
    // A new id: nothing of it is cached anywhere, and absent secrets are never cached.
    return this.inner.createSecret(secret, tags, first);
  }

  getSecret(accountId: string, name: string): Promise<SecretRecord | undefined> {
    return this.read(
      () => this.cache.secretByName(accountId, name),
      () => this.inner.getSecret(accountId, name),
      (record, generation) => this.cache.offerSecret(record, generation),
    );
  }

  getSecretById(secretId: string): Promise<SecretRecord | undefined> {
    return this.read(
      () => this.cache.secret(secretId),
      () => this.inner.getSecretById(secretId),
      (record, generation) => this.cache.offerSecret(record, generation),
    );
  }

  listSecrets(accountId: string, filter: SecretFilter, after: string | undefined, limit: number): Promise<Page<SecretRecord>> {
    return this.inner.listSecrets(accountId, filter, after, limit);
  }

  updateSecret(secretId: string, update: SecretUpdate): Promise<SecretRecord | undefined> {
    return this.write(secretId, () => this.inner.updateSecret(secretId, update));
  }

  purgeSecret(secretId: string): Promise<void> {
    return this.write(secretId, () => this.inner.purgeSecret(secretId));
  }

  listVersions(secretId: string): Promise<readonly SecretVersionRecord[]> {
    return this.inner.listVersions(secretId);
  }

  getVersion(secretId: string, versionId: string): Promise<SecretVersionRecord | undefined> {
    return this.read(
      () => this.cache.version(secretId, versionId),
      () => this.inner.getVersion(secretId, versionId),
      (version, generation) => this.cache.offerVersion(version, generation),
    );
  }

  labels(secretId: string): Promise<Map<string, string[]>> {
    return this.read(
      () => this.cache.labels(secretId),
      () => this.inner.labels(secretId),
      (labels, generation) => this.cache.offerLabels(secretId, labels, generation),
    );
  }

  changeVersions(secretId: string, plan: VersionPlan): Promise<Map<string, string[]> | undefined> {
    return this.write(secretId, () => this.inner.changeVersions(secretId, plan));
  }

  listTags(secretId: string): Promise<readonly TagRecord[]> {
    return this.read(
      () => this.cache.tags(secretId),
      () => this.inner.listTags(secretId),
      (tags, generation) => this.cache.offerTags(secretId, tags, generation),
    );
  }

  putTags(secretId: string, tags: readonly TagRecord[], maxTags: number): Promise<void> {
    return this.write(secretId, () => this.inner.putTags(secretId, tags, maxTags));
  }

  removeTags(secretId: string, keys: readonly string[]): Promise<void> {
    return this.write(secretId, () => this.inner.removeTags(secretId, keys));
  }

  dueRotations(now: Date, limit: number): Promise<readonly SecretRecord[]> {
    return this.inner.dueRotations(now, limit);
  }

  acquireRotation(secretId: string, token: string, now: Date, leaseUntil: Date, onlyIfDue?: boolean): Promise<boolean> {
    return this.write(secretId, () => this.inner.acquireRotation(secretId, token, now, leaseUntil, onlyIfDue));
  }

  finishRotation(secretId: string, token: string, update: SecretUpdate): Promise<boolean> {
    return this.write(secretId, () => this.inner.finishRotation(secretId, token, update));
  }

  duePurges(now: Date, limit: number): Promise<readonly SecretRecord[]> {
    return this.inner.duePurges(now, limit);
  }

  getDefaultKey(accountId: string): Promise<string | undefined> {
    return this.read(
      () => this.cache.defaultKey(accountId),
      () => this.inner.getDefaultKey(accountId),
      (keyKrn, generation) => this.cache.offerDefaultKey(accountId, keyKrn, generation),
    );
  }

  setDefaultKey(accountId: string, keyKrn: string): Promise<string> {
    // Recorded once per account and never changed: whatever a replica cached stays true.
    return this.inner.setDefaultKey(accountId, keyKrn);
  }

  addApiKeyRetirement(retirement: ApiKeyRetirement): Promise<void> {
    return this.inner.addApiKeyRetirement(retirement);
  }

  dueApiKeyRetirements(now: Date, limit: number): Promise<readonly ApiKeyRetirement[]> {
    return this.inner.dueApiKeyRetirements(now, limit);
  }

  removeApiKeyRetirement(apiKeyId: string): Promise<void> {
    return this.inner.removeApiKeyRetirement(apiKeyId);
  }

  async close(): Promise<void> {
    this.cache.invalidateAll();
    await this.inner.close();
  }
}
