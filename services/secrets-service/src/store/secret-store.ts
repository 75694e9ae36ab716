// Storage behind an interface: handlers and domain code see this, never SQL.
import type { ApiKeyRetirement, SecretRecord, SecretVersionRecord, TagRecord } from "./records.ts";

export interface Page<T> {
  readonly items: readonly T[];
  /** Where the next page starts (opaque to callers), undefined on the last page. */
  readonly next: string | undefined;
}

export interface SecretFilter {
  readonly namePrefix: string;
  readonly tagKey: string;
  readonly tagValue: string;
  readonly includePlannedDeletion: boolean;
}

export type SecretPatch = Partial<Omit<SecretRecord, "secretId" | "accountId" | "name" | "createdAt" | "secretType">>;

/** A change of a secret's versions: an optional new version, and the labels afterwards. */
export interface VersionChange {
  readonly newVersion: SecretVersionRecord | undefined;
  /** Every version's labels afterwards (versions not named keep none). */
  readonly labels: ReadonlyMap<string, readonly string[]>;
  /** Versions to remove (deprecated versions beyond the limit). */
  readonly prune: readonly string[];
  readonly updatedAt: Date;
  /** Also applied in the same transaction. */
  readonly patch?: SecretPatch;
}

export interface SecretStore {
  /** Creates a secret (and its first version). Returns false when the name is taken. */
  createSecret(secret: SecretRecord, tags: readonly TagRecord[], first: VersionChange | undefined): boolean;
  getSecret(accountId: string, name: string): SecretRecord | undefined;
  getSecretById(secretId: string): SecretRecord | undefined;
  listSecrets(accountId: string, filter: SecretFilter, after: string | undefined, limit: number): Page<SecretRecord>;
  updateSecret(secretId: string, patch: SecretPatch): SecretRecord | undefined;
  /** Removes a secret with its versions and tags for good. */
  purgeSecret(secretId: string): void;

  /** Versions oldest first. */
  listVersions(secretId: string): readonly SecretVersionRecord[];
  getVersion(secretId: string, versionId: string): SecretVersionRecord | undefined;
  /** Version id → labels, every version (oldest first), unlabelled ones with []. */
  labels(secretId: string): Map<string, string[]>;
  applyVersionChange(secretId: string, change: VersionChange): void;

  listTags(secretId: string): readonly TagRecord[];
  putTags(secretId: string, tags: readonly TagRecord[], maxTags: number): boolean;
  removeTags(secretId: string, keys: readonly string[]): void;

  /** Secrets whose automatic rotation is due and not held by a running rotation. */
  dueRotations(now: Date, limit: number): readonly SecretRecord[];
  /**
   * Takes the rotation lease of a secret when free (or expired) and records the rotation's
   * version id. False when another rotation holds it.
   */
  acquireRotation(secretId: string, token: string, now: Date, leaseUntil: Date): boolean;
  /** Ends a rotation: releases the lease and applies the outcome. */
  finishRotation(secretId: string, patch: SecretPatch): void;
  /** Secrets scheduled for deletion whose window has ended. */
  duePurges(now: Date, limit: number): readonly SecretRecord[];

  getDefaultKey(accountId: string): string | undefined;
  setDefaultKey(accountId: string, keyKrn: string): void;

  addApiKeyRetirement(retirement: ApiKeyRetirement): void;
  dueApiKeyRetirements(now: Date, limit: number): readonly ApiKeyRetirement[];
  removeApiKeyRetirement(apiKeyId: string): void;

  close(): void;
}
