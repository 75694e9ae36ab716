// PolicyStore on PostgreSQL, for replicas of policy-service sharing one database (schema
// policy_service, see migrations.ts).
//
// Writers are serialised across replicas the way SQLite's single writer serialises them in one
// process: every writing transaction first locks the one change_sequence row
// (SELECT ... FOR UPDATE), and bumps it when it changed something. Under that lock, READ
// COMMITTED statements see everything committed before, and no other writer can commit between
// a check and the write that depends on it (a principal that must exist, a SAN that must be
// free, the per-principal certificate limit), so no replica loses another's update; the
// sequence increases in commit order. Reads take no lock. Recording an API key's last use is a
// lone UPDATE outside that lock (bookkeeping, no change).
//
// Change events: listeners hear this replica's changes right after its commit, and the other
// replicas' through LISTEN/NOTIFY (the bump notifies channel policy_service_changes with
// "<sequence> <kind>", delivered at commit). An event at or below the last sequence announced is
// dropped, so a replica's own notifications are not heard twice. When the listening connection
// is lost, it reconnects and, if the sequence moved meanwhile, announces the current sequence
// (every event means "flush what you derived from the store", so one stands for the missed).
//
// Database outages surface as DatabaseUnavailableError (UNAVAILABLE DATABASE_UNAVAILABLE).
import { setTimeout as sleep } from "node:timers/promises";
import { classifyDatabaseError, withClient, withTransaction, type PostgresClient, type PostgresPool } from "@keyhold/postgres";
import type { Logger } from "@keyhold/server-kit";
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

/** The NOTIFY channel of committed changes. */
export const CHANGES_CHANNEL = "policy_service_changes";
const CHANGE_KINDS: ReadonlySet<string> = new Set<ChangeKind>(["account", "principal", "credential", "policy", "resource-policy", "grant"]);
const RELISTEN_DELAY_MS = 1_000;

type Db = Pick<PostgresClient, "query">;

/** How the records reach the database: on their own (each write its own transaction) or inside an open transaction. */
interface Runner {
  read<T>(work: (db: Db) => Promise<T>): Promise<T>;
  write<T>(kind: ChangeKind, work: (db: Db) => Promise<Written<T>>): Promise<T>;
  /** A lone statement that changes nothing a listener cares about. */
  bookkeeping(work: (db: Db) => Promise<void>): Promise<void>;
}

/** Takes the writers' lock (held until commit or rollback). */
async function lockChanges(db: Db): Promise<void> {
  await db.query("SELECT value FROM change_sequence WHERE id = 1 FOR UPDATE");
}

/** Bumps the sequence and queues the notification (sent at commit). */
async function bump(db: Db, kind: ChangeKind): Promise<ChangeEvent> {
  const { rows } = await db.query<{ value: string }>(
    `WITH bumped AS (UPDATE change_sequence SET value = value + 1 WHERE id = 1 RETURNING value)
     SELECT value, pg_notify($1, value::text || ' ' || $2) FROM bumped`,
    [CHANGES_CHANNEL, kind],
  );
  return { sequence: BigInt(rows[0]!.value), kind };
}

async function one<R, T>(db: Db, sql: string, params: readonly unknown[], map: (row: R) => T): Promise<T | undefined> {
  const { rows } = await db.query<R & object>(sql, [...params]);
  return rows[0] === undefined ? undefined : map(rows[0]);
}

async function all<R, T>(db: Db, sql: string, params: readonly unknown[], map: (row: R) => T): Promise<T[]> {
  const { rows } = await db.query<R & object>(sql, [...params]);
  return rows.map(map);
}

async function count(db: Db, sql: string, params: readonly unknown[]): Promise<number> {
  const { rows } = await db.query<{ n: string }>(sql, [...params]);
  return Number(rows[0]!.n);
}

const affected = (result: { rowCount: number | null }): number => result.rowCount ?? 0;

/** The records, over a Runner. */
class PostgresPolicyData implements PolicyData {
  protected readonly run: Runner;

  constructor(run: Runner) {
    this.run = run;
  }

  // Accounts

