// KeyStore on PostgreSQL, for replicas of key-service sharing one database (schema key_service).
// Reads are single statements on the pool. Every write that depends on what is stored runs in
// one transaction that first locks the rows it decides on (SELECT ... FOR UPDATE on the key, the
// alias or the external key store), so concurrent writers on any replica queue behind each other
// and none loses another's update: alias moves, rotations (the schedule check), tag limits, key
// state changes, purges. A database that cannot be reached surfaces as DatabaseUnavailableError
// (UNAVAILABLE, DATABASE_UNAVAILABLE), never as an internal error.
import { classifyDatabaseError, withTransaction, type PostgresClient, type PostgresPool } from "@keyhold/postgres";
import { KeyState } from "@keyhold/proto";
import type {
  AliasWrite, CreateKeyOutcome, ExternalKeyStorePatch, ExternalKeyStoreWrite, KeyChange, KeyPatch, KeyStore, NewKey, NewPrimaryVersion, Page, PurgeCondition, TagWrite,
} from "./key-store.ts";
import { applyPatch, purgeDue } from "./key-patch.ts";
import type { AliasRecord, ExternalKeyStoreRecord, IdempotencyRecord, ImportTokenRecord, KeyRecord, KeyVersionRecord, TagRecord } from "./records.ts";

interface KeyRow {
  key_id: string;
  account_id: string;
  description: string;
  key_spec: number;
  key_usage: number;
  origin: number;
  key_manager: number;
  state: number;
  created_at: Date;
  primary_version_id: string;
  deletion_date: Date | null;
  rotation_period_days: number;
  next_rotation_at: Date | null;
  deletion_protection: boolean;
  material_expires_at: Date | null;
  imported_material_digest: Buffer | null;
  external_key_store_id: string | null;
  xks_key_id: string | null;
}

interface VersionRow {
  version_id: string;
  key_id: string;
  account_id: string;
  wrapped_material: Buffer;
  wrapped_by: string;
  created_at: Date;
  source: number;
  public_key: Buffer | null;
}

interface AliasRow {
  account_id: string;
  alias_name: string;
  target_key_id: string;
  created_at: Date;
  updated_at: Date;
}

interface ImportTokenRow {
  token_id: string;
  account_id: string;
  key_id: string;
  wrapping_algorithm: number;
  wrapping_key_spec: number;
  wrapped_private_key: Buffer;
  created_at: Date;
  expires_at: Date;
}

interface ExternalKeyStoreRow {
  external_key_store_id: string;
  account_id: string;
  name: string;
  endpoint: string;
  uri_path: string;
  access_key_id: string;
  wrapped_secret_access_key: Buffer;
  tls_ca_pem: string;
  tls_client_certificate_pem: string;
  wrapped_tls_client_key: Buffer;
  tls_server_name: string;
  connection_state: number;
  connection_error_code: number;
  created_at: Date;
  updated_at: Date;
}

const toKey = (row: KeyRow): KeyRecord => ({
  keyId: row.key_id,
  accountId: row.account_id,
  description: row.description,
  keySpec: row.key_spec,
  keyUsage: row.key_usage,
  origin: row.origin,
  keyManager: row.key_manager,
  state: row.state,
  createdAt: row.created_at,
  primaryVersionId: row.primary_version_id,
  deletionDate: row.deletion_date ?? undefined,
  rotationPeriodDays: row.rotation_period_days,
  nextRotationAt: row.next_rotation_at ?? undefined,
  deletionProtection: row.deletion_protection,
  materialExpiresAt: row.material_expires_at ?? undefined,
  importedMaterialDigest: row.imported_material_digest ?? undefined,
  externalKey:
    row.external_key_store_id === null || row.xks_key_id === null ? undefined : { externalKeyStoreId: row.external_key_store_id, xksKeyId: row.xks_key_id },
});

/** The key's columns in INSERT order ($1..$18). */
const keyValues = (key: KeyRecord): unknown[] => [
  key.keyId,
  key.accountId,
  key.description,
  key.keySpec,
  key.keyUsage,
  key.origin,
  key.keyManager,
  key.state,
  key.createdAt,
  key.primaryVersionId,
  key.deletionDate ?? null,
  key.rotationPeriodDays,
  key.nextRotationAt ?? null,
  key.deletionProtection,
  key.materialExpiresAt ?? null,
  key.importedMaterialDigest ?? null,
  key.externalKey?.externalKeyStoreId ?? null,
  key.externalKey?.xksKeyId ?? null,
];

