// Which store key-service runs on, from its config: PostgreSQL (schema key_service, migrated at
// start; replicas share it) when KEYHOLD_DATABASE_URL is set, else the SQLite file. The store
// owns its pool or database and closes it in close().
import { stat } from "node:fs/promises";
import { createPostgresPool, migrate } from "@keyhold/postgres";
import type { Logger } from "@keyhold/server-kit";
import type { KeyServiceConfig } from "../config.ts";
import type { KeyStore } from "./key-store.ts";
import { PostgresKeyStore } from "./postgres-key-store.ts";
import { KEY_SERVICE_SCHEMA, POSTGRES_MIGRATIONS } from "./postgres-migrations.ts";
import { PostgresRootKeyMigrationStore } from "./postgres-root-key-migration-store.ts";
import { openRootKeyMigrationStore, type RootKeyMigrationStore } from "./root-key-migration-store.ts";
import { openSqliteDatabase, SqliteKeyStore } from "./sqlite-key-store.ts";

type StoreConfig = Pick<KeyServiceConfig, "databasePath" | "databaseUrl">;

/** Opens the configured store; on PostgreSQL, applies pending migrations first. */
export async function openKeyStore(config: StoreConfig, logger: Logger): Promise<KeyStore> {
  if (config.databaseUrl === undefined) return new SqliteKeyStore(openSqliteDatabase(config.databasePath));
  const pool = createPostgresPool(config.databaseUrl, { schema: KEY_SERVICE_SCHEMA, applicationName: "keyhold-key-service", logger });
  try {
    const { applied, version } = await migrate(pool, KEY_SERVICE_SCHEMA, POSTGRES_MIGRATIONS);
    logger.info("key-service store on PostgreSQL", { schema: KEY_SERVICE_SCHEMA, version, applied: applied.length });
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw error;
  }
  return new PostgresKeyStore(pool);
}

/**
 * Where a key-service store already exists on the configured database (its SQLite file, or its
 * schema in PostgreSQL), or undefined when there is none yet: what `keyhold seal init` checks
 * before it makes a new root key, since anything stored is under another one. Reads only.
 */
export async function existingKeyStore(config: StoreConfig, logger: Logger): Promise<string | undefined> {
  if (config.databaseUrl === undefined) {
    try {
      await stat(config.databasePath);
      return config.databasePath;
    } catch {
      return undefined;
    }
  }
  const pool = createPostgresPool(config.databaseUrl, { schema: KEY_SERVICE_SCHEMA, applicationName: "keyhold-seal-init", logger });
  try {
    const found = await pool.query("SELECT 1 FROM information_schema.schemata WHERE schema_name = $1", [KEY_SERVICE_SCHEMA]);
    return found.rowCount === 0 ? undefined : `PostgreSQL schema ${KEY_SERVICE_SCHEMA}`;
  } finally {
    await pool.end().catch(() => undefined);
  }
}

/** The root key migration's store on the configured database (`keyhold migrate-root-key`). */
export async function openConfiguredRootKeyMigrationStore(config: StoreConfig, logger: Logger): Promise<RootKeyMigrationStore & { close(): Promise<void> }> {
  if (config.databaseUrl === undefined) return openRootKeyMigrationStore(config.databasePath);
  const pool = createPostgresPool(config.databaseUrl, { schema: KEY_SERVICE_SCHEMA, applicationName: "keyhold-migrate-root-key", logger });
  try {
    await migrate(pool, KEY_SERVICE_SCHEMA, POSTGRES_MIGRATIONS);
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw error;
  }
  const store = new PostgresRootKeyMigrationStore(pool);
  return {
    listWrapped: (kind, after, limit) => store.listWrapped(kind, after, limit),
    replaceWrapped: (kind, id, expected, wrapped, wrappedBy) => store.replaceWrapped(kind, id, expected, wrapped, wrappedBy),
    close: () => pool.end(),
  };
}
