// A read-through cache in front of a KeyStore, so the hot path (Encrypt, Decrypt,
// GenerateDataKey) resolves keys, aliases and versions without a database query. Writes go
// through this process's store and update or drop the cached entries at once, and report each
// change to `changed` (key-cache-invalidation.ts publishes it to the other replicas, whose
// messages come back through invalidate*()). An entry lives at most `ttlMs`: a bound on how
// stale a replica can be when an invalidation message is lost.
import type {
  AliasWrite, CreateKeyOutcome, ExternalKeyStorePatch, ExternalKeyStoreWrite, KeyPatch, KeyStore, NewKey, NewPrimaryVersion, Page, TagWrite,
} from "./key-store.ts";
import type { AliasRecord, ExternalKeyStoreRecord, IdempotencyRecord, ImportTokenRecord, KeyRecord, KeyVersionRecord, TagRecord } from "./records.ts";

/** A bounded map that forgets the least recently used entry, and any entry older than ttlMs. */
class BoundedMap<V> {
  private readonly entries = new Map<string, { readonly value: V; readonly expiresAt: number }>();
  private readonly max: number;
  private readonly ttlMs: number;

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

  delete(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
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

  createKey(newKey: NewKey): CreateKeyOutcome {
    const outcome = this.inner.createKey(newKey);
    if (outcome.kind === "created") this.keys.set(scoped(outcome.key.accountId, outcome.key.keyId), outcome.key);
    return outcome;
  }

  findIdempotency(accountId: string, operation: string, token: string): IdempotencyRecord | undefined {
    return this.inner.findIdempotency(accountId, operation, token);
  }

  getKey(accountId: string, keyId: string): KeyRecord | undefined {
    const id = scoped(accountId, keyId);
    const cached = this.keys.get(id);
    if (cached !== undefined) return cached;
    const key = this.inner.getKey(accountId, keyId);
    if (key !== undefined) this.keys.set(id, key);
    return key;
  }

  listKeys(accountId: string, after: string | undefined, limit: number): Page<KeyRecord> {
    return this.inner.listKeys(accountId, after, limit);
  }

  updateKey(accountId: string, keyId: string, patch: KeyPatch): KeyRecord | undefined {
    this.invalidateKey(accountId, keyId);
    const updated = this.inner.updateKey(accountId, keyId, patch);
    if (updated !== undefined) this.keys.set(scoped(accountId, keyId), updated);
    this.changed({ kind: "key", accountId, keyId });
    return updated;
  }

  getVersion(versionId: string): KeyVersionRecord | undefined {
    const cached = this.versions.get(versionId);
    if (cached !== undefined) return cached;
    const version = this.inner.getVersion(versionId);
    if (version !== undefined) this.versions.set(versionId, version);
    return version;
  }

  getAlias(accountId: string, aliasName: string): AliasRecord | undefined {
    const id = scoped(accountId, aliasName);
    const cached = this.aliases.get(id);
    if (cached !== undefined) return cached;
    const alias = this.inner.getAlias(accountId, aliasName);
    if (alias !== undefined) this.aliases.set(id, alias);
    return alias;
  }

  createAlias(alias: AliasRecord): AliasWrite {
    this.invalidateAlias(alias.accountId, alias.aliasName);
    const write = this.inner.createAlias(alias);
    this.changed({ kind: "alias", accountId: alias.accountId, aliasName: alias.aliasName });
    return write;
  }

  updateAlias(accountId: string, aliasName: string, targetKeyId: string, at: Date): AliasWrite {
    this.invalidateAlias(accountId, aliasName);
    const write = this.inner.updateAlias(accountId, aliasName, targetKeyId, at);
    this.changed({ kind: "alias", accountId, aliasName });
    return write;
  }

  deleteAlias(accountId: string, aliasName: string): AliasWrite {
    this.invalidateAlias(accountId, aliasName);
    const write = this.inner.deleteAlias(accountId, aliasName);
    this.changed({ kind: "alias", accountId, aliasName });
    return write;
  }

  listAliases(accountId: string, keyId: string | undefined, after: string | undefined, limit: number): Page<AliasRecord> {
    return this.inner.listAliases(accountId, keyId, after, limit);
  }

  putTags(accountId: string, keyId: string, tags: readonly TagRecord[], maxTags: number): TagWrite {
    return this.inner.putTags(accountId, keyId, tags, maxTags);
  }

  removeTags(accountId: string, keyId: string, tagKeys: readonly string[]): void {
    this.inner.removeTags(accountId, keyId, tagKeys);
  }

  listTags(accountId: string, keyId: string, after: string | undefined, limit: number): Page<TagRecord> {
    return this.inner.listTags(accountId, keyId, after, limit);
  }

  listVersions(accountId: string, keyId: string, after: string | undefined, limit: number): Page<KeyVersionRecord> {
    return this.inner.listVersions(accountId, keyId, after, limit);
  }

  addPrimaryVersion(write: NewPrimaryVersion): KeyRecord | undefined {
    const { accountId, keyId } = write.version;
    this.invalidateKey(accountId, keyId);
    const updated = this.inner.addPrimaryVersion(write);
    if (updated !== undefined) this.keys.set(scoped(accountId, keyId), updated);
    this.changed({ kind: "key", accountId, keyId });
    return updated;
  }

  setVersionMaterial(versionId: string, wrappedMaterial: Buffer): void {
    this.versions.delete(versionId);
    this.inner.setVersionMaterial(versionId, wrappedMaterial);
    this.changed({ kind: "version", versionId });
  }

  keysDueForRotation(now: Date, limit: number): readonly KeyRecord[] {
    return this.inner.keysDueForRotation(now, limit);
  }

  keysDueForDeletion(now: Date, limit: number): readonly KeyRecord[] {
    return this.inner.keysDueForDeletion(now, limit);
  }

  keysWithExpiredMaterial(now: Date, limit: number): readonly KeyRecord[] {
    return this.inner.keysWithExpiredMaterial(now, limit);
  }

  purgeKey(accountId: string, keyId: string): readonly string[] {
    const versionIds = this.inner.purgeKey(accountId, keyId);
    this.invalidateKey(accountId, keyId);
    for (const versionId of versionIds) this.versions.delete(versionId);
    // Aliases of the key are gone too; which names they had is not known here.
    this.aliases.clear();
    this.changed({ kind: "key", accountId, keyId });
    for (const versionId of versionIds) this.changed({ kind: "version", versionId });
    this.changed({ kind: "aliases" });
    return versionIds;
  }

  putImportToken(token: ImportTokenRecord): void {
    this.inner.putImportToken(token);
  }

  getImportToken(tokenId: string): ImportTokenRecord | undefined {
    return this.inner.getImportToken(tokenId);
  }

  deleteExpiredImportTokens(now: Date): number {
    return this.inner.deleteExpiredImportTokens(now);
  }

  createExternalKeyStore(store: ExternalKeyStoreRecord): ExternalKeyStoreWrite {
    return this.inner.createExternalKeyStore(store);
  }

  getExternalKeyStore(accountId: string, externalKeyStoreId: string): ExternalKeyStoreRecord | undefined {
    return this.inner.getExternalKeyStore(accountId, externalKeyStoreId);
  }

  listExternalKeyStores(accountId: string, after: string | undefined, limit: number): Page<ExternalKeyStoreRecord> {
    return this.inner.listExternalKeyStores(accountId, after, limit);
  }

  updateExternalKeyStore(accountId: string, externalKeyStoreId: string, patch: ExternalKeyStorePatch): ExternalKeyStoreWrite {
    return this.inner.updateExternalKeyStore(accountId, externalKeyStoreId, patch);
  }

  deleteExternalKeyStore(accountId: string, externalKeyStoreId: string): ExternalKeyStoreWrite {
    return this.inner.deleteExternalKeyStore(accountId, externalKeyStoreId);
  }

  close(): void {
    this.invalidateAll();
    this.inner.close();
  }
}
