// For tests beside the code that need PostgreSQL: one throwaway server per test file (from
// @keyhold/postgres/testing), a fresh database per test, all dropped at the end, and a plain
// connection into the audit_service schema to look at or tamper with the tables.
import pg from "pg";
import { createTestDatabase, postgresBinDir, startPostgres, type TestDatabase, type TestPostgres } from "@keyhold/postgres/testing";
import { POSTGRES_SCHEMA } from "./config.ts";

/** The PostgreSQL server binaries, or undefined (the PostgreSQL tests are skipped, saying so). */
export const POSTGRES_BIN = postgresBinDir();

/** Why PostgreSQL tests are skipped (for node:test's skip option), or false. */
export const SKIP_POSTGRES: string | false = POSTGRES_BIN === undefined ? "PostgreSQL is not installed (apt-get install postgresql)" : false;

export interface PostgresFixture {
  readonly server: TestPostgres;
  /** A new empty database with its own login role. */
  database(): Promise<TestDatabase>;
  /** Drops the databases and stops the server. */
  stop(): Promise<void>;
}

export async function startPostgresFixture(): Promise<PostgresFixture> {
  if (POSTGRES_BIN === undefined) throw new Error("PostgreSQL is not installed");
  const server = await startPostgres(POSTGRES_BIN);
  const databases: TestDatabase[] = [];
  return {
    server,
    async database() {
      const database = await createTestDatabase(server);
      databases.push(database);
      return database;
    },
    async stop() {
      try {
        await server.resume();
        for (const database of databases) await database.drop().catch(() => undefined);
      } finally {
        await server.stop();
      }
    },
  };
}

/** Runs `fn` on a plain connection to `url` with the audit_service schema as search path, in one transaction. */
export async function withSql<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, options: `-c search_path=${POSTGRES_SCHEMA}` });
  await client.connect();
  try {
    await client.query("BEGIN");
    const result = await fn(client);
    await client.query("COMMIT");
    return result;
  } finally {
    await client.end();
  }
}
