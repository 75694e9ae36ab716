// The test factories other engineers' end-to-end tests use: a proxy in a child process (beside
// another SoftHSM token in this process), and one in this process on a second token of an
// existing SoftHSM setup.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createSoftHsmToken, type SoftHsmToken } from "@keyhold/pkcs11/testing";
import { startXkiProxyForTests, startXkiProxyProcessForTests } from "./test-support.ts";
import { decryptBody, encryptBody } from "./conformance/support.ts";

let other: SoftHsmToken;
before(() => {
  other = createSoftHsmToken("keyhold-test");
});
after(() => {
  other.remove();
});

test("startXkiProxyProcessForTests: a proxy in its own process serves, is administered, and stops", async () => {
  const proxy = await startXkiProxyProcessForTests();
  try {
    await proxy.admin.createKey({ externalKeyId: "e2e-key" });
    const sealed = await proxy.xks("encrypt", "e2e-key", encryptBody(Buffer.from("hello")));
    assert.equal(sealed.status, 200, JSON.stringify(sealed.body));
    const back = await proxy.xks("decrypt", "e2e-key", decryptBody(sealed.body));
    assert.equal(back.body["plaintext"], Buffer.from("hello").toString("base64"));
    assert.equal(proxy.credentials.length, 2);
  } finally {
    await proxy.close();
  }
  await assert.rejects(fetch(`${proxy.endpoint}/ping`));
});

test("startXkiProxyForTests({ softHsm }): the proxy's own token beside another in the same SoftHSM setup", async () => {
  const proxy = await startXkiProxyForTests({ softHsm: other, tokenLabel: "xki-beside" });
  try {
    await proxy.admin.createKey({ externalKeyId: "beside-key" });
    assert.equal((await proxy.xks("encrypt", "beside-key", encryptBody(Buffer.from("x")))).status, 200);
    assert.match(other.run("softhsm2-util", ["--show-slots"]), /xki-beside/);
  } finally {
    await proxy.close();
  }
});
