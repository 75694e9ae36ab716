// Hold Your Own Key end to end over real gRPC (HTTP/2) with `keyhold dev`: key-service → a real
// xki-proxy (the `keyhold xki-proxy` command in its own process) → SoftHSMv2 on a token of its
// own. Create and connect an external key store, create a key, encrypt and decrypt, disable the
// external key in the external HSM and see calls refused, stop the proxy and see Unavailable,
// start it and see recovery.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { CryptoService, ErrorInfoSchema, ExternalKeyStoreConnectionState, KeyService, KeyState, Origin } from "@keyhold/proto";
import { withCredential } from "../support/auth.ts";
import { DEV_REGION, startTestServer, type TestServer } from "../support/server.ts";
import { startRealXksProxy, type RealXksProxy } from "../support/xki-proxy.ts";

/** xki-proxy signing requests for key-service's region. */
const startXksProxy = (): Promise<RealXksProxy> => startRealXksProxy(DEV_REGION);

async function refusal(call: Promise<unknown>): Promise<{ code: Code; reason: string | undefined }> {
  try {
    await call;
  } catch (error) {
    const connect = ConnectError.from(error);
    return { code: connect.code, reason: connect.findDetails(ErrorInfoSchema)[0]?.reason };
  }
  return assert.fail("the call succeeded");
}

describe("external key store end to end (keyhold dev over gRPC)", () => {
  let server: TestServer;
  let proxy: RealXksProxy;
  let keys: Client<typeof KeyService>;
  let crypto: Client<typeof CryptoService>;

  before(async () => {
    server = await startTestServer();
    proxy = await startXksProxy();
    const transport = createGrpcTransport({ baseUrl: server.grpcBaseUrl, interceptors: [withCredential(server.credential)] });
    keys = createClient(KeyService, transport);
    crypto = createClient(CryptoService, transport);
  });
  after(async () => {
    await proxy.close();
    await server.stop();
  });

  test("create, connect, encrypt, decrypt; external key disabled; proxy stopped and started", async () => {
    await proxy.createKey("hyok-e2e");
    const store = (
      await keys.createExternalKeyStore({
        externalKeyStoreName: "e2e",
        xksProxyUriEndpoint: proxy.endpoint,
        xksProxyUriPath: proxy.uriPath,
        xksProxyAuthenticationCredential: proxy.credential,
      })
    ).externalKeyStore!;
    const connected = (await keys.connectExternalKeyStore({ externalKeyStoreId: store.externalKeyStoreId })).externalKeyStore!;
    assert.equal(connected.connectionState, ExternalKeyStoreConnectionState.CONNECTED);
    const key = (await keys.createKey({ origin: Origin.EXTERNAL_KEY_STORE, externalKeyStoreId: store.krn, xksKeyId: "hyok-e2e", description: "HYOK" })).keyMetadata!;
    assert.equal(key.keyState, KeyState.ENABLED);

    const encryptionContext = { purpose: "e2e" };
    const plaintext = new TextEncoder().encode("kept in my own HSM");
    const sealed = await crypto.encrypt({ keyId: key.keyId, plaintext, encryptionContext });
    assert.deepEqual((await crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob, encryptionContext })).plaintext, plaintext);

    await proxy.disableKey("hyok-e2e");
    assert.deepEqual(await refusal(crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob, encryptionContext })), { code: Code.FailedPrecondition, reason: "KEY_INVALID_STATE" });
    assert.deepEqual(await refusal(crypto.encrypt({ keyId: key.keyId, plaintext })), { code: Code.FailedPrecondition, reason: "KEY_INVALID_STATE" });
    await proxy.enableKey("hyok-e2e");

    await proxy.stop();
    try {
      const unavailable = { code: Code.Unavailable, reason: "EXTERNAL_KEY_STORE_UNAVAILABLE" };
      assert.deepEqual(await refusal(crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob, encryptionContext })), unavailable);
      assert.deepEqual(await refusal(crypto.generateDataKey({ keyId: key.keyId, numberOfBytes: 32 })), unavailable);
      assert.equal((await keys.getKey({ keyId: key.keyId })).keyMetadata!.keyState, KeyState.UNAVAILABLE);
    } finally {
      await proxy.start();
    }
    assert.equal((await keys.getKey({ keyId: key.keyId })).keyMetadata!.keyState, KeyState.ENABLED);
    assert.deepEqual((await crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob, encryptionContext })).plaintext, plaintext);
    const dataKey = await crypto.generateDataKey({ keyId: key.keyId, numberOfBytes: 32 });
    assert.deepEqual((await crypto.decrypt({ ciphertextBlob: dataKey.ciphertextBlob })).plaintext, dataKey.plaintext);

    // Keyhold sends the proxy only its own inner ciphertext, never the caller's plaintext; the
    // proxy logs neither that nor the data key.
    const logged = proxy.output();
    for (const secret of [Buffer.from(plaintext), Buffer.from(dataKey.plaintext)]) {
      assert.ok(!logged.includes(secret.toString("base64")) && !logged.includes(secret.toString("hex")), "no plaintext or data key in the proxy's log");
    }
    assert.ok(!logged.includes("kept in my own HSM"));
  });
});
