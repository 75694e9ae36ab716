// PolicyStore on better-sqlite3: WAL journal, synchronous=FULL (every credential and policy
// change is fsynced on commit), prepared statements, one transaction per write. The change
// sequence is bumped inside the writing transaction; listeners run after the outermost commit.
// The statements are synchronous (SqliteRecords); the store offers them as promises. While a
// transaction() is open (BEGIN IMMEDIATE ... its work's awaits ... COMMIT) the store's own
// methods wait for it to end, so no other call reads its uncommitted writes or slips a write
// into it; its work uses the transaction's view, which runs on the open transaction.
import { openMigratedDatabase, type SqliteDatabase } from "@keyhold/sqlite";
import { SQLITE_MIGRATIONS } from "./migrations.ts";
import type { AddCertificateIdentityOutcome, AttachOutcome, CreateOutcome, GrantFilter, Page, PolicyData, PolicyStore } from "./policy-store.ts";
import type {
  AccountRecord,
  ApiKeyRecord,
  ApiKeyStatusName,
  AttachmentRecord,
  CertificateIdentityRecord,
  ChangeEvent,
  ChangeKind,
  GrantRecord,
  PolicyRecord,
  PrincipalRecord,
  ResourcePolicyRecord,
  RoleSessionRecord,
} from "./records.ts";
import {
  changed,
  constraintsToJson,
  page,
  toAccount,
  toApiKey,
  toAttachment,
  toCertificateIdentity,
  toGrant,
  toPolicy,
  toPrincipal,
  toResourcePolicy,
  toSession,
  unchanged,
  type AccountRow,
  type ApiKeyRow,
  type AttachmentRow,
  type CertificateIdentityRow,
  type GrantRow,
  type PolicyRow,
  type PrincipalRow,
  type ResourcePolicyRow,
  type SessionRow,
  type Written,
} from "./rows.ts";

/** Opens (creating and migrating as needed) this service's database file, or ":memory:". */
export function openSqliteDatabase(path: string): SqliteDatabase {
  return openMigratedDatabase(path, SQLITE_MIGRATIONS);
}



/** The synchronous statements and the change bookkeeping. */
class SqliteRecords {
  private readonly db: SqliteDatabase;
  private readonly statements;
  private readonly listeners = new Set<(event: ChangeEvent) => void>();
  /** Changes of the open transaction, announced after the outermost commit. */
  private readonly pending: ChangeEvent[] = [];

