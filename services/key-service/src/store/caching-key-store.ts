// A read-through cache in front of a KeyStore, so the hot path (Encrypt, Decrypt,
// GenerateDataKey) resolves keys, aliases and versions without a database query: a hit is
// answered from memory (one resolved promise, no I/O). Writes go through this process's store
// and update or drop the cached entries at once; replicas that share a database add
// cross-process invalidation through invalidate*(). Because the store is asynchronous, a read
// that started before a write may finish after it: every map counts its invalidations, and a
// loaded or written record is cached only when no invalidation happened while it was in flight
// (so a slow read never puts back what a write replaced). While the database is unreachable,
// cached keys, aliases and versions keep answering; everything else fails UNAVAILABLE.
// Each write is reported to `changed` (key-cache-invalidation.ts publishes it to the other
// replicas, whose messages come back through invalidate*()), and an entry lives at most `ttlMs`:
// a bound on how stale a replica can be when an invalidation message is lost.
import type {
  AliasWrite, CreateKeyOutcome, ExternalKeyStorePatch, ExternalKeyStoreWrite, KeyChange, KeyPatch, KeyStore, NewKey, NewPrimaryVersion, Page, PurgeCondition, TagWrite,
} from "./key-store.ts";
import type { AliasRecord, ExternalKeyStoreRecord, IdempotencyRecord, ImportTokenRecord, KeyRecord, KeyVersionRecord, TagRecord } from "./records.ts";

/** A bounded map that forgets the least recently used entry, and any entry older than ttlMs. */
class BoundedMap<V> {
  private readonly entries = new Map<string, { readonly value: V; readonly expiresAt: number }>();
  private readonly max: number;
  private readonly ttlMs: number;
  /** Counts invalidations: a load started at another generation may be stale. */
  generation = 0;

  constructor(max: number, ttlMs: number) {
    this.max = max;
    this.ttlMs = ttlMs;
  }

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    if (entry.expiresAt <= performance.now()) return undefined;
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: performance.now() + this.ttlMs });
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
  }

  /** Caches what a read started at `generation` found, unless something was invalidated meanwhile. */
  offer(key: string, value: V | undefined, generation: number): void {
    if (value !== undefined && generation === this.generation) this.set(key, value);
  }

  /**
   * After a write started at `generation`: invalidates again (reads that overlapped the write
   * may hold the old record) and caches the written record unless another write overlapped.
   */
  settle(key: string, value: V | undefined, generation: number): void {
    const alone = generation === this.generation;
    this.delete(key);
    if (alone && value !== undefined) this.set(key, value);
  }

  delete(key: string): void {
    this.generation++;
    this.entries.delete(key);
  }

  clear(): void {
    this.generation++;
    this.entries.clear();
  }
}

const scoped = (accountId: string, name: string) => `${accountId}/${name}`;

/** A write that other replicas' caches must hear of. */
export type KeyCacheChange =
  | { readonly kind: "key"; readonly accountId: string; readonly keyId: string }
  | { readonly kind: "alias"; readonly accountId: string; readonly aliasName: string }
  | { readonly kind: "version"; readonly versionId: string }
  /** A key was purged: its aliases (names unknown here) are gone too. */
  | { readonly kind: "aliases" };

export interface CachingKeyStoreOptions {
  /** How long a cached record may be used at most (default: no limit). */
  readonly ttlMs?: number;
  /** Told of every write, after it (default: nobody). */
  readonly changed?: (change: KeyCacheChange) => void;
}

export class CachingKeyStore implements KeyStore {
  private readonly inner: KeyStore;
  private readonly keys: BoundedMap<KeyRecord>;
  private readonly versions: BoundedMap<KeyVersionRecord>;
  private readonly aliases: BoundedMap<AliasRecord>;
  private readonly changed: (change: KeyCacheChange) => void;

  constructor(inner: KeyStore, maxEntries: number, options: CachingKeyStoreOptions = {}) {
    this.inner = inner;
    const ttlMs = options.ttlMs ?? Infinity;
    this.keys = new BoundedMap(maxEntries, ttlMs);
    this.versions = new BoundedMap(maxEntries, ttlMs);
    this.aliases = new BoundedMap(maxEntries, ttlMs);
    this.changed = options.changed ?? (() => undefined);
  }

