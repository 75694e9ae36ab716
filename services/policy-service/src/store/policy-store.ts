// The storage contract of policy-service, implemented on SQLite (one process) and PostgreSQL
// (replicas sharing one database); both pass the same conformance suite (policy-store-suite.ts).
// Every method is asynchronous. Every mutation of an account, principal, credential, policy,
// attachment, resource policy or grant bumps one persisted change sequence in the same
// transaction, and listeners hear of it after the commit (never for a rolled-back write).
// Recording an API key's last use is bookkeeping, not a change: it bumps nothing.
import type {
  AccountRecord,
  ApiKeyRecord,
  ApiKeyStatusName,
  AttachmentRecord,
  CertificateIdentityRecord,
  ChangeEvent,
  GrantRecord,
  PolicyRecord,
  PrincipalRecord,
  ResourcePolicyRecord,
  RoleSessionRecord,
} from "./records.ts";

export interface Page<T> {
  readonly items: readonly T[];
  /** The sort key to continue after, or undefined when this was the last page. */
  readonly next: string | undefined;
}

export type CreateOutcome = "ok" | "exists";
export type AttachOutcome = "ok" | "exists" | "principal-missing" | "policy-missing";
/** "exists": the SAN is mapped already (to this or any other principal); "limit": the principal has `maxPerPrincipal`. */
export type AddCertificateIdentityOutcome = "ok" | "exists" | "principal-missing" | "limit";

export interface GrantFilter {
  readonly grantId?: string;
  readonly granteePrincipal?: string;
}

/** The records: what a transaction's work and the store itself both offer. */
export interface PolicyData {
  createAccount(account: AccountRecord): Promise<CreateOutcome>;
  getAccount(accountId: string): Promise<AccountRecord | undefined>;
  listAccounts(after: string | undefined, limit: number): Promise<Page<AccountRecord>>;
  countAccounts(): Promise<number>;

  /** "exists" when the krn is taken; the account must exist. */
  createPrincipal(principal: PrincipalRecord): Promise<CreateOutcome>;
  getPrincipal(krn: string): Promise<PrincipalRecord | undefined>;
  listPrincipals(accountId: string, after: string | undefined, limit: number): Promise<Page<PrincipalRecord>>;
  updateTrustPolicy(roleKrn: string, trustPolicy: string): Promise<PrincipalRecord | undefined>;
  /** Deletes the principal with its API keys, certificate identities, attachments and role sessions; false when missing. */
  deletePrincipal(krn: string): Promise<boolean>;

  createApiKey(apiKey: ApiKeyRecord): Promise<CreateOutcome>;
  getApiKey(apiKeyId: string): Promise<ApiKeyRecord | undefined>;
  listApiKeys(principalKrn: string, after: string | undefined, limit: number): Promise<Page<ApiKeyRecord>>;
  updateApiKeyStatus(apiKeyId: string, status: ApiKeyStatusName): Promise<ApiKeyRecord | undefined>;
  deleteApiKey(apiKeyId: string): Promise<boolean>;
  /** Records a use (no change event). */
  touchApiKey(apiKeyId: string, at: Date): Promise<void>;

  /** Maps a SAN to a stored user or role (a credential change). */
  addCertificateIdentity(identity: CertificateIdentityRecord, maxPerPrincipal: number): Promise<AddCertificateIdentityOutcome>;
  /** False when the SAN is not mapped to that principal. */
  removeCertificateIdentity(principalKrn: string, san: string): Promise<boolean>;
  /** A principal's certificate identities, by SAN. */
  listCertificateIdentities(principalKrn: string): Promise<readonly CertificateIdentityRecord[]>;
  getCertificateIdentity(san: string): Promise<CertificateIdentityRecord | undefined>;

  /** Creates or replaces (keeping the creation date); returns the stored record. */
  putPolicy(policy: PolicyRecord): Promise<PolicyRecord>;
  getPolicy(krn: string): Promise<PolicyRecord | undefined>;
  listPolicies(accountId: string, after: string | undefined, limit: number): Promise<Page<PolicyRecord>>;
  /** Deletes the policy and detaches it from every principal; false when missing. */
  deletePolicy(krn: string): Promise<boolean>;

  /**
   * Attaches a policy to a stored principal. `policyStored` false for managed policies (not
   * rows of this store); otherwise the policy must exist.
   */
  attachPolicy(attachment: AttachmentRecord, policyStored: boolean): Promise<AttachOutcome>;
  detachPolicy(principalKrn: string, policyKrn: string): Promise<boolean>;
  /** The policy krns attached to a principal, in attachment order. */
  listAttachments(principalKrn: string): Promise<readonly AttachmentRecord[]>;

  putResourcePolicy(policy: ResourcePolicyRecord): Promise<void>;
  getResourcePolicy(resourceKrn: string): Promise<ResourcePolicyRecord | undefined>;

  createGrant(grant: GrantRecord): Promise<CreateOutcome>;
  getGrant(grantId: string): Promise<GrantRecord | undefined>;
  listGrants(keyKrn: string, filter: GrantFilter, after: string | undefined, limit: number): Promise<Page<GrantRecord>>;
  /** Every grant on a key (for authorization). */
  grantsForKey(keyKrn: string): Promise<readonly GrantRecord[]>;
  deleteGrant(grantId: string): Promise<boolean>;

  /** Stores a session and deletes sessions that expired before `purgeBefore`. */
  createRoleSession(session: RoleSessionRecord, purgeBefore: Date): Promise<CreateOutcome>;
  getRoleSession(sessionId: string): Promise<RoleSessionRecord | undefined>;
}

export interface PolicyStore extends PolicyData {
  /** The sequence of the last committed change (0 for a new store). */
  currentSequence(): Promise<bigint>;
  /**
   * Called after every committed change, in commit order; returns an unsubscribe. With replicas
   * sharing one database (PostgreSQL), changes committed by the other replicas are heard too.
   */
  onChange(listener: (event: ChangeEvent) => void): () => void;
  /**
   * Runs `work` in one transaction on `tx` (use only `tx` inside it, never the store: the
   * store's own methods would wait for the transaction to end): every write in it commits
   * together or not at all, and the listeners hear of its changes only after the commit. A
   * write of `tx` that fails is undone alone (the transaction may go on). `work` may be run
   * again when the database asks for a retry, so it must do nothing but store work and
   * computing its records.
   */
  transaction<T>(work: (tx: PolicyData) => Promise<T>): Promise<T>;

  close(): Promise<void>;
}
