// The storage contract of policy-service. SQLite implements it now; PostgreSQL comes later and
// must pass the same tests. Every mutation of an account, principal, credential, policy,
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

export interface PolicyStore {
  /** The sequence of the last committed change (0 for a new store). */
  currentSequence(): bigint;
  /** Called after every committed change, in commit order; returns an unsubscribe. */
  onChange(listener: (event: ChangeEvent) => void): () => void;
  /**
   * Runs `work` in one transaction: every write in it commits together or not at all, and the
   * listeners hear of its changes only after the commit.
   */
  transaction<T>(work: () => T): T;

  createAccount(account: AccountRecord): CreateOutcome;
  getAccount(accountId: string): AccountRecord | undefined;
  listAccounts(after: string | undefined, limit: number): Page<AccountRecord>;
  countAccounts(): number;

  /** "exists" when the krn is taken; the account must exist. */
  createPrincipal(principal: PrincipalRecord): CreateOutcome;
  getPrincipal(krn: string): PrincipalRecord | undefined;
  listPrincipals(accountId: string, after: string | undefined, limit: number): Page<PrincipalRecord>;
  updateTrustPolicy(roleKrn: string, trustPolicy: string): PrincipalRecord | undefined;
  /** Deletes the principal with its API keys, certificate identities, attachments and role sessions; false when missing. */
  deletePrincipal(krn: string): boolean;

  createApiKey(apiKey: ApiKeyRecord): CreateOutcome;
  getApiKey(apiKeyId: string): ApiKeyRecord | undefined;
  listApiKeys(principalKrn: string, after: string | undefined, limit: number): Page<ApiKeyRecord>;
  updateApiKeyStatus(apiKeyId: string, status: ApiKeyStatusName): ApiKeyRecord | undefined;
  deleteApiKey(apiKeyId: string): boolean;
  /** Records a use (no change event). */
  touchApiKey(apiKeyId: string, at: Date): void;

  /** Maps a SAN to a stored user or role (a credential change). */
  addCertificateIdentity(identity: CertificateIdentityRecord, maxPerPrincipal: number): AddCertificateIdentityOutcome;
  /** False when the SAN is not mapped to that principal. */
  removeCertificateIdentity(principalKrn: string, san: string): boolean;
  /** A principal's certificate identities, by SAN. */
  listCertificateIdentities(principalKrn: string): readonly CertificateIdentityRecord[];
  getCertificateIdentity(san: string): CertificateIdentityRecord | undefined;

  /** Creates or replaces (keeping the creation date); returns the stored record. */
  putPolicy(policy: PolicyRecord): PolicyRecord;
  getPolicy(krn: string): PolicyRecord | undefined;
  listPolicies(accountId: string, after: string | undefined, limit: number): Page<PolicyRecord>;
  /** Deletes the policy and detaches it from every principal; false when missing. */
  deletePolicy(krn: string): boolean;

  /**
   * Attaches a policy to a stored principal. `policyStored` false for managed policies (not
   * rows of this store); otherwise the policy must exist.
   */
  attachPolicy(attachment: AttachmentRecord, policyStored: boolean): AttachOutcome;
  detachPolicy(principalKrn: string, policyKrn: string): boolean;
  /** The policy krns attached to a principal, in attachment order. */
  listAttachments(principalKrn: string): readonly AttachmentRecord[];

  putResourcePolicy(policy: ResourcePolicyRecord): void;
  getResourcePolicy(resourceKrn: string): ResourcePolicyRecord | undefined;

  createGrant(grant: GrantRecord): CreateOutcome;
  getGrant(grantId: string): GrantRecord | undefined;
  listGrants(keyKrn: string, filter: GrantFilter, after: string | undefined, limit: number): Page<GrantRecord>;
  /** Every grant on a key (for authorization). */
  grantsForKey(keyKrn: string): readonly GrantRecord[];
  deleteGrant(grantId: string): boolean;

  /** Stores a session and deletes sessions that expired before `purgeBefore`. */
  createRoleSession(session: RoleSessionRecord, purgeBefore: Date): CreateOutcome;
  getRoleSession(sessionId: string): RoleSessionRecord | undefined;

  close(): void;
}
