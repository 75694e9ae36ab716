// KEYHOLD_XKI_HSM_CALL_MODE=inline: AES-GCM on the event loop for a microsecond HSM. The API is
// the same (round trip, tampering); a call slower than INLINE_SLOW_MS switches to the thread pool,
// after which a slow HSM answers DependencyTimeoutException at the deadline again.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import pkcs11js from "pkcs11js";
import { createJsonLogger } from "@keyhold/server-kit";
import { startXkiProxyForTests, type TestXkiProxy } from "../test-support.ts";
import { decryptBody, encryptBody } from "./support.ts";

let syncDelayMs = 0;
let asyncDelayMs = 0;
function slowModule(path: string): pkcs11js.PKCS11 {
  const module = new pkcs11js.PKCS11();
  module.load(path);
  const encrypt: (session: Buffer, input: Buffer, output: Buffer) => Buffer = module.C_Encrypt.bind(module);
  const encryptAsync = module.C_EncryptAsync.bind(module);
  module.C_Encrypt = ((session: Buffer, input: Buffer, output: Buffer) => {
    const until = performance.now() + syncDelayMs;
    while (performance.now() < until) {
      // A slow call that holds the thread, as a real inline call would.
    }
    return encrypt(session, input, output);
  });
  module.C_EncryptAsync = async (session, input, output) => {
    if (asyncDelayMs > 0) await sleep(asyncDelayMs);
    return encryptAsync(session, input, output);
  };
  return module;
}

const lines: string[] = [];
let proxy: TestXkiProxy;
before(async () => {
  proxy = await startXkiProxyForTests({
    overrides: { load: slowModule },
    env: { KEYHOLD_XKI_HSM_CALL_MODE: "inline" },
    logger: createJsonLogger({ write: (line) => lines.push(line) }),
  });
  await proxy.admin.createKey({ externalKeyId: "k1" });
});
after(async () => {
  await proxy.close();
});

test("inline: round trip and tampering as in thread-pool mode", async () => {
  const aad = Buffer.from("ctx");
  const sealed = await proxy.xks("encrypt", "k1", encryptBody(Buffer.from("inline"), aad, true));
  assert.equal(sealed.status, 200);
  assert.equal((await proxy.xks("decrypt", "k1", decryptBody(sealed.body, aad))).body["plaintext"], Buffer.from("inline").toString("base64"));
  const wrong = await proxy.xks("decrypt", "k1", decryptBody(sealed.body, Buffer.from("ctX")));
  assert.equal(wrong.body["errorName"], "InvalidCiphertextException");
});

test("a slow inline call switches to the thread pool, where a slow HSM times out at the deadline", async () => {
  syncDelayMs = 30;
  assert.equal((await proxy.xks("encrypt", "k1", encryptBody(Buffer.from("x")))).status, 200);
  syncDelayMs = 0;
  assert.ok(lines.some((l) => l.includes("an inline HSM call was slow")), "the switch is logged");
  asyncDelayMs = 1_000;
  try {
    const started = performance.now();
    const answer = await proxy.xks("encrypt", "k1", encryptBody(Buffer.from("x")));
    assert.equal(answer.body["errorName"], "DependencyTimeoutException");
    assert.ok(performance.now() - started < 400);
  } finally {
    asyncDelayMs = 0;
  }
});
