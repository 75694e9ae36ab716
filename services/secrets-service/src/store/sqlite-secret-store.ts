// SecretStore on better-sqlite3: WAL journal, synchronous=FULL (a value is on disk when the call
// answers), prepared statements, one transaction per multi-row write. better-sqlite3 is
// synchronous: each method does all its work in one tick (read-then-write included, inside an
// IMMEDIATE transaction) and answers a settled promise.
import type Database from "better-sqlite3";
import { openMigratedDatabase, type SqliteDatabase } from "@keyhold/sqlite";
import { SQLITE_MIGRATIONS } from "./migrations.ts";
import type { ApiKeyRetirement, SecretRecord, SecretVersionRecord, TagRecord, ValueKind } from "./records.ts";
import { patchFor, TagLimitExceeded, type Page, type SecretFilter, type SecretStore, type SecretUpdate, type VersionChange, type VersionPlan } from "./secret-store.ts";

interface SecretRow {
  secret_id: string;
  account_id: string;
  name: string;
  description: string;
  secret_type: number;
  kms_key_id: string;
  created_at: number;
  updated_at: number;
  rotation_enabled: number;
  rotation_interval_seconds: number;
  rotation_handler_url: string;
  last_rotated_at: number | null;
  next_rotation_at: number | null;
  rotation_token: string | null;
  rotation_lease_until: number | null;
  last_rotation_error: string;
  deletion_date: number | null;
  api_key_principal_krn: string;
  api_key_grace_period_seconds: number;
}

interface VersionRow {
  secret_id: string;
  version_id: string;
  created_at: number;
  key_krn: string;
  encrypted_data_key: Buffer;
  sealed_value: Buffer;
  value_kind: number;
}

const date = (value: number | null): Date | undefined => (value === null ? undefined : new Date(value));
const ms = (value: Date | undefined): number | null => (value === undefined ? null : value.getTime());

const toSecret = (row: SecretRow): SecretRecord => ({
  secretId: row.secret_id,
  accountId: row.account_id,
  name: row.name,
  description: row.description,
  secretType: row.secret_type,
  kmsKeyId: row.kms_key_id,
  createdAt: new Date(row.created_at),
  updatedAt: new Date(row.updated_at),
  rotationEnabled: row.rotation_enabled === 1,
  rotationIntervalSeconds: row.rotation_interval_seconds,
  rotationHandlerUrl: row.rotation_handler_url,
  lastRotatedAt: date(row.last_rotated_at),
  nextRotationAt: date(row.next_rotation_at),
  rotationToken: row.rotation_token ?? undefined,
  rotationLeaseUntil: date(row.rotation_lease_until),
  lastRotationError: row.last_rotation_error,
  deletionDate: date(row.deletion_date),
  apiKeyPrincipalKrn: row.api_key_principal_krn,
  apiKeyGracePeriodSeconds: row.api_key_grace_period_seconds,
});

const toVersion = (row: VersionRow): SecretVersionRecord => ({
  secretId: row.secret_id,
  versionId: row.version_id,
  createdAt: new Date(row.created_at),
  keyKrn: row.key_krn,
  encryptedDataKey: row.encrypted_data_key,
  sealedValue: row.sealed_value,
  valueKind: row.value_kind as ValueKind,
});

function secretRow(record: SecretRecord): SecretRow {
  return {
    secret_id: record.secretId,
    account_id: record.accountId,
    name: record.name,
    description: record.description,
    secret_type: record.secretType,
    kms_key_id: record.kmsKeyId,
    created_at: record.createdAt.getTime(),
    updated_at: record.updatedAt.getTime(),
    rotation_enabled: record.rotationEnabled ? 1 : 0,
    rotation_interval_seconds: record.rotationIntervalSeconds,
    rotation_handler_url: record.rotationHandlerUrl,
    last_rotated_at: ms(record.lastRotatedAt),
    next_rotation_at: ms(record.nextRotationAt),
    rotation_token: record.rotationToken ?? null,
    rotation_lease_until: ms(record.rotationLeaseUntil),
    last_rotation_error: record.lastRotationError,
    deletion_date: ms(record.deletionDate),
    api_key_principal_krn: record.apiKeyPrincipalKrn,
    api_key_grace_period_seconds: record.apiKeyGracePeriodSeconds,
  };
}