const toVersion = (row: VersionRow): KeyVersionRecord => ({
  versionId: row.version_id,
  keyId: row.key_id,
  accountId: row.account_id,
  wrappedMaterial: row.wrapped_material,
  wrappedBy: row.wrapped_by,
  createdAt: row.created_at,
  source: row.source,
  publicKey: row.public_key ?? undefined,
});

const toAlias = (row: AliasRow): AliasRecord => ({
  accountId: row.account_id,
  aliasName: row.alias_name,
  targetKeyId: row.target_key_id,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

const toImportToken = (row: ImportTokenRow): ImportTokenRecord => ({
  tokenId: row.token_id,
  accountId: row.account_id,
  keyId: row.key_id,
  wrappingAlgorithm: row.wrapping_algorithm,
  wrappingKeySpec: row.wrapping_key_spec,
  wrappedPrivateKey: row.wrapped_private_key,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
});

const toExternalKeyStore = (row: ExternalKeyStoreRow): ExternalKeyStoreRecord => ({
  externalKeyStoreId: row.external_key_store_id,
  accountId: row.account_id,
  name: row.name,
  endpoint: row.endpoint,
  uriPath: row.uri_path,
  accessKeyId: row.access_key_id,
  wrappedSecretAccessKey: row.wrapped_secret_access_key,
  tlsCaPem: row.tls_ca_pem,
  tlsClientCertificatePem: row.tls_client_certificate_pem,
  wrappedTlsClientKey: row.wrapped_tls_client_key,
  tlsServerName: row.tls_server_name,
  connectionState: row.connection_state,
  connectionErrorCode: row.connection_error_code,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** The external key store's columns in INSERT order ($1..$15). */
const externalKeyStoreValues = (s: ExternalKeyStoreRecord): unknown[] => [
  s.externalKeyStoreId,
  s.accountId,
  s.name,
  s.endpoint,
  s.uriPath,
  s.accessKeyId,
  s.wrappedSecretAccessKey,
  s.tlsCaPem,
  s.tlsClientCertificatePem,
  s.wrappedTlsClientKey,
  s.tlsServerName,
  s.connectionState,
  s.connectionErrorCode,
  s.createdAt,
  s.updatedAt,
];

/** List cursor for versions: creation time in ms (fixed width) and version id, as the SQLite store's. */
const versionCursor = (v: KeyVersionRecord) => `${String(v.createdAt.getTime()).padStart(16, "0")}/${v.versionId}`;
function parseVersionCursor(cursor: string | undefined): [Date | "-infinity", string] {
  if (cursor === undefined) return ["-infinity", ""];
  const slash = cursor.indexOf("/");
  return [new Date(Number(cursor.slice(0, slash))), cursor.slice(slash + 1)];
}

const UNIQUE_VIOLATION = "23505";
const FOREIGN_KEY_VIOLATION = "23503";
const sqlState = (error: unknown): unknown => (typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined);

const KEY_COLUMNS = `key_id, account_id, description, key_spec, key_usage, origin, key_manager, state, created_at, primary_version_id, deletion_date,
  rotation_period_days, next_rotation_at, deletion_protection, material_expires_at, imported_material_digest, external_key_store_id, xks_key_id`;
const EXTERNAL_KEY_STORE_COLUMNS = `external_key_store_id, account_id, name, endpoint, uri_path, access_key_id, wrapped_secret_access_key, tls_ca_pem,
  tls_client_certificate_pem, wrapped_tls_client_key, tls_server_name, connection_state, connection_error_code, created_at, updated_at`;
const placeholders = (n: number) => Array.from({ length: n }, (_, i) => `$${i + 1}`).join(", ");

export class PostgresKeyStore implements KeyStore {
  readonly #pool: PostgresPool;
  readonly #closePool: boolean;

  /** `closePool`: whether close() ends the pool (false when the caller owns it). */
  constructor(pool: PostgresPool, options: { readonly closePool?: boolean } = {}) {
    this.#pool = pool;
    this.#closePool = options.closePool ?? true;
  }

  /** One statement outside a transaction; unavailability becomes DatabaseUnavailableError. */
  async #rows<R extends object>(sql: string, values: readonly unknown[]): Promise<R[]> {
    try {
      return (await this.#pool.query<R>(sql, values as unknown[])).rows;
    } catch (error) {
      throw classifyDatabaseError(error);
    }
  }

  async #count(sql: string, values: readonly unknown[]): Promise<number> {
    try {
      return (await this.#pool.query(sql, values as unknown[])).rowCount ?? 0;
    } catch (error) {
      throw classifyDatabaseError(error);
    }
  }

  #transaction<T>(fn: (client: PostgresClient) => Promise<T>): Promise<T> {
    return withTransaction(this.#pool, fn);
  }

  /** The key row, locked for the rest of the transaction. */
  static async #lockKey(client: PostgresClient, accountId: string, keyId: string): Promise<KeyRecord | undefined> {
    const { rows } = await client.query<KeyRow>(`SELECT * FROM keys WHERE account_id = $1 AND key_id = $2 FOR UPDATE`, [accountId, keyId]);
    return rows[0] === undefined ? undefined : toKey(rows[0]);
  }

  static async #insertVersion(client: PostgresClient, v: KeyVersionRecord): Promise<void> {
    await client.query(
      `INSERT INTO key_versions (version_id, key_id, account_id, wrapped_material, wrapped_by, created_at, source, public_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [v.versionId, v.keyId, v.accountId, v.wrappedMaterial, v.wrappedBy, v.createdAt, v.source, v.publicKey ?? null],
    );
  }

  async createKey(newKey: NewKey): Promise<CreateKeyOutcome> {
    const { key, firstVersion, tags, idempotency } = newKey;
    return this.#transaction(async (client): Promise<CreateKeyOutcome> => {
      if (idempotency !== undefined) {
        // Claimed first: a concurrent request with the same token waits here for this one to
        // commit (or roll back), then replays it.
        const claimed = await client.query(
          `INSERT INTO idempotency (account_id, operation, token, request_hash, resource_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT DO NOTHING`,
          [key.accountId, idempotency.operation, idempotency.token, idempotency.requestHash, key.keyId, key.createdAt],
        );
        if (claimed.rowCount === 0) {
          const { rows } = await client.query<{ request_hash: string; resource_id: string }>(
            `SELECT request_hash, resource_id FROM idempotency WHERE account_id = $1 AND operation = $2 AND token = $3`,
            [key.accountId, idempotency.operation, idempotency.token],
          );
          const previous = rows[0];
          if (previous !== undefined) return { kind: "replayed", previous: { requestHash: previous.request_hash, resourceId: previous.resource_id } };
        }
      }
      await client.query(`INSERT INTO keys (${KEY_COLUMNS}) VALUES (${placeholders(18)})`, keyValues(key));
      await PostgresKeyStore.#insertVersion(client, firstVersion);
      for (const tag of tags) {
        await client.query(
          `INSERT INTO key_tags (key_id, tag_key, tag_value) VALUES ($1, $2, $3) ON CONFLICT (key_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value`,
          [key.keyId, tag.key, tag.value],
        );
      }
      return { kind: "created", key };
    });
  }

  async findIdempotency(accountId: string, operation: string, token: string): Promise<IdempotencyRecord | undefined> {
    const rows = await this.#rows<{ request_hash: string; resource_id: string }>(
      `SELECT request_hash, resource_id FROM idempotency WHERE account_id = $1 AND operation = $2 AND token = $3`,
      [accountId, operation, token],
    );
    return rows[0] === undefined ? undefined : { requestHash: rows[0].request_hash, resourceId: rows[0].resource_id };
  }

  async getKey(accountId: string, keyId: string): Promise<KeyRecord | undefined> {
    const rows = await this.#rows<KeyRow>(`SELECT * FROM keys WHERE account_id = $1 AND key_id = $2`, [accountId, keyId]);
    return rows[0] === undefined ? undefined : toKey(rows[0]);
  }

  async listKeys(accountId: string, after: string | undefined, limit: number): Promise<Page<KeyRecord>> {
    const rows = await this.#rows<KeyRow>(
      `SELECT * FROM keys WHERE account_id = $1 AND key_id COLLATE "C" > $2 ORDER BY key_id COLLATE "C" LIMIT $3`,
      [accountId, after ?? "", limit + 1],
    );
    return page(rows.map(toKey), limit, (k) => k.keyId);
  }

  async updateKey(accountId: string, keyId: string, change: KeyPatch | KeyChange): Promise<KeyRecord | undefined> {
    return this.#transaction(async (client) => {
      const current = await PostgresKeyStore.#lockKey(client, accountId, keyId);
      if (current === undefined) return undefined;
      const patch = typeof change === "function" ? change(current) : change;
      if (patch === undefined) return current;
      const next = applyPatch(current, patch);
      await client.query(
        `UPDATE keys SET description = $3, state = $4, deletion_date = $5, rotation_period_days = $6, next_rotation_at = $7, deletion_protection = $8,
           material_expires_at = $9, imported_material_digest = $10
         WHERE account_id = $1 AND key_id = $2`,
        [
          accountId,
          keyId,
          next.description,
          next.state,
          next.deletionDate ?? null,
          next.rotationPeriodDays,
          next.nextRotationAt ?? null,
          next.deletionProtection,
          next.materialExpiresAt ?? null,
          next.importedMaterialDigest ?? null,
        ],
      );
      if (patch.primaryVersionMaterial !== undefined) {
        await client.query(`UPDATE key_versions SET wrapped_material = $1 WHERE version_id = $2`, [patch.primaryVersionMaterial, current.primaryVersionId]);
      }
      return next;
    });
  }

  async getVersion(versionId: string): Promise<KeyVersionRecord | undefined> {
    const rows = await this.#rows<VersionRow>(`SELECT * FROM key_versions WHERE version_id = $1`, [versionId]);
    return rows[0] === undefined ? undefined : toVersion(rows[0]);
  }

  async getAlias(accountId: string, aliasName: string): Promise<AliasRecord | undefined> {
    const rows = await this.#rows<AliasRow>(`SELECT * FROM aliases WHERE account_id = $1 AND alias_name = $2`, [accountId, aliasName]);
    return rows[0] === undefined ? undefined : toAlias(rows[0]);
  }

  /** Whether the key exists, locking it against a concurrent purge (FOR SHARE). */
  static async #keyExists(client: PostgresClient, accountId: string, keyId: string): Promise<boolean> {
    const { rowCount } = await client.query(`SELECT 1 FROM keys WHERE account_id = $1 AND key_id = $2 FOR SHARE`, [accountId, keyId]);
    return rowCount === 1;
  }

  async createAlias(alias: AliasRecord): Promise<AliasWrite> {
    return this.#transaction(async (client): Promise<AliasWrite> => {
      if (!(await PostgresKeyStore.#keyExists(client, alias.accountId, alias.targetKeyId))) return "missing";
      const inserted = await client.query(
        `INSERT INTO aliases (account_id, alias_name, target_key_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
        [alias.accountId, alias.aliasName, alias.targetKeyId, alias.createdAt, alias.updatedAt],
      );
      return inserted.rowCount === 1 ? "ok" : "exists";
    });
  }

  async updateAlias(accountId: string, aliasName: string, targetKeyId: string, at: Date, expectedKeyId?: string): Promise<AliasWrite> {
    return this.#transaction(async (client): Promise<AliasWrite> => {
      const { rows } = await client.query<{ target_key_id: string }>(
        `SELECT target_key_id FROM aliases WHERE account_id = $1 AND alias_name = $2 FOR UPDATE`,
        [accountId, aliasName],
      );
      const current = rows[0];
      if (current === undefined) return "missing";
      if (expectedKeyId !== undefined && current.target_key_id !== expectedKeyId) return "moved";
      if (!(await PostgresKeyStore.#keyExists(client, accountId, targetKeyId))) return "missing";
      await client.query(`UPDATE aliases SET target_key_id = $3, updated_at = $4 WHERE account_id = $1 AND alias_name = $2`, [accountId, aliasName, targetKeyId, at]);
      return "ok";
    });
  }

  async deleteAlias(accountId: string, aliasName: string, expectedKeyId?: string): Promise<AliasWrite> {
    if (expectedKeyId === undefined) {
      return (await this.#count(`DELETE FROM aliases WHERE account_id = $1 AND alias_name = $2`, [accountId, aliasName])) === 1 ? "ok" : "missing";
    }
    // One statement decides: deleted while it points at the expected key, else tell why not.
    return this.#transaction(async (client): Promise<AliasWrite> => {
      const deleted = await client.query(`DELETE FROM aliases WHERE account_id = $1 AND alias_name = $2 AND target_key_id = $3`, [accountId, aliasName, expectedKeyId]);
      if (deleted.rowCount === 1) return "ok";
      const { rowCount } = await client.query(`SELECT 1 FROM aliases WHERE account_id = $1 AND alias_name = $2`, [accountId, aliasName]);
      return rowCount === 1 ? "moved" : "missing";
    });
  }

  async listAliases(accountId: string, keyId: string | undefined, after: string | undefined, limit: number): Promise<Page<AliasRecord>> {
    const rows =
      keyId === undefined
        ? await this.#rows<AliasRow>(
            `SELECT * FROM aliases WHERE account_id = $1 AND alias_name COLLATE "C" > $2 ORDER BY alias_name COLLATE "C" LIMIT $3`,
            [accountId, after ?? "", limit + 1],
          )
        : await this.#rows<AliasRow>(
            `SELECT * FROM aliases WHERE account_id = $1 AND target_key_id = $2 AND alias_name COLLATE "C" > $3 ORDER BY alias_name COLLATE "C" LIMIT $4`,
            [accountId, keyId, after ?? "", limit + 1],
          );
    return page(rows.map(toAlias), limit, (a) => a.aliasName);
  }

  async putTags(accountId: string, keyId: string, tags: readonly TagRecord[], maxTags: number): Promise<TagWrite> {
    return this.#transaction(async (client): Promise<TagWrite> => {
      // The key's row lock serializes every tag write of the key: the count below stays true.
      if ((await PostgresKeyStore.#lockKey(client, accountId, keyId)) === undefined) return "ok";
      const { rows } = await client.query<{ tag_key: string }>(`SELECT tag_key FROM key_tags WHERE key_id = $1`, [keyId]);
      const keys = new Set(rows.map((r) => r.tag_key));
      for (const tag of tags) keys.add(tag.key);
      if (keys.size > maxTags) return "limit";
      for (const tag of tags) {
        await client.query(
          `INSERT INTO key_tags (key_id, tag_key, tag_value) VALUES ($1, $2, $3) ON CONFLICT (key_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value`,
          [keyId, tag.key, tag.value],
        );
      }
      return "ok";
    });
  }

  async removeTags(accountId: string, keyId: string, tagKeys: readonly string[]): Promise<void> {
    await this.#transaction(async (client) => {
      if ((await PostgresKeyStore.#lockKey(client, accountId, keyId)) === undefined) return;
      await client.query(`DELETE FROM key_tags WHERE key_id = $1 AND tag_key = ANY($2::text[])`, [keyId, [...tagKeys]]);
    });
  }

  async listTags(accountId: string, keyId: string, after: string | undefined, limit: number): Promise<Page<TagRecord>> {
    const rows = await this.#rows<{ tag_key: string; tag_value: string }>(
      `SELECT t.tag_key, t.tag_value FROM key_tags t JOIN keys k ON k.key_id = t.key_id
       WHERE k.account_id = $1 AND t.key_id = $2 AND t.tag_key COLLATE "C" > $3 ORDER BY t.tag_key COLLATE "C" LIMIT $4`,
      [accountId, keyId, after ?? "", limit + 1],
    );
    return page(
      rows.map((r) => ({ key: r.tag_key, value: r.tag_value })),
      limit,
      (t) => t.key,
    );
  }

  async listVersions(accountId: string, keyId: string, after: string | undefined, limit: number): Promise<Page<KeyVersionRecord>> {
    const [createdAt, versionId] = parseVersionCursor(after);
    const rows = await this.#rows<VersionRow>(
      `SELECT * FROM key_versions WHERE account_id = $1 AND key_id = $2 AND (created_at > $3 OR (created_at = $3 AND version_id COLLATE "C" > $4))
       ORDER BY created_at, version_id COLLATE "C" LIMIT $5`,
      [accountId, keyId, createdAt, versionId, limit + 1],
    );
    return page(rows.map(toVersion), limit, versionCursor);
  }

  async addPrimaryVersion(write: NewPrimaryVersion): Promise<KeyRecord | undefined> {
    const { version, schedule } = write;
    return this.#transaction(async (client) => {
      const key = await PostgresKeyStore.#lockKey(client, version.accountId, version.keyId);
      if (key === undefined) return undefined;
      // Under the key's lock: a rotation for this period by another replica has moved the schedule.
      if (schedule !== undefined && (key.state !== KeyState.ENABLED || key.nextRotationAt?.getTime() !== schedule.expected.getTime())) return undefined;
      await PostgresKeyStore.#insertVersion(client, version);
      const nextRotationAt = schedule === undefined ? (key.nextRotationAt ?? null) : schedule.next;
      await client.query(`UPDATE keys SET primary_version_id = $3, next_rotation_at = $4 WHERE account_id = $1 AND key_id = $2`, [
        version.accountId,
        version.keyId,
        version.versionId,
        nextRotationAt,
      ]);
      return { ...key, primaryVersionId: version.versionId, nextRotationAt: nextRotationAt ?? undefined };
    });
  }

  async keysDueForRotation(now: Date, limit: number): Promise<readonly KeyRecord[]> {
    const rows = await this.#rows<KeyRow>(
      `SELECT * FROM keys WHERE next_rotation_at IS NOT NULL AND next_rotation_at <= $1 AND state = $2 ORDER BY next_rotation_at LIMIT $3`,
      [now, KeyState.ENABLED, limit],
    );
    return rows.map(toKey);
  }

  async keysDueForDeletion(now: Date, limit: number): Promise<readonly KeyRecord[]> {
    const rows = await this.#rows<KeyRow>(
      `SELECT * FROM keys WHERE deletion_date IS NOT NULL AND deletion_date <= $1 AND state = $2 ORDER BY deletion_date LIMIT $3`,
      [now, KeyState.PENDING_DELETION, limit],
    );
    return rows.map(toKey);
  }

  async keysWithExpiredMaterial(now: Date, limit: number): Promise<readonly KeyRecord[]> {
    const rows = await this.#rows<KeyRow>(
      `SELECT keys.* FROM keys JOIN key_versions ON key_versions.version_id = keys.primary_version_id
       WHERE keys.material_expires_at IS NOT NULL AND keys.material_expires_at <= $1 AND length(key_versions.wrapped_material) > 0
       ORDER BY keys.material_expires_at LIMIT $2`,
      [now, limit],
    );
    return rows.map(toKey);
  }

  async purgeKey(accountId: string, keyId: string, condition?: PurgeCondition): Promise<readonly string[]> {
    return this.#transaction(async (client): Promise<string[]> => {
      const key = await PostgresKeyStore.#lockKey(client, accountId, keyId);
      if (key === undefined || (condition !== undefined && !purgeDue(key, condition))) return [];
      const { rows } = await client.query<{ version_id: string }>(`SELECT version_id FROM key_versions WHERE key_id = $1`, [keyId]);
      await client.query(`DELETE FROM aliases WHERE target_key_id = $1`, [keyId]);
      await client.query(`DELETE FROM key_tags WHERE key_id = $1`, [keyId]);
      await client.query(`DELETE FROM import_tokens WHERE key_id = $1`, [keyId]);
      await client.query(`DELETE FROM key_versions WHERE key_id = $1`, [keyId]);
      await client.query(`DELETE FROM keys WHERE account_id = $1 AND key_id = $2`, [accountId, keyId]);
      return rows.map((r) => r.version_id);
    });
  }

  async putImportToken(t: ImportTokenRecord): Promise<void> {
    await this.#count(
      `INSERT INTO import_tokens (token_id, account_id, key_id, wrapping_algorithm, wrapping_key_spec, wrapped_private_key, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [t.tokenId, t.accountId, t.keyId, t.wrappingAlgorithm, t.wrappingKeySpec, t.wrappedPrivateKey, t.createdAt, t.expiresAt],
    );
  }

  async getImportToken(tokenId: string): Promise<ImportTokenRecord | undefined> {
    const rows = await this.#rows<ImportTokenRow>(`SELECT * FROM import_tokens WHERE token_id = $1`, [tokenId]);
    return rows[0] === undefined ? undefined : toImportToken(rows[0]);
  }

  async deleteExpiredImportTokens(now: Date): Promise<number> {
    return this.#count(`DELETE FROM import_tokens WHERE expires_at <= $1`, [now]);
  }

  async createExternalKeyStore(store: ExternalKeyStoreRecord): Promise<ExternalKeyStoreWrite> {
    const inserted = await this.#count(
      `INSERT INTO external_key_stores (${EXTERNAL_KEY_STORE_COLUMNS}) VALUES (${placeholders(15)}) ON CONFLICT DO NOTHING`,
      externalKeyStoreValues(store),
    );
    return inserted === 1 ? "ok" : "exists";
  }

  async getExternalKeyStore(accountId: string, externalKeyStoreId: string): Promise<ExternalKeyStoreRecord | undefined> {
    const rows = await this.#rows<ExternalKeyStoreRow>(`SELECT * FROM external_key_stores WHERE account_id = $1 AND external_key_store_id = $2`, [
      accountId,
      externalKeyStoreId,
    ]);
    return rows[0] === undefined ? undefined : toExternalKeyStore(rows[0]);
  }

  async listExternalKeyStores(accountId: string, after: string | undefined, limit: number): Promise<Page<ExternalKeyStoreRecord>> {
    const rows = await this.#rows<ExternalKeyStoreRow>(
      `SELECT * FROM external_key_stores WHERE account_id = $1 AND external_key_store_id COLLATE "C" > $2 ORDER BY external_key_store_id COLLATE "C" LIMIT $3`,
      [accountId, after ?? "", limit + 1],
    );
    return page(rows.map(toExternalKeyStore), limit, (s) => s.externalKeyStoreId);
  }

  async updateExternalKeyStore(accountId: string, externalKeyStoreId: string, patch: ExternalKeyStorePatch): Promise<ExternalKeyStoreWrite> {
    try {
      return await this.#transaction(async (client): Promise<ExternalKeyStoreWrite> => {
        const { rows } = await client.query<ExternalKeyStoreRow>(
          `SELECT * FROM external_key_stores WHERE account_id = $1 AND external_key_store_id = $2 FOR UPDATE`,
          [accountId, externalKeyStoreId],
        );
        if (rows[0] === undefined) return "missing";
        const defined = Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined));
        const next: ExternalKeyStoreRecord = { ...toExternalKeyStore(rows[0]), ...defined };
        await client.query(
          `UPDATE external_key_stores SET name = $3, endpoint = $4, uri_path = $5, access_key_id = $6, wrapped_secret_access_key = $7, tls_ca_pem = $8,
             tls_client_certificate_pem = $9, wrapped_tls_client_key = $10, tls_server_name = $11, connection_state = $12, connection_error_code = $13,
             updated_at = $14
           WHERE account_id = $2 AND external_key_store_id = $1`,
          [...externalKeyStoreValues(next).slice(0, 13), next.updatedAt],
        );
        return "ok";
      });
    } catch (error) {
      // The unique (account, name) index refuses a name another store of the account has.
      if (sqlState(error) === UNIQUE_VIOLATION) return "exists";
      throw error;
    }
  }

  async deleteExternalKeyStore(accountId: string, externalKeyStoreId: string): Promise<ExternalKeyStoreWrite> {
    try {
      return await this.#transaction(async (client): Promise<ExternalKeyStoreWrite> => {
        // The row lock conflicts with the key-share lock a concurrent key insert takes on it.
        const { rowCount } = await client.query(`SELECT 1 FROM external_key_stores WHERE account_id = $1 AND external_key_store_id = $2 FOR UPDATE`, [
          accountId,
          externalKeyStoreId,
        ]);
        if (rowCount !== 1) return "missing";
        const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM keys WHERE external_key_store_id = $1`, [externalKeyStoreId]);
        if ((rows[0]?.n ?? 0) > 0) return "in-use";
        await client.query(`DELETE FROM external_key_stores WHERE account_id = $1 AND external_key_store_id = $2`, [accountId, externalKeyStoreId]);
        return "ok";
      });
    } catch (error) {
      if (sqlState(error) === FOREIGN_KEY_VIOLATION) return "in-use";
      throw error;
    }
  }

  async close(): Promise<void> {
    if (this.#closePool) await this.#pool.end();
  }
}

function page<T>(rows: T[], limit: number, sortKey: (item: T) => string): Page<T> {
  if (rows.length <= limit) return { items: rows, next: undefined };
  const items = rows.slice(0, limit);
  return { items, next: sortKey(items[items.length - 1]!) };
}
