// The distributed topology with an HSM (SoftHSMv2): `keyhold topology` with a PKCS#11 module
// configured also runs hsm-gateway as its own process, and key-service reaches it over mTLS as
// itself for its root key (KEYHOLD_ROOT_KEY=hsm) and for HSM-held keys. hsm-gateway answers
// Keyhold services only: an outside client on its port (TLS, no service certificate) is refused.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createSoftHsmToken, USER_PIN, type SoftHsmToken } from "@keyhold/hsm-gateway/testing";
import { CryptoService, HsmService, KeyService, Origin } from "@keyhold/proto";
import { startTestTopology, type TestTopology } from "../support/topology.ts";

let token: SoftHsmToken;
let topology: TestTopology;

before(async () => {
  token = createSoftHsmToken("keyhold-topology-e2e");
  const pinFile = join(token.dir, "hsm-pin");
  await writeFile(pinFile, `${USER_PIN}\n`, { mode: 0o600 });
  topology = await startTestTopology({
    keyServiceReplicas: 1,
    env: {
      SOFTHSM2_CONF: token.conf,
      KEYHOLD_HSM_MODULE: token.modulePath,
      KEYHOLD_HSM_TOKEN_LABEL: token.label,
      KEYHOLD_HSM_PIN_FILE: pinFile,
      KEYHOLD_ROOT_KEY: "hsm",
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
});