  async createAccount(account: AccountRecord): Promise<CreateOutcome> {
    return this.run.write("account", async (db) => {
      const result = await db.query(`INSERT INTO accounts (account_id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [
        account.accountId,
        account.name,
        account.createdAt,
      ]);
      return affected(result) === 1 ? changed("ok" as const) : unchanged("exists" as const);
    });
  }

  async getAccount(accountId: string): Promise<AccountRecord | undefined> {
    return this.run.read((db) => one<AccountRow, AccountRecord>(db, `SELECT * FROM accounts WHERE account_id = $1`, [accountId], toAccount));
  }

  async listAccounts(after: string | undefined, limit: number): Promise<Page<AccountRecord>> {
    const rows = await this.run.read((db) =>
      all<AccountRow, AccountRecord>(db, `SELECT * FROM accounts WHERE account_id > $1 ORDER BY account_id LIMIT $2`, [after ?? "", limit + 1], toAccount),
    );
    return page(rows, limit, (a) => a.accountId);
  }

  async countAccounts(): Promise<number> {
    return this.run.read((db) => count(db, `SELECT count(*) AS n FROM accounts`, []));
  }

  // Principals

  async createPrincipal(principal: PrincipalRecord): Promise<CreateOutcome> {
    return this.run.write("principal", async (db) => {
      const result = await db.query(
        `INSERT INTO principals (krn, account_id, type, name, trust_policy, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
        [principal.krn, principal.accountId, principal.type, principal.name, principal.trustPolicy ?? null, principal.createdAt],
      );
      return affected(result) === 1 ? changed("ok" as const) : unchanged("exists" as const);
    });
  }

  async getPrincipal(krn: string): Promise<PrincipalRecord | undefined> {
    return this.run.read((db) => one<PrincipalRow, PrincipalRecord>(db, `SELECT * FROM principals WHERE krn = $1`, [krn], toPrincipal));
  }

  async listPrincipals(accountId: string, after: string | undefined, limit: number): Promise<Page<PrincipalRecord>> {
    const rows = await this.run.read((db) =>
      all<PrincipalRow, PrincipalRecord>(
        db,
        `SELECT * FROM principals WHERE account_id = $1 AND krn > $2 ORDER BY krn LIMIT $3`,
        [accountId, after ?? "", limit + 1],
        toPrincipal,
      ),
    );
    return page(rows, limit, (p) => p.krn);
  }

  async updateTrustPolicy(roleKrn: string, trustPolicy: string): Promise<PrincipalRecord | undefined> {
    return this.run.write("principal", async (db) => {
      const updated = await one<PrincipalRow, PrincipalRecord>(
        db,
        `UPDATE principals SET trust_policy = $1 WHERE krn = $2 AND type = 'role' RETURNING *`,
        [trustPolicy, roleKrn],
        toPrincipal,
      );
      return updated === undefined ? unchanged(undefined) : changed(updated);
    });
  }

  async deletePrincipal(krn: string): Promise<boolean> {
    return this.run.write("principal", async (db) => {
      // First: its rows reference the principal.
      await db.query(`DELETE FROM certificate_identities WHERE principal_krn = $1`, [krn]);
      if (affected(await db.query(`DELETE FROM principals WHERE krn = $1`, [krn])) === 0) return unchanged(false);
      await db.query(`DELETE FROM api_keys WHERE principal_krn = $1`, [krn]);
      await db.query(`DELETE FROM attachments WHERE principal_krn = $1`, [krn]);
      await db.query(`DELETE FROM role_sessions WHERE role_krn = $1`, [krn]);
      return changed(true);
    });
  }

  // API keys

  async createApiKey(apiKey: ApiKeyRecord): Promise<CreateOutcome> {
    return this.run.write("credential", async (db) => {
      const result = await db.query(
        `INSERT INTO api_keys (api_key_id, principal_krn, account_id, description, status, created_at, last_used_at, secret_hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
        [
          apiKey.apiKeyId,
          apiKey.principalKrn,
          apiKey.accountId,
          apiKey.description,
          apiKey.status,
          apiKey.createdAt,
          apiKey.lastUsedAt ?? null,
          apiKey.secretHash,
        ],
      );
      return affected(result) === 1 ? changed("ok" as const) : unchanged("exists" as const);
    });
  }

  async getApiKey(apiKeyId: string): Promise<ApiKeyRecord | undefined> {
    return this.run.read((db) => one<ApiKeyRow, ApiKeyRecord>(db, `SELECT * FROM api_keys WHERE api_key_id = $1`, [apiKeyId], toApiKey));
  }

  async listApiKeys(principalKrn: string, after: string | undefined, limit: number): Promise<Page<ApiKeyRecord>> {
    const rows = await this.run.read((db) =>
      all<ApiKeyRow, ApiKeyRecord>(
        db,
        `SELECT * FROM api_keys WHERE principal_krn = $1 AND api_key_id > $2 ORDER BY api_key_id LIMIT $3`,
        [principalKrn, after ?? "", limit + 1],
        toApiKey,
      ),
    );
    return page(rows, limit, (k) => k.apiKeyId);
  }

  async updateApiKeyStatus(apiKeyId: string, status: ApiKeyStatusName): Promise<ApiKeyRecord | undefined> {
    return this.run.write("credential", async (db) => {
      const result = await db.query(`UPDATE api_keys SET status = $1 WHERE api_key_id = $2 AND status <> $1`, [status, apiKeyId]);
      const value = await one<ApiKeyRow, ApiKeyRecord>(db, `SELECT * FROM api_keys WHERE api_key_id = $1`, [apiKeyId], toApiKey);
      return affected(result) === 1 ? changed(value) : unchanged(value);
    });
  }

  async deleteApiKey(apiKeyId: string): Promise<boolean> {
    return this.run.write("credential", async (db) =>
      affected(await db.query(`DELETE FROM api_keys WHERE api_key_id = $1`, [apiKeyId])) === 1 ? changed(true) : unchanged(false),
    );
  }

  async touchApiKey(apiKeyId: string, at: Date): Promise<void> {
    await this.run.bookkeeping(async (db) => {
      await db.query(`UPDATE api_keys SET last_used_at = $1 WHERE api_key_id = $2`, [at, apiKeyId]);
    });
  }

  // Certificate identities

  async addCertificateIdentity(identity: CertificateIdentityRecord, maxPerPrincipal: number): Promise<AddCertificateIdentityOutcome> {
    return this.run.write("credential", async (db): Promise<Written<AddCertificateIdentityOutcome>> => {
      if ((await count(db, `SELECT count(*) AS n FROM principals WHERE krn = $1`, [identity.principalKrn])) === 0) return unchanged("principal-missing");
      if ((await count(db, `SELECT count(*) AS n FROM certificate_identities WHERE san = $1`, [identity.san])) > 0) return unchanged("exists");
      if ((await count(db, `SELECT count(*) AS n FROM certificate_identities WHERE principal_krn = $1`, [identity.principalKrn])) >= maxPerPrincipal) {
        return unchanged("limit");
      }
      const result = await db.query(
        `INSERT INTO certificate_identities (san, type, principal_krn, account_id, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
        [identity.san, identity.type, identity.principalKrn, identity.accountId, identity.createdAt],
      );
      return affected(result) === 1 ? changed("ok") : unchanged("exists");
    });
  }

  async removeCertificateIdentity(principalKrn: string, san: string): Promise<boolean> {
    return this.run.write("credential", async (db) =>
      affected(await db.query(`DELETE FROM certificate_identities WHERE principal_krn = $1 AND san = $2`, [principalKrn, san])) === 1
        ? changed(true)
        : unchanged(false),
    );
  }

  async listCertificateIdentities(principalKrn: string): Promise<readonly CertificateIdentityRecord[]> {
    return this.run.read((db) =>
      all<CertificateIdentityRow, CertificateIdentityRecord>(
        db,
        `SELECT * FROM certificate_identities WHERE principal_krn = $1 ORDER BY san`,
        [principalKrn],
        toCertificateIdentity,
      ),
    );
  }

  async getCertificateIdentity(san: string): Promise<CertificateIdentityRecord | undefined> {
    return this.run.read((db) =>
      one<CertificateIdentityRow, CertificateIdentityRecord>(db, `SELECT * FROM certificate_identities WHERE san = $1`, [san], toCertificateIdentity),
    );
  }

  // Identity policies and attachments

  async putPolicy(policy: PolicyRecord): Promise<PolicyRecord> {
    return this.run.write("policy", async (db) => {
      const stored = await one<PolicyRow, PolicyRecord>(
        db,
        `INSERT INTO policies (krn, account_id, name, description, document, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (krn) DO UPDATE SET description = excluded.description, document = excluded.document, updated_at = excluded.updated_at
         RETURNING *`,
        [policy.krn, policy.accountId, policy.name, policy.description, policy.document, policy.createdAt, policy.updatedAt],
        toPolicy,
      );
      return changed(stored!);
    });
  }

  async getPolicy(krn: string): Promise<PolicyRecord | undefined> {
    return this.run.read((db) => one<PolicyRow, PolicyRecord>(db, `SELECT * FROM policies WHERE krn = $1`, [krn], toPolicy));
  }

  async listPolicies(accountId: string, after: string | undefined, limit: number): Promise<Page<PolicyRecord>> {
    const rows = await this.run.read((db) =>
      all<PolicyRow, PolicyRecord>(db, `SELECT * FROM policies WHERE account_id = $1 AND krn > $2 ORDER BY krn LIMIT $3`, [accountId, after ?? "", limit + 1], toPolicy),
    );
    return page(rows, limit, (p) => p.krn);
  }

  async deletePolicy(krn: string): Promise<boolean> {
    return this.run.write("policy", async (db) => {
      if (affected(await db.query(`DELETE FROM policies WHERE krn = $1`, [krn])) === 0) return unchanged(false);
      await db.query(`DELETE FROM attachments WHERE policy_krn = $1`, [krn]);
      return changed(true);
    });
  }

  async attachPolicy(attachment: AttachmentRecord, policyStored: boolean): Promise<AttachOutcome> {
    return this.run.write("policy", async (db): Promise<Written<AttachOutcome>> => {
      if ((await count(db, `SELECT count(*) AS n FROM principals WHERE krn = $1`, [attachment.principalKrn])) === 0) return unchanged("principal-missing");
      if (policyStored && (await count(db, `SELECT count(*) AS n FROM policies WHERE krn = $1`, [attachment.policyKrn])) === 0) return unchanged("policy-missing");
      const result = await db.query(`INSERT INTO attachments (principal_krn, policy_krn, attached_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [
        attachment.principalKrn,
        attachment.policyKrn,
        attachment.attachedAt,
      ]);
      return affected(result) === 1 ? changed("ok") : unchanged("exists");
    });
  }

  async detachPolicy(principalKrn: string, policyKrn: string): Promise<boolean> {
    return this.run.write("policy", async (db) =>
      affected(await db.query(`DELETE FROM attachments WHERE principal_krn = $1 AND policy_krn = $2`, [principalKrn, policyKrn])) === 1
        ? changed(true)
        : unchanged(false),
    );
  }

  async listAttachments(principalKrn: string): Promise<readonly AttachmentRecord[]> {
    return this.run.read((db) =>
      all<AttachmentRow, AttachmentRecord>(
        db,
        `SELECT principal_krn, policy_krn, attached_at FROM attachments WHERE principal_krn = $1 ORDER BY seq`,
        [principalKrn],
        toAttachment,
      ),
    );
  }

  // Resource policies

  async putResourcePolicy(policy: ResourcePolicyRecord): Promise<void> {
    await this.run.write("resource-policy", async (db) => {
      await db.query(
        `INSERT INTO resource_policies (resource_krn, account_id, document, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (resource_krn) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at`,
        [policy.resourceKrn, policy.accountId, policy.document, policy.updatedAt],
      );
      return changed(undefined);
    });
  }

  async getResourcePolicy(resourceKrn: string): Promise<ResourcePolicyRecord | undefined> {
    return this.run.read((db) =>
      one<ResourcePolicyRow, ResourcePolicyRecord>(db, `SELECT * FROM resource_policies WHERE resource_krn = $1`, [resourceKrn], toResourcePolicy),
    );
  }

  // Grants

  async createGrant(grant: GrantRecord): Promise<CreateOutcome> {
    return this.run.write("grant", async (db) => {
      const result = await db.query(
        `INSERT INTO grants (grant_id, key_krn, account_id, grantee_principal, retiring_principal, operations, constraints, name, issuing_principal, token_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING`,
        [
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
          grant.createdAt,
        ],
      );
      return affected(result) === 1 ? changed("ok" as const) : unchanged("exists" as const);
    });
  }

  async getGrant(grantId: string): Promise<GrantRecord | undefined> {
    return this.run.read((db) => one<GrantRow, GrantRecord>(db, `SELECT * FROM grants WHERE grant_id = $1`, [grantId], toGrant));
  }

  async listGrants(keyKrn: string, filter: GrantFilter, after: string | undefined, limit: number): Promise<Page<GrantRecord>> {
    const rows = await this.run.read((db) =>
      all<GrantRow, GrantRecord>(
        db,
        `SELECT * FROM grants WHERE key_krn = $1 AND ($2 = '' OR grant_id = $2) AND ($3 = '' OR grantee_principal = $3)
           AND grant_id > $4 ORDER BY grant_id LIMIT $5`,
        [keyKrn, filter.grantId ?? "", filter.granteePrincipal ?? "", after ?? "", limit + 1],
        toGrant,
      ),
    );
    return page(rows, limit, (g) => g.grantId);
  }

  async grantsForKey(keyKrn: string): Promise<readonly GrantRecord[]> {
    return this.run.read((db) => all<GrantRow, GrantRecord>(db, `SELECT * FROM grants WHERE key_krn = $1 ORDER BY grant_id`, [keyKrn], toGrant));
  }

  async deleteGrant(grantId: string): Promise<boolean> {
    return this.run.write("grant", async (db) =>
      affected(await db.query(`DELETE FROM grants WHERE grant_id = $1`, [grantId])) === 1 ? changed(true) : unchanged(false),
    );
  }

  // Role sessions

  async createRoleSession(session: RoleSessionRecord, purgeBefore: Date): Promise<CreateOutcome> {
    return this.run.write("credential", async (db) => {
      await db.query(`DELETE FROM role_sessions WHERE expires_at < $1`, [purgeBefore]);
      const result = await db.query(
        `INSERT INTO role_sessions (session_id, role_krn, account_id, session_name, source_principal, secret_hash, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
        [
          session.sessionId,
          session.roleKrn,
          session.accountId,
          session.sessionName,
          session.sourcePrincipal,
          session.secretHash,
          session.createdAt,
          session.expiresAt,
        ],
      );
      return affected(result) === 1 ? changed("ok" as const) : unchanged("exists" as const);
    });
  }

  async getRoleSession(sessionId: string): Promise<RoleSessionRecord | undefined> {
    return this.run.read((db) => one<SessionRow, RoleSessionRecord>(db, `SELECT * FROM role_sessions WHERE session_id = $1`, [sessionId], toSession));
  }
}

/** Inside an open transaction: each write in a savepoint (a failed one is undone alone), its events kept for after the commit. */
function transactionRunner(client: PostgresClient, events: ChangeEvent[]): Runner {
  const guarded = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      throw classifyDatabaseError(error);
    }
  };
  return {
    read: (work) => guarded(() => work(client)),
    bookkeeping: (work) => guarded(() => work(client)),
    write: (kind, work) =>
      guarded(async () => {
        const mark = events.length;
        await client.query("SAVEPOINT policy_write");
        try {
          const result = await work(client);
          if (result.changed) events.push(await bump(client, kind));
          await client.query("RELEASE SAVEPOINT policy_write");
          return result.value;
        } catch (error) {
          events.length = mark;
          await client.query("ROLLBACK TO SAVEPOINT policy_write; RELEASE SAVEPOINT policy_write").catch(() => undefined);
          throw error;
        }
      }),
  };
}

export interface PostgresPolicyStoreOptions {
  /** Where a lost change listener is reported. */
  readonly logger?: Logger;
  /**
   * Hear the changes other replicas commit (LISTEN on a pooled connection of its own; default
   * true). Off only for a store that is the database's sole user.
   */
  readonly listen?: boolean;
}

/** The listeners, and the last sequence they heard (events at or below it are not announced again). */
class ChangeAnnouncer {
  private readonly listeners = new Set<(event: ChangeEvent) => void>();
  private last: bigint;

  constructor(last: bigint) {
    this.last = last;
  }

  get lastAnnounced(): bigint {
    return this.last;
  }

  subscribe(listener: (event: ChangeEvent) => void): () => void {
    // A wrapper per subscription, so the same function subscribed twice is called twice.
    const wrapped = (event: ChangeEvent): void => listener(event);
    this.listeners.add(wrapped);
    return () => {
      this.listeners.delete(wrapped);
    };
  }

  announce(events: readonly ChangeEvent[]): void {
    for (const event of events) {
      if (event.sequence <= this.last) continue;
      this.last = event.sequence;
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

  clear(): void {
    this.listeners.clear();
  }
}

async function readSequence(db: Db): Promise<bigint> {
  const { rows } = await db.query<{ value: string }>("SELECT value FROM change_sequence WHERE id = 1");
  return BigInt(rows[0]!.value);
}

/** Runs `work` under the writers' lock in a transaction of its own (rerun on a serialization failure), then announces its change. */
async function writeAlone<T>(pool: PostgresPool, announcer: ChangeAnnouncer, kind: ChangeKind, work: (db: Db) => Promise<Written<T>>): Promise<T> {
  const events: ChangeEvent[] = [];
  const value = await withTransaction(pool, async (client) => {
    events.length = 0;
    await lockChanges(client);
    const result = await work(client);
    if (result.changed) events.push(await bump(client, kind));
    return result.value;
  });
  announcer.announce(events);
  return value;
}

export class PostgresPolicyStore extends PostgresPolicyData implements PolicyStore {
  private readonly pool: PostgresPool;
  private readonly logger: Logger | undefined;
  private readonly announcer: ChangeAnnouncer;
  /** Aborted by close(): ends the listener's waits. */
  private readonly stopping = new AbortController();
  private listening: Promise<void> | undefined;

  /**
   * Opens the store on a migrated schema (see migrate() and POSTGRES_MIGRATIONS): reads where
   * the sequence stands and, unless told not to, starts hearing the other replicas' changes.
   * The pool stays its caller's: close() does not end it.
   */
  static async open(pool: PostgresPool, options: PostgresPolicyStoreOptions = {}): Promise<PostgresPolicyStore> {
    const store = new PostgresPolicyStore(pool, options, await withClient(pool, readSequence));
    if (options.listen ?? true) await store.startListening();
    return store;
  }

  private constructor(pool: PostgresPool, options: PostgresPolicyStoreOptions, sequence: bigint) {
    const announcer = new ChangeAnnouncer(sequence);
    super({
      read: (work) => withClient(pool, work),
      bookkeeping: (work) => withClient(pool, work),
      write: (kind, work) => writeAlone(pool, announcer, kind, work),
    });
    this.pool = pool;
    this.announcer = announcer;
    this.logger = options.logger;
  }

  async currentSequence(): Promise<bigint> {
    return withClient(this.pool, readSequence);
  }

  onChange(listener: (event: ChangeEvent) => void): () => void {
    return this.announcer.subscribe(listener);
  }

  async transaction<T>(work: (tx: PolicyData) => Promise<T>): Promise<T> {
    const events: ChangeEvent[] = [];
    const value = await withTransaction(this.pool, async (client) => {
      events.length = 0;
      await lockChanges(client);
      return work(new PostgresPolicyData(transactionRunner(client, events)));
    });
    this.announcer.announce(events);
    return value;
  }

  /** Resolves once the first LISTEN is in place; keeps listening (reconnecting) until close(). */
  private async startListening(): Promise<void> {
    let ready: () => void = () => undefined;
    let failed: (error: unknown) => void = () => undefined;
    const first = new Promise<void>((resolve, reject) => {
      ready = resolve;
      failed = reject;
    });
    this.listening = this.listenLoop(ready, failed);
    await first;
  }

  private async listenLoop(ready: () => void, failed: (error: unknown) => void): Promise<void> {
    const signal = this.stopping.signal;
    const stopped = new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    let firstAttempt = true;
    while (!signal.aborted) {
      let client: PostgresClient | undefined;
      try {
        client = await this.pool.connect();
        const connection = client;
        const lost = new Promise<void>((resolve) => {
          connection.once("error", () => resolve());
          connection.once("end", () => resolve());
        });
        connection.on("notification", (message) => {
          if (message.channel === CHANGES_CHANNEL) this.heard(message.payload);
        });
        await connection.query(`LISTEN ${CHANGES_CHANNEL}`);
        // Whatever was committed while nobody here was listening.
        const current = await readSequence(connection);
        if (current > this.announcer.lastAnnounced) this.announcer.announce([{ sequence: current, kind: "policy" }]);
        if (firstAttempt) ready();
        firstAttempt = false;
        await Promise.race([lost, stopped]);
      } catch (error) {
        if (firstAttempt) {
          client?.release(true);
          failed(classifyDatabaseError(error));
          return;
        }
        this.logger?.warn("policy store change listener lost; reconnecting", { error: error instanceof Error ? error.message : String(error) });
      }
      // Never back to the pool: the connection is LISTENing (and may be broken).
      client?.release(true);
      if (!signal.aborted) await sleep(RELISTEN_DELAY_MS, undefined, { signal }).catch(() => undefined);
    }
  }

  /** A NOTIFY payload: "<sequence> <kind>". */
  private heard(payload: string | undefined): void {
    const [sequence, kind] = (payload ?? "").split(" ");
    if (sequence === undefined || !/^\d+$/.test(sequence) || kind === undefined || !CHANGE_KINDS.has(kind)) return;
    this.announcer.announce([{ sequence: BigInt(sequence), kind: kind as ChangeKind }]);
  }

  /** Stops listening and forgets the listeners; the pool is its owner's to end. */
  async close(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    this.stopping.abort();
    await this.listening;
    this.announcer.clear();
  }
}
