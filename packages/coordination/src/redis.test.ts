// Against a real redis-server (started here): the invalidation bus between two buses,
// the flush after a lost subscription, the Lua token bucket under parallel clients, the local
// fallback when Redis is stopped or hangs (SIGSTOP), and leases between two managers.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createSilentLogger } from "@keyhold/server-kit";
import type { Invalidation } from "./invalidation-bus.ts";
import { connectRedis, type RedisConnection } from "./redis-connection.ts";
import { RedisInvalidationBus } from "./redis-invalidation-bus.ts";
import { RedisLeaseManager } from "./redis-leases.ts";
import { RedisRateLimiter } from "./redis-rate-limiter.ts";
import { redisServerAvailable, TestRedis } from "./testing.ts";

const logger = createSilentLogger();

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await sleep(10);
  }
}

describe("coordination through Redis", { skip: !redisServerAvailable() && "redis-server is not installed" }, () => {
  let redis: TestRedis;
  const opened: { close(): Promise<void> }[] = [];

  async function connection(name = "test"): Promise<RedisConnection> {
    const conn = connectRedis(redis.url, { logger, name, commandTimeoutMs: 50, coolDownMs: 200, maxReconnectDelayMs: 100 });
    opened.push(conn);
    await conn.start();
    return conn;
  }

  async function bus(): Promise<RedisInvalidationBus> {
    const b = new RedisInvalidationBus(await connection("publisher"), logger);
    opened.push(b);
    await b.start();
    return b;
  }

  before(async () => {
    redis = await TestRedis.start();
  });

  after(async () => {
    for (const item of opened.reverse()) await item.close();
    await redis.stop();
  });

  test("an invalidation published by one bus reaches the other, not itself", async () => {
    const a = await bus();
    const b = await bus();
    const heardA: Invalidation[] = [];
    const heardB: Invalidation[] = [];
    a.subscribe("keys", (event) => heardA.push(event));
    b.subscribe("keys", (event) => heardB.push(event));
    // Subscribing after ready: wait for the SUBSCRIBE to land.
    await until(() => a.subscribed && b.subscribed);
    await sleep(50);
    a.publish("keys", "111122223333/k1");
    a.publish("other-topic", "x");
    await until(() => heardB.some((e) => e.kind === "key"));
    assert.deepEqual(heardB.filter((e) => e.kind === "key"), [{ kind: "key", key: "111122223333/k1" }]);
    assert.deepEqual(heardA.filter((e) => e.kind === "key"), []);
  });

  test("after the subscription is lost and re-established, subscribers are told to flush", async () => {
    const a = await bus();
    const b = await bus();
    const heard: Invalidation[] = [];
    b.subscribe("keys", (event) => heard.push(event));
    await until(() => b.subscribed);
    const flushesBefore = b.counters.flushes;
    await redis.stop();
    try {
      await until(() => !b.subscribed);
      // Published while Redis is down: lost, counted, never thrown.
      a.publish("keys", "lost");
      await until(() => a.counters.publishFailures >= 1);
    } finally {
      await redis.restart();
    }
    await until(() => b.counters.flushes > flushesBefore && heard.some((e) => e.kind === "flush"));
    // And messages flow again.
    await until(() => a.subscribed);
    await sleep(50);
    a.publish("keys", "after");
    await until(() => heard.some((e) => e.kind === "key" && e.key === "after"));
    assert.equal(heard.some((e) => e.kind === "key" && e.key === "lost"), false);
  });

  test("the Lua token bucket: exactly burst tokens across parallel clients, then RetryInfo-style waits", async () => {
    const clients = await Promise.all([connection("rl1"), connection("rl2"), connection("rl3"), connection("rl4")]);
    const limiters = clients.map((c) => new RedisRateLimiter(c));
    // A slow refill (1 per 100 s) so that only the burst counts during the test.
    const quota = { ratePerSecond: 0.01, burst: 40 };
    const key = `atomic-${Date.now()}`;
    const decisions = await Promise.all(Array.from({ length: 100 }, (_, i) => limiters[i % limiters.length]!.take(key, quota)));
    assert.equal(decisions.filter((d) => d.allowed).length, 40);
    const refused = decisions.filter((d) => !d.allowed);
    assert.equal(refused.length, 60);
    for (const d of refused) assert.ok(d.retryAfterMs > 90_000 && d.retryAfterMs <= 100_000, String(d.retryAfterMs));
    assert.ok(limiters.every((l) => l.counters.fallback === 0));
  });

  test("refill over time in Redis", async () => {
    const limiter = new RedisRateLimiter(await connection("refill"));
    const quota = { ratePerSecond: 20, burst: 1 };
    const key = `refill-${Date.now()}`;
    assert.equal((await limiter.take(key, quota)).allowed, true);
    const refused = await limiter.take(key, quota);
    assert.equal(refused.allowed, false);
    assert.ok(refused.retryAfterMs >= 1 && refused.retryAfterMs <= 50, String(refused.retryAfterMs));
    await sleep(refused.retryAfterMs + 5);
    assert.equal((await limiter.take(key, quota)).allowed, true);
  });

  test("Redis stopped: the local bucket decides at once (limited, not a free pass)", async () => {
    const conn = await connection("fallback-stop");
    const limiter = new RedisRateLimiter(conn);
    await redis.stop();
    try {
      await until(() => !conn.connected);
      const quota = { ratePerSecond: 0.01, burst: 5 };
      const started = Date.now();
      const decisions = [];
      for (let i = 0; i < 8; i++) decisions.push(await limiter.take("down", quota));
      assert.ok(Date.now() - started < 100, "no waiting on a dead Redis");
      assert.equal(decisions.filter((d) => d.allowed).length, 5);
      assert.equal(limiter.counters.fallback, 8);
    } finally {
      await redis.restart();
    }
  });

  test("Redis hanging (SIGSTOP): a call is answered within the command timeout, then from the local bucket", async () => {
    const conn = await connection("fallback-hang");
    await until(() => conn.connected);
    const limiter = new RedisRateLimiter(conn);
    const quota = { ratePerSecond: 0.01, burst: 3 };
    redis.pause();
    try {
      const times: number[] = [];
      const decisions = [];
      for (let i = 0; i < 5; i++) {
        const started = Date.now();
        decisions.push(await limiter.take("hang", quota));
        times.push(Date.now() - started);
      }
      assert.ok(times[0]! < 200, `first call took ${times[0]} ms`);
      assert.ok(times.slice(1).every((t) => t < 20), `later calls: ${times.join(",")}`);
      assert.equal(decisions.filter((d) => d.allowed).length, 3);
      assert.ok(conn.failures >= 1);
    } finally {
      redis.resume();
    }
    // Redis back: after the cool-down the limiter uses it again.
    await sleep(250);
    await limiter.take("hang-after", quota);
    assert.ok(limiter.counters.redis >= 1);
  });

  test("a lease is held by one manager at a time, released for the next", async () => {
    const one = new RedisLeaseManager(await connection("lease1"), logger);
    const two = new RedisLeaseManager(await connection("lease2"), logger);
    const name = `job-${Date.now()}`;
    let running = 0;
    let maxRunning = 0;
    const job = async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await sleep(100);
      running--;
      return "ran";
    };
    const results = await Promise.all([one.runExclusive(name, 5000, job), two.runExclusive(name, 5000, job)]);
    assert.equal(maxRunning, 1);
    assert.deepEqual(results.filter((r) => r === "ran").length, 1);
    assert.equal(results.filter((r) => r === undefined).length, 1);
    // Released: the other manager takes it now.
    assert.equal(await two.runExclusive(name, 5000, () => Promise.resolve("second")), "second");
  });

  test("an expired lease is taken over; the old holder can neither renew nor release the new one", async () => {
    const one = new RedisLeaseManager(await connection("expire1"), logger);
    const two = new RedisLeaseManager(await connection("expire2"), logger);
    const name = `expiring-${Date.now()}`;
    const first = await one.acquire(name, 150);
    assert.ok(first !== undefined);
    assert.equal(await two.acquire(name, 150), undefined);
    await sleep(200);
    assert.equal(first.signal.aborted, true, "the holder learns its lease ran out");
    const second = await two.acquire(name, 5000);
    assert.ok(second !== undefined);
    assert.equal(await first.renew(), false);
    await first.release();
    assert.equal(await one.acquire(name, 5000), undefined, "the old holder's release did not free the new lease");
    assert.equal(await second.renew(), true);
    await second.release();
    assert.ok((await one.acquire(name, 5000)) !== undefined);
  });

  test("a lease renewed while its job runs outlives its ttl", async () => {
    const one = new RedisLeaseManager(await connection("renew1"), logger);
    const two = new RedisLeaseManager(await connection("renew2"), logger);
    const name = `renewed-${Date.now()}`;
    let stolen: unknown = "not tried";
    const result = await one.runExclusive(name, 150, async (lease) => {
      await sleep(400);
      stolen = await two.acquire(name, 1000);
      return lease.signal.aborted;
    });
    assert.equal(result, false);
    assert.equal(stolen, undefined);
  });

  test("Redis down: no lease (the job skips this tick), quickly", async () => {
    const conn = await connection("lease-down");
    const leases = new RedisLeaseManager(conn, logger);
    await redis.stop();
    try {
      await until(() => !conn.connected);
      const started = Date.now();
      let ran = false;
      const result = await leases.runExclusive("down-job", 1000, () => {
        ran = true;
        return Promise.resolve(1);
      });
      assert.equal(result, undefined);
      assert.equal(ran, false);
      assert.ok(Date.now() - started < 100);
    } finally {
      await redis.restart();
    }
  });
});
