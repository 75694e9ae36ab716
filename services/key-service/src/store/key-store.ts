// The storage contract of key-service. SQLite implements it now; PostgreSQL comes later and
// must pass the same tests (key-store.contract.ts).
import type { AliasRecord, IdempotencyRecord, KeyRecord, KeyVersionRecord, TagRecord } from "./records.ts";

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

export interface KeyPatch {
  readonly description?: string;
  readonly state?: KeyRecord["state"];
}

export type AliasWrite = "ok" | "exists" | "missing";
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

  close(): void;
}