  invalidateVersion(versionId: string): void {
    this.versions.delete(versionId);
  }

  invalidateAliases(): void {
    this.aliases.clear();
  }

  invalidateKey(accountId: string, keyId: string): void {
    this.keys.delete(scoped(accountId, keyId));
  }

  invalidateAlias(accountId: string, aliasName: string): void {
    this.aliases.delete(scoped(accountId, aliasName));
  }

  invalidateAll(): void {
    this.keys.clear();
    this.versions.clear();
    this.aliases.clear();
  }

  async createKey(newKey: NewKey): Promise<CreateKeyOutcome> {
    const generation = this.keys.generation;
    const outcome = await this.inner.createKey(newKey);
    if (outcome.kind === "created") this.keys.settle(scoped(outcome.key.accountId, outcome.key.keyId), outcome.key, generation);
    return outcome;
  }

  findIdempotency(accountId: string, operation: string, token: string): Promise<IdempotencyRecord | undefined> {
    return this.inner.findIdempotency(accountId, operation, token);
  }

  async getKey(accountId: string, keyId: string): Promise<KeyRecord | undefined> {
    const id = scoped(accountId, keyId);
    const cached = this.keys.get(id);
    if (cached !== undefined) return cached;
    const generation = this.keys.generation;
    const key = await this.inner.getKey(accountId, keyId);
    this.keys.offer(id, key, generation);
    return key;
  }

  listKeys(accountId: string, after: string | undefined, limit: number): Promise<Page<KeyRecord>> {
    return this.inner.listKeys(accountId, after, limit);
  }

  async updateKey(accountId: string, keyId: string, change: KeyPatch | KeyChange): Promise<KeyRecord | undefined> {
    const id = scoped(accountId, keyId);
    this.keys.delete(id);
    const generation = this.keys.generation;
    const updated = await this.inner.updateKey(accountId, keyId, change);
    this.keys.settle(id, updated, generation);
    this.changed({ kind: "key", accountId, keyId });
    // A change of the primary version's material (import, deletion, expiry) drops that version.
    if (updated !== undefined && (typeof change === "function" || change.primaryVersionMaterial !== undefined)) {
      this.versions.delete(updated.primaryVersionId);
      this.changed({ kind: "version", versionId: updated.primaryVersionId });
    }
    return updated;
  }

  async getVersion(versionId: string): Promise<KeyVersionRecord | undefined> {
    const cached = this.versions.get(versionId);
    if (cached !== undefined) return cached;
    const generation = this.versions.generation;
    const version = await this.inner.getVersion(versionId);
    this.versions.offer(versionId, version, generation);
    return version;
  }

  async getAlias(accountId: string, aliasName: string): Promise<AliasRecord | undefined> {
    const id = scoped(accountId, aliasName);
    const cached = this.aliases.get(id);
    if (cached !== undefined) return cached;
    const generation = this.aliases.generation;
    const alias = await this.inner.getAlias(accountId, aliasName);
    this.aliases.offer(id, alias, generation);
    return alias;
  }

  async createAlias(alias: AliasRecord): Promise<AliasWrite> {
    this.invalidateAlias(alias.accountId, alias.aliasName);
    return this.#thenInvalidateAlias(alias.accountId, alias.aliasName, this.inner.createAlias(alias));
  }

  async updateAlias(accountId: string, aliasName: string, targetKeyId: string, at: Date, expectedKeyId?: string): Promise<AliasWrite> {
    this.invalidateAlias(accountId, aliasName);
    return this.#thenInvalidateAlias(accountId, aliasName, this.inner.updateAlias(accountId, aliasName, targetKeyId, at, expectedKeyId));
  }

  async deleteAlias(accountId: string, aliasName: string, expectedKeyId?: string): Promise<AliasWrite> {
    this.invalidateAlias(accountId, aliasName);
    return this.#thenInvalidateAlias(accountId, aliasName, this.inner.deleteAlias(accountId, aliasName, expectedKeyId));
  }

