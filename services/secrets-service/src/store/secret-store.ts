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

/** What a version change sees of a secret while it holds the secret (no other change runs). */
export interface VersionState {
  readonly secret: SecretRecord;
  /** Version id → labels, every version oldest first, unlabelled ones with []. */
  readonly labels: ReadonlyMap<string, readonly string[]>;
}

/**
 * Decides a change from the state it is given, or undefined for none. Runs inside the store's
 * transaction, so it is synchronous and pure (a store may run it again when it retries the
 * transaction); what it throws rolls the transaction back and reaches the caller.
 */
export type VersionPlan = (state: VersionState) => VersionChange | undefined;

/** A patch, or a patch decided from the secret as stored (inside the transaction, pure). */
export type SecretUpdate = SecretPatch | ((current: SecretRecord) => SecretPatch);

export interface SecretStore {
  /**
   * Creates a secret (and its first version) in one transaction. Returns false when the name
   * is taken.
   */
  createSecret(secret: SecretRecord, tags: readonly TagRecord[], first: VersionChange | undefined): Promise<boolean>;
  getSecret(accountId: string, name: string): Promise<SecretRecord | undefined>;
  getSecretById(secretId: string): Promise<SecretRecord | undefined>;
  listSecrets(accountId: string, filter: SecretFilter, after: string | undefined, limit: number): Promise<Page<SecretRecord>>;
  /** Applies the update atomically; the secret afterwards, undefined when it does not exist. */
  updateSecret(secretId: string, update: SecretUpdate): Promise<SecretRecord | undefined>;
  /** Removes a secret with its versions and tags for good. */
  purgeSecret(secretId: string): Promise<void>;

  /** Versions oldest first. */
  listVersions(secretId: string): Promise<readonly SecretVersionRecord[]>;
  getVersion(secretId: string, versionId: string): Promise<SecretVersionRecord | undefined>;
  /** Version id → labels, every version (oldest first), unlabelled ones with []. */
  labels(secretId: string): Promise<Map<string, string[]>>;
  /**
   * Reads the secret's versions and labels, runs `plan` on them and applies its change, all in
   * one transaction holding the secret: concurrent changes (label moves, new versions, replicas
   * sharing the database) never lose each other's updates. Answers the labels afterwards, or
   * undefined when the secret does not exist.
   */
  changeVersions(secretId: string, plan: VersionPlan): Promise<Map<string, string[]> | undefined>;

  listTags(secretId: string): Promise<readonly TagRecord[]>;
  /** Adds or replaces tags; throws TagLimitExceeded (nothing changed) beyond `maxTags`. */
  putTags(secretId: string, tags: readonly TagRecord[], maxTags: number): Promise<void>;
  removeTags(secretId: string, keys: readonly string[]): Promise<void>;

  /** Secrets whose automatic rotation is due and not held by a running rotation. */
  dueRotations(now: Date, limit: number): Promise<readonly SecretRecord[]>;
  /**
   * Takes the rotation lease of a secret when free (or expired) and records the rotation's
   * version id, in one statement. False when another rotation holds it, or, with `onlyIfDue`
   * (the scheduler), when its automatic rotation is no longer due (another replica just did it).
   */
  acquireRotation(secretId: string, token: string, now: Date, leaseUntil: Date, onlyIfDue?: boolean): Promise<boolean>;
  /**
   * Ends the rotation that took the lease with `token`: releases the lease and applies the
   * outcome, atomically. False (nothing changed) when the lease is no longer that rotation's
   * (it expired and another rotation took it over).
   */
  finishRotation(secretId: string, token: string, update: SecretUpdate): Promise<boolean>;
  /** Secrets scheduled for deletion whose window has ended. */
  duePurges(now: Date, limit: number): Promise<readonly SecretRecord[]>;

  getDefaultKey(accountId: string): Promise<string | undefined>;
  /** Records the account's default key unless it has one; answers the one recorded. */
  setDefaultKey(accountId: string, keyKrn: string): Promise<string>;

  addApiKeyRetirement(retirement: ApiKeyRetirement): Promise<void>;
  dueApiKeyRetirements(now: Date, limit: number): Promise<readonly ApiKeyRetirement[]>;
  removeApiKeyRetirement(apiKeyId: string): Promise<void>;

  close(): Promise<void>;
}

/** Thrown by putTags (its transaction rolled back) when the tag limit would be exceeded. */
export class TagLimitExceeded extends Error {
  override readonly name = "TagLimitExceeded";
}

/** The patch an update means for `current`. */
export function patchFor(update: SecretUpdate, current: SecretRecord): SecretPatch {
  return typeof update === "function" ? update(current) : update;
}
