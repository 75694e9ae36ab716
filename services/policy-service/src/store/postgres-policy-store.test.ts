// PostgresPolicyStore against a real PostgreSQL server started here: the shared conformance
// suite; two replicas (two pools, two stores on one database) doing conflicting writes at once
// (nothing lost, limits and uniqueness hold, the right outcome for the losers, each replica
// hears the other's changes); policy-service itself on two replicas (a policy change on one is
// in force on the other at once); and a database outage (UNAVAILABLE DATABASE_UNAVAILABLE, never
// INTERNAL; back to work when the server is).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { PrincipalType } from "@keyhold/proto";
import { createPostgresPool, DatabaseUnavailableError, migrate, type PostgresPool } from "@keyhold/postgres";
import { createTestDatabase, postgresBinDir, startPostgres, type TestDatabase, type TestPostgres } from "@keyhold/postgres/testing";
import { ACCOUNT, KEY_ID, keyKrn, refusal, startTestPolicyService } from "../test-support.ts";
import { POSTGRES_MIGRATIONS, POSTGRES_SCHEMA } from "./migrations.ts";
import { ACCOUNT as SUITE_ACCOUNT, apiKey, OTHER, policyStoreConformance, role, T0, user } from "./policy-store-suite.ts";
import { PostgresPolicyStore } from "./postgres-policy-store.ts";
import type { CertificateIdentityRecord, ChangeEvent, PrincipalRecord } from "./records.ts";

const binDir = postgresBinDir();
if (binDir === undefined) {
  console.error("\n*** SKIPPING the PostgresPolicyStore tests: no PostgreSQL server binaries (apt-get install postgresql) ***\n");
}

interface Replica {
  readonly pool: PostgresPool;
  readonly store: PostgresPolicyStore;
  readonly heard: ChangeEvent[];
}