  /** Drops the alias again once the write is done: a read racing the write may have cached the old target. */
  async #thenInvalidateAlias(accountId: string, aliasName: string, write: Promise<AliasWrite>): Promise<AliasWrite> {
    try {
      return await write;
    } finally {
      this.invalidateAlias(accountId, aliasName);
      this.changed({ kind: "alias", accountId, aliasName });
    }
  }

  listAliases(accountId: string, keyId: string | undefined, after: string | undefined, limit: number): Promise<Page<AliasRecord>> {
    return this.inner.listAliases(accountId, keyId, after, limit);
  }

  putTags(accountId: string, keyId: string, tags: readonly TagRecord[], maxTags: number): Promise<TagWrite> {
    return this.inner.putTags(accountId, keyId, tags, maxTags);
  }

  removeTags(accountId: string, keyId: string, tagKeys: readonly string[]): Promise<void> {
    return this.inner.removeTags(accountId, keyId, tagKeys);
  }

  listTags(accountId: string, keyId: string, after: string | undefined, limit: number): Promise<Page<TagRecord>> {
    return this.inner.listTags(accountId, keyId, after, limit);
  }

  listVersions(accountId: string, keyId: string, after: string | undefined, limit: number): Promise<Page<KeyVersionRecord>> {
    return this.inner.listVersions(accountId, keyId, after, limit);
  }

  async addPrimaryVersion(write: NewPrimaryVersion): Promise<KeyRecord | undefined> {
    const { accountId, keyId } = write.version;
    const id = scoped(accountId, keyId);
    this.keys.delete(id);
    const generation = this.keys.generation;
    const updated = await this.inner.addPrimaryVersion(write);
    this.keys.settle(id, updated, generation);
    this.changed({ kind: "key", accountId, keyId });
    return updated;
  }

  keysDueForRotation(now: Date, limit: number): Promise<readonly KeyRecord[]> {
    return this.inner.keysDueForRotation(now, limit);
  }

  keysDueForDeletion(now: Date, limit: number): Promise<readonly KeyRecord[]> {
    return this.inner.keysDueForDeletion(now, limit);
  }

  keysWithExpiredMaterial(now: Date, limit: number): Promise<readonly KeyRecord[]> {
    return this.inner.keysWithExpiredMaterial(now, limit);
  }

  async purgeKey(accountId: string, keyId: string, condition?: PurgeCondition): Promise<readonly string[]> {
    const versionIds = await this.inner.purgeKey(accountId, keyId, condition);
    if (versionIds.length === 0) return versionIds;
    this.invalidateKey(accountId, keyId);
    for (const versionId of versionIds) this.versions.delete(versionId);
    // Aliases of the key are gone too; which names they had is not known here.
    this.aliases.clear();
    this.changed({ kind: "key", accountId, keyId });
    for (const versionId of versionIds) this.changed({ kind: "version", versionId });
    this.changed({ kind: "aliases" });
    return versionIds;
  }

  putImportToken(token: ImportTokenRecord): Promise<void> {
    return this.inner.putImportToken(token);
  }

  getImportToken(tokenId: string): Promise<ImportTokenRecord | undefined> {
    return this.inner.getImportToken(tokenId);
  }

  deleteExpiredImportTokens(now: Date): Promise<number> {
    return this.inner.deleteExpiredImportTokens(now);
  }

  createExternalKeyStore(store: ExternalKeyStoreRecord): Promise<ExternalKeyStoreWrite> {
    return this.inner.createExternalKeyStore(store);
  }

  getExternalKeyStore(accountId: string, externalKeyStoreId: string): Promise<ExternalKeyStoreRecord | undefined> {
    return this.inner.getExternalKeyStore(accountId, externalKeyStoreId);
  }

  listExternalKeyStores(accountId: string, after: string | undefined, limit: number): Promise<Page<ExternalKeyStoreRecord>> {
    return this.inner.listExternalKeyStores(accountId, after, limit);
  }

  updateExternalKeyStore(accountId: string, externalKeyStoreId: string, patch: ExternalKeyStorePatch): Promise<ExternalKeyStoreWrite> {
    return this.inner.updateExternalKeyStore(accountId, externalKeyStoreId, patch);
  }

  deleteExternalKeyStore(accountId: string, externalKeyStoreId: string): Promise<ExternalKeyStoreWrite> {
    return this.inner.deleteExternalKeyStore(accountId, externalKeyStoreId);
  }

  async close(): Promise<void> {
    this.invalidateAll();
    await this.inner.close();
  }
}
