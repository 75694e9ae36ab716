// A read-through cache in front of a KeyStore, so the hot path (Encrypt, Decrypt,
// GenerateDataKey) resolves keys, aliases and versions without a database query. Writes go
// through this process's store and update or drop the cached entries at once; replicas that
// share a database add cross-process invalidation through invalidate*().
import type {
  AliasWrite, CreateKeyOutcome, ExternalKeyStorePatch, ExternalKeyStoreWrite, KeyPatch, KeyStore, NewKey, NewPrimaryVersion, Page, TagWrite,
} from "./key-store.ts";
import type { AliasRecord, ExternalKeyStoreRecord, IdempotencyRecord, ImportTokenRecord, KeyRecord, KeyVersionRecord, TagRecord } from "./records.ts";

/** A bounded map that forgets the least recently used entry. */
class BoundedMap<V> {
  private readonly entries = new Map<string, V>();
  private readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  get(key: string): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
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

export class CachingKeyStore implements KeyStore {
  private readonly inner: KeyStore;
  private readonly keys: BoundedMap<KeyRecord>;
  private readonly versions: BoundedMap<KeyVersionRecord>;
  private readonly aliases: BoundedMap<AliasRecord>;

  constructor(inner: KeyStore, maxEntries: number) {
    this.inner = inner;
    this.keys = new BoundedMap(maxEntries);
    this.versions = new BoundedMap(maxEntries);
    this.aliases = new BoundedMap(maxEntries);
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
    return this.inner.createAlias(alias);
  }

  updateAlias(accountId: string, aliasName: string, targetKeyId: string, at: Date): AliasWrite {
    this.invalidateAlias(accountId, aliasName);
    return this.inner.updateAlias(accountId, aliasName, targetKeyId, at);
  }

  deleteAlias(accountId: string, aliasName: string): AliasWrite {
    this.invalidateAlias(accountId, aliasName);
    return this.inner.deleteAlias(accountId, aliasName);
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
    return updated;
  }

  setVersionMaterial(versionId: string, wrappedMaterial: Buffer): void {
    this.versions.delete(versionId);
    this.inner.setVersionMaterial(versionId, wrappedMaterial);
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
