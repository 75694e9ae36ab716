// Against a real PostgreSQL server started here: migrations (once, in order, safe when two
// replicas start together, refusing a newer database), transactions (commit, rollback, rerun on
// a real serialization conflict) and outage classification (server stopped, then back).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { KeyholdError, type Logger } from "@keyhold/server-kit";
import { Code } from "@connectrpc/connect";
import { createPostgresPool, type PostgresPool } from "./pool.ts";
import { migrate, MigrationError, type Migration } from "./migrate.ts";
import { withClient, withTransaction } from "./transaction.ts";
import { classifyDatabaseError, DatabaseUnavailableError, isUnavailable } from "./unavailable.ts";
import { createTestDatabase, postgresBinDir, startPostgres, type TestDatabase, type TestPostgres } from "./testing.ts";

const binDir = postgresBinDir();
if (binDir === undefined) {
  console.error("\n*** SKIPPING the @keyhold/postgres tests: no PostgreSQL server binaries (apt-get install postgresql) ***\n");
}

const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: "accounts", sql: "CREATE TABLE accounts (id text PRIMARY KEY, balance integer NOT NULL)" },
  { version: 2, name: "ledger", sql: "CREATE TABLE ledger (id bigserial PRIMARY KEY, account text NOT NULL REFERENCES accounts (id), amount integer NOT NULL); CREATE INDEX ledger_account ON ledger (account)" },
  { version: 3, name: "notes", sql: "ALTER TABLE accounts ADD COLUMN note text" },
];

function capturingLogger(lines: string[]): Logger {
  const log = (message: string) => void lines.push(message);
  const logger: Logger = { debug: log, info: log, warn: log, error: log, child: () => logger };
  return logger;
}

test("classification without a server: socket and shutdown errors are unavailable, SQL errors are not", () => {
  const withCode = (code: string, message = "x") => Object.assign(new Error(message), { code });
  for (const error of [
    withCode("ECONNREFUSED"),
    withCode("ECONNRESET"),
    withCode("ETIMEDOUT"),
    withCode("57P01"),
    withCode("57P03"),
    withCode("08006"),
    new Error("timeout exceeded when trying to connect"),
    new Error("Connection terminated unexpectedly"),
    new Error("Query read timeout"),
    new AggregateError([withCode("ECONNREFUSED")]),
    new Error("wrapped", { cause: withCode("ECONNREFUSED") }),
  ]) {
    assert.equal(isUnavailable(error), true, String(error));
    const classified = classifyDatabaseError(error);
    assert.ok(classified instanceof DatabaseUnavailableError);
    assert.equal(classified.reason, "DATABASE_UNAVAILABLE");
    assert.equal(classified.code, Code.Unavailable);
    assert.equal(classified.message, "database unavailable");
  }
  for (const error of [withCode("42601", "syntax error"), withCode("23505", "duplicate key"), withCode("40001"), new Error("boom"), "text", undefined]) {
    assert.equal(isUnavailable(error), false, String(error));
    assert.equal(classifyDatabaseError(error), error);
  }
  assert.throws(() => createPostgresPool("postgres://localhost/x", { schema: "Bad-Name" }), /invalid schema name/);
  assert.throws(() => createPostgresPool("postgres://localhost/x", { schema: "x; DROP" }), /invalid schema name/);
});

