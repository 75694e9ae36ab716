// SecretStore on PostgreSQL, shared by every replica of secrets-service. Each write that reads
// before it writes runs in one transaction that first locks the secret's row (SELECT ... FOR
// UPDATE), so concurrent label moves, new versions and rotations on one secret take turns and
// never lose each other's updates; a label's uniqueness per secret is also the primary key of
// version_labels. An unreachable database surfaces as DatabaseUnavailableError (UNAVAILABLE).
import { classifyDatabaseError, withTransaction, type PostgresClient, type PostgresPool } from "@keyhold/postgres";
import type { QueryResultRow } from "pg";
import type { ApiKeyRetirement, SecretRecord, SecretVersionRecord, TagRecord, ValueKind } from "./records.ts";
import { patchFor, TagLimitExceeded, type Page, type SecretFilter, type SecretStore, type SecretUpdate, type VersionChange, type VersionPlan } from "./secret-store.ts";

interface SecretRow {
  secret_id: string;
  account_id: string;
  name: string;
  description: string;
  secret_type: number;
  kms_key_id: string;
  created_at: Date;
  updated_at: Date;
  rotation_enabled: boolean;
  rotation_interval_seconds: number;
  rotation_handler_url: string;
  last_rotated_at: Date | null;
  next_rotation_at: Date | null;
  rotation_token: string | null;
  rotation_lease_until: Date | null;
  last_rotation_error: string;
  deletion_date: Date | null;
  api_key_principal_krn: string;
  api_key_grace_period_seconds: number;
}

interface VersionRow {
  secret_id: string;
  version_id: string;
  created_at: Date;
  key_krn: string;
  encrypted_data_key: Buffer;
  sealed_value: Buffer;
  value_kind: number;
}

const toSecret = (row: SecretRow): SecretRecord => ({
  secretId: row.secret_id,
  accountId: row.account_id,
  name: row.name,
  description: row.description,
  secretType: row.secret_type,
  kmsKeyId: row.kms_key_id,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
  rotationEnabled: row.rotation_enabled,
  rotationIntervalSeconds: row.rotation_interval_seconds,
  rotationHandlerUrl: row.rotation_handler_url,
  lastRotatedAt: row.last_rotated_at ?? undefined,
  nextRotationAt: row.next_rotation_at ?? undefined,
  rotationToken: row.rotation_token ?? undefined,
  rotationLeaseUntil: row.rotation_lease_until ?? undefined,
  lastRotationError: row.last_rotation_error,
  deletionDate: row.deletion_date ?? undefined,
  apiKeyPrincipalKrn: row.api_key_principal_krn,
  apiKeyGracePeriodSeconds: row.api_key_grace_period_seconds,
});

const toVersion = (row: VersionRow): SecretVersionRecord => ({
  secretId: row.secret_id,
  versionId: row.version_id,
  createdAt: row.created_at,
  keyKrn: row.key_krn,
  encryptedDataKey: row.encrypted_data_key,
  sealedValue: row.sealed_value,
  valueKind: row.value_kind as ValueKind,
});

/** The columns of `secrets` in order, with each one's value of a record. */
const SECRET_FIELDS: readonly (readonly [string, (s: SecretRecord) => unknown])[] = [
  ["secret_id", (s) => s.secretId],
  ["account_id", (s) => s.accountId],
  ["name", (s) => s.name],
  ["description", (s) => s.description],
  ["secret_type", (s) => s.secretType],
  ["kms_key_id", (s) => s.kmsKeyId],
  ["created_at", (s) => s.createdAt],
  ["updated_at", (s) => s.updatedAt],
  ["rotation_enabled", (s) => s.rotationEnabled],
  ["rotation_interval_seconds", (s) => s.rotationIntervalSeconds],
  ["rotation_handler_url", (s) => s.rotationHandlerUrl],
  ["last_rotated_at", (s) => s.lastRotatedAt ?? null],
  ["next_rotation_at", (s) => s.nextRotationAt ?? null],
  ["rotation_token", (s) => s.rotationToken ?? null],
  ["rotation_lease_until", (s) => s.rotationLeaseUntil ?? null],
  ["last_rotation_error", (s) => s.lastRotationError],
  ["deletion_date", (s) => s.deletionDate ?? null],
  ["api_key_principal_krn", (s) => s.apiKeyPrincipalKrn],
  ["api_key_grace_period_seconds", (s) => s.apiKeyGracePeriodSeconds],
];

