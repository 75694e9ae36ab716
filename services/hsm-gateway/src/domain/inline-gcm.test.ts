// AES-GCM runs inline on a session that is free right now (no queue: the pool's wait counter
// does not move), and falls back to the queue when every session is busy with a slow operation.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { HsmKeySpec, HsmKeyUsage } from "@keyhold/proto";
import { createSoftHsmToken, startTestGateway, type SoftHsmToken, type TestGateway } from "../test-support.ts";

describe("inline AES-GCM", () => {
  let token: SoftHsmToken;
  let gateway: TestGateway;
  before(async () => {
    token = createSoftHsmToken();
    gateway = startTestGateway(token, { KEYHOLD_HSM_POOL_SIZE: "1" });
    await gateway.client.generateKey({ keyId: "aes", keySpec: HsmKeySpec.AES_256, keyUsage: HsmKeyUsage.ENCRYPT_DECRYPT });
  });
  after(async () => {
    await gateway.close();
    token.remove();
  });

  test("with a session free: many calls in flight run at once, without waiting in the queue", async () => {
    const waitsBefore = gateway.app.context.metrics.snapshot().wait.count;
    const plaintexts = Array.from({ length: 200 }, (_, i) => Buffer.from(`message ${i}`));
    const sealed = await Promise.all(plaintexts.map((plaintext) => gateway.client.encrypt({ keyId: "aes", plaintext, aad: Buffer.from("aad") })));
    const opened = await Promise.all(sealed.map(({ iv, ciphertext }) => gateway.client.decrypt({ keyId: "aes", iv, ciphertext, aad: Buffer.from("aad") })));
    assert.deepEqual(opened.map((o) => Buffer.from(o.plaintext).toString()), plaintexts.map((p) => p.toString()));
    const snapshot = gateway.app.context.metrics.snapshot();
    assert.equal(snapshot.wait.count, waitsBefore, "no call went through the queue");
    assert.equal(snapshot.pool.size, 1, "one session served them all");
    assert.equal(snapshot.pool.inUse, 0);
  });

  test("with the only session busy (RSA-4096 generation): AES-GCM waits in the queue and then succeeds", async () => {
    const generating = gateway.client.generateKey({ keyId: "rsa", keySpec: HsmKeySpec.RSA_4096, keyUsage: HsmKeyUsage.SIGN_VERIFY });
    // The generation holds the only session on the thread pool.
    for (let i = 0; i < 100 && gateway.app.context.pool.gauges().inUse === 0; i++) await new Promise((resolve) => setTimeout(resolve, 1));
    assert.equal(gateway.app.context.pool.gauges().inUse, 1, "the generation holds the session");
    const waitsBefore = gateway.app.context.metrics.snapshot().wait.count;
    const sealed = await Promise.all([1, 2, 3].map((n) => gateway.client.encrypt({ keyId: "aes", plaintext: Buffer.from([n]) })));
    await generating;
    for (const [index, { iv, ciphertext }] of sealed.entries()) {
      assert.deepEqual(Buffer.from((await gateway.client.decrypt({ keyId: "aes", iv, ciphertext })).plaintext), Buffer.from([index + 1]));
    }
    assert.ok(gateway.app.context.metrics.snapshot().wait.count >= waitsBefore + 3, "they waited for the session");
  });
});
