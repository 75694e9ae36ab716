// KeyStore on better-sqlite3: WAL journal, synchronous=FULL (key material is fsynced on
// commit), prepared statements, one transaction per multi-row write.
import { openMigratedDatabase, type SqliteDatabase } from "@keyhold/sqlite";
import type {
  AliasWrite, CreateKeyOutcome, ExternalKeyStorePatch, ExternalKeyStoreWrite, KeyChange, KeyPatch, KeyStore, NewKey, NewPrimaryVersion, Page, PurgeCondition, TagWrite,
} from "./key-store.ts";
import { KeyState } from "@keyhold/proto";
import { applyPatch, purgeDue } from "./key-patch.ts";
import { SQLITE_MIGRATIONS } from "./migrations.ts";
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
  created_at: number;
  primary_version_id: string;
  deletion_date: number | null;
  rotation_period_days: number;
  next_rotation_at: number | null;
  deletion_protection: number;
  material_expires_at: number | null;
  imported_material_digest: Buffer | null;
  external_key_store_id: string | null;
  xks_key_id: string | null;
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
  created_at: number;
  updated_at: number;
}

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
  createdAt: new Date(row.created_at),
  updatedAt: new Date(row.updated_at),
});

const externalKeyStoreRow = (store: ExternalKeyStoreRecord): ExternalKeyStoreRow => ({
  external_key_store_id: store.externalKeyStoreId,
  account_id: store.accountId,
  name: store.name,
  endpoint: store.endpoint,
  uri_path: store.uriPath,
  access_key_id: store.accessKeyId,
  wrapped_secret_access_key: store.wrappedSecretAccessKey,
  tls_ca_pem: store.tlsCaPem,
  tls_client_certificate_pem: store.tlsClientCertificatePem,
  wrapped_tls_client_key: store.wrappedTlsClientKey,
  tls_server_name: store.tlsServerName,
  connection_state: store.connectionState,
  connection_error_code: store.connectionErrorCode,
  created_at: store.createdAt.getTime(),
  updated_at: store.updatedAt.getTime(),
});

interface VersionRow {
  version_id: string;
  key_id: string;
  account_id: string;
  wrapped_material: Buffer;
  wrapped_by: string;
  created_at: number;
  source: number;
  public_key: Buffer | null;
}

interface ImportTokenRow {
  token_id: string;
  account_id: string;
  key_id: string;
  wrapping_algorithm: number;
  wrapping_key_spec: number;
  wrapped_private_key: Buffer;
  created_at: number;
  expires_at: number;
}

const optionalDate = (ms: number | null): Date | undefined => (ms === null ? undefined : new Date(ms));

interface AliasRow {
  account_id: string;
  alias_name: string;
  target_key_id: string;
  created_at: number;
  updated_at: number;
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
  createdAt: new Date(row.created_at),
  primaryVersionId: row.primary_version_id,
  deletionDate: optionalDate(row.deletion_date),
  rotationPeriodDays: row.rotation_period_days,
  nextRotationAt: optionalDate(row.next_rotation_at),
  deletionProtection: row.deletion_protection !== 0,
  materialExpiresAt: optionalDate(row.material_expires_at),
  importedMaterialDigest: row.imported_material_digest ?? undefined,
  externalKey:
    row.external_key_store_id === null || row.xks_key_id === null ? undefined : { externalKeyStoreId: row.external_key_store_id, xksKeyId: row.xks_key_id },
});

const keyRow = (key: KeyRecord): KeyRow => ({
  key_id: key.keyId,
  account_id: key.accountId,
  description: key.description,
  key_spec: key.keySpec,
  key_usage: key.keyUsage,
  origin: key.origin,
  key_manager: key.keyManager,
  state: key.state,
  created_at: key.createdAt.getTime(),
  primary_version_id: key.primaryVersionId,
  deletion_date: key.deletionDate?.getTime() ?? null,
  rotation_period_days: key.rotationPeriodDays,
  next_rotation_at: key.nextRotationAt?.getTime() ?? null,
  deletion_protection: key.deletionProtection ? 1 : 0,
  material_expires_at: key.materialExpiresAt?.getTime() ?? null,
  imported_material_digest: key.importedMaterialDigest ?? null,
  external_key_store_id: key.externalKey?.externalKeyStoreId ?? null,
  xks_key_id: key.externalKey?.xksKeyId ?? null,
});