const INSERT_SECRET = `INSERT INTO secrets (${SECRET_FIELDS.map(([c]) => c).join(", ")}) VALUES (${SECRET_FIELDS.map((_, i) => `$${i + 1}`).join(", ")})
  ON CONFLICT (account_id, name) DO NOTHING RETURNING secret_id`;
/** Every column but secret_id ($1), account_id, name and created_at (never change). */
const UPDATABLE = SECRET_FIELDS.filter(([c]) => !["secret_id", "account_id", "name", "created_at"].includes(c));
const UPDATE_SECRET = `UPDATE secrets SET ${UPDATABLE.map(([c], i) => `${c} = $${i + 2}`).join(", ")} WHERE secret_id = $1`;

type Queryable = Pick<PostgresClient, "query">;

export class PostgresSecretStore implements SecretStore {
  private readonly pool: PostgresPool;

  /** The pool is the store's: close() ends it. Migrations ran before (migrate at start). */
  constructor(pool: PostgresPool) {
    this.pool = pool;
  }

  /** One statement outside a transaction; an unreachable database becomes DatabaseUnavailableError. */
  private async query<R extends QueryResultRow>(sql: string, values: readonly unknown[]): Promise<R[]> {
    try {
      return (await this.pool.query<R>(sql, [...values])).rows;
    } catch (error) {
      throw classifyDatabaseError(error);
    }
  }

  private transaction<T>(work: (client: PostgresClient) => Promise<T>): Promise<T> {
    return withTransaction(this.pool, work);
  }

  /** Locks the secret's row for the rest of the transaction: its writers take turns. */
  private async lockSecret(client: Queryable, secretId: string): Promise<SecretRecord | undefined> {
    const { rows } = await client.query<SecretRow>("SELECT * FROM secrets WHERE secret_id = $1 FOR UPDATE", [secretId]);
    return rows[0] === undefined ? undefined : toSecret(rows[0]);
  }

  async createSecret(secret: SecretRecord, tags: readonly TagRecord[], first: VersionChange | undefined): Promise<boolean> {
    return this.transaction(async (client) => {
      const inserted = await client.query(INSERT_SECRET, SECRET_FIELDS.map(([, value]) => value(secret)));
      if (inserted.rowCount !== 1) return false;
      for (const tag of tags) {
        await client.query("INSERT INTO secret_tags (secret_id, tag_key, tag_value) VALUES ($1, $2, $3)", [secret.secretId, tag.key, tag.value]);
      }
      if (first !== undefined) await this.applyVersionChange(client, secret, first);
      return true;
    });
  }

  async getSecret(accountId: string, name: string): Promise<SecretRecord | undefined> {
    const rows = await this.query<SecretRow>("SELECT * FROM secrets WHERE account_id = $1 AND name = $2", [accountId, name]);
    return rows[0] === undefined ? undefined : toSecret(rows[0]);
  }

  async getSecretById(secretId: string): Promise<SecretRecord | undefined> {
    const rows = await this.query<SecretRow>("SELECT * FROM secrets WHERE secret_id = $1", [secretId]);
    return rows[0] === undefined ? undefined : toSecret(rows[0]);
  }

