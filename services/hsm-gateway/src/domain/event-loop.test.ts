// Slow token operations (RSA key generation, RSA and ECDSA signing) run on the libuv thread pool
// through pkcs11js's asynchronous calls: while they run, the event loop keeps ticking. Measured
// with a 5 ms interval timer and perf_hooks' event-loop delay histogram.
import assert from "node:assert/strict";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { after, before, test } from "node:test";
import { HsmKeySpec, HsmKeyUsage, HsmMessageType, HsmSigningAlgorithm } from "@keyhold/proto";
import { createSoftHsmToken, startTestGateway, type SoftHsmToken, type TestGateway } from "../test-support.ts";

let token: SoftHsmToken;
let gateway: TestGateway;
before(() => {
  token = createSoftHsmToken();
  gateway = startTestGateway(token, { KEYHOLD_HSM_POOL_SIZE: "4", KEYHOLD_HSM_CALL_TIMEOUT_MS: "60000" });
});
after(async () => {
  await gateway.close();
  token.remove();
});

/** Runs `work` while a 5 ms timer measures the longest gap between its ticks. */
async function lagDuring(work: () => Promise<unknown>): Promise<{ maxGapMs: number; p99Ms: number; workMs: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  let last = performance.now();
  let maxGapMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
  }, 5);
  const started = performance.now();
  try {
    await work();
  } finally {
    clearInterval(timer);
    histogram.disable();
  }
  return { maxGapMs, p99Ms: histogram.percentile(99) / 1e6, workMs: performance.now() - started };
}

test("RSA key generation and signing leave the event loop free (lag far below the operations' duration)", async (t) => {
  const c = gateway.client;
  // RSA key generation takes a random time: keep generating (two at a time) until there has been
  // enough of it to matter, so the measurement never depends on a lucky fast prime search.
  const generation = await lagDuring(async () => {
    const started = performance.now();
    let round = 0;
    do {
      const ids = round === 0 ? ["rsa-a", "rsa-b"] : [`rsa-extra-${round}-a`, `rsa-extra-${round}-b`];
      await Promise.all(ids.map((keyId) => c.generateKey({ keyId, keySpec: HsmKeySpec.RSA_3072, keyUsage: HsmKeyUsage.SIGN_VERIFY })));
      round++;
    } while (performance.now() - started < 300 && round < 20);
  });
  await c.generateKey({ keyId: "ec", keySpec: HsmKeySpec.EC_P384, keyUsage: HsmKeyUsage.SIGN_VERIFY });
  const signing = await lagDuring(() =>
    Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        i % 2 === 0
          ? c.sign({ keyId: "rsa-a", signingAlgorithm: HsmSigningAlgorithm.RSASSA_PSS_SHA_256, messageType: HsmMessageType.RAW, message: Buffer.from(`m${i}`) })
          : c.sign({ keyId: "ec", signingAlgorithm: HsmSigningAlgorithm.ECDSA_SHA_384, messageType: HsmMessageType.RAW, message: Buffer.from(`m${i}`) }),
      ),
    ),
  );
  for (const [what, m] of [["key generation", generation], ["signing", signing]] as const) {
    t.diagnostic(`${what}: ${m.workMs.toFixed(0)} ms of work, longest event-loop gap ${m.maxGapMs.toFixed(1)} ms, p99 delay ${m.p99Ms.toFixed(1)} ms`);
    // On a loaded 2-core machine a tick may be late by some ms; inline work would block for the
    // whole operation (hundreds of ms for RSA-3072 generation).
    assert.ok(m.maxGapMs < Math.max(150, m.workMs / 3), `${what}: longest event-loop gap ${m.maxGapMs.toFixed(1)} ms during ${m.workMs.toFixed(0)} ms of work`);
    assert.ok(m.p99Ms < 150, `${what}: p99 event-loop delay ${m.p99Ms.toFixed(1)} ms`);
  }
  assert.ok(generation.workMs > 100, `RSA-3072 generation is slow enough to have mattered (${generation.workMs.toFixed(0)} ms)`);
});
