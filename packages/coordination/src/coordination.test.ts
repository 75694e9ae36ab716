import assert from "node:assert/strict";
import { createServer } from "node:net";
import { describe, test } from "node:test";
import { createSilentLogger } from "@keyhold/server-kit";
import { readCoordinationConfig } from "./config.ts";
import { openCoordination } from "./coordination.ts";
import { InProcessInvalidationBus } from "./invalidation-bus.ts";

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 1));
    });
  });
}

describe("openCoordination", () => {
  test("without KEYHOLD_REDIS_URL: in-process parts", async () => {
    const coordination = await openCoordination(readCoordinationConfig({}), createSilentLogger());
    assert.equal(coordination.redis, undefined);
    assert.ok(coordination.bus instanceof InProcessInvalidationBus);
    assert.equal(await coordination.leases.runExclusive("job", 1000, () => Promise.resolve("ran")), "ran");
    await coordination.close();
  });

  test("Redis unreachable at start: starts within the connect timeout, limits locally, takes no lease, never throws", async () => {
    const port = await closedPort();
    const config = readCoordinationConfig({ KEYHOLD_REDIS_URL: `redis://127.0.0.1:${port}`, KEYHOLD_REDIS_CONNECT_TIMEOUT_MS: "300" });
    const started = Date.now();
    const coordination = await openCoordination(config, createSilentLogger());
    assert.ok(Date.now() - started < 1000);
    try {
      assert.equal(coordination.redis?.connected, false);
      const quota = { ratePerSecond: 0.01, burst: 1 };
      assert.equal((await coordination.limiter.take("a", quota)).allowed, true);
      assert.equal((await coordination.limiter.take("a", quota)).allowed, false);
      assert.equal(await coordination.leases.runExclusive("job", 1000, () => Promise.resolve("ran")), undefined);
      coordination.bus.publish("topic", "key");
    } finally {
      await coordination.close();
    }
  });
});
