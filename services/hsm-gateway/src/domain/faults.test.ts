// Faults on a real SoftHSMv2 token: the token directory removed and restored, the token
// re-initialized, sessions closed under the gateway, the pool exhausted, a deadline shorter than
// the operation. Calls fail with the right code, none hangs, and the gateway serves again
// afterwards without a restart.
import assert from "node:assert/strict";
import { renameSync } from "node:fs";
import { afterEach, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema, HsmKeySpec, HsmKeyUsage, HsmMessageType, HsmSigningAlgorithm } from "@keyhold/proto";
import { createJsonLogger } from "@keyhold/server-kit";
import { createSoftHsmToken, refusal, startTestGateway, USER_PIN, type SoftHsmToken, type TestGateway } from "../test-support.ts";

interface Outcome {
  readonly ok: boolean;
  readonly code?: Code;
  readonly reason?: string | undefined;
  readonly ms: number;
}

/** Runs `call` in `workers` loops until stop() and records every outcome. */
function load(call: () => Promise<unknown>, workers: number) {
  const outcomes: Outcome[] = [];
  let running = true;
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      const started = performance.now();
      try {
        await call();
        outcomes.push({ ok: true, ms: performance.now() - started });
      } catch (error) {
        outcomes.push({ ok: false, code: ConnectError.from(error).code, reason: reasonOf(error), ms: performance.now() - started });
        await sleep(5);
      }
      // In-memory calls on inline operations complete in microtasks: let timers run.
      await new Promise((resolve) => setImmediate(resolve));
    }
  });
  return {
    outcomes,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

function reasonOf(error: unknown): string | undefined {
  return ConnectError.from(error).findDetails(ErrorInfoSchema)[0]?.reason;
}

/** Polls `call` until it succeeds; answers how long that took. */
async function untilServing(call: () => Promise<unknown>, withinMs: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    try {
      await call();
      return performance.now() - started;
    } catch (error) {
      if (performance.now() - started > withinMs) throw new Error(`not serving again within ${withinMs} ms: ${String(error)}`);
      await sleep(50);
    }
  }
}