describe("@keyhold/postgres against a real server", { skip: binDir === undefined ? "PostgreSQL is not installed" : false }, () => {
  let server: TestPostgres;
  let database: TestDatabase;
  const pools: PostgresPool[] = [];
  const logLines: string[] = [];
  const pool = (schema: string, extra: { statementTimeoutMs?: number; connectTimeoutMs?: number; lockTimeoutMs?: number } = {}) => {
    const created = createPostgresPool(database.url, { schema, maxConnections: 4, logger: capturingLogger(logLines), ...extra });
    pools.push(created);
    return created;
  };

  before(async () => {
    server = await startPostgres(binDir!);
    database = await createTestDatabase(server);
  });
  after(async () => {
    for (const created of pools) await created.end().catch(() => undefined);
    await database?.drop().catch(() => undefined);
    await server?.stop();
  });

  test("migrations create the schema, apply once in order, and unqualified SQL lands in the schema", async () => {
    const p = pool("svc_once");
    assert.deepEqual(await migrate(p, "svc_once", MIGRATIONS.slice(0, 2)), { applied: [1, 2], version: 2 });
    assert.deepEqual(await migrate(p, "svc_once", MIGRATIONS.slice(0, 2)), { applied: [], version: 2 });
    assert.deepEqual(await migrate(p, "svc_once", MIGRATIONS), { applied: [3], version: 3 });
    const recorded = await p.query<{ version: number; name: string }>("SELECT version, name FROM schema_migrations ORDER BY version");
    assert.deepEqual(recorded.rows.map((r) => [r.version, r.name]), [[1, "accounts"], [2, "ledger"], [3, "notes"]]);
    await p.query("INSERT INTO accounts (id, balance, note) VALUES ('a', 1, 'n')");
    const where = await p.query<{ schema: string }>("SELECT table_schema AS schema FROM information_schema.tables WHERE table_name = 'accounts'");
    assert.deepEqual(where.rows, [{ schema: "svc_once" }]);
    // Another service's schema does not see these tables.
    const other = pool("svc_other");
    await assert.rejects(other.query("SELECT * FROM accounts"), { code: "42P01" });
  });

  test("a failing migration rolls back alone: earlier ones stay, the version stays", async () => {
    const p = pool("svc_failing");
    const broken = [...MIGRATIONS.slice(0, 1), { version: 2, name: "broken", sql: "CREATE TABLE t (x int); SELECT no_such_function()" }];
    await assert.rejects(migrate(p, "svc_failing", broken), { code: "42883" });
    const recorded = await p.query<{ version: number }>("SELECT version FROM schema_migrations");
    assert.deepEqual(recorded.rows, [{ version: 1 }]);
    await assert.rejects(p.query("SELECT * FROM t"), { code: "42P01" });
    assert.deepEqual(await migrate(p, "svc_failing", MIGRATIONS), { applied: [2, 3], version: 3 });
  });

  test("two replicas migrating at once apply each migration exactly once", async () => {
    const [a, b] = [pool("svc_race"), pool("svc_race")];
    // CREATE TABLE without IF NOT EXISTS: a second application would fail.
    const results = await Promise.all([migrate(a, "svc_race", MIGRATIONS), migrate(b, "svc_race", MIGRATIONS), migrate(a, "svc_race", MIGRATIONS)]);
    assert.deepEqual(results.flatMap((r) => r.applied).sort(), [1, 2, 3]);
    for (const result of results) assert.equal(result.version, 3);
    const recorded = await b.query<{ n: string }>("SELECT count(*) AS n FROM schema_migrations");
    assert.equal(recorded.rows[0]!.n, "3");
  });

  test("a database newer than the code is refused and left untouched", async () => {
    const p = pool("svc_newer");
    await migrate(p, "svc_newer", MIGRATIONS);
    await assert.rejects(migrate(p, "svc_newer", MIGRATIONS.slice(0, 2)), (error: unknown) => {
      assert.ok(error instanceof MigrationError);
      assert.match(error.message, /version 3, newer than this build knows \(2\)/);
      return true;
    });
    await assert.rejects(migrate(p, "svc_newer", [{ version: 2, name: "x", sql: "" }, { version: 1, name: "y", sql: "" }]), MigrationError);
  });

  test("withTransaction commits, rolls back on a throw, and always returns the client", async () => {
    const p = pool("svc_tx");
    await migrate(p, "svc_tx", MIGRATIONS);
    const value = await withTransaction(p, async (client) => {
      await client.query("INSERT INTO accounts (id, balance) VALUES ('kept', 10)");
      return 42;
    });
    assert.equal(value, 42);
    await assert.rejects(
      withTransaction(p, async (client) => {
        await client.query("INSERT INTO accounts (id, balance) VALUES ('dropped', 10)");
        throw new Error("changed my mind");
      }),
      /changed my mind/,
    );
    await assert.rejects(
      withTransaction(p, async (client) => {
        await client.query("INSERT INTO accounts (id, balance) VALUES ('dup', 1)");
        await client.query("INSERT INTO accounts (id, balance) VALUES ('dup', 1)");
      }),
      { code: "23505" },
    );
    const rows = await p.query<{ id: string }>("SELECT id FROM accounts ORDER BY id");
    assert.deepEqual(rows.rows.map((r) => r.id), ["kept"]);
    assert.equal(p.totalCount, p.idleCount, "every client is back in the pool");
    const readOnly = withTransaction(p, async (client) => client.query("INSERT INTO accounts (id, balance) VALUES ('ro', 1)"), { readOnly: true });
    await assert.rejects(readOnly, { code: "25006" });
  });

  test("a row lock held too long fails the waiting statement at the lock timeout, as unavailable, well before the statement timeout", async () => {
    const holder = pool("svc_lock");
    const waiter = pool("svc_lock", { lockTimeoutMs: 300, statementTimeoutMs: 10_000 });
    await migrate(holder, "svc_lock", MIGRATIONS);
    await holder.query("INSERT INTO accounts (id, balance) VALUES ('locked', 1)");
    const client = await holder.connect();
    try {
      await client.query("BEGIN");
      await client.query("SELECT * FROM accounts WHERE id = 'locked' FOR UPDATE");
      const started = performance.now();
      const error = await waiter.query("UPDATE accounts SET balance = 2 WHERE id = 'locked'").then(
        () => assert.fail("the update did not wait for the lock"),
        (thrown: unknown) => thrown,
      );
      assert.equal((error as { code?: string }).code, "55P03");
      assert.ok(isUnavailable(error), "a lock timeout is unavailable (retry, perhaps elsewhere)");
      assert.ok(classifyDatabaseError(error) instanceof DatabaseUnavailableError);
      assert.ok(performance.now() - started < 5_000, "gave up at the lock timeout, not the statement timeout");
      await client.query("ROLLBACK");
    } finally {
      client.release();
    }
    // The lock is gone: the same update goes through, and the value is what it wrote.
    await waiter.query("UPDATE accounts SET balance = 2 WHERE id = 'locked'");
    assert.equal((await waiter.query<{ balance: number }>("SELECT balance FROM accounts WHERE id = 'locked'")).rows[0]!.balance, 2);
  });

  test("a real serialization conflict is retried and no update is lost; without retries it surfaces as 40001", async () => {
    const [a, b] = [pool("svc_ser"), pool("svc_ser")];
    await migrate(a, "svc_ser", MIGRATIONS);
    await a.query("INSERT INTO accounts (id, balance) VALUES ('x', 0), ('y', 0)");
    // Write skew: each transaction reads the total and adds to a different row; serializable
    // isolation makes one of the two overlapping transactions fail and rerun.
    const attempts = { a: 0, b: 0 };
    let arrived = 0;
    let release: () => void = () => undefined;
    const bothRead = new Promise<void>((resolve) => (release = resolve));
    const transfer = (p: PostgresPool, row: "x" | "y", who: "a" | "b") =>
      withTransaction(
        p,
        async (client) => {
          attempts[who]++;
          const total = await client.query<{ total: string }>("SELECT sum(balance) AS total FROM accounts");
          if (attempts[who] === 1) {
            if (++arrived === 2) release();
            await bothRead;
          }
          await client.query("UPDATE accounts SET balance = $1 + 1 WHERE id = $2", [Number(total.rows[0]!.total), row]);
        },
        { isolation: "serializable" },
      );
    await Promise.all([transfer(a, "x", "a"), transfer(b, "y", "b")]);
    assert.equal(attempts.a + attempts.b, 3, "exactly one transaction reran");
    const rows = await a.query<{ id: string; balance: number }>("SELECT id, balance FROM accounts ORDER BY id");
    // Serial outcome: one saw 0 and wrote 1, the other saw 1 and wrote 2.
    assert.deepEqual(rows.rows.map((r) => r.balance).sort(), [1, 2]);

    arrived = 0;
    let releaseAgain: () => void = () => undefined;
    const bothReadAgain = new Promise<void>((resolve) => (releaseAgain = resolve));
    const once = (p: PostgresPool, row: string) =>
      withTransaction(
        p,
        async (client) => {
          const total = await client.query<{ total: string }>("SELECT sum(balance) AS total FROM accounts");
          if (++arrived === 2) releaseAgain();
          await bothReadAgain;
          await client.query("UPDATE accounts SET balance = $1 WHERE id = $2", [Number(total.rows[0]!.total), row]);
        },
        { isolation: "serializable", retries: 0 },
      );
    const outcomes = await Promise.allSettled([once(a, "x"), once(b, "y")]);
    const failures = outcomes.filter((o) => o.status === "rejected");
    assert.equal(failures.length, 1);
    assert.equal((failures[0] as PromiseRejectedResult).reason.code, "40001");
    assert.equal(a.totalCount, a.idleCount);
    assert.equal(b.totalCount, b.idleCount);
  });

  test("a stopped server fails calls fast as DatabaseUnavailableError, and the pool recovers when it is back", async () => {
    const p = pool("svc_outage", { connectTimeoutMs: 2_000, statementTimeoutMs: 2_000 });
    await migrate(p, "svc_outage", MIGRATIONS);
    await p.query("SELECT 1"); // an idle connection the outage will cut
    await server.halt();
    try {
      const started = Date.now();
      const inTransaction = await withTransaction(p, (client) => client.query("SELECT 1")).then(
        () => assert.fail("no error"),
        (error: unknown) => error,
      );
      assert.ok(inTransaction instanceof DatabaseUnavailableError, String(inTransaction));
      assert.ok(inTransaction instanceof KeyholdError && inTransaction.code === Code.Unavailable);
      const plain = await p.query("SELECT 1").then(
        () => assert.fail("no error"),
        (error: unknown) => error,
      );
      assert.equal(isUnavailable(plain), true, String(plain));
      const viaClient = await withClient(p, (client) => client.query("SELECT 1")).then(
        () => assert.fail("no error"),
        (error: unknown) => error,
      );
      assert.ok(viaClient instanceof DatabaseUnavailableError);
      assert.ok(Date.now() - started < 10_000, "failed fast");
    } finally {
      await server.resume();
    }
    const back = await withTransaction(p, async (client) => (await client.query<{ one: number }>("SELECT 1 AS one")).rows[0]!.one);
    assert.equal(back, 1);
  });
});
