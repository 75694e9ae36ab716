// The store the configuration names: PostgreSQL when KEYHOLD_DATABASE_URL is set (a pool confined
// to the schema secrets_service, migrated before the service answers), else the SQLite file.
import { createPostgresPool, migrate } from "@keyhold/postgres";
import type { Logger } from "@keyhold/server-kit";
import type { SecretsServiceConfig } from "../config.ts";
import { POSTGRES_MIGRATIONS, SECRETS_SERVICE_SCHEMA } from "./postgres-migrations.ts";
import { PostgresSecretStore } from "./postgres-secret-store.ts";
import type { SecretStore } from "./secret-store.ts";
import { openSqliteDatabase, SqliteSecretStore } from "./sqlite-secret-store.ts";

export async function openSecretStore(config: SecretsServiceConfig, logger: Logger): Promise<SecretStore> {
  if (config.databaseUrl === undefined) return new SqliteSecretStore(openSqliteDatabase(config.databasePath));
  const pool = createPostgresPool(config.databaseUrl.reveal(), { schema: SECRETS_SERVICE_SCHEMA, applicationName: "keyhold-secrets-service", logger });
  try {
    await migrate(pool, SECRETS_SERVICE_SCHEMA, POSTGRES_MIGRATIONS);
  } catch (error) {
    await pool.end();
    throw error;
  }
  return new PostgresSecretStore(pool);
}