const toVersion = (row: VersionRow): KeyVersionRecord => ({
  versionId: row.version_id,
  keyId: row.key_id,
  accountId: row.account_id,
  wrappedMaterial: row.wrapped_material,
  wrappedBy: row.wrapped_by,
  createdAt: new Date(row.created_at),
  source: row.source,
  publicKey: row.public_key ?? undefined,
});

const toImportToken = (row: ImportTokenRow): ImportTokenRecord => ({
  tokenId: row.token_id,
  accountId: row.account_id,
  keyId: row.key_id,
  wrappingAlgorithm: row.wrapping_algorithm,
  wrappingKeySpec: row.wrapping_key_spec,
  wrappedPrivateKey: row.wrapped_private_key,
  createdAt: new Date(row.created_at),
  expiresAt: new Date(row.expires_at),
});

/** List cursor for versions: creation time (fixed width) and version id. */
const versionCursor = (v: KeyVersionRecord) => `${String(v.createdAt.getTime()).padStart(16, "0")}/${v.versionId}`;
function parseVersionCursor(cursor: string | undefined): [number, string] {
  if (cursor === undefined) return [-1, ""];
  const slash = cursor.indexOf("/");
  return [Number(cursor.slice(0, slash)), cursor.slice(slash + 1)];
}

const toAlias = (row: AliasRow): AliasRecord => ({
  accountId: row.account_id,
  aliasName: row.alias_name,
  targetKeyId: row.target_key_id,
  createdAt: new Date(row.created_at),
  updatedAt: new Date(row.updated_at),
});

/** Opens (creating and migrating as needed) this service's database file, or ":memory:". */
export function openSqliteDatabase(path: string): SqliteDatabase {
  return openMigratedDatabase(path, SQLITE_MIGRATIONS);
}

export class SqliteKeyStore implements KeyStore {
  private readonly db: SqliteDatabase;
  private readonly statements;

