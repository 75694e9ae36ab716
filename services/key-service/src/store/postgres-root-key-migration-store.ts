// The root key migration's storage on PostgreSQL: the same listing and conditional replace as
// the SQLite one. The replace is one UPDATE that matches the material read, so a concurrent
// import or purge on any replica wins and the migration counts the row as changed meanwhile.
import { classifyDatabaseError, type PostgresPool } from "@keyhold/postgres";
import { WRAPPED_COLUMNS, type RootKeyMigrationStore, type WrappedKind, type WrappedRow } from "./root-key-migration-store.ts";

export class PostgresRootKeyMigrationStore implements RootKeyMigrationStore {
  readonly #pool: PostgresPool;

  constructor(pool: PostgresPool) {
    this.#pool = pool;
  }

  async listWrapped(kind: WrappedKind, after: string, limit: number): Promise<readonly WrappedRow[]> {
    const { table, id, column, keyId } = WRAPPED_COLUMNS[kind];
    const sql = `SELECT ${id} AS id, account_id, ${keyId} AS key_id, ${column} AS wrapped FROM ${table}
                 WHERE ${id} COLLATE "C" > $1 AND length(${column}) > 0 ORDER BY ${id} COLLATE "C" LIMIT $2`;
    try {
      const { rows } = await this.#pool.query<{ id: string; account_id: string; key_id: string; wrapped: Buffer }>(sql, [after, limit]);
      return rows.map((row) => ({ kind, id: row.id, accountId: row.account_id, keyId: row.key_id, wrapped: row.wrapped }));
    } catch (error) {
      throw classifyDatabaseError(error);
    }
  }

  async replaceWrapped(kind: WrappedKind, id: string, expected: Buffer, wrapped: Buffer, wrappedBy: string): Promise<boolean> {
    try {
      if (kind === "key-version") {
        const result = await this.#pool.query(`UPDATE key_versions SET wrapped_material = $1, wrapped_by = $2 WHERE version_id = $3 AND wrapped_material = $4`, [
          wrapped,
          wrappedBy,
          id,
          expected,
        ]);
        return result.rowCount === 1;
      }
      const { table, id: idColumn, column } = WRAPPED_COLUMNS[kind];
      const result = await this.#pool.query(`UPDATE ${table} SET ${column} = $1 WHERE ${idColumn} = $2 AND ${column} = $3`, [wrapped, id, expected]);
      return result.rowCount === 1;
    } catch (error) {
      throw classifyDatabaseError(error);
    }
  }
}
