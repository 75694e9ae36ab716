// `keyhold dev` with and without an HSM: with KEYHOLD_HSM_MODULE (and token label and PIN) set,
// hsm-gateway runs on the configured SoftHSMv2 token and key-service's in-process client uses
// it; the gateway is not served on the public ports. Without it, no gateway is started.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { readDevConfig, startDev, type DevInstance } from "@keyhold/cli";
import { createSoftHsmToken, USER_PIN, type SoftHsmToken } from "@keyhold/hsm-gateway/testing";
import { HsmService } from "@keyhold/proto";
import { createSilentLogger } from "@keyhold/server-kit";

const BASE_ENV = {
  KEYHOLD_GRPC_ADDR: "127.0.0.1:0",
  KEYHOLD_HTTP_ADDR: "127.0.0.1:0",
  KEYHOLD_LOG_LEVEL: "error",
  KEYHOLD_SHUTDOWN_GRACE_MS: "2000",
};

describe("keyhold dev and hsm-gateway", () => {
  let token: SoftHsmToken;
  let dataDir: string;
  let dev: DevInstance;
  before(async () => {
    token = createSoftHsmToken("keyhold-dev");
    dataDir = await mkdtemp(join(tmpdir(), "keyhold-hsm-dev-"));
    const pinFile = join(dataDir, "hsm-pin");
    await writeFile(pinFile, `${USER_PIN}\n`, { mode: 0o600 });
    const config = readDevConfig(
      { ...BASE_ENV, KEYHOLD_DATA_DIR: dataDir, KEYHOLD_HSM_MODULE: token.modulePath, KEYHOLD_HSM_TOKEN_LABEL: token.label, KEYHOLD_HSM_PIN_FILE: pinFile },
      process.cwd(),
    );
    dev = await startDev(config, createSilentLogger());
  });
  after(async () => {
    await dev.stop();
    await rm(dataDir, { recursive: true, force: true });
    token.remove();
  });

  test("with an HSM module configured, the gateway runs on the token and key-service's client uses it", async () => {
    assert.ok(dev.hsmGateway !== undefined && dev.hsmClient !== undefined);
    const hsm = dev.hsmClient;
    const health = await hsm.health();
    assert.deepEqual([health.tokenPresent, health.loggedIn, health.tokenLabel], [true, true, "keyhold-dev"]);
    await hsm.generateKey("root-key", "AES_256", "WRAP_UNWRAP");
    const material = new Uint8Array(32).fill(7);
    const wrapped = await hsm.wrapKey("root-key", material);
    assert.deepEqual(Buffer.from(await hsm.unwrapKey("root-key", wrapped)), Buffer.from(material));
    assert.match(token.listObjects(), /label:\s+root-key/);
  });

  test("the gateway is internal: it is not served on the public ports", async () => {
    const { httpPort } = dev.addresses;
    const client = createClient(HsmService, createConnectTransport({ baseUrl: `http://127.0.0.1:${httpPort}`, httpVersion: "1.1" }));
    const code = await client.getStatus({}).then(
      () => undefined,
      (error: unknown) => ConnectError.from(error).code,
    );
    assert.equal(code, Code.Unimplemented);
  });

  test("without KEYHOLD_HSM_MODULE no gateway is started", async () => {
    const plainDir = await mkdtemp(join(tmpdir(), "keyhold-nohsm-dev-"));
    try {
      const config = readDevConfig({ ...BASE_ENV, KEYHOLD_DATA_DIR: plainDir }, process.cwd());
      assert.equal(config.hsmGateway, undefined);
      const plain = await startDev(config, createSilentLogger());
      try {
        assert.equal(plain.hsmGateway, undefined);
        assert.equal(plain.hsmClient, undefined);
      } finally {
        await plain.stop();
      }
    } finally {
      await rm(plainDir, { recursive: true, force: true });
    }
  });
});
