// key-service with what replicas share: two apps on one SQLite file evict each other's cached
// key and alias records through the invalidation bus (in-process hub and real Redis); quotas
// refuse with RESOURCE_EXHAUSTED + THROTTLED + RetryInfo through the public API, also when Redis
// is stopped or hangs; the background jobs run only under their lease.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  connectRedis, InProcessLeaseManager, InvalidationHub, LocalTokenBuckets, RateLimits, readQuotaConfig,
  RedisInvalidationBus, RedisRateLimiter, type InvalidationBus, type RateLimiter,
} from "@keyhold/coordination";
import { redisServerAvailable, TestRedis } from "@keyhold/coordination/testing";
import { RetryInfoSchema } from "@keyhold/proto";
import { createSilentLogger } from "@keyhold/server-kit";
import { KEY_JOBS_LEASE } from "./domain/key-jobs.ts";
import { ManualClock, OTHER_ACCOUNT, refusal, startTestKeyService, type TestKeyService } from "./test-support.ts";

const logger = createSilentLogger();
const plaintext = new TextEncoder().encode("hello");

async function twoReplicas(buses: [InvalidationBus, InvalidationBus]): Promise<{ a: TestKeyService; b: TestKeyService; close(): Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), "keyhold-replicas-"));
  const a = await startTestKeyService({ bus: buses[0] }, { dataDir });
  const b = await startTestKeyService({ bus: buses[1] }, { dataDir });
  return {
    a,
    b,
    async close() {
      await a.close();
      await b.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Disabling a key and moving an alias on one replica is seen at once by the other. */
async function checkInvalidation(a: TestKeyService, b: TestKeyService, settle: () => Promise<void>): Promise<void> {
  const first = (await a.keys.createKey({})).keyMetadata!;
  const second = (await a.keys.createKey({})).keyMetadata!;
  await a.keys.createAlias({ aliasName: "alias/shared", targetKeyId: first.keyId });
  // b caches the key and the alias.
  const viaAlias = await b.crypto.encrypt({ keyId: "alias/shared", plaintext });
  assert.equal(viaAlias.keyId.endsWith(first.keyId), true);
  await b.crypto.encrypt({ keyId: first.keyId, plaintext });

  await a.keys.disableKey({ keyId: first.keyId });
  await a.keys.updateAlias({ aliasName: "alias/shared", targetKeyId: second.keyId });
  await settle();
  assert.deepEqual(await refusal(b.crypto.encrypt({ keyId: first.keyId, plaintext })), { code: Code.FailedPrecondition, reason: "KEY_DISABLED", field: "key_id" });
  const moved = await b.crypto.encrypt({ keyId: "alias/shared", plaintext });
  assert.equal(moved.keyId.endsWith(second.keyId), true);

  await a.keys.enableKey({ keyId: first.keyId });
  await a.keys.deleteAlias({ aliasName: "alias/shared" });
  await settle();
  await b.crypto.encrypt({ keyId: first.keyId, plaintext });
  assert.equal((await refusal(b.crypto.encrypt({ keyId: "alias/shared", plaintext }))).code, Code.NotFound);
}

describe("key-service replicas share cache invalidations", () => {
  test("in-process hub: two apps on one SQLite file", async () => {
    const hub = new InvalidationHub();
    const replicas = await twoReplicas([hub.bus(), hub.bus()]);
    try {
      await checkInvalidation(replicas.a, replicas.b, () => Promise.resolve());
    } finally {
      await replicas.close();
    }
  });

  test("without a shared bus the other replica serves its cached state (what the bus is for)", async () => {
    const replicas = await twoReplicas([new InvalidationHub().bus(), new InvalidationHub().bus()]);
    try {
      const key = (await replicas.a.keys.createKey({})).keyMetadata!;
      await replicas.b.crypto.encrypt({ keyId: key.keyId, plaintext });
      await replicas.a.keys.disableKey({ keyId: key.keyId });
      await replicas.b.crypto.encrypt({ keyId: key.keyId, plaintext });
    } finally {
      await replicas.close();
    }
  });
});

async function throttled(call: Promise<unknown>): Promise<number> {
  const error = await call.then(
    () => assert.fail("expected THROTTLED"),
    (e: unknown) => ConnectError.from(e),
  );
  assert.equal(error.code, Code.ResourceExhausted);
  const retry = error.findDetails(RetryInfoSchema)[0];
  assert.ok(retry?.retryDelay !== undefined, "RetryInfo detail");
  assert.equal((await refusal(Promise.reject(error))).reason, "THROTTLED");
  return Number(retry.retryDelay.seconds) * 1000 + retry.retryDelay.nanos / 1e6;
}

async function quotaService(limiter: RateLimiter): Promise<TestKeyService> {
  const quotas = readQuotaConfig({ KEYHOLD_QUOTA_SYMMETRIC_RPS: "1", KEYHOLD_QUOTA_SYMMETRIC_BURST: "2" });
  return startTestKeyService({ rateLimits: new RateLimits({ limiter, quotas }) });
}

describe("quotas through the public API", () => {
  test("local buckets: Encrypt past the burst is RESOURCE_EXHAUSTED, THROTTLED, with RetryInfo; other accounts and classes unaffected", async () => {
    const service = await quotaService(new LocalTokenBuckets());
    try {
      const key = (await service.keys.createKey({})).keyMetadata!;
      await service.crypto.encrypt({ keyId: key.keyId, plaintext });
      await service.crypto.encrypt({ keyId: key.keyId, plaintext });
      const delayMs = await throttled(service.crypto.encrypt({ keyId: key.keyId, plaintext }));
      assert.ok(delayMs > 0 && delayMs <= 1000, String(delayMs));
      // Control calls have no quota here; another account has its own bucket.
      await service.keys.getKey({ keyId: key.keyId });
      const other = service.as(OTHER_ACCOUNT);
      const otherKey = (await other.keys.createKey({})).keyMetadata!;
      await other.crypto.encrypt({ keyId: otherKey.keyId, plaintext });
    } finally {
      await service.close();
    }
  });
});

describe("with a real Redis", { skip: !redisServerAvailable() && "redis-server is not installed" }, () => {
  let redis: TestRedis;
  const closers: (() => Promise<void>)[] = [];
  const connection = async (name: string) => {
    const conn = connectRedis(redis.url, { logger, name, commandTimeoutMs: 50, coolDownMs: 500, maxReconnectDelayMs: 100 });
    closers.push(() => conn.close());
    await conn.start();
    return conn;
  };

  before(async () => {
    redis = await TestRedis.start();
  });
  after(async () => {
    for (const close of closers.reverse()) await close();
    await redis.stop();
  });

  test("two apps on one SQLite file invalidate each other through Redis pub/sub", async () => {
    const buses = await Promise.all([0, 1].map(async (i) => {
      const bus = new RedisInvalidationBus(await connection(`pub${i}`), logger);
      closers.push(() => bus.close());
      await bus.start();
      return bus;
    }));
    const replicas = await twoReplicas([buses[0]!, buses[1]!]);
    try {
      const settle = async () => {
        const received = buses[1]!.counters.received;
        const deadline = Date.now() + 2000;
        // Each write publishes; wait until b has heard at least one more message, then a little.
        while (buses[1]!.counters.received === received && Date.now() < deadline) await sleep(5);
        await sleep(30);
      };
      await sleep(50);
      await checkInvalidation(replicas.a, replicas.b, settle);
    } finally {
      await replicas.close();
    }
  });

  test("cluster-wide quota in Redis: two replicas share one bucket", async () => {
    const one = await quotaService(new RedisRateLimiter(await connection("q1")));
    const two = await quotaService(new RedisRateLimiter(await connection("q2")));
    try {
      const key = (await one.keys.createKey({})).keyMetadata!;
      await one.crypto.encrypt({ keyId: key.keyId, plaintext });
      await two.crypto.generateRandom({ numberOfBytes: 8 });
      await throttled(one.crypto.encrypt({ keyId: key.keyId, plaintext }));
      await throttled(two.crypto.generateRandom({ numberOfBytes: 8 }));
    } finally {
      await one.close();
      await two.close();
    }
  });

  test("Redis stopped, then hanging (SIGSTOP): calls still answer within 200 ms and are still limited", async () => {
    const conn = await connection("q-fault");
    const limiter = new RedisRateLimiter(conn);
    const service = await quotaService(limiter);
    try {
      const key = (await service.keys.createKey({})).keyMetadata!;
      const timed = async (call: Promise<unknown>) => {
        const started = performance.now();
        const outcome = await call.then(() => "ok", (e: unknown) => ConnectError.from(e).code);
        return { outcome, ms: performance.now() - started };
      };
      redis.pause();
      try {
        const results = [];
        for (let i = 0; i < 4; i++) results.push(await timed(service.crypto.encrypt({ keyId: key.keyId, plaintext })));
        assert.ok(results.every((r) => r.ms < 200), results.map((r) => r.ms.toFixed(0)).join(","));
        assert.ok(results.some((r) => r.outcome === Code.ResourceExhausted), "still limited while Redis hangs");
      } finally {
        redis.resume();
      }
      await redis.stop();
      try {
        const results = [];
        for (let i = 0; i < 4; i++) results.push(await timed(service.crypto.encrypt({ keyId: key.keyId, plaintext })));
        assert.ok(results.every((r) => r.ms < 200), results.map((r) => r.ms.toFixed(0)).join(","));
        assert.ok(results.some((r) => r.outcome === Code.ResourceExhausted), "still limited while Redis is down");
        assert.ok(limiter.counters.fallback >= 4);
      } finally {
        await redis.restart();
      }
    } finally {
      await service.close();
    }
  });
});

describe("background jobs under a lease", () => {
  test("the timer's runs happen only while this replica can take the jobs' lease", async () => {
    const clock = new ManualClock(new Date("2030-01-01T00:00:00Z"));
    const leases = new InProcessLeaseManager(logger);
    const held = await leases.acquire(KEY_JOBS_LEASE, 60_000);
    assert.ok(held !== undefined);
    const dataDir = mkdtempSync(join(tmpdir(), "keyhold-lease-jobs-"));
    const service = await startTestKeyService({ clock, leases }, { dataDir });
    try {
      const key = (await service.keys.createKey({})).keyMetadata!;
      await service.keys.scheduleKeyDeletion({ keyId: key.keyId, pendingWindowInDays: 7 });
      clock.advance(8 * 24 * 3600 * 1000);
      // Another holder has the lease: started jobs skip their runs.
      service.app.jobs.start();
      await sleep(100);
      assert.ok(service.app.context.store.getKey(key.accountId, key.keyId) !== undefined, "not purged while the lease is held elsewhere");
    } finally {
      await held.release();
      await service.close();
    }
    // The jobs' first run happens at start; with the lease free it purges the key.
    const again = await startTestKeyService({ clock, leases, startJobs: true }, { dataDir });
    try {
      const deadline = Date.now() + 3000;
      let listed = 1;
      while (Date.now() < deadline && listed > 0) {
        await sleep(20);
        listed = (await again.keys.listKeys({})).keys.length;
      }
      assert.equal(listed, 0, "purged once the lease was free");
    } finally {
      await again.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
