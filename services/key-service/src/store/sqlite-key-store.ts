// KeyStore on better-sqlite3: WAL journal, synchronous=FULL (key material is fsynced on
// commit), prepared statements, one transaction per multi-row write.
import { openMigratedDatabase, type SqliteDatabase } from "@keyhold/sqlite";
import type { AliasWrite, CreateKeyOutcome, KeyPatch, KeyStore, NewKey, Page, TagWrite } from "./key-store.ts";
import { SQLITE_MIGRATIONS } from "./migrations.ts";
import type { AliasRecord, IdempotencyRecord, KeyRecord, KeyVersionRecord, TagRecord } from "./records.ts";

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
}

interface VersionRow {
  version_id: string;
  key_id: string;
  account_id: string;
  wrapped_material: Buffer;
  wrapped_by: string;
  created_at: number;
}

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
  deletionDate: row.deletion_date === null ? undefined : new Date(row.deletion_date),
});

const toVersion = (row: VersionRow): KeyVersionRecord => ({
  versionId: row.version_id,
  keyId: row.key_id,
  accountId: row.account_id,
  wrappedMaterial: row.wrapped_material,
  wrappedBy: row.wrapped_by,
  createdAt: new Date(row.created_at),
});

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
        `INSERT INTO keys (key_id, account_id, description, key_spec, key_usage, origin, key_manager, state, created_at, primary_version_id, deletion_date)
         VALUES (@key_id, @account_id, @description, @key_spec, @key_usage, @origin, @key_manager, @state, @created_at, @primary_version_id, @deletion_date)`,
      ),
      insertVersion: db.prepare(
        `INSERT INTO key_versions (version_id, key_id, account_id, wrapped_material, wrapped_by, created_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      getKey: db.prepare<[string, string], KeyRow>(`SELECT * FROM keys WHERE account_id = ? AND key_id = ?`),
      listKeys: db.prepare<[string, string, number], KeyRow>(
        `SELECT * FROM keys WHERE account_id = ? AND key_id > ? ORDER BY key_id LIMIT ?`,
      ),
      updateDescription: db.prepare(`UPDATE keys SET description = ? WHERE account_id = ? AND key_id = ?`),
      updateState: db.prepare(`UPDATE keys SET state = ? WHERE account_id = ? AND key_id = ?`),
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
    };
  }

  createKey(newKey: NewKey): CreateKeyOutcome {
    const { key, firstVersion, tags, idempotency } = newKey;
    return this.db.transaction((): CreateKeyOutcome => {
      if (idempotency !== undefined) {
        const previous = this.findIdempotency(key.accountId, idempotency.operation, idempotency.token);
        if (previous !== undefined) return { kind: "replayed", previous };
      }
      this.statements.insertKey.run({
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
      });
      this.statements.insertVersion.run(
        firstVersion.versionId,
        firstVersion.keyId,
        firstVersion.accountId,
        firstVersion.wrappedMaterial,
        firstVersion.wrappedBy,
        firstVersion.createdAt.getTime(),
      );
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

  findIdempotency(accountId: string, operation: string, token: string): IdempotencyRecord | undefined {
    const row = this.statements.findIdempotency.get(accountId, operation, token);
    return row === undefined ? undefined : { requestHash: row.request_hash, resourceId: row.resource_id };
  }

  getKey(accountId: string, keyId: string): KeyRecord | undefined {
    const row = this.statements.getKey.get(accountId, keyId);
    return row === undefined ? undefined : toKey(row);
  }

  listKeys(accountId: string, after: string | undefined, limit: number): Page<KeyRecord> {
    const rows = this.statements.listKeys.all(accountId, after ?? "", limit + 1);
    return page(rows.map(toKey), limit, (k) => k.keyId);
  }

  updateKey(accountId: string, keyId: string, patch: KeyPatch): KeyRecord | undefined {
    return this.db.transaction(() => {
      if (patch.description !== undefined) this.statements.updateDescription.run(patch.description, accountId, keyId);
      if (patch.state !== undefined) this.statements.updateState.run(patch.state, accountId, keyId);
      return this.getKey(accountId, keyId);
    }).immediate();
  }

  getVersion(versionId: string): KeyVersionRecord | undefined {
    const row = this.statements.getVersion.get(versionId);
    return row === undefined ? undefined : toVersion(row);
  }

  getAlias(accountId: string, aliasName: string): AliasRecord | undefined {
    const row = this.statements.getAlias.get(accountId, aliasName);
    return row === undefined ? undefined : toAlias(row);
  }

  createAlias(alias: AliasRecord): AliasWrite {
    const result = this.statements.insertAlias.run(
      alias.accountId,
      alias.aliasName,
      alias.targetKeyId,
      alias.createdAt.getTime(),
      alias.updatedAt.getTime(),
    );
    return result.changes === 1 ? "ok" : "exists";
  }

  updateAlias(accountId: string, aliasName: string, targetKeyId: string, at: Date): AliasWrite {
    const result = this.statements.updateAlias.run(targetKeyId, at.getTime(), accountId, aliasName);
    return result.changes === 1 ? "ok" : "missing";
  }

  deleteAlias(accountId: string, aliasName: string): AliasWrite {
    return this.statements.deleteAlias.run(accountId, aliasName).changes === 1 ? "ok" : "missing";
  }

  listAliases(accountId: string, keyId: string | undefined, after: string | undefined, limit: number): Page<AliasRecord> {
    const rows =
      keyId === undefined
        ? this.statements.listAliases.all(accountId, after ?? "", limit + 1)
        : this.statements.listAliasesOfKey.all(accountId, keyId, after ?? "", limit + 1);
    return page(rows.map(toAlias), limit, (a) => a.aliasName);
  }

  putTags(accountId: string, keyId: string, tags: readonly TagRecord[], maxTags: number): TagWrite {
    return this.db.transaction((): TagWrite => {
      if (this.getKey(accountId, keyId) === undefined) return "ok";
      const existing = new Set(this.statements.tagKeys.all(keyId).map((r) => r.tag_key));
      for (const tag of tags) existing.add(tag.key);
      if (existing.size > maxTags) return "limit";
      for (const tag of tags) this.statements.upsertTag.run(keyId, tag.key, tag.value);
      return "ok";
    }).immediate();
  }

  removeTags(accountId: string, keyId: string, tagKeys: readonly string[]): void {
    this.db.transaction(() => {
      if (this.getKey(accountId, keyId) === undefined) return;
      for (const tagKey of tagKeys) this.statements.deleteTag.run(keyId, tagKey);
    }).immediate();
  }

  listTags(accountId: string, keyId: string, after: string | undefined, limit: number): Page<TagRecord> {
    if (this.getKey(accountId, keyId) === undefined) return { items: [], next: undefined };
    const rows = this.statements.listTags.all(keyId, after ?? "", limit + 1);
    return page(
      rows.map((r) => ({ key: r.tag_key, value: r.tag_value })),
      limit,
      (t) => t.key,
    );
  }

  close(): void {
    this.db.close();
  }
}

function page<T>(rows: T[], limit: number, sortKey: (item: T) => string): Page<T> {
  if (rows.length <= limit) return { items: rows, next: undefined };
  const items = rows.slice(0, limit);
  return { items, next: sortKey(items[items.length - 1]!) };
}
