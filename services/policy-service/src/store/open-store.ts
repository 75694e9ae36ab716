// The store the configuration asks for: PostgreSQL when KEYHOLD_DATABASE_URL is set (a pool on
// schema policy_service, migrated before use; replicas share it), else the SQLite file.
import { createPostgresPool, migrate } from "@keyhold/postgres";
import type { Logger } from "@keyhold/server-kit";
import type { PolicyServiceConfig } from "../config.ts";
import { POSTGRES_MIGRATIONS, POSTGRES_SCHEMA } from "./migrations.ts";
import type { PolicyStore } from "./policy-store.ts";
import { PostgresPolicyStore } from "./postgres-policy-store.ts";
import { openSqliteDatabase, SqlitePolicyStore } from "./sqlite-policy-store.ts";

export interface OpenedStore {
  readonly store: PolicyStore;
  /** Closes the store and what it was opened on (the PostgreSQL pool). */
  close(): Promise<void>;
}

export async function openPolicyStore(config: PolicyServiceConfig, logger: Logger): Promise<OpenedStore> {
  if (config.databaseUrl === undefined) {
    const store = new SqlitePolicyStore(openSqliteDatabase(config.databasePath));
    return { store, close: () => store.close() };
  }
  const pool = createPostgresPool(config.databaseUrl, { schema: POSTGRES_SCHEMA, applicationName: "keyhold-policy-service", logger });
  try {
    await migrate(pool, POSTGRES_SCHEMA, POSTGRES_MIGRATIONS);
    const store = await PostgresPolicyStore.open(pool, { logger });
    return {
      store,
      async close() {
        try {
          await store.close();
        } finally {
          await pool.end();
        }
      },
    };
  } catch (error) {
    await pool.end();
    throw error;
  }
}
