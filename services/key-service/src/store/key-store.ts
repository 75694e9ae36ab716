// The storage contract of key-service. SQLite implements it now; PostgreSQL comes later and
// must pass the same tests (key-store.contract.ts).
import type { AliasRecord, ExternalKeyStoreRecord, IdempotencyRecord, ImportTokenRecord, KeyRecord, KeyVersionRecord, TagRecord } from "./records.ts";

export interface NewKey {
  readonly key: KeyRecord;
  readonly firstVersion: KeyVersionRecord;
  readonly tags: readonly TagRecord[];
  /** Recorded in the same transaction as the key. */
  readonly idempotency: { readonly operation: string; readonly token: string; readonly requestHash: string } | undefined;
}

export type CreateKeyOutcome =
  | { readonly kind: "created"; readonly key: KeyRecord }
  /** The idempotency token was already used: the caller compares hashes. */
  | { readonly kind: "replayed"; readonly previous: IdempotencyRecord };

/** Fields to change; null clears an optional field. */
export interface KeyPatch {
  readonly description?: string;
  readonly state?: KeyRecord["state"];
  readonly deletionDate?: Date | null;
  readonly rotationPeriodDays?: number;
  readonly nextRotationAt?: Date | null;
  readonly deletionProtection?: boolean;
  readonly materialExpiresAt?: Date | null;
  readonly importedMaterialDigest?: Buffer;
}

/**
 * A new primary version. `schedule` (automatic rotation) makes the write conditional: it happens
 * only while the key's next rotation is still `expected`, and moves it to `next` — so one period
 * is never rotated twice, whoever else rotates concurrently.
 */
export interface NewPrimaryVersion {
  readonly version: KeyVersionRecord;
  readonly schedule?: { readonly expected: Date; readonly next: Date };
}

export type AliasWrite = "ok" | "exists" | "missing";
/** "exists": another store of the account has the name; "in-use": keys still reference the store. */
export type ExternalKeyStoreWrite = "ok" | "exists" | "missing" | "in-use";

/** Fields of an external key store to change. */
export interface ExternalKeyStorePatch {
  readonly name?: string;
  readonly endpoint?: string;
  readonly uriPath?: string;
  readonly accessKeyId?: string;
  readonly wrappedSecretAccessKey?: Buffer;
  readonly tlsCaPem?: string;
  readonly tlsClientCertificatePem?: string;
  readonly wrappedTlsClientKey?: Buffer;
  readonly tlsServerName?: string;
  readonly connectionState?: ExternalKeyStoreRecord["connectionState"];
  readonly connectionErrorCode?: ExternalKeyStoreRecord["connectionErrorCode"];
  /** Set when proxy settings change. */
  readonly updatedAt?: Date;
}
export type TagWrite = "ok" | "limit";

export interface Page<T> {
  readonly items: readonly T[];
  /** The sort key to continue after, or undefined when this was the last page. */
  readonly next: string | undefined;
}

export interface KeyStore {
  createKey(newKey: NewKey): CreateKeyOutcome;
  findIdempotency(accountId: string, operation: string, token: string): IdempotencyRecord | undefined;
  getKey(accountId: string, keyId: string): KeyRecord | undefined;
  listKeys(accountId: string, after: string | undefined, limit: number): Page<KeyRecord>;
  updateKey(accountId: string, keyId: string, patch: KeyPatch): KeyRecord | undefined;
  getVersion(versionId: string): KeyVersionRecord | undefined;

  getAlias(accountId: string, aliasName: string): AliasRecord | undefined;
  createAlias(alias: AliasRecord): AliasWrite;
  updateAlias(accountId: string, aliasName: string, targetKeyId: string, at: Date): AliasWrite;
  deleteAlias(accountId: string, aliasName: string): AliasWrite;
  listAliases(accountId: string, keyId: string | undefined, after: string | undefined, limit: number): Page<AliasRecord>;

  /** Adds or overwrites tags; refuses (changing nothing) when the total would pass maxTags. */
  putTags(accountId: string, keyId: string, tags: readonly TagRecord[], maxTags: number): TagWrite;
  removeTags(accountId: string, keyId: string, tagKeys: readonly string[]): void;
  listTags(accountId: string, keyId: string, after: string | undefined, limit: number): Page<TagRecord>;

  /** A key's versions, oldest first; the page cursor is opaque. */
  listVersions(accountId: string, keyId: string, after: string | undefined, limit: number): Page<KeyVersionRecord>;
  /** Adds a version and makes it primary; undefined when the key is gone or the schedule moved. */
  addPrimaryVersion(write: NewPrimaryVersion): KeyRecord | undefined;
  /** Replaces a version's wrapped material (imported material; empty when deleted). */
  setVersionMaterial(versionId: string, wrappedMaterial: Buffer): void;
  /** Enabled keys whose automatic rotation is due at `now`. */
  keysDueForRotation(now: Date, limit: number): readonly KeyRecord[];
  /** Keys pending deletion whose waiting period has ended at `now`. */
  keysDueForDeletion(now: Date, limit: number): readonly KeyRecord[];
  /** EXTERNAL keys whose imported material has expired at `now` and is still stored. */
  keysWithExpiredMaterial(now: Date, limit: number): readonly KeyRecord[];
  /**
   * Destroys a key: its versions (wrapped material), aliases, tags and import tokens, and the
   * key itself, in one transaction. Returns the destroyed version ids.
   */
  purgeKey(accountId: string, keyId: string): readonly string[];
  putImportToken(token: ImportTokenRecord): void;
  getImportToken(tokenId: string): ImportTokenRecord | undefined;
  /** Deletes import tokens (and their wrapping keys) that expired by `now`; returns how many. */
  deleteExpiredImportTokens(now: Date): number;

  createExternalKeyStore(store: ExternalKeyStoreRecord): ExternalKeyStoreWrite;
  getExternalKeyStore(accountId: string, externalKeyStoreId: string): ExternalKeyStoreRecord | undefined;
  listExternalKeyStores(accountId: string, after: string | undefined, limit: number): Page<ExternalKeyStoreRecord>;
  updateExternalKeyStore(accountId: string, externalKeyStoreId: string, patch: ExternalKeyStorePatch): ExternalKeyStoreWrite;
  /** Refuses ("in-use") while any key, pending deletion or not, references the store. */
  deleteExternalKeyStore(accountId: string, externalKeyStoreId: string): ExternalKeyStoreWrite;
  close(): void;
}