  constructor(db: SqliteDatabase) {
    this.db = db;
    this.statements = {
      currentSequence: db.prepare<[], { value: number }>(`SELECT value FROM change_sequence WHERE id = 1`),
      bumpSequence: db.prepare<[], { value: number }>(`UPDATE change_sequence SET value = value + 1 WHERE id = 1 RETURNING value`),

      insertAccount: db.prepare(`INSERT INTO accounts (account_id, name, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`),
      getAccount: db.prepare<[string], AccountRow>(`SELECT * FROM accounts WHERE account_id = ?`),
      listAccounts: db.prepare<[string, number], AccountRow>(`SELECT * FROM accounts WHERE account_id > ? ORDER BY account_id LIMIT ?`),
      countAccounts: db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM accounts`),

      insertPrincipal: db.prepare(
        `INSERT INTO principals (krn, account_id, type, name, trust_policy, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      ),
      getPrincipal: db.prepare<[string], PrincipalRow>(`SELECT * FROM principals WHERE krn = ?`),
      listPrincipals: db.prepare<[string, string, number], PrincipalRow>(
        `SELECT * FROM principals WHERE account_id = ? AND krn > ? ORDER BY krn LIMIT ?`,
      ),
      updateTrustPolicy: db.prepare(`UPDATE principals SET trust_policy = ? WHERE krn = ? AND type = 'role'`),
      deletePrincipal: db.prepare(`DELETE FROM principals WHERE krn = ?`),
      deleteApiKeysOf: db.prepare(`DELETE FROM api_keys WHERE principal_krn = ?`),
      deleteAttachmentsOf: db.prepare(`DELETE FROM attachments WHERE principal_krn = ?`),
      deleteSessionsOf: db.prepare(`DELETE FROM role_sessions WHERE role_krn = ?`),
      deleteCertificateIdentitiesOf: db.prepare(`DELETE FROM certificate_identities WHERE principal_krn = ?`),

      insertCertificateIdentity: db.prepare(
        `INSERT INTO certificate_identities (san, type, principal_krn, account_id, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      ),
      deleteCertificateIdentity: db.prepare(`DELETE FROM certificate_identities WHERE principal_krn = ? AND san = ?`),
      listCertificateIdentities: db.prepare<[string], CertificateIdentityRow>(`SELECT * FROM certificate_identities WHERE principal_krn = ? ORDER BY san`),
      countCertificateIdentities: db.prepare<[string], { n: number }>(`SELECT count(*) AS n FROM certificate_identities WHERE principal_krn = ?`),
      getCertificateIdentity: db.prepare<[string], CertificateIdentityRow>(`SELECT * FROM certificate_identities WHERE san = ?`),

      insertApiKey: db.prepare(
        `INSERT INTO api_keys (api_key_id, principal_krn, account_id, description, status, created_at, last_used_at, secret_hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      ),
      getApiKey: db.prepare<[string], ApiKeyRow>(`SELECT * FROM api_keys WHERE api_key_id = ?`),
      listApiKeys: db.prepare<[string, string, number], ApiKeyRow>(
        `SELECT * FROM api_keys WHERE principal_krn = ? AND api_key_id > ? ORDER BY api_key_id LIMIT ?`,
      ),
      updateApiKeyStatus: db.prepare(`UPDATE api_keys SET status = ? WHERE api_key_id = ? AND status <> ?`),
      deleteApiKey: db.prepare(`DELETE FROM api_keys WHERE api_key_id = ?`),
      touchApiKey: db.prepare(`UPDATE api_keys SET last_used_at = ? WHERE api_key_id = ?`),

      upsertPolicy: db.prepare(
        `INSERT INTO policies (krn, account_id, name, description, document, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (krn) DO UPDATE SET description = excluded.description, document = excluded.document, updated_at = excluded.updated_at`,
      ),
      getPolicy: db.prepare<[string], PolicyRow>(`SELECT * FROM policies WHERE krn = ?`),
      listPolicies: db.prepare<[string, string, number], PolicyRow>(
        `SELECT * FROM policies WHERE account_id = ? AND krn > ? ORDER BY krn LIMIT ?`,
      ),
      deletePolicy: db.prepare(`DELETE FROM policies WHERE krn = ?`),
      deleteAttachmentsTo: db.prepare(`DELETE FROM attachments WHERE policy_krn = ?`),

      insertAttachment: db.prepare(
        `INSERT INTO attachments (principal_krn, policy_krn, attached_at, seq)
         VALUES (?, ?, ?, (SELECT coalesce(max(seq), 0) + 1 FROM attachments)) ON CONFLICT DO NOTHING`,
      ),
      deleteAttachment: db.prepare(`DELETE FROM attachments WHERE principal_krn = ? AND policy_krn = ?`),
      listAttachments: db.prepare<[string], AttachmentRow>(
        `SELECT principal_krn, policy_krn, attached_at FROM attachments WHERE principal_krn = ? ORDER BY seq`,
      ),

      upsertResourcePolicy: db.prepare(
        `INSERT INTO resource_policies (resource_krn, account_id, document, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (resource_krn) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at`,
      ),
      getResourcePolicy: db.prepare<[string], ResourcePolicyRow>(`SELECT * FROM resource_policies WHERE resource_krn = ?`),

      insertGrant: db.prepare(
        `INSERT INTO grants (grant_id, key_krn, account_id, grantee_principal, retiring_principal, operations, constraints, name, issuing_principal, token_hash, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      ),
      getGrant: db.prepare<[string], GrantRow>(`SELECT * FROM grants WHERE grant_id = ?`),
      listGrants: db.prepare<[string, string, string, string, string, string, number], GrantRow>(
        `SELECT * FROM grants WHERE key_krn = ? AND (? = '' OR grant_id = ?) AND (? = '' OR grantee_principal = ?)
           AND grant_id > ? ORDER BY grant_id LIMIT ?`,
      ),
      grantsForKey: db.prepare<[string], GrantRow>(`SELECT * FROM grants WHERE key_krn = ? ORDER BY grant_id`),
      deleteGrant: db.prepare(`DELETE FROM grants WHERE grant_id = ?`),

      insertSession: db.prepare(
        `INSERT INTO role_sessions (session_id, role_krn, account_id, session_name, source_principal, secret_hash, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      ),
      purgeSessions: db.prepare(`DELETE FROM role_sessions WHERE expires_at < ?`),
      getSession: db.prepare<[string], SessionRow>(`SELECT * FROM role_sessions WHERE session_id = ?`),
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Changes

  currentSequence(): bigint {
    return BigInt(this.statements.currentSequence.get()!.value);
  }

  onChange(listener: (event: ChangeEvent) => void): () => void {
    // A wrapper per subscription, so the same function subscribed twice is called twice.
    const wrapped = (event: ChangeEvent): void => listener(event);
    this.listeners.add(wrapped);
    return () => {
      this.listeners.delete(wrapped);
    };
  }

  /** Runs async `work` in one transaction (the caller makes sure nothing else runs on the connection meanwhile). */
  async transaction<T>(work: () => Promise<T>): Promise<T> {
    const mark = this.pending.length;
    this.db.exec("BEGIN IMMEDIATE");
    let value: T;
    try {
      value = await work();
      this.db.exec("COMMIT");
    } catch (error) {
      if (this.db.inTransaction) this.db.exec("ROLLBACK");
      this.pending.length = mark;
      throw error;
    }
    this.announce();
    return value;
  }

  /** Runs a write in a transaction (a savepoint when nested), bumping the sequence when it changed something. */
  private write<T>(kind: ChangeKind, work: () => Written<T>): T {
    const outermost = !this.db.inTransaction;
    const mark = this.pending.length;
    let value: T;
    try {
      value = this.db
        .transaction(() => {
          const result = work();
          if (result.changed) {
            const sequence = BigInt(this.statements.bumpSequence.get()!.value);
            this.pending.push({ sequence, kind });
          }
          return result.value;
        })
        .immediate();
    } catch (error) {
      this.pending.length = mark;
      throw error;
    }
    if (outermost) this.announce();
    return value;
  }

  private announce(): void {
    const events = this.pending.splice(0);
    for (const event of events) {
      for (const listener of [...this.listeners]) {
        try {
          listener(event);
        } catch {
          // A listener's failure must not undo or hide a committed write; listeners are
          // policy-service's own caches and streams, which do not throw.
        }
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Accounts

  createAccount(account: AccountRecord): CreateOutcome {
    return this.write("account", () => {
      const result = this.statements.insertAccount.run(account.accountId, account.name, account.createdAt.getTime());
      return result.changes === 1 ? changed("ok" as const) : unchanged("exists" as const);
    });
  }

  getAccount(accountId: string): AccountRecord | undefined {
    const row = this.statements.getAccount.get(accountId);
    return row === undefined ? undefined : toAccount(row);
  }

  listAccounts(after: string | undefined, limit: number): Page<AccountRecord> {
    return page(this.statements.listAccounts.all(after ?? "", limit + 1).map(toAccount), limit, (a) => a.accountId);
  }

  countAccounts(): number {
    return this.statements.countAccounts.get()!.n;
  }

  // ---------------------------------------------------------------------------------------------
  // Principals

  createPrincipal(principal: PrincipalRecord): CreateOutcome {
    return this.write("principal", () => {
      const result = this.statements.insertPrincipal.run(
        principal.krn,
        principal.accountId,
        principal.type,
        principal.name,
        principal.trustPolicy ?? null,
        principal.createdAt.getTime(),
      );
      return result.changes === 1 ? changed("ok" as const) : unchanged("exists" as const);
    });
  }

  getPrincipal(krn: string): PrincipalRecord | undefined {
    const row = this.statements.getPrincipal.get(krn);
    return row === undefined ? undefined : toPrincipal(row);
  }

  listPrincipals(accountId: string, after: string | undefined, limit: number): Page<PrincipalRecord> {
    return page(this.statements.listPrincipals.all(accountId, after ?? "", limit + 1).map(toPrincipal), limit, (p) => p.krn);
  }

  updateTrustPolicy(roleKrn: string, trustPolicy: string): PrincipalRecord | undefined {
    return this.write("principal", () => {
      const result = this.statements.updateTrustPolicy.run(trustPolicy, roleKrn);
      const value = this.getPrincipal(roleKrn);
      return result.changes === 1 ? changed(value) : unchanged(value?.type === "role" ? value : undefined);
    });
  }

  deletePrincipal(krn: string): boolean {
    return this.write("principal", () => {
      // First: its rows reference the principal.
      this.statements.deleteCertificateIdentitiesOf.run(krn);
      if (this.statements.deletePrincipal.run(krn).changes === 0) return unchanged(false);
      this.statements.deleteApiKeysOf.run(krn);
      this.statements.deleteAttachmentsOf.run(krn);
      this.statements.deleteSessionsOf.run(krn);
      return changed(true);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // API keys

  createApiKey(apiKey: ApiKeyRecord): CreateOutcome {
    return this.write("credential", () => {
      const result = this.statements.insertApiKey.run(
        apiKey.apiKeyId,
        apiKey.principalKrn,
        apiKey.accountId,
        apiKey.description,
        apiKey.status,
        apiKey.createdAt.getTime(),
        apiKey.lastUsedAt?.getTime() ?? null,
        apiKey.secretHash,
      );
      return result.changes === 1 ? changed("ok" as const) : unchanged("exists" as const);
    });
  }

  getApiKey(apiKeyId: string): ApiKeyRecord | undefined {
    const row = this.statements.getApiKey.get(apiKeyId);
    return row === undefined ? undefined : toApiKey(row);
  }

  listApiKeys(principalKrn: string, after: string | undefined, limit: number): Page<ApiKeyRecord> {
    return page(this.statements.listApiKeys.all(principalKrn, after ?? "", limit + 1).map(toApiKey), limit, (k) => k.apiKeyId);
  }

  updateApiKeyStatus(apiKeyId: string, status: ApiKeyStatusName): ApiKeyRecord | undefined {
    return this.write("credential", () => {
      const result = this.statements.updateApiKeyStatus.run(status, apiKeyId, status);
      const value = this.getApiKey(apiKeyId);
      return result.changes === 1 ? changed(value) : unchanged(value);
    });
  }

  deleteApiKey(apiKeyId: string): boolean {
    return this.write("credential", () => (this.statements.deleteApiKey.run(apiKeyId).changes === 1 ? changed(true) : unchanged(false)));
  }

  touchApiKey(apiKeyId: string, at: Date): void {
    this.statements.touchApiKey.run(at.getTime(), apiKeyId);
  }

  // ---------------------------------------------------------------------------------------------
  // Certificate identities

  addCertificateIdentity(identity: CertificateIdentityRecord, maxPerPrincipal: number): AddCertificateIdentityOutcome {
    return this.write("credential", (): Written<AddCertificateIdentityOutcome> => {
      if (this.statements.getPrincipal.get(identity.principalKrn) === undefined) return unchanged("principal-missing");
      if (this.statements.getCertificateIdentity.get(identity.san) !== undefined) return unchanged("exists");
      if (this.statements.countCertificateIdentities.get(identity.principalKrn)!.n >= maxPerPrincipal) return unchanged("limit");
      const result = this.statements.insertCertificateIdentity.run(
        identity.san,
        identity.type,
        identity.principalKrn,
        identity.accountId,
        identity.createdAt.getTime(),
      );
      return result.changes === 1 ? changed("ok") : unchanged("exists");
    });
  }

  removeCertificateIdentity(principalKrn: string, san: string): boolean {
    return this.write("credential", () =>
      this.statements.deleteCertificateIdentity.run(principalKrn, san).changes === 1 ? changed(true) : unchanged(false),
    );
  }

  listCertificateIdentities(principalKrn: string): readonly CertificateIdentityRecord[] {
    return this.statements.listCertificateIdentities.all(principalKrn).map(toCertificateIdentity);
  }

  getCertificateIdentity(san: string): CertificateIdentityRecord | undefined {
    const row = this.statements.getCertificateIdentity.get(san);
    return row === undefined ? undefined : toCertificateIdentity(row);
  }

  // ---------------------------------------------------------------------------------------------
  // Identity policies and attachments

  putPolicy(policy: PolicyRecord): PolicyRecord {
    return this.write("policy", () => {
      this.statements.upsertPolicy.run(
        policy.krn,
        policy.accountId,
        policy.name,
        policy.description,
        policy.document,
        policy.createdAt.getTime(),
        policy.updatedAt.getTime(),
      );
      return changed(this.getPolicy(policy.krn)!);
    });
  }

  getPolicy(krn: string): PolicyRecord | undefined {
    const row = this.statements.getPolicy.get(krn);
    return row === undefined ? undefined : toPolicy(row);
  }

  listPolicies(accountId: string, after: string | undefined, limit: number): Page<PolicyRecord> {
    return page(this.statements.listPolicies.all(accountId, after ?? "", limit + 1).map(toPolicy), limit, (p) => p.krn);
  }

  deletePolicy(krn: string): boolean {
    return this.write("policy", () => {
      if (this.statements.deletePolicy.run(krn).changes === 0) return unchanged(false);
      this.statements.deleteAttachmentsTo.run(krn);
      return changed(true);
    });
  }

  attachPolicy(attachment: AttachmentRecord, policyStored: boolean): AttachOutcome {
    return this.write("policy", (): Written<AttachOutcome> => {
      if (this.statements.getPrincipal.get(attachment.principalKrn) === undefined) return unchanged("principal-missing");
      if (policyStored && this.statements.getPolicy.get(attachment.policyKrn) === undefined) return unchanged("policy-missing");
      const result = this.statements.insertAttachment.run(attachment.principalKrn, attachment.policyKrn, attachment.attachedAt.getTime());
      return result.changes === 1 ? changed("ok") : unchanged("exists");
    });
  }

  detachPolicy(principalKrn: string, policyKrn: string): boolean {
    return this.write("policy", () => (this.statements.deleteAttachment.run(principalKrn, policyKrn).changes === 1 ? changed(true) : unchanged(false)));
  }

  listAttachments(principalKrn: string): readonly AttachmentRecord[] {
    return this.statements.listAttachments.all(principalKrn).map(toAttachment);
  }

  // ---------------------------------------------------------------------------------------------
  // Resource policies

  putResourcePolicy(policy: ResourcePolicyRecord): void {
    this.write("resource-policy", () => {
      this.statements.upsertResourcePolicy.run(policy.resourceKrn, policy.accountId, policy.document, policy.updatedAt.getTime());
      return changed(undefined);
    });
  }

  getResourcePolicy(resourceKrn: string): ResourcePolicyRecord | undefined {
    const row = this.statements.getResourcePolicy.get(resourceKrn);
    return row === undefined ? undefined : toResourcePolicy(row);
  }

  // ---------------------------------------------------------------------------------------------
  // Grants

  createGrant(grant: GrantRecord): CreateOutcome {
    return this.write("grant", () => {
      const result = this.statements.insertGrant.run(
        grant.grantId,
        grant.keyKrn,
        grant.accountId,
        grant.granteePrincipal,
        grant.retiringPrincipal ?? null,
        JSON.stringify(grant.operations),
        constraintsToJson(grant.constraints),
        grant.name,
        grant.issuingPrincipal,
        grant.tokenHash,
        grant.createdAt.getTime(),
      );
      return result.changes === 1 ? changed("ok" as const) : unchanged("exists" as const);
    });
  }

  getGrant(grantId: string): GrantRecord | undefined {
    const row = this.statements.getGrant.get(grantId);
    return row === undefined ? undefined : toGrant(row);
  }

  listGrants(keyKrn: string, filter: GrantFilter, after: string | undefined, limit: number): Page<GrantRecord> {
    const grantId = filter.grantId ?? "";
    const grantee = filter.granteePrincipal ?? "";
    const rows = this.statements.listGrants.all(keyKrn, grantId, grantId, grantee, grantee, after ?? "", limit + 1);
    return page(rows.map(toGrant), limit, (g) => g.grantId);
  }

  grantsForKey(keyKrn: string): readonly GrantRecord[] {
    return this.statements.grantsForKey.all(keyKrn).map(toGrant);
  }

  deleteGrant(grantId: string): boolean {
    return this.write("grant", () => (this.statements.deleteGrant.run(grantId).changes === 1 ? changed(true) : unchanged(false)));
  }

  // ---------------------------------------------------------------------------------------------
  // Role sessions

  createRoleSession(session: RoleSessionRecord, purgeBefore: Date): CreateOutcome {
    return this.write("credential", () => {
      this.statements.purgeSessions.run(purgeBefore.getTime());
      const result = this.statements.insertSession.run(
        session.sessionId,
        session.roleKrn,
        session.accountId,
        session.sessionName,
        session.sourcePrincipal,
        session.secretHash,
        session.createdAt.getTime(),
        session.expiresAt.getTime(),
      );
      return result.changes === 1 ? changed("ok" as const) : unchanged("exists" as const);
    });
  }

  getRoleSession(sessionId: string): RoleSessionRecord | undefined {
    const row = this.statements.getSession.get(sessionId);
    return row === undefined ? undefined : toSession(row);
  }

  close(): void {
    this.listeners.clear();
    this.db.close();
  }
}

/** The records as promises, each run through `gate`. */
class SqlitePolicyData implements PolicyData {
  protected readonly records: SqliteRecords;
  private readonly gate: <T>(run: () => T) => Promise<T>;

  constructor(records: SqliteRecords, gate: <T>(run: () => T) => Promise<T>) {
    this.records = records;
    this.gate = gate;
  }

  async createAccount(account: AccountRecord): Promise<CreateOutcome> {
    return this.gate(() => this.records.createAccount(account));
  }

  async getAccount(accountId: string): Promise<AccountRecord | undefined> {
    return this.gate(() => this.records.getAccount(accountId));
  }

  async listAccounts(after: string | undefined, limit: number): Promise<Page<AccountRecord>> {
    return this.gate(() => this.records.listAccounts(after, limit));
  }

  async countAccounts(): Promise<number> {
    return this.gate(() => this.records.countAccounts());
  }

  async createPrincipal(principal: PrincipalRecord): Promise<CreateOutcome> {
    return this.gate(() => this.records.createPrincipal(principal));
  }

  async getPrincipal(krn: string): Promise<PrincipalRecord | undefined> {
    return this.gate(() => this.records.getPrincipal(krn));
  }

  async listPrincipals(accountId: string, after: string | undefined, limit: number): Promise<Page<PrincipalRecord>> {
    return this.gate(() => this.records.listPrincipals(accountId, after, limit));
  }

  async updateTrustPolicy(roleKrn: string, trustPolicy: string): Promise<PrincipalRecord | undefined> {
    return this.gate(() => this.records.updateTrustPolicy(roleKrn, trustPolicy));
  }

  async deletePrincipal(krn: string): Promise<boolean> {
    return this.gate(() => this.records.deletePrincipal(krn));
  }

  async createApiKey(apiKey: ApiKeyRecord): Promise<CreateOutcome> {
    return this.gate(() => this.records.createApiKey(apiKey));
  }

  async getApiKey(apiKeyId: string): Promise<ApiKeyRecord | undefined> {
    return this.gate(() => this.records.getApiKey(apiKeyId));
  }

  async listApiKeys(principalKrn: string, after: string | undefined, limit: number): Promise<Page<ApiKeyRecord>> {
    return this.gate(() => this.records.listApiKeys(principalKrn, after, limit));
  }

  async updateApiKeyStatus(apiKeyId: string, status: ApiKeyStatusName): Promise<ApiKeyRecord | undefined> {
    return this.gate(() => this.records.updateApiKeyStatus(apiKeyId, status));
  }

  async deleteApiKey(apiKeyId: string): Promise<boolean> {
    return this.gate(() => this.records.deleteApiKey(apiKeyId));
  }

  async touchApiKey(apiKeyId: string, at: Date): Promise<void> {
    return this.gate(() => this.records.touchApiKey(apiKeyId, at));
  }

  async addCertificateIdentity(identity: CertificateIdentityRecord, maxPerPrincipal: number): Promise<AddCertificateIdentityOutcome> {
    return this.gate(() => this.records.addCertificateIdentity(identity, maxPerPrincipal));
  }

  async removeCertificateIdentity(principalKrn: string, san: string): Promise<boolean> {
    return this.gate(() => this.records.removeCertificateIdentity(principalKrn, san));
  }

  async listCertificateIdentities(principalKrn: string): Promise<readonly CertificateIdentityRecord[]> {
    return this.gate(() => this.records.listCertificateIdentities(principalKrn));
  }

  async getCertificateIdentity(san: string): Promise<CertificateIdentityRecord | undefined> {
    return this.gate(() => this.records.getCertificateIdentity(san));
  }

  async putPolicy(policy: PolicyRecord): Promise<PolicyRecord> {
    return this.gate(() => this.records.putPolicy(policy));
  }

  async getPolicy(krn: string): Promise<PolicyRecord | undefined> {
    return this.gate(() => this.records.getPolicy(krn));
  }

  async listPolicies(accountId: string, after: string | undefined, limit: number): Promise<Page<PolicyRecord>> {
    return this.gate(() => this.records.listPolicies(accountId, after, limit));
  }

  async deletePolicy(krn: string): Promise<boolean> {
    return this.gate(() => this.records.deletePolicy(krn));
  }

  async attachPolicy(attachment: AttachmentRecord, policyStored: boolean): Promise<AttachOutcome> {
    return this.gate(() => this.records.attachPolicy(attachment, policyStored));
  }

  async detachPolicy(principalKrn: string, policyKrn: string): Promise<boolean> {
    return this.gate(() => this.records.detachPolicy(principalKrn, policyKrn));
  }

  async listAttachments(principalKrn: string): Promise<readonly AttachmentRecord[]> {
    return this.gate(() => this.records.listAttachments(principalKrn));
  }

  async putResourcePolicy(policy: ResourcePolicyRecord): Promise<void> {
    return this.gate(() => this.records.putResourcePolicy(policy));
  }

  async getResourcePolicy(resourceKrn: string): Promise<ResourcePolicyRecord | undefined> {
    return this.gate(() => this.records.getResourcePolicy(resourceKrn));
  }

  async createGrant(grant: GrantRecord): Promise<CreateOutcome> {
    return this.gate(() => this.records.createGrant(grant));
  }

  async getGrant(grantId: string): Promise<GrantRecord | undefined> {
    return this.gate(() => this.records.getGrant(grantId));
  }

  async listGrants(keyKrn: string, filter: GrantFilter, after: string | undefined, limit: number): Promise<Page<GrantRecord>> {
    return this.gate(() => this.records.listGrants(keyKrn, filter, after, limit));
  }

  async grantsForKey(keyKrn: string): Promise<readonly GrantRecord[]> {
    return this.gate(() => this.records.grantsForKey(keyKrn));
  }

  async deleteGrant(grantId: string): Promise<boolean> {
    return this.gate(() => this.records.deleteGrant(grantId));
  }

  async createRoleSession(session: RoleSessionRecord, purgeBefore: Date): Promise<CreateOutcome> {
    return this.gate(() => this.records.createRoleSession(session, purgeBefore));
  }

  async getRoleSession(sessionId: string): Promise<RoleSessionRecord | undefined> {
    return this.gate(() => this.records.getRoleSession(sessionId));
  }
}

/** Lets a transaction run alone: other calls wait until it has ended. */
class TransactionGate {
  /** Settles when the open transaction ends; undefined when none is open. */
  private active: Promise<void> | undefined;

  /** Runs `run` once no transaction is open. */
  async exclusive<T>(run: () => T): Promise<T> {
    while (this.active !== undefined) await this.active;
    return run();
  }

  /** Runs `transaction` once no other is open, holding every other call back until it ends. */
  async alone<T>(transaction: () => Promise<T>): Promise<T> {
    while (this.active !== undefined) await this.active;
    let done: () => void = () => undefined;
    this.active = new Promise<void>((resolve) => (done = resolve));
    try {
      return await transaction();
    } finally {
      this.active = undefined;
      done();
    }
  }
}

export class SqlitePolicyStore extends SqlitePolicyData implements PolicyStore {
  private readonly transactions: TransactionGate;
  private closed = false;

  constructor(db: SqliteDatabase) {
    const gate = new TransactionGate();
    super(new SqliteRecords(db), (run) => gate.exclusive(run));
    this.transactions = gate;
  }

  async currentSequence(): Promise<bigint> {
    return this.transactions.exclusive(() => this.records.currentSequence());
  }

  onChange(listener: (event: ChangeEvent) => void): () => void {
    return this.records.onChange(listener);
  }

  async transaction<T>(work: (tx: PolicyData) => Promise<T>): Promise<T> {
    return this.transactions.alone(() => {
      const tx = new SqlitePolicyData(this.records, async (run) => run());
      return this.records.transaction(() => work(tx));
    });
  }

  async close(): Promise<void> {
    await this.transactions.exclusive(() => undefined);
    if (this.closed) return;
    this.closed = true;
    this.records.close();
  }
}