async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("PostgresPolicyStore (real server)", { skip: binDir === undefined ? "PostgreSQL is not installed" : false }, () => {
  let server: TestPostgres;
  const cleanups: (() => Promise<void>)[] = [];

  before(async () => {
    server = await startPostgres(binDir!);
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await server?.stop();
  });

  async function replica(database: TestDatabase): Promise<Replica> {
    const pool = createPostgresPool(database.url, { schema: POSTGRES_SCHEMA, maxConnections: 6, connectTimeoutMs: 2_000, statementTimeoutMs: 5_000 });
    await migrate(pool, POSTGRES_SCHEMA, POSTGRES_MIGRATIONS);
    const store = await PostgresPolicyStore.open(pool);
    const heard: ChangeEvent[] = [];
    store.onChange((event) => heard.push(event));
    cleanups.push(async () => {
      await store.close();
      await pool.end();
    });
    return { pool, store, heard };
  }

  async function database(): Promise<TestDatabase> {
    const created = await createTestDatabase(server);
    cleanups.push(() => created.drop());
    return created;
  }

  policyStoreConformance("PostgresPolicyStore", async () => {
    const created = await createTestDatabase(server);
    const pool = createPostgresPool(created.url, { schema: POSTGRES_SCHEMA, maxConnections: 4 });
    await migrate(pool, POSTGRES_SCHEMA, POSTGRES_MIGRATIONS);
    const store = await PostgresPolicyStore.open(pool);
    return {
      store,
      async dispose() {
        await pool.end();
        await created.drop();
      },
    };
  });

  describe("two replicas on one database", () => {
    let a: Replica;
    let b: Replica;

    before(async () => {
      const shared = await database();
      a = await replica(shared);
      b = await replica(shared);
      await a.store.createAccount({ accountId: SUITE_ACCOUNT, name: "main", createdAt: T0 });
      await b.store.createAccount({ accountId: OTHER, name: "other", createdAt: T0 });
    });

    const identity = (san: string, principal: PrincipalRecord): CertificateIdentityRecord => ({
      san,
      type: "uri",
      principalKrn: principal.krn,
      accountId: principal.accountId,
      createdAt: T0,
    });

    test("the per-principal certificate limit holds under parallel adds from both replicas", async () => {
      await a.store.createPrincipal(user("limited"));
      const attempts = Array.from({ length: 12 }, (_, i) =>
        (i % 2 === 0 ? a : b).store.addCertificateIdentity(identity(`spiffe://example.org/limited/${i}`, user("limited")), 3),
      );
      const outcomes = await Promise.all(attempts);
      assert.equal(outcomes.filter((o) => o === "ok").length, 3);
      assert.equal(outcomes.filter((o) => o === "limit").length, 9);
      assert.equal((await b.store.listCertificateIdentities(user("limited").krn)).length, 3);
    });

    test("one SAN, one krn, one id: exactly one replica wins, the others hear 'exists'", async () => {
      await a.store.createPrincipal(user("p1"));
      await b.store.createPrincipal(user("p2"));
      const san = await Promise.all(
        Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? a : b).store.addCertificateIdentity(identity("spiffe://example.org/contested", user(i % 2 === 0 ? "p1" : "p2")), 10)),
      );
      assert.equal(san.filter((o) => o === "ok").length, 1);
      assert.equal(san.filter((o) => o === "exists").length, 7);
      const principals = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? a : b).store.createPrincipal(role("contested"))));
      assert.deepEqual(principals.filter((o) => o === "ok").length, 1);
      const keys = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? a : b).store.createApiKey(apiKey("00000000000000cc", user("p1").krn))));
      assert.deepEqual(keys.filter((o) => o === "ok").length, 1);
    });

    test("a principal deleted on one replica while the other attaches policies and creates keys for it leaves nothing behind", async () => {
      for (let round = 0; round < 6; round++) {
        const victim = user(`victim${round}`);
        await a.store.createPrincipal(victim);
        const attach = (n: number) =>
          b.store.attachPolicy({ principalKrn: victim.krn, policyKrn: `krn:keyhold:iam::keyhold:policy/P${n}`, attachedAt: T0 }, false);
        // The handlers' shape: check the owner in the transaction that stores the key.
        const keyFor = (n: number) =>
          b.store.transaction(async (tx) => {
            if ((await tx.getPrincipal(victim.krn)) === undefined) return "owner-missing";
            return tx.createApiKey(apiKey(`${round.toString(16)}${n.toString(16)}`.padStart(16, "0"), victim.krn));
          });
        const results = await Promise.all([attach(1), keyFor(1), a.store.deletePrincipal(victim.krn), attach(2), keyFor(2)]);
        assert.equal(results[2], true);
        assert.equal(await a.store.getPrincipal(victim.krn), undefined);
        assert.deepEqual(await b.store.listAttachments(victim.krn), [], `round ${round}: attachments outlived the principal`);
        assert.deepEqual((await b.store.listApiKeys(victim.krn, undefined, 10)).items, [], `round ${round}: keys outlived the principal`);
      }
    });

    test("the change sequence counts every write of both replicas once, and each replica hears the other's", async () => {
      const start = await a.store.currentSequence();
      const writes = Array.from({ length: 20 }, (_, i) =>
        (i % 2 === 0 ? a : b).store.putResourcePolicy({ resourceKrn: `${keyKrn()}-${i}`, accountId: ACCOUNT, document: "{}", updatedAt: T0 }),
      );
      await Promise.all(writes);
      const end = await b.store.currentSequence();
      assert.equal(end, start + 20n);
      for (const r of [a, b]) {
        await eventually(() => r.heard.at(-1)?.sequence === end, "a replica to hear the last change");
        const sequences = r.heard.map((e) => e.sequence);
        assert.deepEqual(sequences, [...new Set(sequences)].sort((x, y) => (x < y ? -1 : 1)), "heard once each, in order");
      }
    });

    test("read-modify-write in a transaction: parallel increments from both replicas lose nothing", async () => {
      // A counter kept in a resource policy document: read, add one, write back.
      const counter = `${keyKrn()}-counter`;
      await a.store.putResourcePolicy({ resourceKrn: counter, accountId: ACCOUNT, document: "0", updatedAt: T0 });
      const increment = (r: Replica) =>
        r.store.transaction(async (tx) => {
          const current = Number((await tx.getResourcePolicy(counter))!.document);
          await tx.putResourcePolicy({ resourceKrn: counter, accountId: ACCOUNT, document: String(current + 1), updatedAt: T0 });
        });
      await Promise.all(Array.from({ length: 16 }, (_, i) => increment(i % 2 === 0 ? a : b)));
      assert.equal((await b.store.getResourcePolicy(counter))!.document, "16");
    });
  });

  describe("policy-service on two replicas", () => {
    test("a policy attached through one replica is in force on the other at once; its caches are flushed by the other's change", async () => {
      const shared = await database();
      // Both replicas are configured with the same administrator key; the first start installs it.
      const env = { KEYHOLD_DATABASE_URL: shared.url, KEYHOLD_BOOTSTRAP_API_KEY: `khk_00112233445566ff_${"Q".repeat(43)}` };
      const first = await startTestPolicyService({ env });
      cleanups.push(() => first.close());
      const second = await startTestPolicyService({ env });
      cleanups.push(() => second.close());
      const alice = await first.user(ACCOUNT, "alice");
      const query = { principal: { krn: alice.krn, accountId: ACCOUNT, type: PrincipalType.USER }, action: "kms:Encrypt", resource: keyKrn(ACCOUNT, KEY_ID) };
      assert.equal((await second.internal().authorize(query)).allowed, false); // cached on the second replica now
      const admin = await first.user(ACCOUNT, "admin", ["AdministratorAccess"]);
      await admin.clients.iam.attachPolicy({ principalKrn: alice.krn, policyKrn: "krn:keyhold:iam::keyhold:policy/KeyUser" });
      await eventually(async () => (await second.internal().authorize(query)).allowed, "the second replica to allow after the first attached");
      // A user created through one replica signs in on the other.
      const listed = await second.as(admin.token).iam.listPrincipals({});
      assert.ok(listed.principals.some((principal) => principal.krn === alice.krn));
    });
  });

  // Last: it stops the server.
  describe("a database outage", () => {
    test("calls fail with UNAVAILABLE DATABASE_UNAVAILABLE (never INTERNAL) while the server is down, and work again after", async () => {
      const shared = await database();
      const service = await startTestPolicyService({ env: { KEYHOLD_DATABASE_URL: shared.url } });
      cleanups.push(() => service.close());
      const alice = await service.user(ACCOUNT, "alice", ["AdministratorAccess"]);
      const store = service.app.context.store;
      // Two more replicas of the store: after the outage, each still hears the other's changes.
      const [one, two] = [await replica(shared), await replica(shared)];
      await server.halt();
      try {
        const started = Date.now();
        assert.deepEqual(await refusal(alice.clients.iam.listPrincipals({})), { code: Code.Unavailable, reason: "DATABASE_UNAVAILABLE", field: undefined });
        assert.deepEqual(await refusal(service.admin.iam.createUser({ userName: "bob" })), { code: Code.Unavailable, reason: "DATABASE_UNAVAILABLE", field: undefined });
        assert.deepEqual(await refusal(service.internal().watchChanges({})[Symbol.asyncIterator]().next()), {
          code: Code.Unavailable,
          reason: "DATABASE_UNAVAILABLE",
          field: undefined,
        });
        await assert.rejects(store.getAccount(ACCOUNT), DatabaseUnavailableError);
        await assert.rejects(
          store.transaction(async (tx) => tx.createPrincipal(user("x"))),
          DatabaseUnavailableError,
        );
        assert.ok(Date.now() - started < 30_000, "outage calls fail fast");
      } finally {
        await server.resume();
      }
      await eventually(
        () =>
          alice.clients.iam.listPrincipals({}).then(
            () => true,
            () => false,
          ),
        "the service to work again",
        15_000,
      );
      const created = await alice.clients.iam.createUser({ userName: "after" });
      assert.equal(created.principal?.name, "after");
      // The change listeners reconnected (and caught up): a write on one replica reaches the other.
      await eventually(() => two.heard.at(-1)?.sequence === one.heard.at(-1)?.sequence && one.heard.length > 0, "the replicas to catch up");
      await one.store.putResourcePolicy({ resourceKrn: keyKrn(), accountId: ACCOUNT, document: "{}", updatedAt: T0 });
      const latest = await one.store.currentSequence();
      await eventually(() => two.heard.at(-1)?.sequence === latest, "the other replica to hear a change made after the outage", 10_000);
    });
  });
});
