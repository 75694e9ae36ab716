// A fresh database and login role on a test server, as a service would be given one: the role
// owns the database (so it may create its schema), and drop() removes both, cutting any
// connections still open.
import { randomBytes } from "node:crypto";
import pg from "pg";
import type { TestPostgres } from "./test-server.ts";

export interface TestDatabase {
  /** postgres://role:password@host:port/database */
  readonly url: string;
  readonly database: string;
  readonly user: string;
  drop(): Promise<void>;
}

async function asSuperuser<T>(server: TestPostgres, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ host: server.host, port: server.port, database: "postgres", user: server.superuser, password: server.superPassword, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function createTestDatabase(server: TestPostgres): Promise<TestDatabase> {
  const suffix = randomBytes(6).toString("hex");
  const database = `keyhold_test_${suffix}`;
  const user = `keyhold_user_${suffix}`;
  const password = randomBytes(18).toString("base64url");
  await asSuperuser(server, async (client) => {
    await client.query(`CREATE ROLE ${user} LOGIN PASSWORD '${password}'`);
    await client.query(`CREATE DATABASE ${database} OWNER ${user}`);
    await client.query(`REVOKE ALL ON DATABASE ${database} FROM PUBLIC`);
  });
  return {
    url: `postgres://${user}:${encodeURIComponent(password)}@${server.host}:${server.port}/${database}`,
    database,
    user,
    async drop() {
      await asSuperuser(server, async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
        await client.query(`DROP ROLE IF EXISTS ${user}`);
      });
    },
  };
}