  constructor(db: SqliteDatabase) {
    this.db = db;
    this.statements = {
      insertKey: db.prepare(
        `INSERT INTO keys (key_id, account_id, description, key_spec, key_usage, origin, key_manager, state, created_at, primary_version_id, deletion_date,
                           rotation_period_days, next_rotation_at, deletion_protection, material_expires_at, imported_material_digest,
                           external_key_store_id, xks_key_id)
         VALUES (@key_id, @account_id, @description, @key_spec, @key_usage, @origin, @key_manager, @state, @created_at, @primary_version_id, @deletion_date,
                 @rotation_period_days, @next_rotation_at, @deletion_protection, @material_expires_at, @imported_material_digest,
                 @external_key_store_id, @xks_key_id)`,
      ),
      insertVersion: db.prepare(
        `INSERT INTO key_versions (version_id, key_id, account_id, wrapped_material, wrapped_by, created_at, source, public_key)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      getKey: db.prepare<[string, string], KeyRow>(`SELECT * FROM keys WHERE account_id = ? AND key_id = ?`),
      listKeys: db.prepare<[string, string, number], KeyRow>(
        `SELECT * FROM keys WHERE account_id = ? AND key_id > ? ORDER BY key_id LIMIT ?`,
      ),
      updateKey: db.prepare(
        `UPDATE keys SET description = @description, state = @state, deletion_date = @deletion_date, rotation_period_days = @rotation_period_days,
           next_rotation_at = @next_rotation_at, deletion_protection = @deletion_protection, material_expires_at = @material_expires_at,
           imported_material_digest = @imported_material_digest
         WHERE account_id = @account_id AND key_id = @key_id`,
      ),
      setPrimary: db.prepare(`UPDATE keys SET primary_version_id = ? WHERE account_id = ? AND key_id = ?`),
      setPrimaryOnSchedule: db.prepare(
        `UPDATE keys SET primary_version_id = ?, next_rotation_at = ? WHERE account_id = ? AND key_id = ? AND next_rotation_at = ? AND state = ?`,
      ),
      listVersions: db.prepare<[string, string, number, number, string, number], VersionRow>(
        `SELECT * FROM key_versions WHERE account_id = ? AND key_id = ? AND (created_at > ? OR (created_at = ? AND version_id > ?))
         ORDER BY created_at, version_id LIMIT ?`,
      ),
      setVersionMaterial: db.prepare(`UPDATE key_versions SET wrapped_material = ? WHERE version_id = ?`),
      dueForRotation: db.prepare<[number, number, number], KeyRow>(
        `SELECT * FROM keys WHERE next_rotation_at IS NOT NULL AND next_rotation_at <= ? AND state = ? ORDER BY next_rotation_at LIMIT ?`,
      ),
      dueForDeletion: db.prepare<[number, number, number], KeyRow>(
        `SELECT * FROM keys WHERE deletion_date IS NOT NULL AND deletion_date <= ? AND state = ? ORDER BY deletion_date LIMIT ?`,
      ),
      expiredMaterial: db.prepare<[number, number], KeyRow>(
        `SELECT keys.* FROM keys JOIN key_versions ON key_versions.version_id = keys.primary_version_id
         WHERE keys.material_expires_at IS NOT NULL AND keys.material_expires_at <= ? AND length(key_versions.wrapped_material) > 0
         ORDER BY keys.material_expires_at LIMIT ?`,
      ),
      versionIdsOfKey: db.prepare<[string], { version_id: string }>(`SELECT version_id FROM key_versions WHERE key_id = ?`),
      purgeAliases: db.prepare(`DELETE FROM aliases WHERE target_key_id = ?`),
      purgeTags: db.prepare(`DELETE FROM key_tags WHERE key_id = ?`),
      purgeImportTokens: db.prepare(`DELETE FROM import_tokens WHERE key_id = ?`),
      purgeVersions: db.prepare(`DELETE FROM key_versions WHERE key_id = ?`),
      purgeKey: db.prepare(`DELETE FROM keys WHERE account_id = ? AND key_id = ?`),
      insertImportToken: db.prepare(
        `INSERT INTO import_tokens (token_id, account_id, key_id, wrapping_algorithm, wrapping_key_spec, wrapped_private_key, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      getImportToken: db.prepare<[string], ImportTokenRow>(`SELECT * FROM import_tokens WHERE token_id = ?`),
      deleteExpiredImportTokens: db.prepare(`DELETE FROM import_tokens WHERE expires_at <= ?`),
      getVersion: db.prepare<[string], VersionRow>(`SELECT * FROM key_versions WHERE version_id = ?`),
      findIdempotency: db.prepare<[string, string, string], { request_hash: string; resource_id: string }>(
        `SELECT request_hash, resource_id FROM idempotency WHERE account_id = ? AND operation = ? AND token = ?`,
      ),
      insertIdempotency: db.prepare(
        `INSERT INTO idempotency (account_id, operation, token, request_hash, resource_id, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      getAlias: db.prepare<[string, string], AliasRow>(`SELECT * FROM aliases WHERE account_id = ? AND alias_name = ?`),
      insertAlias: db.prepare(
        `INSERT INTO aliases (account_id, alias_name, target_key_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT DO NOTHING`,
      ),
      updateAlias: db.prepare(`UPDATE aliases SET target_key_id = ?, updated_at = ? WHERE account_id = ? AND alias_name = ?`),
      deleteAlias: db.prepare(`DELETE FROM aliases WHERE account_id = ? AND alias_name = ?`),
      keyExists: db.prepare<[string, string], { one: number }>(`SELECT 1 AS one FROM keys WHERE account_id = ? AND key_id = ?`),
      listAliases: db.prepare<[string, string, number], AliasRow>(
        `SELECT * FROM aliases WHERE account_id = ? AND alias_name > ? ORDER BY alias_name LIMIT ?`,
      ),
      listAliasesOfKey: db.prepare<[string, string, string, number], AliasRow>(
        `SELECT * FROM aliases WHERE account_id = ? AND target_key_id = ? AND alias_name > ? ORDER BY alias_name LIMIT ?`,
      ),
      upsertTag: db.prepare(
        `INSERT INTO key_tags (key_id, tag_key, tag_value) VALUES (?, ?, ?)
         ON CONFLICT (key_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value`,
      ),
      deleteTag: db.prepare(`DELETE FROM key_tags WHERE key_id = ? AND tag_key = ?`),
      tagKeys: db.prepare<[string], { tag_key: string }>(`SELECT tag_key FROM key_tags WHERE key_id = ?`),
      listTags: db.prepare<[string, string, number], { tag_key: string; tag_value: string }>(
        `SELECT tag_key, tag_value FROM key_tags WHERE key_id = ? AND tag_key > ? ORDER BY tag_key LIMIT ?`,
      ),
      insertExternalKeyStore: db.prepare(
        `INSERT INTO external_key_stores (external_key_store_id, account_id, name, endpoint, uri_path, access_key_id, wrapped_secret_access_key, tls_ca_pem,
           tls_client_certificate_pem, wrapped_tls_client_key, tls_server_name, connection_state, connection_error_code, created_at, updated_at)
         VALUES (@external_key_store_id, @account_id, @name, @endpoint, @uri_path, @access_key_id, @wrapped_secret_access_key, @tls_ca_pem,
           @tls_client_certificate_pem, @wrapped_tls_client_key, @tls_server_name, @connection_state, @connection_error_code, @created_at, @updated_at)
         ON CONFLICT DO NOTHING`,
      ),
      getExternalKeyStore: db.prepare<[string, string], ExternalKeyStoreRow>(
        `SELECT * FROM external_key_stores WHERE account_id = ? AND external_key_store_id = ?`,
      ),
      externalKeyStoreByName: db.prepare<[string, string], ExternalKeyStoreRow>(`SELECT * FROM external_key_stores WHERE account_id = ? AND name = ?`),
      listExternalKeyStores: db.prepare<[string, string, number], ExternalKeyStoreRow>(
        `SELECT * FROM external_key_stores WHERE account_id = ? AND external_key_store_id > ? ORDER BY external_key_store_id LIMIT ?`,
      ),
      replaceExternalKeyStore: db.prepare(
        `UPDATE external_key_stores SET name = @name, endpoint = @endpoint, uri_path = @uri_path, access_key_id = @access_key_id,
           wrapped_secret_access_key = @wrapped_secret_access_key, tls_ca_pem = @tls_ca_pem, tls_client_certificate_pem = @tls_client_certificate_pem,
           wrapped_tls_client_key = @wrapped_tls_client_key, tls_server_name = @tls_server_name, connection_state = @connection_state,
           connection_error_code = @connection_error_code, updated_at = @updated_at
         WHERE account_id = @account_id AND external_key_store_id = @external_key_store_id`,
      ),
      keysInExternalKeyStore: db.prepare<[string], { n: number }>(`SELECT count(*) AS n FROM keys WHERE external_key_store_id = ?`),
      deleteExternalKeyStore: db.prepare(`DELETE FROM external_key_stores WHERE account_id = ? AND external_key_store_id = ?`),
    };
  }

  async createExternalKeyStore(store: ExternalKeyStoreRecord): Promise<ExternalKeyStoreWrite> {
    return this.statements.insertExternalKeyStore.run(externalKeyStoreRow(store)).changes === 1 ? "ok" : "exists";
  }

  async getExternalKeyStore(accountId: string, externalKeyStoreId: string): Promise<ExternalKeyStoreRecord | undefined> {
    const row = this.statements.getExternalKeyStore.get(accountId, externalKeyStoreId);
    return row === undefined ? undefined : toExternalKeyStore(row);
  }

  async listExternalKeyStores(accountId: string, after: string | undefined, limit: number): Promise<Page<ExternalKeyStoreRecord>> {
    const rows = this.statements.listExternalKeyStores.all(accountId, after ?? "", limit + 1);
    return page(rows.map(toExternalKeyStore), limit, (s) => s.externalKeyStoreId);
  }

  async updateExternalKeyStore(accountId: string, externalKeyStoreId: string, patch: ExternalKeyStorePatch): Promise<ExternalKeyStoreWrite> {
    return this.db.transaction((): ExternalKeyStoreWrite => {
      const current = this.#externalKeyStore(accountId, externalKeyStoreId);
      if (current === undefined) return "missing";
      if (patch.name !== undefined && patch.name !== current.name) {
        if (this.statements.externalKeyStoreByName.get(accountId, patch.name) !== undefined) return "exists";
      }
      const defined = Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined));
      this.statements.replaceExternalKeyStore.run(externalKeyStoreRow({ ...current, ...defined }));
      return "ok";
    }).immediate();
  }

  async deleteExternalKeyStore(accountId: string, externalKeyStoreId: string): Promise<ExternalKeyStoreWrite> {
    return this.db.transaction((): ExternalKeyStoreWrite => {
      if (this.#externalKeyStore(accountId, externalKeyStoreId) === undefined) return "missing";
      if (this.statements.keysInExternalKeyStore.get(externalKeyStoreId)!.n > 0) return "in-use";
      this.statements.deleteExternalKeyStore.run(accountId, externalKeyStoreId);
      return "ok";
    }).immediate();
  }

  async createKey(newKey: NewKey): Promise<CreateKeyOutcome> {
    const { key, firstVersion, tags, idempotency } = newKey;
    return this.db.transaction((): CreateKeyOutcome => {
      if (idempotency !== undefined) {
        const previous = this.#idempotency(key.accountId, idempotency.operation, idempotency.token);
        if (previous !== undefined) return { kind: "replayed", previous };
      }
      this.statements.insertKey.run(keyRow(key));
      this.insertVersion(firstVersion);
      for (const tag of tags) this.statements.upsertTag.run(key.keyId, tag.key, tag.value);
      if (idempotency !== undefined) {
        this.statements.insertIdempotency.run(
          key.accountId,
          idempotency.operation,
          idempotency.token,
          idempotency.requestHash,
          key.keyId,
          key.createdAt.getTime(),
        );
      }
      return { kind: "created", key };
    }).immediate();
  }

  async findIdempotency(accountId: string, operation: string, token: string): Promise<IdempotencyRecord | undefined> {
    const row = this.statements.findIdempotency.get(accountId, operation, token);
    return row === undefined ? undefined : { requestHash: row.request_hash, resourceId: row.resource_id };
  }

  #key(accountId: string, keyId: string): KeyRecord | undefined {
    const row = this.statements.getKey.get(accountId, keyId);
    return row === undefined ? undefined : toKey(row);
  }

  #idempotency(accountId: string, operation: string, token: string): IdempotencyRecord | undefined {
    const row = this.statements.findIdempotency.get(accountId, operation, token);
    return row === undefined ? undefined : { requestHash: row.request_hash, resourceId: row.resource_id };
  }

  #externalKeyStore(accountId: string, externalKeyStoreId: string): ExternalKeyStoreRecord | undefined {
    const row = this.statements.getExternalKeyStore.get(accountId, externalKeyStoreId);
    return row === undefined ? undefined : toExternalKeyStore(row);
  }

  async getKey(accountId: string, keyId: string): Promise<KeyRecord | undefined> {
    const row = this.statements.getKey.get(accountId, keyId);
    return row === undefined ? undefined : toKey(row);
  }

  async listKeys(accountId: string, after: string | undefined, limit: number): Promise<Page<KeyRecord>> {
    const rows = this.statements.listKeys.all(accountId, after ?? "", limit + 1);
    return page(rows.map(toKey), limit, (k) => k.keyId);
  }

  async updateKey(accountId: string, keyId: string, change: KeyPatch | KeyChange): Promise<KeyRecord | undefined> {
    return this.db.transaction((): KeyRecord | undefined => {
      const current = this.#key(accountId, keyId);
      if (current === undefined) return undefined;
      const patch = typeof change === "function" ? change(current) : change;
      if (patch === undefined) return current;
      const next = applyPatch(current, patch);
      this.statements.updateKey.run(keyRow(next));
      if (patch.primaryVersionMaterial !== undefined) this.statements.setVersionMaterial.run(patch.primaryVersionMaterial, current.primaryVersionId);
      return next;
    }).immediate();
  }

  private insertVersion(version: KeyVersionRecord): void {
    this.statements.insertVersion.run(
      version.versionId,
      version.keyId,
      version.accountId,
      version.wrappedMaterial,
      version.wrappedBy,
      version.createdAt.getTime(),
      version.source,
      version.publicKey ?? null,
    );
  }

  async listVersions(accountId: string, keyId: string, after: string | undefined, limit: number): Promise<Page<KeyVersionRecord>> {
    const [createdAt, versionId] = parseVersionCursor(after);
    const rows = this.statements.listVersions.all(accountId, keyId, createdAt, createdAt, versionId, limit + 1);
    return page(rows.map(toVersion), limit, versionCursor);
  }

  async addPrimaryVersion(write: NewPrimaryVersion): Promise<KeyRecord | undefined> {
    const { version, schedule } = write;
    const run = this.db.transaction((): KeyRecord | undefined => {
      const key = this.#key(version.accountId, version.keyId);
      if (key === undefined) return undefined;
      this.insertVersion(version);
      const changes =
        schedule === undefined
          ? this.statements.setPrimary.run(version.versionId, version.accountId, version.keyId).changes
          : this.statements.setPrimaryOnSchedule.run(
              version.versionId,
              schedule.next.getTime(),
              version.accountId,
              version.keyId,
              schedule.expected.getTime(),
              KeyState.ENABLED,
            ).changes;
      if (changes !== 1) throw new ScheduleMoved();
      return this.#key(version.accountId, version.keyId);
    });
    try {
      return run.immediate();
    } catch (error) {
      if (error instanceof ScheduleMoved) return undefined;
      throw error;
    }
  }


  async keysDueForRotation(now: Date, limit: number): Promise<readonly KeyRecord[]> {
    return this.statements.dueForRotation.all(now.getTime(), KeyState.ENABLED, limit).map(toKey);
  }

  async keysDueForDeletion(now: Date, limit: number): Promise<readonly KeyRecord[]> {
    return this.statements.dueForDeletion.all(now.getTime(), KeyState.PENDING_DELETION, limit).map(toKey);
  }

  async keysWithExpiredMaterial(now: Date, limit: number): Promise<readonly KeyRecord[]> {
    return this.statements.expiredMaterial.all(now.getTime(), limit).map(toKey);
  }

  async purgeKey(accountId: string, keyId: string, condition?: PurgeCondition): Promise<readonly string[]> {
    return this.db.transaction((): string[] => {
      const key = this.#key(accountId, keyId);
      if (key === undefined || (condition !== undefined && !purgeDue(key, condition))) return [];
      const versionIds = this.statements.versionIdsOfKey.all(keyId).map((r) => r.version_id);
      this.statements.purgeAliases.run(keyId);
      this.statements.purgeTags.run(keyId);
      this.statements.purgeImportTokens.run(keyId);
      this.statements.purgeVersions.run(keyId);
      this.statements.purgeKey.run(accountId, keyId);
      return versionIds;
    }).immediate();
  }

  async putImportToken(token: ImportTokenRecord): Promise<void> {
    this.statements.insertImportToken.run(
      token.tokenId,
      token.accountId,
      token.keyId,
      token.wrappingAlgorithm,
      token.wrappingKeySpec,
      token.wrappedPrivateKey,
      token.createdAt.getTime(),
      token.expiresAt.getTime(),
    );
  }

  async getImportToken(tokenId: string): Promise<ImportTokenRecord | undefined> {
    const row = this.statements.getImportToken.get(tokenId);
    return row === undefined ? undefined : toImportToken(row);
  }

  async deleteExpiredImportTokens(now: Date): Promise<number> {
    return this.statements.deleteExpiredImportTokens.run(now.getTime()).changes;
  }

  async getVersion(versionId: string): Promise<KeyVersionRecord | undefined> {
    const row = this.statements.getVersion.get(versionId);
    return row === undefined ? undefined : toVersion(row);
  }

  async getAlias(accountId: string, aliasName: string): Promise<AliasRecord | undefined> {
    const row = this.statements.getAlias.get(accountId, aliasName);
    return row === undefined ? undefined : toAlias(row);
  }

  async createAlias(alias: AliasRecord): Promise<AliasWrite> {
    return this.db.transaction((): AliasWrite => {
      if (this.statements.keyExists.get(alias.accountId, alias.targetKeyId) === undefined) return "missing";
      const result = this.statements.insertAlias.run(alias.accountId, alias.aliasName, alias.targetKeyId, alias.createdAt.getTime(), alias.updatedAt.getTime());
      return result.changes === 1 ? "ok" : "exists";
    }).immediate();
  }

  async updateAlias(accountId: string, aliasName: string, targetKeyId: string, at: Date, expectedKeyId?: string): Promise<AliasWrite> {
    return this.db.transaction((): AliasWrite => {
      const current = this.statements.getAlias.get(accountId, aliasName);
      if (current === undefined) return "missing";
      if (expectedKeyId !== undefined && current.target_key_id !== expectedKeyId) return "moved";
      if (this.statements.keyExists.get(accountId, targetKeyId) === undefined) return "missing";
      this.statements.updateAlias.run(targetKeyId, at.getTime(), accountId, aliasName);
      return "ok";
    }).immediate();
  }

  async deleteAlias(accountId: string, aliasName: string, expectedKeyId?: string): Promise<AliasWrite> {
    return this.db.transaction((): AliasWrite => {
      const current = this.statements.getAlias.get(accountId, aliasName);
      if (current === undefined) return "missing";
      if (expectedKeyId !== undefined && current.target_key_id !== expectedKeyId) return "moved";
      this.statements.deleteAlias.run(accountId, aliasName);
      return "ok";
    }).immediate();
  }

  async listAliases(accountId: string, keyId: string | undefined, after: string | undefined, limit: number): Promise<Page<AliasRecord>> {
    const rows =
      keyId === undefined
        ? this.statements.listAliases.all(accountId, after ?? "", limit + 1)
        : this.statements.listAliasesOfKey.all(accountId, keyId, after ?? "", limit + 1);
    return page(rows.map(toAlias), limit, (a) => a.aliasName);
  }

  async putTags(accountId: string, keyId: string, tags: readonly TagRecord[], maxTags: number): Promise<TagWrite> {
    return this.db.transaction((): TagWrite => {
      if (this.#key(accountId, keyId) === undefined) return "ok";
      const existing = new Set(this.statements.tagKeys.all(keyId).map((r) => r.tag_key));
      for (const tag of tags) existing.add(tag.key);
      if (existing.size > maxTags) return "limit";
      for (const tag of tags) this.statements.upsertTag.run(keyId, tag.key, tag.value);
      return "ok";
    }).immediate();
  }

  async removeTags(accountId: string, keyId: string, tagKeys: readonly string[]): Promise<void> {
    this.db.transaction(() => {
      if (this.#key(accountId, keyId) === undefined) return;
      for (const tagKey of tagKeys) this.statements.deleteTag.run(keyId, tagKey);
    }).immediate();
  }

  async listTags(accountId: string, keyId: string, after: string | undefined, limit: number): Promise<Page<TagRecord>> {
    if (this.#key(accountId, keyId) === undefined) return { items: [], next: undefined };
    const rows = this.statements.listTags.all(keyId, after ?? "", limit + 1);
    return page(
      rows.map((r) => ({ key: r.tag_key, value: r.tag_value })),
      limit,
      (t) => t.key,
    );
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

/** Thrown inside addPrimaryVersion's transaction to roll it back when the schedule moved. */
class ScheduleMoved extends Error {}

function page<T>(rows: T[], limit: number, sortKey: (item: T) => string): Page<T> {
  if (rows.length <= limit) return { items: rows, next: undefined };
  const items = rows.slice(0, limit);
  return { items, next: sortKey(items[items.length - 1]!) };
}
