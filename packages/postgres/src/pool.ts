// The pg pool a service's store uses: every connection's search_path is the service's own
// schema (so services never read each other's tables and SQL stays unqualified), with timeouts
// that make a dead or unreachable database fail a call within seconds instead of hanging it:
// a connect timeout, a server-side statement timeout, a lock timeout below it (a row lock held
// by a stuck replica fails the waiting call as unavailable instead of using up its whole
// statement timeout), a client-side query timeout a little longer than the statement timeout
// (for a server that no longer answers at all), TCP keepalive, and a cap on idle open
// transactions. Connection errors of idle or checked-out clients are logged, never thrown at the
// process.
import type { Logger } from "@keyhold/server-kit";
import pg from "pg";

export type PostgresPool = pg.Pool;
export type PostgresClient = pg.PoolClient;

export interface PostgresPoolOptions {
  /** The service's schema, e.g. `policy_service`: lower-case letters, digits and `_`. */
  readonly schema: string;
  /** Most connections this replica opens (default 10). */
  readonly maxConnections?: number;
  /** Server-side statement_timeout (default 10 s); the client gives up 2 s later. */
  readonly statementTimeoutMs?: number;
  /** Server-side lock_timeout: the longest a statement waits for a lock (default 5 s, never above the statement timeout). */
  readonly lockTimeoutMs?: number;
  /** How long to wait for a connection, new or from the pool (default 5 s). */
  readonly connectTimeoutMs?: number;
  /** application_name, seen in pg_stat_activity (default `keyhold`). */
  readonly applicationName?: string;
  /** Where pool and connection errors go (default: dropped). */
  readonly logger?: Logger;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Throws unless `schema` is a plain lower-case identifier (it is interpolated into SQL). */
export function assertSchemaName(schema: string): void {
  if (!SCHEMA_NAME.test(schema)) throw new Error(`invalid schema name ${JSON.stringify(schema)}: lower-case letters, digits and _`);
}

export function createPostgresPool(url: string, options: PostgresPoolOptions): PostgresPool {
  assertSchemaName(options.schema);
  const statementTimeoutMs = options.statementTimeoutMs ?? 10_000;
  const connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  const lockTimeoutMs = Math.min(options.lockTimeoutMs ?? 5_000, statementTimeoutMs);
  const pool = new pg.Pool({
    connectionString: url,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    statement_timeout: statementTimeoutMs,
    lock_timeout: lockTimeoutMs,
    query_timeout: statementTimeoutMs + 2_000,
    idle_in_transaction_session_timeout: Math.max(statementTimeoutMs * 3, 30_000),
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    application_name: options.applicationName ?? "keyhold",
    // A startup parameter: in force from the first statement of every connection.
    options: `-c search_path=${options.schema}`,
  });
  const logger = options.logger;
  const report = (where: string) => (error: Error) =>
    logger?.warn(`postgres ${where} error`, { schema: options.schema, code: (error as { code?: string }).code, error: error.message });
  // Idle clients: the pool removes them and emits here; without a listener the process would die.
  pool.on("error", report("idle connection"));
  // Checked-out clients get no listener from the pool: one that loses its connection between
  // queries would otherwise emit an unhandled 'error'. The failed query itself rejects as usual.
  pool.on("connect", (client) => client.on("error", report("connection")));
  return pool;
}