  async listSecrets(accountId: string, filter: SecretFilter, after: string | undefined, limit: number): Promise<Page<SecretRecord>> {
    const values: unknown[] = [accountId, after ?? ""];
    const where = ["s.account_id = $1", "s.name > $2"];
    if (filter.namePrefix !== "") {
      values.push(filter.namePrefix);
      where.push(`starts_with(s.name, $${values.length})`);
    }
    if (!filter.includePlannedDeletion) where.push("s.deletion_date IS NULL");
    if (filter.tagKey !== "") {
      values.push(filter.tagKey);
      const keyAt = values.length;
      if (filter.tagValue === "") {
        where.push(`EXISTS (SELECT 1 FROM secret_tags t WHERE t.secret_id = s.secret_id AND t.tag_key = $${keyAt})`);
      } else {
        values.push(filter.tagValue);
        where.push(`EXISTS (SELECT 1 FROM secret_tags t WHERE t.secret_id = s.secret_id AND t.tag_key = $${keyAt} AND t.tag_value = $${values.length})`);
      }
    }
    values.push(limit + 1);
    const rows = await this.query<SecretRow>(`SELECT * FROM secrets s WHERE ${where.join(" AND ")} ORDER BY s.name LIMIT $${values.length}`, values);
    const items = rows.slice(0, limit).map(toSecret);
    return { items, next: rows.length > limit ? items[items.length - 1]!.name : undefined };
  }

  async updateSecret(secretId: string, update: SecretUpdate): Promise<SecretRecord | undefined> {
    return this.transaction((client) => this.update(client, secretId, update));
  }

  private async update(client: Queryable, secretId: string, update: SecretUpdate): Promise<SecretRecord | undefined> {
    const current = await this.lockSecret(client, secretId);
    if (current === undefined) return undefined;
    return this.write(client, current, update);
  }

  /** Writes `current` with the update applied (the row is locked by the caller). */
  private async write(client: Queryable, current: SecretRecord, update: SecretUpdate): Promise<SecretRecord> {
    const next: SecretRecord = { ...current, ...patchFor(update, current) };
    await client.query(UPDATE_SECRET, [next.secretId, ...UPDATABLE.map(([, value]) => value(next))]);
    return next;
  }

  async purgeSecret(secretId: string): Promise<void> {
    // Versions, labels and tags go with it (ON DELETE CASCADE).
    await this.query("DELETE FROM secrets WHERE secret_id = $1", [secretId]);
  }

  async listVersions(secretId: string): Promise<readonly SecretVersionRecord[]> {
    return (await this.query<VersionRow>("SELECT * FROM secret_versions WHERE secret_id = $1 ORDER BY seq", [secretId])).map(toVersion);
  }

  async getVersion(secretId: string, versionId: string): Promise<SecretVersionRecord | undefined> {
    const rows = await this.query<VersionRow>("SELECT * FROM secret_versions WHERE secret_id = $1 AND version_id = $2", [secretId, versionId]);
    return rows[0] === undefined ? undefined : toVersion(rows[0]);
  }

  async labels(secretId: string): Promise<Map<string, string[]>> {
    // One statement: one snapshot of versions and labels together.
    const rows = await this.query<{ version_id: string; labels: string[] }>(LABELS_SQL, [secretId]);
    return labelMap(rows);
  }

  private async readLabels(client: Queryable, secretId: string): Promise<Map<string, string[]>> {
    return labelMap((await client.query<{ version_id: string; labels: string[] }>(LABELS_SQL, [secretId])).rows);
  }

  async changeVersions(secretId: string, plan: VersionPlan): Promise<Map<string, string[]> | undefined> {
    return this.transaction(async (client) => {
      const secret = await this.lockSecret(client, secretId);
      if (secret === undefined) return undefined;
      const labels = await this.readLabels(client, secretId);
      const change = plan({ secret, labels });
      if (change === undefined) return labels;
      await this.applyVersionChange(client, secret, change);
      return this.readLabels(client, secretId);
    });
  }

