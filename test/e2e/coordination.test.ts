// `keyhold dev` with KEYHOLD_REDIS_URL and quotas, over real gRPC: Encrypt past the account's
// symmetric quota is RESOURCE_EXHAUSTED with THROTTLED and google.rpc.RetryInfo, the refused
// call is audited (the audit step runs before the quota), control calls are not counted, and the
// rejection counter shows on /metrics by class only. With Redis stopped, calls keep answering
// quickly and stay limited; without KEYHOLD_REDIS_URL nothing changes for `keyhold dev`.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { readDevConfig, startDev, type DevInstance } from "@keyhold/cli";
import { redisServerAvailable, TestRedis } from "@keyhold/coordination/testing";
import { AuditService, CryptoService, ErrorInfoSchema, KeyService, RetryInfoSchema } from "@keyhold/proto";
import { createSilentLogger } from "@keyhold/server-kit";
import { generateApiKey, withCredential } from "../support/auth.ts";

describe("keyhold dev with Redis and quotas", { skip: !redisServerAvailable() && "redis-server is not installed" }, () => {
  let redis: TestRedis;
  let dataDir: string;
  let running: DevInstance;
  let credential: string;

  before(async () => {
    redis = await TestRedis.start();
    dataDir = await mkdtemp(join(tmpdir(), "keyhold-coordination-"));
    credential = generateApiKey();
    const config = readDevConfig(
      {
        KEYHOLD_DATA_DIR: dataDir,
        KEYHOLD_GRPC_ADDR: "127.0.0.1:0",
        KEYHOLD_HTTP_ADDR: "127.0.0.1:0",
        KEYHOLD_SHUTDOWN_GRACE_MS: "2000",
        KEYHOLD_BOOTSTRAP_API_KEY: credential,
        KEYHOLD_REDIS_URL: redis.url,
        KEYHOLD_QUOTA_SYMMETRIC_RPS: "1",
        KEYHOLD_QUOTA_SYMMETRIC_BURST: "3",
        KEYHOLD_METRICS_ALLOWED_PEERS: "127.0.0.1/32",
      },
      process.cwd(),
    );
    running = await startDev(config, createSilentLogger());
  });

  after(async () => {
    await running?.stop();
    await redis?.stop();
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  });

  test("Encrypt past the quota: RESOURCE_EXHAUSTED, THROTTLED, RetryInfo; audited; counted by class", async () => {
    const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${running.addresses.grpcPort}`, interceptors: [withCredential(credential)] });
    const keys = createClient(KeyService, transport);
    const crypto = createClient(CryptoService, transport);
    const key = (await keys.createKey({})).keyMetadata!;
    const plaintext = new Uint8Array([1, 2, 3]);
    let error: ConnectError | undefined;
    for (let i = 0; i < 10 && error === undefined; i++) {
      await crypto.encrypt({ keyId: key.keyId, plaintext }).catch((e: unknown) => {
        error = ConnectError.from(e);
      });
    }
    assert.ok(error !== undefined, "throttled within 10 calls");
    assert.equal(error.code, Code.ResourceExhausted);
    assert.equal(error.findDetails(ErrorInfoSchema)[0]?.reason, "THROTTLED");
    const retry = error.findDetails(RetryInfoSchema)[0]?.retryDelay;
    assert.ok(retry !== undefined);
    const delayMs = Number(retry.seconds) * 1000 + retry.nanos / 1e6;
    assert.ok(delayMs > 0 && delayMs <= 1000, String(delayMs));
    // Control calls have no quota configured.
    for (let i = 0; i < 5; i++) await keys.getKey({ keyId: key.keyId });

    // The refused call was audited with its reason.
    const audit = createClient(AuditService, transport);
    const deadline = Date.now() + 10_000;
    let throttled = 0;
    while (throttled === 0 && Date.now() < deadline) {
      const page = await audit.lookupEvents({ action: "kms:Encrypt", pageSize: 500 });
      throttled = page.events.filter((e) => e.outcome?.reason === "THROTTLED").length;
      if (throttled === 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(throttled >= 1, "a THROTTLED Encrypt event");

    const metrics = await fetch(`http://127.0.0.1:${running.addresses.httpPort}/metrics`).then((r) => r.text());
    const line = metrics.split("\n").find((l) => l.startsWith("keyhold_rate_limit_rejections_total{"));
    assert.ok(line !== undefined, "the rejection counter is exported");
    assert.match(line, /keyhold_operation_class="symmetric"/);
    assert.doesNotMatch(metrics, /keyhold_rate_limit_rejections[^\n]*\d{12}/, "no account id on the counter");
  });

  test("Redis stopped: calls answer quickly and stay limited (the local bucket)", async () => {
    const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${running.addresses.grpcPort}`, interceptors: [withCredential(credential)] });
    const crypto = createClient(CryptoService, transport);
    await redis.stop();
    try {
      const outcomes: (Code | "ok")[] = [];
      const times: number[] = [];
      for (let i = 0; i < 8; i++) {
        const started = performance.now();
        outcomes.push(await crypto.generateRandom({ numberOfBytes: 8 }).then(() => "ok" as const, (e: unknown) => ConnectError.from(e).code));
        times.push(performance.now() - started);
      }
      assert.ok(times.every((t) => t < 250), times.map((t) => t.toFixed(0)).join(","));
      assert.ok(outcomes.includes(Code.ResourceExhausted), "still limited");
    } finally {
      await redis.restart();
    }
  });
});
