// The distributed topology with an HSM (SoftHSMv2): `keyhold topology` with a PKCS#11 module
// configured also runs hsm-gateway as its own process, and key-service reaches it over mTLS as
// itself for its root key (KEYHOLD_ROOT_KEY=hsm) and for HSM-held keys. hsm-gateway answers
// Keyhold services only: an outside client on its port (TLS, no service certificate) is refused.
// With xki-proxy's own HSM configured too (a second token: the customer's), the launcher also runs
// xki-proxy as its own process, and key-service's external keys (HYOK) go through it.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createSoftHsmToken, USER_PIN, type SoftHsmToken } from "@keyhold/hsm-gateway/testing";
import { CryptoService, ExternalKeyStoreConnectionState, HsmService, KeyService, Origin, XkiAdminService } from "@keyhold/proto";
import { DEV_REGION } from "../support/server.ts";
import { startTestTopology, type TestTopology } from "../support/topology.ts";

let token: SoftHsmToken;
/** The customer's HSM behind xki-proxy: a token of its own, in the same SoftHSMv2 configuration (one SOFTHSM2_CONF for the topology). */
const CUSTOMER_TOKEN_LABEL = "keyhold-topology-xki";
let topology: TestTopology;
const XKI_ADMIN_TOKEN = "topology-xki-admin-token-0123456789";
const XKI_PREFIX = "hyok";
const XKI_CREDENTIAL = { accessKeyId: "AKIAXKITOPOLOGYEXTERNAL", rawSecretAccessKey: "TopologyXkiProxySecretAccessKey0123456789abcd" };

before(async () => {
  token = createSoftHsmToken("keyhold-topology-e2e");
  const pinFile = join(token.dir, "hsm-pin");
  await writeFile(pinFile, `${USER_PIN}\n`, { mode: 0o600 });
  token.addToken(CUSTOMER_TOKEN_LABEL);
  const credentialsFile = join(token.dir, "xki-credentials.json");
  await writeFile(
    credentialsFile,
    JSON.stringify({ prefixes: [{ prefix: XKI_PREFIX, credentials: [{ accessKeyId: XKI_CREDENTIAL.accessKeyId, secretAccessKey: XKI_CREDENTIAL.rawSecretAccessKey }] }] }),
    { mode: 0o600 },
  );
  topology = await startTestTopology({
    keyServiceReplicas: 1,
    env: {
      SOFTHSM2_CONF: token.conf,
      KEYHOLD_HSM_MODULE: token.modulePath,
      KEYHOLD_HSM_TOKEN_LABEL: token.label,
      KEYHOLD_HSM_PIN_FILE: pinFile,
      KEYHOLD_ROOT_KEY: "hsm",
      KEYHOLD_XKI_HSM_MODULE: token.modulePath,
      KEYHOLD_XKI_HSM_TOKEN_LABEL: CUSTOMER_TOKEN_LABEL,
      KEYHOLD_XKI_HSM_PIN: USER_PIN,
      KEYHOLD_XKI_CREDENTIALS_FILE: credentialsFile,
      KEYHOLD_XKI_ADMIN_TOKEN: XKI_ADMIN_TOKEN,
      KEYHOLD_XKI_REGION: DEV_REGION,
    },
  });
});

after(async () => {
  await topology?.stop();
  token?.remove();
});

describe("keyhold topology with hsm-gateway (SoftHSMv2)", () => {
  test("hsm-gateway runs as its own process", () => {
    assert.ok(topology.addresses.services["hsm-gateway"] !== undefined);
    assert.ok((topology.addresses.pids["hsm-gateway"] ?? 0) > 0);
  });

  test("software keys under the HSM root key and HSM-held keys, through key-service, which calls hsm-gateway over mTLS", async () => {
    const keys = createClient(KeyService, topology.grpc("key-service"));
    const crypto = createClient(CryptoService, topology.grpc("key-service"));
    const plaintext = new TextEncoder().encode("via hsm-gateway");
    for (const origin of [Origin.SOFTWARE, Origin.HSM]) {
      const keyId = (await keys.createKey({ origin }, { timeoutMs: 20_000 })).keyMetadata!.keyId;
      const { ciphertextBlob } = await crypto.encrypt({ keyId, plaintext }, { timeoutMs: 20_000 });
      const { plaintext: back } = await crypto.decrypt({ ciphertextBlob }, { timeoutMs: 20_000 });
      assert.deepEqual(back, plaintext);
    }
    assert.match(token.listObjects(), /keyhold-root-key/);
  });

  test("an outside client on hsm-gateway's port is refused", async () => {
    const hsm = createClient(HsmService, topology.grpc("hsm-gateway", []));
    const error = ConnectError.from(await hsm.getStatus({}, { timeoutMs: 10_000 }).then(() => assert.fail("expected PERMISSION_DENIED"), (e: unknown) => e));
    assert.equal(error.code, Code.PermissionDenied);
  });

  test("xki-proxy runs as its own process; an external key (HYOK) encrypts and decrypts through it", async () => {
    const xki = topology.addresses.xkiProxy;
    assert.ok(xki !== undefined && xki.admin !== undefined, "the launcher reports xki-proxy's addresses");
    assert.ok((topology.addresses.pids["xki-proxy"] ?? 0) > 0);
    assert.equal((await fetch(`${xki.endpoint}/ping`)).status, 200);
    const bearer: Interceptor = (next) => (request) => {
      request.header.set("authorization", `Bearer ${XKI_ADMIN_TOKEN}`);
      return next(request);
    };
    await createClient(XkiAdminService, createGrpcTransport({ baseUrl: `http://${xki.admin}`, interceptors: [bearer] })).createKey({ externalKeyId: "topology-hyok" });
    const keys = createClient(KeyService, topology.grpc("key-service"));
    const crypto = createClient(CryptoService, topology.grpc("key-service"));
    const store = (
      await keys.createExternalKeyStore(
        { externalKeyStoreName: "topology", xksProxyUriEndpoint: xki.endpoint, xksProxyUriPath: `/${XKI_PREFIX}/kms/xks/v1`, xksProxyAuthenticationCredential: XKI_CREDENTIAL },
        { timeoutMs: 20_000 },
      )
    ).externalKeyStore!;
    const connected = (await keys.connectExternalKeyStore({ externalKeyStoreId: store.externalKeyStoreId }, { timeoutMs: 20_000 })).externalKeyStore!;
    assert.equal(connected.connectionState, ExternalKeyStoreConnectionState.CONNECTED);
    const keyId = (await keys.createKey({ origin: Origin.EXTERNAL_KEY_STORE, externalKeyStoreId: store.krn, xksKeyId: "topology-hyok" }, { timeoutMs: 20_000 })).keyMetadata!.keyId;
    const plaintext = new TextEncoder().encode("kept in the customer's HSM");
    const { ciphertextBlob } = await crypto.encrypt({ keyId, plaintext, encryptionContext: { purpose: "topology" } }, { timeoutMs: 20_000 });
    const { plaintext: back } = await crypto.decrypt({ ciphertextBlob, encryptionContext: { purpose: "topology" } }, { timeoutMs: 20_000 });
    assert.deepEqual(back, plaintext);
  });
});
