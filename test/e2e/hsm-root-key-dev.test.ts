// `keyhold dev` with KEYHOLD_ROOT_KEY=hsm on a real SoftHSMv2 token: key-service's root key is
// a token key (no root key file is made), keys work across a restart, hot calls make no HSM
// round trip (the gateway's own operation counters), and a token that goes away makes calls
// that need unwrapping fail UNAVAILABLE HSM_UNAVAILABLE while cached material keeps serving.
import assert from "node:assert/strict";
import { existsSync, renameSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { readDevConfig, startDev, type DevInstance } from "@keyhold/cli";
import { createSoftHsmToken, USER_PIN, type SoftHsmToken } from "@keyhold/hsm-gateway/testing";
import { HSM_WRAP_FORMAT } from "@keyhold/key-service";
import { CryptoService, ErrorInfoSchema, KeySpec, KeyService, KeyUsage, MacAlgorithm, SigningAlgorithm } from "@keyhold/proto";
import { createSilentLogger } from "@keyhold/server-kit";
import { generateApiKey, withCredential } from "../support/auth.ts";

interface Clients {
  readonly keys: Client<typeof KeyService>;
  readonly crypto: Client<typeof CryptoService>;
}

function refusalOf(error: unknown): [Code, string | undefined] {
  const connect = ConnectError.from(error);
  return [connect.code, connect.findDetails(ErrorInfoSchema)[0]?.reason];
}

describe("key-service on the HSM root key (keyhold dev, KEYHOLD_ROOT_KEY=hsm)", () => {
  let token: SoftHsmToken;
  let dataDir: string;
  let env: Record<string, string>;
  let dev: DevInstance | undefined;
  const credential = generateApiKey();

  const start = async (): Promise<Clients> => {
    dev = await startDev(readDevConfig(env, process.cwd()), createSilentLogger());
    const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${dev.addresses.grpcPort}`, interceptors: [withCredential(credential)] });
    return { keys: createClient(KeyService, transport), crypto: createClient(CryptoService, transport) };
  };
  const stop = async () => {
    await dev?.stop();
    dev = undefined;
  };
  /** The gateway's count of AES-GCM operations (each root key wrap or unwrap is one). */
  const gcmOperations = () => {
    const operations = dev!.hsmGateway!.context.metrics.snapshot().operations;
    return (operations["Encrypt"] ?? 0) + (operations["Decrypt"] ?? 0);
  };

  before(async () => {
    token = createSoftHsmToken("keyhold-root-dev");
    dataDir = await mkdtemp(join(tmpdir(), "keyhold-hsm-root-dev-"));
    const pinFile = join(dataDir, "hsm-pin");
    await writeFile(pinFile, `${USER_PIN}\n`, { mode: 0o600 });
    env = {
      KEYHOLD_GRPC_ADDR: "127.0.0.1:0",
      KEYHOLD_HTTP_ADDR: "127.0.0.1:0",
      KEYHOLD_LOG_LEVEL: "error",
      KEYHOLD_SHUTDOWN_GRACE_MS: "2000",
      KEYHOLD_DATA_DIR: dataDir,
      KEYHOLD_BOOTSTRAP_API_KEY: credential,
      KEYHOLD_HSM_MODULE: token.modulePath,
      KEYHOLD_HSM_TOKEN_LABEL: token.label,
      KEYHOLD_HSM_PIN_FILE: pinFile,
      KEYHOLD_HSM_RECONNECT_INTERVAL_MS: "100",
      KEYHOLD_ROOT_KEY: "hsm",
    };
  });
  after(async () => {
    await stop();
    await rm(dataDir, { recursive: true, force: true });
    token.remove();
  });

  test("create, encrypt, restart, decrypt; no root key file; hot calls make no HSM round trip", async () => {
    const first = await start();
    const symmetric = (await first.keys.createKey({ description: "on the HSM root" })).keyMetadata!;
    const hmac = (await first.keys.createKey({ keySpec: KeySpec.HMAC_256, keyUsage: KeyUsage.GENERATE_VERIFY_MAC })).keyMetadata!;
    const signing = (await first.keys.createKey({ keySpec: KeySpec.EC_P256, keyUsage: KeyUsage.SIGN_VERIFY })).keyMetadata!;
    assert.equal(existsSync(join(dataDir, "root-key.bin")), false, "no local root key file");
    assert.match(token.listObjects(), /label:\s+keyhold-root-key/);
    for (const key of [symmetric, hmac, signing]) {
      const stored = (await dev!.keyService.context.store.getVersion(key.primaryVersionId));
      assert.equal(stored?.wrappedMaterial[0], HSM_WRAP_FORMAT, "wrapped by the HSM root key");
      assert.equal(stored?.wrappedBy, "HSM key keyhold-root-key");
    }
    const message = Buffer.from("across a restart");
    const ciphertext = (await first.crypto.encrypt({ keyId: symmetric.keyId, plaintext: message, encryptionContext: { purpose: "test" } })).ciphertextBlob;
    const mac = (await first.crypto.generateMac({ keyId: hmac.keyId, message, macAlgorithm: MacAlgorithm.HMAC_SHA_256 })).mac;

    const before = gcmOperations();
    for (let i = 0; i < 20; i++) {
      const blob = (await first.crypto.encrypt({ keyId: symmetric.keyId, plaintext: message })).ciphertextBlob;
      await first.crypto.decrypt({ ciphertextBlob: blob });
      await first.crypto.generateMac({ keyId: hmac.keyId, message, macAlgorithm: MacAlgorithm.HMAC_SHA_256 });
    }
    assert.equal(gcmOperations(), before, "cached material: no root key round trip on hot calls");
    await stop();

    const second = await start();
    const afterRestart = gcmOperations();
    const plain = await second.crypto.decrypt({ ciphertextBlob: ciphertext, encryptionContext: { purpose: "test" } });
    assert.deepEqual(Buffer.from(plain.plaintext), message);
    assert.equal(gcmOperations(), afterRestart + 1, "the first use after a restart unwraps once");
    for (let i = 0; i < 5; i++) await second.crypto.decrypt({ ciphertextBlob: ciphertext, encryptionContext: { purpose: "test" } });
    assert.equal(gcmOperations(), afterRestart + 1, "then it is cached");
    assert.equal((await second.crypto.verifyMac({ keyId: hmac.keyId, message, mac, macAlgorithm: MacAlgorithm.HMAC_SHA_256 })).macValid, true);
    await second.crypto.sign({ keyId: signing.keyId, message, signingAlgorithm: SigningAlgorithm.ECDSA_SHA_256 });
    assert.equal(existsSync(join(dataDir, "root-key.bin")), false);
    await stop();
  });

  test("a token that goes away: calls that need unwrapping are UNAVAILABLE HSM_UNAVAILABLE, cached material keeps serving, and it comes back", async () => {
    const setup = await start();
    const hot = (await setup.keys.createKey({ description: "hot" })).keyMetadata!;
    const cold = (await setup.keys.createKey({ description: "cold" })).keyMetadata!;
    const underHot = (await setup.crypto.encrypt({ keyId: hot.keyId, plaintext: Buffer.from("hot") })).ciphertextBlob;
    const underCold = (await setup.crypto.encrypt({ keyId: cold.keyId, plaintext: Buffer.from("cold") })).ciphertextBlob;
    await stop();

    const clients = await start();
    await clients.crypto.decrypt({ ciphertextBlob: underHot }); // unwraps the hot key's material into the cache
    renameSync(token.tokenDir, `${token.tokenDir}.away`);
    try {
      const refused = await clients.crypto.decrypt({ ciphertextBlob: underCold }).then(
        () => assert.fail("decrypt under an uncached key succeeded without the token"),
        refusalOf,
      );
      assert.deepEqual(refused, [Code.Unavailable, "HSM_UNAVAILABLE"]);
      const refusedEncrypt = await clients.crypto.encrypt({ keyId: cold.keyId, plaintext: Buffer.from("x") }).then(() => undefined, refusalOf);
      assert.deepEqual(refusedEncrypt, [Code.Unavailable, "HSM_UNAVAILABLE"]);
      for (let i = 0; i < 5; i++) {
        assert.equal(Buffer.from((await clients.crypto.decrypt({ ciphertextBlob: underHot })).plaintext).toString(), "hot");
        const blob = (await clients.crypto.encrypt({ keyId: hot.keyId, plaintext: Buffer.from("still") })).ciphertextBlob;
        assert.equal(Buffer.from((await clients.crypto.decrypt({ ciphertextBlob: blob })).plaintext).toString(), "still");
      }
      const refusedCreate = await clients.keys.createKey({}).then(() => undefined, refusalOf);
      assert.deepEqual(refusedCreate, [Code.Unavailable, "HSM_UNAVAILABLE"], "new material cannot be wrapped either");
    } finally {
      renameSync(`${token.tokenDir}.away`, token.tokenDir);
    }
    const deadline = Date.now() + 5_000;
    for (;;) {
      const outcome = await clients.crypto.decrypt({ ciphertextBlob: underCold }).then((answer) => Buffer.from(answer.plaintext).toString(), refusalOf);
      if (outcome === "cold") break;
      assert.ok(Date.now() < deadline, `token back, still refused: ${String(outcome)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await stop();
  });
});
