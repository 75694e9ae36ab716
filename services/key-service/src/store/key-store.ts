// The storage contract of key-service, asynchronous so that SQLite (one process) and PostgreSQL
// (replicas sharing one database) implement it alike and pass the same conformance suite
// (key-store.conformance.ts). Whatever a caller decides from a read and then writes is one store
// operation (a check function or an expected value evaluated inside the write's transaction),
// never a read followed by a separate write: another replica may write in between.
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
  /** Replaces the wrapped material of the key's primary version (imported material; empty when deleted). */
  readonly primaryVersionMaterial?: Buffer;
}

/**
 * Decides a key update from the key as it is inside the write's transaction (locked): returns
 * the fields to change, or undefined to change nothing. May throw (a KeyholdError) to refuse:
 * nothing is written and the error reaches the caller.
 */
export type KeyChange = (current: KeyRecord) => KeyPatch | undefined;

/** Purges only a key still pending deletion whose deletion date is at or before `dueBy`. */
export interface PurgeCondition {
  readonly dueBy: Date;
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

/** "moved": the alias no longer points at the expected key (nothing changed). */
export type AliasWrite = "ok" | "exists" | "missing" | "moved";
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
  createKey(newKey: NewKey): Promise<CreateKeyOutcome>;
  findIdempotency(accountId: string, operation: string, token: string): Promise<IdempotencyRecord | undefined>;
  getKey(accountId: string, keyId: string): Promise<KeyRecord | undefined>;
  listKeys(accountId: string, after: string | undefined, limit: number): Promise<Page<KeyRecord>>;
  /** Applies `change` (a patch, or a check deciding one inside the transaction); undefined when the key is missing. */
  updateKey(accountId: string, keyId: string, change: KeyPatch | KeyChange): Promise<KeyRecord | undefined>;
  getVersion(versionId: string): Promise<KeyVersionRecord | undefined>;

  getAlias(accountId: string, aliasName: string): Promise<AliasRecord | undefined>;
  createAlias(alias: AliasRecord): Promise<AliasWrite>;
  /** Points the alias at `targetKeyId`; with `expectedKeyId`, only while it still points there ("moved" otherwise). */
  updateAlias(accountId: string, aliasName: string, targetKeyId: string, at: Date, expectedKeyId?: string): Promise<AliasWrite>;
  /** Deletes the alias; with `expectedKeyId`, only while it still points there ("moved" otherwise). */
  deleteAlias(accountId: string, aliasName: string, expectedKeyId?: string): Promise<AliasWrite>;
  listAliases(accountId: string, keyId: string | undefined, after: string | undefined, limit: number): Promise<Page<AliasRecord>>;

  /** Adds or overwrites tags; refuses (changing nothing) when the total would pass maxTags. */
  putTags(accountId: string, keyId: string, tags: readonly TagRecord[], maxTags: number): Promise<TagWrite>;
  removeTags(accountId: string, keyId: string, tagKeys: readonly string[]): Promise<void>;
  listTags(accountId: string, keyId: string, after: string | undefined, limit: number): Promise<Page<TagRecord>>;

  /** A key's versions, oldest first; the page cursor is opaque. */
  listVersions(accountId: string, keyId: string, after: string | undefined, limit: number): Promise<Page<KeyVersionRecord>>;
  /** Adds a version and makes it primary; undefined when the key is gone or the schedule moved. */
  addPrimaryVersion(write: NewPrimaryVersion): Promise<KeyRecord | undefined>;
  /** Enabled keys whose automatic rotation is due at `now`. */
  keysDueForRotation(now: Date, limit: number): Promise<readonly KeyRecord[]>;
  /** Keys pending deletion whose waiting period has ended at `now`. */
  keysDueForDeletion(now: Date, limit: number): Promise<readonly KeyRecord[]>;
  /** EXTERNAL keys whose imported material has expired at `now` and is still stored. */
  keysWithExpiredMaterial(now: Date, limit: number): Promise<readonly KeyRecord[]>;
  /**
   * Destroys a key: its versions (wrapped material), aliases, tags and import tokens, and the
   * key itself, in one transaction. Returns the destroyed version ids (none when the key is
   * missing, or `condition` no longer holds: its deletion was cancelled meanwhile).
   */
  purgeKey(accountId: string, keyId: string, condition?: PurgeCondition): Promise<readonly string[]>;
  putImportToken(token: ImportTokenRecord): Promise<void>;
  getImportToken(tokenId: string): Promise<ImportTokenRecord | undefined>;
  /** Deletes import tokens (and their wrapping keys) that expired by `now`; returns how many. */
  deleteExpiredImportTokens(now: Date): Promise<number>;

  createExternalKeyStore(store: ExternalKeyStoreRecord): Promise<ExternalKeyStoreWrite>;
  getExternalKeyStore(accountId: string, externalKeyStoreId: string): Promise<ExternalKeyStoreRecord | undefined>;
  listExternalKeyStores(accountId: string, after: string | undefined, limit: number): Promise<Page<ExternalKeyStoreRecord>>;
  updateExternalKeyStore(accountId: string, externalKeyStoreId: string, patch: ExternalKeyStorePatch): Promise<ExternalKeyStoreWrite>;
  /** Refuses ("in-use") while any key, pending deletion or not, references the store. */
  deleteExternalKeyStore(accountId: string, externalKeyStoreId: string): Promise<ExternalKeyStoreWrite>;
  close(): Promise<void>;
}
