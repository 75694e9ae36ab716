// Versioned migrations for a service's schema. Each pending migration runs in its own
// transaction that first takes a transaction-scoped advisory lock for the schema, so replicas
// starting together apply each migration exactly once, in order; <schema>.schema_migrations
// records what ran. A database that has a migration this build does not know is refused: an
// older replica must not write into a schema it does not understand.
import { assertSchemaName, type PostgresPool } from "./pool.ts";
import { withTransaction } from "./transaction.ts";

export interface Migration {
  /** 1, 2, 3, ...: strictly increasing. */
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export interface MigrateResult {
  /** Versions this call applied (empty when the schema was already current). */
  readonly applied: readonly number[];
  /** The schema's version afterwards. */
  readonly version: number;
}

export class MigrationError extends Error {
  override readonly name = "MigrationError";
}

function checkMigrations(migrations: readonly Migration[]): void {
  let previous = 0;
  for (const migration of migrations) {
    if (!Number.isSafeInteger(migration.version) || migration.version <= previous) {
      throw new MigrationError(`migration ${migration.name}: version ${migration.version} must be an integer greater than ${previous}`);
    }
    previous = migration.version;
  }
}

export async function migrate(pool: PostgresPool, schema: string, migrations: readonly Migration[]): Promise<MigrateResult> {
  assertSchemaName(schema);
  checkMigrations(migrations);
  const known = migrations.at(-1)?.version ?? 0;
  const applied: number[] = [];
  // One transaction per migration (a failure keeps the ones before it); the first step, and
  // each later one, re-reads the recorded version under the lock.
  for (let index = 0; ; index++) {
    const outcome = await withTransaction(pool, async (client) => {
      // Another replica may hold the lock through a long migration: wait for it up to the
      // statement timeout, not the (shorter) lock timeout, which applies again to the DDL after.
      await client.query("SET LOCAL lock_timeout = 0");
      await client.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [`keyhold.migrate.${schema}`]);
      await client.query("SET LOCAL lock_timeout TO DEFAULT");
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await client.query(`SET LOCAL search_path TO ${schema}`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${schema}.schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
      );
      const { rows } = await client.query<{ version: number | null }>(`SELECT max(version) AS version FROM ${schema}.schema_migrations`);
      const current = rows[0]?.version ?? 0;
      if (current > known) {
        throw new MigrationError(`schema ${schema} is at version ${current}, newer than this build knows (${known})`);
      }
      const next = migrations.find((migration) => migration.version > current);
      if (next === undefined) return { done: true, version: current } as const;
      await client.query(next.sql);
      await client.query(`INSERT INTO ${schema}.schema_migrations (version, name) VALUES ($1, $2)`, [next.version, next.name]);
      return { done: false, version: next.version } as const;
    });
    if (outcome.done) return { applied, version: outcome.version };
    applied.push(outcome.version);
    if (index > migrations.length) throw new MigrationError(`schema ${schema}: migrations did not converge`);
  }
}
