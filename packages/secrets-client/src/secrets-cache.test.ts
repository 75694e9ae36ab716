// The caching client against a SecretsService served in process (a Connect router): TTL,
// per-secret TTL, stale values with exponential backoff while the service fails, refreshNow,
// labels, shared concurrent fetches.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { SecretsService } from "@keyhold/proto";
import { SecretsCache } from "./secrets-cache.ts";

function fakeService() {
  const state = { calls: 0, failing: false, values: new Map<string, string>([["db/CURRENT", "v1"], ["db/PREVIOUS", "v0"]]), gate: undefined as Promise<void> | undefined };
  const transport = createRouterTransport(({ service }) => {
    service(SecretsService, {
      getSecretValue: async (request) => {
        state.calls++;
        await state.gate;
        if (state.failing) throw new ConnectError("down", Code.Unavailable);
        const stage = request.versionStage === "" ? "CURRENT" : request.versionStage;
        const value = state.values.get(`${request.secretId}/${stage}`);
        if (value === undefined) throw new ConnectError("secret_id: secret not found", Code.NotFound);
        return { name: request.secretId, krn: `krn:keyhold:secrets:local:000000000001:secret/${request.secretId}`, versionId: `${value}-id`.padEnd(32, "0"), secretString: value, versionStages: [stage] };
      },
    });
  });
  return { state, client: createClient(SecretsService, transport) };
}

describe("SecretsCache", () => {
  test("serves from memory for the TTL (default 1 hour), then fetches again", async () => {
    const { state, client } = fakeService();
    let now = 1_000_000;
    const cache = new SecretsCache({ client, now: () => now });
    assert.equal(await cache.getSecretString("db"), "v1");
    assert.equal(await cache.getSecretString("db"), "v1");
    assert.equal(state.calls, 1);
    state.values.set("db/CURRENT", "v2");
    now += 3_600_000 - 1;
    assert.equal(await cache.getSecretString("db"), "v1");
    now += 1;
    assert.equal(await cache.getSecretString("db"), "v2");
    assert.equal(state.calls, 2);
  });

  test("a per-secret TTL, fetching by label, refreshNow", async () => {
    const { state, client } = fakeService();
    let now = 0;
    const cache = new SecretsCache({ client, now: () => now });
    assert.equal(await cache.getSecretString("db", { ttlMs: 10 }), "v1");
    assert.equal((await cache.getSecret("db", { versionStage: "PREVIOUS" })).secretString, "v0");
    state.values.set("db/CURRENT", "v2");
    now = 10;
    assert.equal(await cache.getSecretString("db"), "v2", "the entry keeps its own TTL");
    state.values.set("db/CURRENT", "v3");
    assert.equal((await cache.refreshNow("db")).secretString, "v3");
    assert.equal(await cache.getSecretString("db"), "v3");
  });

  test("stale values while refreshing fails, with exponential backoff; errors without a value", async () => {
    const { state, client } = fakeService();
    let now = 0;
    const cache = new SecretsCache({ client, now: () => now, ttlMs: 100, backoffInitialMs: 1_000, backoffMaxMs: 4_000 });
    await cache.getSecret("db");
    state.failing = true;
    now = 100;
    const stale = await cache.getSecret("db");
    assert.deepEqual([stale.secretString, stale.stale], ["v1", true]);
    assert.equal(state.calls, 2);
    now = 100 + 999;
    await cache.getSecret("db");
    assert.equal(state.calls, 2, "waits out the backoff");
    now = 100 + 1_000;
    await cache.getSecret("db");
    assert.equal(state.calls, 3);
    now += 1_999;
    await cache.getSecret("db");
    assert.equal(state.calls, 3, "the second wait is twice as long");
    now += 1;
    await cache.getSecret("db");
    assert.equal(state.calls, 4);
    now += 4_000;
    await cache.getSecret("db");
    now += 4_000;
    await cache.getSecret("db");
    assert.equal(state.calls, 6, "capped at backoffMaxMs");
    await assert.rejects(cache.refreshNow("db"), (e: unknown) => ConnectError.from(e).code === Code.Unavailable);
    assert.equal((await cache.getSecret("db")).secretString, "v1", "refreshNow's failure keeps the value");
    state.failing = false;
    now += 4_000;
    const fresh = await cache.getSecret("db");
    assert.equal(fresh.stale, false);
    await assert.rejects(cache.getSecret("missing"), (e: unknown) => ConnectError.from(e).code === Code.NotFound);
  });

  test("concurrent reads share one fetch", async () => {
    const { state, client } = fakeService();
    let release!: () => void;
    state.gate = new Promise((resolve) => {
      release = resolve;
    });
    const cache = new SecretsCache({ client });
    const reads = [cache.getSecretString("db"), cache.getSecretString("db"), cache.getSecretString("db")];
    release();
    assert.deepEqual(await Promise.all(reads), ["v1", "v1", "v1"]);
    assert.equal(state.calls, 1);
  });
});