describe("faults", () => {
  let token: SoftHsmToken | undefined;
  let gateway: TestGateway | undefined;
  const start = (env: Readonly<Record<string, string>> = {}) => {
    token = createSoftHsmToken();
    gateway = startTestGateway(token, { KEYHOLD_HSM_CALL_TIMEOUT_MS: "3000", ...env });
    return { token, gateway, client: gateway.client };
  };
  afterEach(async () => {
    await gateway?.close();
    token?.remove();
    gateway = undefined;
    token = undefined;
  });

  test("the token directory removed while calls run: UNAVAILABLE HSM_UNAVAILABLE, never KEY_NOT_FOUND; restored, it is served again within seconds", async () => {
    const { token, client } = start();
    await client.generateKey({ keyId: "aes", keySpec: HsmKeySpec.AES_256, keyUsage: HsmKeyUsage.ENCRYPT_DECRYPT });
    await client.generateKey({ keyId: "ec", keySpec: HsmKeySpec.EC_P256, keyUsage: HsmKeyUsage.SIGN_VERIFY });
    const encrypting = load(() => client.encrypt({ keyId: "aes", plaintext: Buffer.from("data") }), 3);
    const signing = load(() => client.sign({ keyId: "ec", signingAlgorithm: HsmSigningAlgorithm.ECDSA_SHA_256, messageType: HsmMessageType.RAW, message: Buffer.from("m") }), 2);
    await sleep(200);
    renameSync(token.tokenDir, `${token.tokenDir}.away`);
    await sleep(600);
    const whileAway = encrypting.outcomes.length + signing.outcomes.length;
    const status = await client.getStatus({});
    assert.equal(status.tokenPresent, false, "GetStatus reports the token missing");
    renameSync(`${token.tokenDir}.away`, token.tokenDir);
    const tookMs = await untilServing(() => client.encrypt({ keyId: "aes", plaintext: Buffer.from("back") }), 5000);
    await sleep(200);
    await encrypting.stop();
    await signing.stop();
    const all = [...encrypting.outcomes, ...signing.outcomes];
    const failures = all.filter((o) => !o.ok);
    assert.ok(failures.length > 0, "calls failed while the token was away");
    for (const failure of failures) assert.deepEqual([failure.code, failure.reason], [Code.Unavailable, "HSM_UNAVAILABLE"]);
    assert.ok(all.every((o) => o.ms < 3500), "no call outlived its deadline");
    assert.ok(all.length > whileAway, "calls kept being answered");
    assert.ok(tookMs < 3000, `served again after ${Math.round(tookMs)} ms`);
    const afterwards = await client.getStatus({});
    assert.deepEqual([afterwards.tokenPresent, afterwards.loggedIn], [true, true]);
    // Both kinds of operation work again on the same keys.
    await client.sign({ keyId: "ec", signingAlgorithm: HsmSigningAlgorithm.ECDSA_SHA_256, messageType: HsmMessageType.RAW, message: Buffer.from("m") });
  });

  test("the token re-initialized while calls run: its old keys are KEY_NOT_FOUND, new keys work, no restart", async () => {
    const { token, client } = start();
    await client.generateKey({ keyId: "old", keySpec: HsmKeySpec.AES_256, keyUsage: HsmKeyUsage.ENCRYPT_DECRYPT });
    const running = load(() => client.encrypt({ keyId: "old", plaintext: Buffer.from("data") }), 3);
    await sleep(200);
    token.reinitialize();
    await sleep(500);
    await running.stop();
    const failures = running.outcomes.filter((o) => !o.ok);
    assert.ok(failures.length > 0);
    for (const failure of failures) {
      assert.ok(
        (failure.code === Code.NotFound && failure.reason === "KEY_NOT_FOUND") || (failure.code === Code.Unavailable && failure.reason === "HSM_UNAVAILABLE"),
        `unexpected ${failure.code} ${failure.reason}`,
      );
    }
    const last = await refusal(client.encrypt({ keyId: "old", plaintext: Buffer.from("data") }));
    assert.deepEqual([last.code, last.reason], [Code.NotFound, "KEY_NOT_FOUND"], "the new token does not have the old key");
    await untilServing(() => client.generateKey({ keyId: "new", keySpec: HsmKeySpec.AES_256, keyUsage: HsmKeyUsage.ENCRYPT_DECRYPT }), 3000);
    const sealed = await client.encrypt({ keyId: "new", plaintext: Buffer.from("fresh") });
    assert.equal(Buffer.from((await client.decrypt({ keyId: "new", iv: sealed.iv, ciphertext: sealed.ciphertext })).plaintext).toString(), "fresh");
  });

  test("sessions and the login closed under the gateway (C_CloseAllSessions): the next call re-opens, logs in again and succeeds", async () => {
    const { client, gateway } = start();
    await client.generateKey({ keyId: "aes", keySpec: HsmKeySpec.AES_256, keyUsage: HsmKeyUsage.ENCRYPT_DECRYPT });
    await client.encrypt({ keyId: "aes", plaintext: Buffer.from("warm") });
    const { token: connection, pool } = gateway.app.context;
    const lease = await pool.acquire(performance.now() + 1000);
    const slot = connection.module.C_GetSessionInfo(lease.session).slotID;
    pool.release(lease, "none");
    connection.module.C_CloseAllSessions(slot);
    // The pooled session is invalid and the token forgot the login: one call recovers both.
    const sealed = await client.encrypt({ keyId: "aes", plaintext: Buffer.from("after") });
    assert.equal(sealed.iv.length, 12);
    const status = await client.getStatus({});
    assert.deepEqual([status.tokenPresent, status.loggedIn], [true, true]);
    const errors = gateway.app.context.metrics.snapshot().errors;
    assert.ok((errors["Encrypt:CKR_SESSION_HANDLE_INVALID"] ?? 0) >= 1, JSON.stringify(errors));
  });

  test("the pool exhausted: a call waits for a session until its deadline, then RESOURCE_EXHAUSTED HSM_BUSY; served again once a session is free", async () => {
    const { client, gateway } = start({ KEYHOLD_HSM_POOL_SIZE: "2", KEYHOLD_HSM_CALL_TIMEOUT_MS: "300" });
    await client.generateKey({ keyId: "aes", keySpec: HsmKeySpec.AES_256, keyUsage: HsmKeyUsage.ENCRYPT_DECRYPT });
    const { pool } = gateway.app.context;
    // Take every session, as long-running operations would.
    const held = [await pool.acquire(performance.now() + 1000), await pool.acquire(performance.now() + 1000)];
    assert.deepEqual(pool.gauges(), { size: 2, inUse: 2, waiting: 0, capacity: 2 });
    const started = performance.now();
    const busy = await refusal(client.encrypt({ keyId: "aes", plaintext: Buffer.from("m") }));
    const waited = performance.now() - started;
    assert.deepEqual([busy.code, busy.reason], [Code.ResourceExhausted, "HSM_BUSY"]);
    assert.ok(waited >= 250 && waited < 1500, `answered after ${Math.round(waited)} ms`);
    // A waiting call gets the first session released.
    const waiting = client.encrypt({ keyId: "aes", plaintext: Buffer.from("m") });
    await sleep(50);
    assert.equal(pool.gauges().waiting, 1);
    pool.release(held[0]!, "none");
    assert.equal((await waiting).iv.length, 12);
    pool.release(held[1]!, "none");
    await client.encrypt({ keyId: "aes", plaintext: Buffer.from("m") });
    const metrics = gateway.app.context.metrics.snapshot();
    assert.ok(metrics.wait.maxMs >= 250, "the wait is measured");
    assert.equal(metrics.errors["Encrypt:HSM_BUSY"], 1);
    assert.match(gateway.app.context.metrics.prometheus(), /keyhold_hsm_pool_sessions_in_use 0/);
  });

  test("a deadline shorter than the operation: DEADLINE_EXCEEDED HSM_TIMEOUT at the deadline; the late key is removed; the gateway serves on", async () => {
    const { client, gateway, token } = start({ KEYHOLD_HSM_CALL_TIMEOUT_MS: "40" });
    const started = performance.now();
    const late = await refusal(client.generateKey({ keyId: "slow-rsa", keySpec: HsmKeySpec.RSA_4096, keyUsage: HsmKeyUsage.SIGN_VERIFY }));
    const answeredMs = performance.now() - started;
    assert.deepEqual([late.code, late.reason], [Code.DeadlineExceeded, "HSM_TIMEOUT"]);
    assert.ok(answeredMs < 1000, `answered after ${Math.round(answeredMs)} ms`);
    // The generation finishes on the thread pool; then the key it made is destroyed.
    const { pool } = gateway.app.context;
    for (let i = 0; i < 600 && (pool.gauges().inUse > 0 || /slow-rsa/.test(token.listObjects())); i++) await sleep(50);
    assert.doesNotMatch(token.listObjects(), /slow-rsa/, "a key the caller was told failed does not appear");
    assert.equal(pool.gauges().inUse, 0);
    await client.generateRandom({ length: 16 });
    // The caller's own shorter deadline counts too.
    const own = await client.generateKey({ keyId: "k", keySpec: HsmKeySpec.RSA_4096, keyUsage: HsmKeyUsage.SIGN_VERIFY }, { timeoutMs: 30 }).then(
      () => undefined,
      (error: unknown) => ConnectError.from(error).code,
    );
    assert.equal(own, Code.DeadlineExceeded);
  });

  test("a token absent at start: the gateway starts, answers HSM_UNAVAILABLE, and serves once the token appears; the PIN is never logged", async () => {
    token = createSoftHsmToken("present-token");
    const lines: string[] = [];
    const logger = createJsonLogger({ level: "debug", write: (line) => lines.push(line) });
    gateway = startTestGateway({ ...token, label: "late-token" }, {}, {}, logger);
    const client = gateway.client;
    const absent = await refusal(client.generateRandom({ length: 8 }));
    assert.deepEqual([absent.code, absent.reason], [Code.Unavailable, "HSM_UNAVAILABLE"]);
    assert.equal((await client.getStatus({})).tokenPresent, false);
    token.run("softhsm2-util", ["--init-token", "--free", "--label", "late-token", "--pin", USER_PIN, "--so-pin", "0000-so"]);
    const tookMs = await untilServing(() => client.generateRandom({ length: 8 }), 3000);
    assert.ok(tookMs < 2000, `served after ${Math.round(tookMs)} ms`);
    assert.equal((await client.getStatus({})).tokenLabel, "late-token");
    assert.ok(lines.length > 0, "the gateway logged its connection attempts");
    for (const line of lines) assert.ok(!line.includes(USER_PIN), "no log line holds the PIN");
  });
});
