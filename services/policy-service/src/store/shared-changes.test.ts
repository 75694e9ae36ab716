// Two policy-service replicas on one database file: a change committed through one reaches the
// other's WatchChanges streams and its own authority, through the invalidation bus (in-process
// hub, and real Redis including the flush after a lost subscription).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { connectRedis, InvalidationHub, RedisInvalidationBus, type InvalidationBus } from "@keyhold/coordination";
import { redisServerAvailable, TestRedis } from "@keyhold/coordination/testing";
import { createSilentLogger } from "@keyhold/server-kit";
import { ACCOUNT, startTestPolicyService, type TestPolicyService } from "../test-support.ts";
import { openSqliteDatabase, SqlitePolicyStore } from "./sqlite-policy-store.ts";

async function replicas(buses: readonly [InvalidationBus, InvalidationBus]): Promise<{ a: TestPolicyService; b: TestPolicyService; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "keyhold-policy-replicas-"));
  const file = join(dir, "policy.sqlite");
  // Both replicas know the bootstrap administrator's key (the second finds the account made).
  const env = { KEYHOLD_BOOTSTRAP_API_KEY: `khk_${randomBytes(8).toString("hex")}_${randomBytes(32).toString("base64url")}` };
  const a = await startTestPolicyService({ store: new SqlitePolicyStore(openSqliteDatabase(file)), bus: buses[0], env });
  const b = await startTestPolicyService({ store: new SqlitePolicyStore(openSqliteDatabase(file)), bus: buses[1], env });
  return {
    a,
    b,
    async close() {
      await a.close();
      await b.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function next<T>(iterator: AsyncIterator<T>, timeoutMs = 3000): Promise<T> {
  const result = await Promise.race([iterator.next(), sleep(timeoutMs).then(() => assert.fail("no event in time"))]);
  assert.equal(result.done, false);
  return result.value;
}

describe("policy changes between replicas", () => {
  test("in-process hub: a change through one replica reaches the other's watchers and authority", async () => {
    const hub = new InvalidationHub();
    const controller = new AbortController();
    let close = () => Promise.resolve();
    try {
      const started = await replicas([hub.bus(), hub.bus()]);
      close = () => started.close();
      const { a, b } = started;
      const iterator = b.internal().watchChanges({}, { signal: controller.signal })[Symbol.asyncIterator]();
      const hello = await next(iterator);
      const user = a.user(ACCOUNT, "alice");
      const event = await next(iterator);
      assert.ok(event.sequence > hello.sequence);
      // And the new user authenticates on b.
      const who = await b.as(user.token).sts.getCallerIdentity({});
      assert.equal(who.principalKrn.endsWith("user/alice"), true);
    } finally {
      controller.abort();
      await close();
    }
  });

  test("Redis: changes relayed, and a flush after the bus lost Redis reaches watchers", { skip: !redisServerAvailable() && "redis-server is not installed" }, async () => {
    const redis = await TestRedis.start();
    const logger = createSilentLogger();
    const connections = [0, 1].map((i) => connectRedis(redis.url, { logger, name: `p${i}`, commandTimeoutMs: 50, maxReconnectDelayMs: 100 }));
    const buses = connections.map((c) => new RedisInvalidationBus(c, logger));
    await Promise.all([...connections.map((c) => c.start()), ...buses.map((bus) => bus.start())]);
    const controller = new AbortController();
    let close = () => Promise.resolve();
    try {
      const started = await replicas([buses[0]!, buses[1]!]);
      close = () => started.close();
      const { a, b } = started;
      await sleep(50);
      const iterator = b.internal().watchChanges({}, { signal: controller.signal })[Symbol.asyncIterator]();
      const hello = await next(iterator);
      a.user(ACCOUNT, "bob");
      const relayed = await next(iterator);
      assert.ok(relayed.sequence > hello.sequence);
      // Drain whatever else the user's creation committed (several changes).
      await sleep(100);
      // Redis goes away; a change meanwhile is not delivered, the flush on return stands for it.
      await redis.stop();
      for (let i = 0; i < 100 && buses[1]!.subscribed; i++) await sleep(10);
      a.user(ACCOUNT, "carol");
      const flushesBefore = buses[1]!.counters.flushes;
      await redis.restart();
      for (let i = 0; i < 300 && buses[1]!.counters.flushes === flushesBefore; i++) await sleep(10);
      assert.ok(buses[1]!.counters.flushes > flushesBefore, "re-subscribed and flushed");
      let latest = relayed.sequence;
      const deadline = Date.now() + 3000;
      while (latest < a.app.context.store.currentSequence() && Date.now() < deadline) latest = (await next(iterator)).sequence;
      assert.equal(latest, a.app.context.store.currentSequence());
    } finally {
      controller.abort();
      await close();
      for (const bus of buses) await bus.close();
      for (const c of connections) await c.close();
      await redis.stop();
    }
  });
});