const SECRET_COLUMNS = Object.keys(secretRow({
  secretId: "", accountId: "", name: "", description: "", secretType: 0, kmsKeyId: "", createdAt: new Date(0), updatedAt: new Date(0),
  rotationEnabled: false, rotationIntervalSeconds: 0, rotationHandlerUrl: "", lastRotatedAt: undefined, nextRotationAt: undefined,
  rotationToken: undefined, rotationLeaseUntil: undefined, lastRotationError: "", deletionDate: undefined, apiKeyPrincipalKrn: "", apiKeyGracePeriodSeconds: 0,
}));

export function openSqliteDatabase(path: string): SqliteDatabase {
  return openMigratedDatabase(path, SQLITE_MIGRATIONS);
}

export class SqliteSecretStore implements SecretStore {
  private readonly db: SqliteDatabase;

  private readonly statements = new Map<string, Database.Statement>();

  constructor(db: SqliteDatabase) {
    this.db = db;
  }

  /** A prepared statement, prepared once per SQL text. */
  private prepare(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  /** Runs `work` in one IMMEDIATE transaction (the write lock taken up front). */
  private inTransaction<T>(work: () => T): T {
    return this.db.transaction(work).immediate();
  }

  async createSecret(secret: SecretRecord, tags: readonly TagRecord[], first: VersionChange | undefined): Promise<boolean> {
    return this.inTransaction(() => {
      const taken = this.prepare("SELECT 1 FROM secrets WHERE account_id = ? AND name = ?").get(secret.accountId, secret.name);
      if (taken !== undefined) return false;
      this.prepare(`INSERT INTO secrets (${SECRET_COLUMNS.join(", ")}) VALUES (${SECRET_COLUMNS.map((c) => `@${c}`).join(", ")})`).run(secretRow(secret));
      const insertTag = this.prepare("INSERT INTO secret_tags (secret_id, tag_key, tag_value) VALUES (?, ?, ?)");
      for (const tag of tags) insertTag.run(secret.secretId, tag.key, tag.value);
      if (first !== undefined) this.applyVersionChange(secret.secretId, first);
      return true;
    });
  }

  async getSecret(accountId: string, name: string): Promise<SecretRecord | undefined> {
    const row = this.prepare("SELECT * FROM secrets WHERE account_id = ? AND name = ?").get(accountId, name) as SecretRow | undefined;
    return row === undefined ? undefined : toSecret(row);
  }

  async getSecretById(secretId: string): Promise<SecretRecord | undefined> {
    return this.secretById(secretId);
  }

  private secretById(secretId: string): SecretRecord | undefined {
    const row = this.prepare("SELECT * FROM secrets WHERE secret_id = ?").get(secretId) as SecretRow | undefined;
    return row === undefined ? undefined : toSecret(row);
  }

  async listSecrets(accountId: string, filter: SecretFilter, after: string | undefined, limit: number): Promise<Page<SecretRecord>> {
    const where = ["s.account_id = @account", "s.name > @after"];
    if (filter.namePrefix !== "") where.push("substr(s.name, 1, length(@prefix)) = @prefix");
    if (!filter.includePlannedDeletion) where.push("s.deletion_date IS NULL");
    if (filter.tagKey !== "") {
      where.push(
        filter.tagValue === ""
          ? "EXISTS (SELECT 1 FROM secret_tags t WHERE t.secret_id = s.secret_id AND t.tag_key = @tagKey)"
          : "EXISTS (SELECT 1 FROM secret_tags t WHERE t.secret_id = s.secret_id AND t.tag_key = @tagKey AND t.tag_value = @tagValue)",
      );
    }
    const rows = this.prepare(`SELECT * FROM secrets s WHERE ${where.join(" AND ")} ORDER BY s.name LIMIT @limit`).all({
      account: accountId,
      after: after ?? "",
      prefix: filter.namePrefix,
      tagKey: filter.tagKey,
      tagValue: filter.tagValue,
      limit: limit + 1,
    }) as SecretRow[];
    const items = rows.slice(0, limit).map(toSecret);
    return { items, next: rows.length > limit ? items[items.length - 1]!.name : undefined };
  }

  async updateSecret(secretId: string, update: SecretUpdate): Promise<SecretRecord | undefined> {
    return this.inTransaction(() => this.update(secretId, update));
  }

  private update(secretId: string, update: SecretUpdate): SecretRecord | undefined {
    const current = this.secretById(secretId);
    if (current === undefined) return undefined;
    const next: SecretRecord = { ...current, ...patchFor(update, current) };
    const columns = SECRET_COLUMNS.filter((c) => c !== "secret_id");
    this.prepare(`UPDATE secrets SET ${columns.map((c) => `${c} = @${c}`).join(", ")} WHERE secret_id = @secret_id`).run(secretRow(next));
    return next;
  }

  async purgeSecret(secretId: string): Promise<void> {
    this.inTransaction(() => {
      this.prepare("DELETE FROM version_labels WHERE secret_id = ?").run(secretId);
      this.prepare("DELETE FROM secret_versions WHERE secret_id = ?").run(secretId);
      this.prepare("DELETE FROM secret_tags WHERE secret_id = ?").run(secretId);
      this.prepare("DELETE FROM secrets WHERE secret_id = ?").run(secretId);
    });
  }

  async listVersions(secretId: string): Promise<readonly SecretVersionRecord[]> {
    return (this.prepare("SELECT * FROM secret_versions WHERE secret_id = ? ORDER BY seq").all(secretId) as VersionRow[]).map(toVersion);
  }

  async getVersion(secretId: string, versionId: string): Promise<SecretVersionRecord | undefined> {
    const row = this.prepare("SELECT * FROM secret_versions WHERE secret_id = ? AND version_id = ?").get(secretId, versionId) as VersionRow | undefined;
    return row === undefined ? undefined : toVersion(row);
  }

  async labels(secretId: string): Promise<Map<string, string[]>> {
    return this.readLabels(secretId);
  }

  private readLabels(secretId: string): Map<string, string[]> {
    const labels = new Map<string, string[]>();
    for (const row of this.prepare("SELECT version_id FROM secret_versions WHERE secret_id = ? ORDER BY seq").all(secretId) as { version_id: string }[]) {
      labels.set(row.version_id, []);
    }
    const rows = this.prepare("SELECT label, version_id FROM version_labels WHERE secret_id = ? ORDER BY rowid").all(secretId) as {
      label: string;
      version_id: string;
    }[];
    for (const row of rows) labels.get(row.version_id)?.push(row.label);
    return labels;
  }

  async changeVersions(secretId: string, plan: VersionPlan): Promise<Map<string, string[]> | undefined> {
    return this.inTransaction(() => {
      const secret = this.secretById(secretId);
      if (secret === undefined) return undefined;
      const labels = this.readLabels(secretId);
      const change = plan({ secret, labels });
      if (change === undefined) return labels;
      this.applyVersionChange(secretId, change);
      return this.readLabels(secretId);
    });
  }

  private applyVersionChange(secretId: string, change: VersionChange): void {
    const version = change.newVersion;
    if (version !== undefined) {
      const seq = (this.prepare("SELECT coalesce(max(seq), 0) + 1 AS seq FROM secret_versions WHERE secret_id = ?").get(secretId) as { seq: number }).seq;
      this.prepare(
        `INSERT INTO secret_versions (secret_id, version_id, seq, created_at, key_krn, encrypted_data_key, sealed_value, value_kind)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(secretId, version.versionId, seq, version.createdAt.getTime(), version.keyKrn, version.encryptedDataKey, version.sealedValue, version.valueKind);
    }
    this.prepare("DELETE FROM version_labels WHERE secret_id = ?").run(secretId);
    const insert = this.prepare("INSERT INTO version_labels (secret_id, label, version_id) VALUES (?, ?, ?)");
    for (const [versionId, labels] of change.labels) for (const label of labels) insert.run(secretId, label, versionId);
    const prune = this.prepare("DELETE FROM secret_versions WHERE secret_id = ? AND version_id = ?");
    for (const versionId of change.prune) prune.run(secretId, versionId);
    this.prepare("UPDATE secrets SET updated_at = ? WHERE secret_id = ?").run(change.updatedAt.getTime(), secretId);
    if (change.patch !== undefined) this.update(secretId, change.patch);
  }

  async listTags(secretId: string): Promise<readonly TagRecord[]> {
    return (this.prepare("SELECT tag_key, tag_value FROM secret_tags WHERE secret_id = ? ORDER BY tag_key").all(secretId) as {
      tag_key: string;
      tag_value: string;
    }[]).map((row) => ({ key: row.tag_key, value: row.tag_value }));
  }

  async putTags(secretId: string, tags: readonly TagRecord[], maxTags: number): Promise<void> {
    this.inTransaction(() => {
      const upsert = this.prepare(
        "INSERT INTO secret_tags (secret_id, tag_key, tag_value) VALUES (?, ?, ?) ON CONFLICT (secret_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value",
      );
      for (const tag of tags) upsert.run(secretId, tag.key, tag.value);
      const count = (this.prepare("SELECT count(*) AS n FROM secret_tags WHERE secret_id = ?").get(secretId) as { n: number }).n;
      if (count > maxTags) throw new TagLimitExceeded();
    });
  }

  async removeTags(secretId: string, keys: readonly string[]): Promise<void> {
    const remove = this.prepare("DELETE FROM secret_tags WHERE secret_id = ? AND tag_key = ?");
    this.inTransaction(() => {
      for (const key of keys) remove.run(secretId, key);
    });
  }

  async dueRotations(now: Date, limit: number): Promise<readonly SecretRecord[]> {
    const rows = this.prepare(
      `SELECT * FROM secrets WHERE rotation_enabled = 1 AND next_rotation_at IS NOT NULL AND next_rotation_at <= @now
         AND deletion_date IS NULL AND (rotation_lease_until IS NULL OR rotation_lease_until <= @now)
       ORDER BY next_rotation_at LIMIT @limit`,
    ).all({ now: now.getTime(), limit }) as SecretRow[];
    return rows.map(toSecret);
  }

  async acquireRotation(secretId: string, token: string, now: Date, leaseUntil: Date, onlyIfDue = false): Promise<boolean> {
    const result = this.prepare(
      `UPDATE secrets SET rotation_token = @token, rotation_lease_until = @until
       WHERE secret_id = @id AND (rotation_lease_until IS NULL OR rotation_lease_until <= @now)
         AND (@due = 0 OR (rotation_enabled = 1 AND next_rotation_at IS NOT NULL AND next_rotation_at <= @now AND deletion_date IS NULL))`,
    ).run({ id: secretId, token, until: leaseUntil.getTime(), now: now.getTime(), due: onlyIfDue ? 1 : 0 });
    return result.changes === 1;
  }

  async finishRotation(secretId: string, token: string, update: SecretUpdate): Promise<boolean> {
    return this.inTransaction(() => {
      const current = this.secretById(secretId);
      if (current?.rotationToken !== token) return false;
      this.update(secretId, { ...patchFor(update, current), rotationLeaseUntil: undefined });
      return true;
    });
  }

  async duePurges(now: Date, limit: number): Promise<readonly SecretRecord[]> {
    const rows = this.prepare("SELECT * FROM secrets WHERE deletion_date IS NOT NULL AND deletion_date <= ? ORDER BY deletion_date LIMIT ?").all(
      now.getTime(),
      limit,
    ) as SecretRow[];
    return rows.map(toSecret);
  }

  async getDefaultKey(accountId: string): Promise<string | undefined> {
    return this.defaultKey(accountId);
  }

  private defaultKey(accountId: string): string | undefined {
    const row = this.prepare("SELECT key_krn FROM default_keys WHERE account_id = ?").get(accountId) as { key_krn: string } | undefined;
    return row?.key_krn;
  }

  async setDefaultKey(accountId: string, keyKrn: string): Promise<string> {
    return this.inTransaction(() => {
      this.prepare("INSERT INTO default_keys (account_id, key_krn) VALUES (?, ?) ON CONFLICT (account_id) DO NOTHING").run(accountId, keyKrn);
      return this.defaultKey(accountId) ?? keyKrn;
    });
  }

  async addApiKeyRetirement(retirement: ApiKeyRetirement): Promise<void> {
    this.prepare(
      `INSERT INTO api_key_retirements (secret_id, account_id, principal_krn, api_key_id, disable_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (api_key_id) DO NOTHING`,
    ).run(retirement.secretId, retirement.accountId, retirement.principalKrn, retirement.apiKeyId, retirement.disableAt.getTime());
  }

  async dueApiKeyRetirements(now: Date, limit: number): Promise<readonly ApiKeyRetirement[]> {
    const rows = this.prepare("SELECT * FROM api_key_retirements WHERE disable_at <= ? ORDER BY disable_at LIMIT ?").all(now.getTime(), limit) as {
      secret_id: string;
      account_id: string;
      principal_krn: string;
      api_key_id: string;
      disable_at: number;
    }[];
    return rows.map((row) => ({
      secretId: row.secret_id,
      accountId: row.account_id,
      principalKrn: row.principal_krn,
      apiKeyId: row.api_key_id,
      disableAt: new Date(row.disable_at),
    }));
  }

  async removeApiKeyRetirement(apiKeyId: string): Promise<void> {
    this.prepare("DELETE FROM api_key_retirements WHERE api_key_id = ?").run(apiKeyId);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