  /** Applies a change to the locked secret `secret`. */
  private async applyVersionChange(client: Queryable, secret: SecretRecord, change: VersionChange): Promise<void> {
    const { secretId } = secret;
    const version = change.newVersion;
    if (version !== undefined) {
      await client.query(
        `INSERT INTO secret_versions (secret_id, version_id, seq, created_at, key_krn, encrypted_data_key, sealed_value, value_kind)
         SELECT $1, $2, coalesce(max(seq), 0) + 1, $3, $4, $5, $6, $7 FROM secret_versions WHERE secret_id = $1`,
        [secretId, version.versionId, version.createdAt, version.keyKrn, version.encryptedDataKey, version.sealedValue, version.valueKind],
      );
    }
    const labels: string[] = [];
    const versions: string[] = [];
    for (const [versionId, set] of change.labels) {
      for (const label of set) {
        labels.push(label);
        versions.push(versionId);
      }
    }
    await client.query("DELETE FROM version_labels WHERE secret_id = $1", [secretId]);
    if (labels.length > 0) {
      await client.query(
        `INSERT INTO version_labels (secret_id, label, version_id, position)
         SELECT $1, label, version_id, position::integer FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS t (label, version_id, position)`,
        [secretId, labels, versions],
      );
    }
    if (change.prune.length > 0) await client.query("DELETE FROM secret_versions WHERE secret_id = $1 AND version_id = ANY($2::text[])", [secretId, [...change.prune]]);
    await this.write(client, secret, { updatedAt: change.updatedAt, ...(change.patch ?? {}) });
  }

  async listTags(secretId: string): Promise<readonly TagRecord[]> {
    const rows = await this.query<{ tag_key: string; tag_value: string }>(
      `SELECT tag_key, tag_value FROM secret_tags WHERE secret_id = $1 ORDER BY tag_key COLLATE "C"`,
      [secretId],
    );
    return rows.map((row) => ({ key: row.tag_key, value: row.tag_value }));
  }

  async putTags(secretId: string, tags: readonly TagRecord[], maxTags: number): Promise<void> {
    await this.transaction(async (client) => {
      // Concurrent tag calls on one secret take turns, so the limit holds.
      if ((await this.lockSecret(client, secretId)) === undefined) return;
      for (const tag of tags) {
        await client.query(
          `INSERT INTO secret_tags (secret_id, tag_key, tag_value) VALUES ($1, $2, $3)
           ON CONFLICT (secret_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value`,
          [secretId, tag.key, tag.value],
        );
      }
      const { rows } = await client.query<{ n: number }>("SELECT count(*)::integer AS n FROM secret_tags WHERE secret_id = $1", [secretId]);
      if ((rows[0]?.n ?? 0) > maxTags) throw new TagLimitExceeded();
    });
  }

  async removeTags(secretId: string, keys: readonly string[]): Promise<void> {
    await this.query("DELETE FROM secret_tags WHERE secret_id = $1 AND tag_key = ANY($2::text[])", [secretId, [...keys]]);
  }

  async dueRotations(now: Date, limit: number): Promise<readonly SecretRecord[]> {
    const rows = await this.query<SecretRow>(
      `SELECT * FROM secrets WHERE rotation_enabled AND next_rotation_at IS NOT NULL AND next_rotation_at <= $1
         AND deletion_date IS NULL AND (rotation_lease_until IS NULL OR rotation_lease_until <= $1)
       ORDER BY next_rotation_at LIMIT $2`,
      [now, limit],
    );
    return rows.map(toSecret);
  }

  async acquireRotation(secretId: string, token: string, now: Date, leaseUntil: Date, onlyIfDue = false): Promise<boolean> {
    // One statement: of replicas racing for the lease, exactly one updates the row (the others
    // wait for its row lock, then find the lease taken).
    const rows = await this.query(
      `UPDATE secrets SET rotation_token = $2, rotation_lease_until = $3
       WHERE secret_id = $1 AND (rotation_lease_until IS NULL OR rotation_lease_until <= $4)
         AND (NOT $5 OR (rotation_enabled AND next_rotation_at IS NOT NULL AND next_rotation_at <= $4 AND deletion_date IS NULL))
       RETURNING secret_id`,
      [secretId, token, leaseUntil, now, onlyIfDue],
    );
    return rows.length === 1;
  }

