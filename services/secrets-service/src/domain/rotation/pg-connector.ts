// The production PostgresConnector: node-postgres (pure JavaScript), one short-lived session per
// step, with a connect timeout and cancellation by the rotation step's signal.
import pg from "pg";
import type { PostgresConnector, PostgresCredentials, PostgresSession } from "./postgres-rotation.ts";

export function pgConnector(connectTimeoutMs: number): PostgresConnector {
  return async (credentials: PostgresCredentials, signal: AbortSignal): Promise<PostgresSession> => {
    const client = new pg.Client({
      host: credentials.host,
      port: credentials.port,
      database: credentials.dbname,
      user: credentials.username,
      password: credentials.password,
      connectionTimeoutMillis: connectTimeoutMs,
      application_name: "keyhold-secrets-service",
    });
    const abort = () => {
      void client.end().catch(() => undefined);
    };
    signal.addEventListener("abort", abort, { once: true });
    try {
      await client.connect();
    } catch (error) {
      signal.removeEventListener("abort", abort);
      await client.end().catch(() => undefined);
      throw error;
    }
    return {
      async query(sql: string) {
        await client.query(sql);
      },
      async count(sql: string) {
        return (await client.query(sql)).rowCount ?? 0;
      },
      async end() {
        signal.removeEventListener("abort", abort);
        await client.end();
      },
    };
  };
}
