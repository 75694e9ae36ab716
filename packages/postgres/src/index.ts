export { assertSchemaName, createPostgresPool } from "./pool.ts";
export type { PostgresClient, PostgresPool, PostgresPoolOptions } from "./pool.ts";
export { migrate, MigrationError } from "./migrate.ts";
export type { MigrateResult, Migration } from "./migrate.ts";
export { isRetryableTransactionError, withClient, withTransaction } from "./transaction.ts";
export type { IsolationLevel, TransactionOptions } from "./transaction.ts";
export { classifyDatabaseError, DatabaseUnavailableError, isUnavailable } from "./unavailable.ts";