  async finishRotation(secretId: string, token: string, update: SecretUpdate): Promise<boolean> {
    return this.transaction(async (client) => {
      const current = await this.lockSecret(client, secretId);
      if (current?.rotationToken !== token) return false;
      await this.write(client, current, { ...patchFor(update, current), rotationLeaseUntil: undefined });
      return true;
    });
  }

  async duePurges(now: Date, limit: number): Promise<readonly SecretRecord[]> {
    const rows = await this.query<SecretRow>("SELECT * FROM secrets WHERE deletion_date IS NOT NULL AND deletion_date <= $1 ORDER BY deletion_date LIMIT $2", [now, limit]);
    return rows.map(toSecret);
  }

  async getDefaultKey(accountId: string): Promise<string | undefined> {
    const rows = await this.query<{ key_krn: string }>("SELECT key_krn FROM default_keys WHERE account_id = $1", [accountId]);
    return rows[0]?.key_krn;
  }

  async setDefaultKey(accountId: string, keyKrn: string): Promise<string> {
    // Replicas creating an account's default key together: the first recorded is everyone's.
    const rows = await this.query<{ key_krn: string }>(
      `WITH inserted AS (INSERT INTO default_keys (account_id, key_krn) VALUES ($1, $2) ON CONFLICT (account_id) DO NOTHING RETURNING key_krn)
       SELECT key_krn FROM inserted UNION ALL SELECT key_krn FROM default_keys WHERE account_id = $1`,
      [accountId, keyKrn],
    );
    return rows[0]?.key_krn ?? (await this.getDefaultKey(accountId)) ?? keyKrn;
  }

  async addApiKeyRetirement(retirement: ApiKeyRetirement): Promise<void> {
    await this.query(
      `INSERT INTO api_key_retirements (secret_id, account_id, principal_krn, api_key_id, disable_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (api_key_id) DO NOTHING`,
      [retirement.secretId, retirement.accountId, retirement.principalKrn, retirement.apiKeyId, retirement.disableAt],
    );
  }

  async dueApiKeyRetirements(now: Date, limit: number): Promise<readonly ApiKeyRetirement[]> {
    const rows = await this.query<{ secret_id: string; account_id: string; principal_krn: string; api_key_id: string; disable_at: Date }>(
      "SELECT * FROM api_key_retirements WHERE disable_at <= $1 ORDER BY disable_at LIMIT $2",
      [now, limit],
    );
    return rows.map((row) => ({
      secretId: row.secret_id,
      accountId: row.account_id,
      principalKrn: row.principal_krn,
      apiKeyId: row.api_key_id,
      disableAt: row.disable_at,
    }));
  }

  async removeApiKeyRetirement(apiKeyId: string): Promise<void> {
    await this.query("DELETE FROM api_key_retirements WHERE api_key_id = $1", [apiKeyId]);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** Every version oldest first, with its labels in the order they were written. */
const LABELS_SQL = `
  SELECT v.version_id, coalesce(array_agg(l.label ORDER BY l.position) FILTER (WHERE l.label IS NOT NULL), '{}') AS labels
  FROM secret_versions v LEFT JOIN version_labels l ON l.secret_id = v.secret_id AND l.version_id = v.version_id
  WHERE v.secret_id = $1 GROUP BY v.version_id, v.seq ORDER BY v.seq`;

function labelMap(rows: readonly { version_id: string; labels: string[] }[]): Map<string, string[]> {
  return new Map(rows.map((row) => [row.version_id, row.labels]));
}
