// Storage for moving wrapped key material from one root key to another: every stored piece of
// wrapped material (key versions' material, import tokens' wrapping keys, external key stores'
// secret access keys and TLS client keys), listed in a stable order, and a conditional replace
// of one row (its own small transaction) that changes nothing when the row no longer holds what
// was read — a concurrent import or purge wins.
import type { SqliteDatabase } from "@keyhold/sqlite";
import { openSqliteDatabase } from "./sqlite-key-store.ts";

export type WrappedKind = "key-version" | "import-token" | "xks-secret-access-key" | "xks-tls-client-key";

export interface WrappedRow {
  readonly kind: WrappedKind;
  /** The version id, the import token id, or the external key store id. */
  readonly id: string;
  readonly accountId: string;
  /** "" for an external key store's secrets. */
  readonly keyId: string;
  readonly wrapped: Buffer;
}

export interface RootKeyMigrationStore {
  /** Rows of `kind` with wrapped material, ordered by id, after `after`. */
  listWrapped(kind: WrappedKind, after: string, limit: number): Promise<readonly WrappedRow[]>;
  /** Replaces the row's material when it still is `expected`; false when it changed or is gone. */
  replaceWrapped(kind: WrappedKind, id: string, expected: Buffer, wrapped: Buffer, wrappedBy: string): Promise<boolean>;
}

/** Where each kind of wrapped material lives (fixed identifiers, never input). */
export const WRAPPED_COLUMNS: Record<WrappedKind, { readonly table: string; readonly id: string; readonly column: string; readonly keyId: string }> = {
  "key-version": { table: "key_versions", id: "version_id", column: "wrapped_material", keyId: "key_id" },
  "import-token": { table: "import_tokens", id: "token_id", column: "wrapped_private_key", keyId: "key_id" },
  "xks-secret-access-key": { table: "external_key_stores", id: "external_key_store_id", column: "wrapped_secret_access_key", keyId: "''" },
  "xks-tls-client-key": { table: "external_key_stores", id: "external_key_store_id", column: "wrapped_tls_client_key", keyId: "''" },
};

export class SqliteRootKeyMigrationStore implements RootKeyMigrationStore {
  readonly #db: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  async listWrapped(kind: WrappedKind, after: string, limit: number): Promise<readonly WrappedRow[]> {
    const { table, id, column, keyId } = WRAPPED_COLUMNS[kind];
    const sql = `SELECT ${id} AS id, account_id, ${keyId} AS key_id, ${column} AS wrapped FROM ${table}
                 WHERE ${id} > ? AND length(${column}) > 0 ORDER BY ${id} LIMIT ?`;
    const rows = this.#db.prepare<[string, number], { id: string; account_id: string; key_id: string; wrapped: Buffer }>(sql).all(after, limit);
    return rows.map((row) => ({ kind, id: row.id, accountId: row.account_id, keyId: row.key_id, wrapped: row.wrapped }));
  }

  async replaceWrapped(kind: WrappedKind, id: string, expected: Buffer, wrapped: Buffer, wrappedBy: string): Promise<boolean> {
    const run = this.#db.transaction((): boolean => {
      if (kind === "key-version") {
        return (
          this.#db
            .prepare(`UPDATE key_versions SET wrapped_material = ?, wrapped_by = ? WHERE version_id = ? AND wrapped_material = ?`)
            .run(wrapped, wrappedBy, id, expected).changes === 1
        );
      }
      const { table, id: idColumn, column } = WRAPPED_COLUMNS[kind];
      return this.#db.prepare(`UPDATE ${table} SET ${column} = ? WHERE ${idColumn} = ? AND ${column} = ?`).run(wrapped, id, expected).changes === 1;
    });
    return run();
  }
}

/** The migration store on key-service's SQLite database (migrated to the current schema). */
export function openRootKeyMigrationStore(databasePath: string): RootKeyMigrationStore & { close(): Promise<void> } {
  const db = openSqliteDatabase(databasePath);
  const store = new SqliteRootKeyMigrationStore(db);
  return {
    listWrapped: (kind, after, limit) => store.listWrapped(kind, after, limit),
    replaceWrapped: (kind, id, expected, wrapped, wrappedBy) => store.replaceWrapped(kind, id, expected, wrapped, wrappedBy),
    close: async () => {
      db.close();
    },
  };
}
