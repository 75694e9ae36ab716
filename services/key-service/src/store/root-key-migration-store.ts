// Storage for moving wrapped key material from one root key to another: every stored piece of
// wrapped material (key versions' material, import tokens' wrapping keys), listed in a stable
// order, and a conditional replace of one row (its own small transaction) that changes nothing
// when the row no longer holds what was read — a concurrent import or purge wins.
import type { SqliteDatabase } from "@keyhold/sqlite";
import { openSqliteDatabase } from "./sqlite-key-store.ts";

export type WrappedKind = "key-version" | "import-token";

export interface WrappedRow {
  readonly kind: WrappedKind;
  /** The version id, or the import token id. */
  readonly id: string;
  readonly accountId: string;
  readonly keyId: string;
  readonly wrapped: Buffer;
}

export interface RootKeyMigrationStore {
  /** Rows of `kind` with wrapped material, ordered by id, after `after`. */
  listWrapped(kind: WrappedKind, after: string, limit: number): readonly WrappedRow[];
  /** Replaces the row's material when it still is `expected`; false when it changed or is gone. */
  replaceWrapped(kind: WrappedKind, id: string, expected: Buffer, wrapped: Buffer, wrappedBy: string): boolean;
}

export class SqliteRootKeyMigrationStore implements RootKeyMigrationStore {
  readonly #db: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  listWrapped(kind: WrappedKind, after: string, limit: number): readonly WrappedRow[] {
    const sql =
      kind === "key-version"
        ? `SELECT version_id AS id, account_id, key_id, wrapped_material AS wrapped FROM key_versions
           WHERE version_id > ? AND length(wrapped_material) > 0 ORDER BY version_id LIMIT ?`
        : `SELECT token_id AS id, account_id, key_id, wrapped_private_key AS wrapped FROM import_tokens
           WHERE token_id > ? AND length(wrapped_private_key) > 0 ORDER BY token_id LIMIT ?`;
    const rows = this.#db.prepare<[string, number], { id: string; account_id: string; key_id: string; wrapped: Buffer }>(sql).all(after, limit);
    return rows.map((row) => ({ kind, id: row.id, accountId: row.account_id, keyId: row.key_id, wrapped: row.wrapped }));
  }

  replaceWrapped(kind: WrappedKind, id: string, expected: Buffer, wrapped: Buffer, wrappedBy: string): boolean {
    const run = this.#db.transaction((): boolean => {
      const result =
        kind === "key-version"
          ? this.#db
              .prepare(`UPDATE key_versions SET wrapped_material = ?, wrapped_by = ? WHERE version_id = ? AND wrapped_material = ?`)
              .run(wrapped, wrappedBy, id, expected)
          : this.#db.prepare(`UPDATE import_tokens SET wrapped_private_key = ? WHERE token_id = ? AND wrapped_private_key = ?`).run(wrapped, id, expected);
      return result.changes === 1;
    });
    return run();
  }
}

/** The migration store on key-service's SQLite database (migrated to the current schema). */
export function openRootKeyMigrationStore(databasePath: string): RootKeyMigrationStore & { close(): void } {
  const db = openSqliteDatabase(databasePath);
  const store = new SqliteRootKeyMigrationStore(db);
  return {
    listWrapped: (kind, after, limit) => store.listWrapped(kind, after, limit),
    replaceWrapped: (kind, id, expected, wrapped, wrappedBy) => store.replaceWrapped(kind, id, expected, wrapped, wrappedBy),
    close: () => db.close(),
  };
}
