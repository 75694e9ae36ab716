// `keyhold migrate-root-key --to hsm` on a real SoftHSMv2 token: a store made on the local root
// key file (symmetric keys with two versions, HMAC, RSA, EC, imported material, an outstanding
// import token, an EXTERNAL key still waiting for material) moves to the HSM root key. A run
// stopped after a few rows loses nothing, Keyhold serves in between on KEYHOLD_ROOT_KEY=hsm
// (reading both formats), the command run again continues, and afterwards, with the key file
// gone, every key still decrypts its old ciphertexts.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { constants, createPublicKey, publicEncrypt, randomBytes, verify } from "node:crypto";
import { existsSync, renameSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { migrateRootKeyToHsm, readDevConfig, startDev, type DevInstance } from "@keyhold/cli";
import { createSoftHsmToken, USER_PIN, type SoftHsmToken } from "@keyhold/hsm-gateway/testing";
import { FILE_WRAP_FORMAT, HSM_WRAP_FORMAT, openRootKeyMigrationStore, type WrappedKind } from "@keyhold/key-service";
import {
  CryptoService, EncryptionAlgorithm, KeySpec, KeyService, KeyUsage, MacAlgorithm, Origin, SigningAlgorithm, WrappingAlgorithm, WrappingKeySpec,
} from "@keyhold/proto";
import { createJsonLogger, createSilentLogger } from "@keyhold/server-kit";
import { generateApiKey, withCredential } from "../support/auth.ts";

interface Clients {
  readonly keys: Client<typeof KeyService>;
  readonly crypto: Client<typeof CryptoService>;
}

const MAIN = resolve(import.meta.dirname, "../../packages/cli/src/main.ts");

describe("keyhold migrate-root-key --to hsm", () => {
  let token: SoftHsmToken;
  let dataDir: string;
  let env: Record<string, string>;
  let dev: DevInstance | undefined;
  const credential = generateApiKey();

  const start = async (extra: Record<string, string> = {}): Promise<Clients> => {
    dev = await startDev(readDevConfig({ ...env, ...extra }, process.cwd()), createSilentLogger());
    const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${dev.addresses.grpcPort}`, interceptors: [withCredential(credential)] });
    return { keys: createClient(KeyService, transport), crypto: createClient(CryptoService, transport) };
  };
  const stop = async () => {
    await dev?.stop();
    dev = undefined;
  };
  /** How many stored rows of wrapped material are in each format. */
  const formats = async () => {
    const store = openRootKeyMigrationStore(join(dataDir, "key-service.sqlite"));
    try {
      const count = { file: 0, hsm: 0 };
      for (const kind of ["key-version", "import-token"] satisfies WrappedKind[]) {
        for (const row of (await store.listWrapped(kind, "", 10_000))) {
          if (row.wrapped[0] === FILE_WRAP_FORMAT) count.file++;
          else if (row.wrapped[0] === HSM_WRAP_FORMAT) count.hsm++;
          else assert.fail(`unknown format ${row.wrapped[0]}`);
        }
      }
      return count;
    } finally {
      await store.close();
    }
  };

  before(async () => {
    token = createSoftHsmToken("keyhold-migration");
    dataDir = await mkdtemp(join(tmpdir(), "keyhold-root-migration-"));
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
    };
  });
  after(async () => {
    await stop();
    await rm(dataDir, { recursive: true, force: true });
    token.remove();
  });

  test("from a file-root store, interrupted halfway and resumed; afterwards every key decrypts its old ciphertexts on the HSM root alone", async () => {
    // 1. Keyhold on the development file root (an HSM is configured, KEYHOLD_ROOT_KEY is not set).
    const onFile = await start();
    const message = Buffer.from("before the migration");
    const context = { app: "migration" };
    const symmetric = (await onFile.keys.createKey({ description: "rotated" })).keyMetadata!;
    const underV1 = (await onFile.crypto.encrypt({ keyId: symmetric.keyId, plaintext: message, encryptionContext: context })).ciphertextBlob;
    await onFile.keys.rotateKey({ keyId: symmetric.keyId });
    const underV2 = (await onFile.crypto.encrypt({ keyId: symmetric.keyId, plaintext: message, encryptionContext: context })).ciphertextBlob;
    const dataKey = await onFile.crypto.generateDataKey({ keyId: symmetric.keyId, numberOfBytes: 32 });
    const hmac = (await onFile.keys.createKey({ keySpec: KeySpec.HMAC_256, keyUsage: KeyUsage.GENERATE_VERIFY_MAC })).keyMetadata!;
    const mac = (await onFile.crypto.generateMac({ keyId: hmac.keyId, message, macAlgorithm: MacAlgorithm.HMAC_SHA_256 })).mac;
    const rsa = (await onFile.keys.createKey({ keySpec: KeySpec.RSA_2048, keyUsage: KeyUsage.ENCRYPT_DECRYPT })).keyMetadata!;
    const underRsa = (await onFile.crypto.asymmetricEncrypt({ keyId: rsa.keyId, plaintext: message, encryptionAlgorithm: EncryptionAlgorithm.RSAES_OAEP_SHA_256 })).ciphertextBlob;
    const ec = (await onFile.keys.createKey({ keySpec: KeySpec.EC_P256, keyUsage: KeyUsage.SIGN_VERIFY })).keyMetadata!;
    const ecPublic = createPublicKey({ key: Buffer.from((await onFile.keys.getPublicKey({ keyId: ec.keyId })).publicKey), format: "der", type: "spki" });
    const imported = (await onFile.keys.createKey({ origin: Origin.EXTERNAL })).keyMetadata!;
    const importedMaterial = randomBytes(32);
    const firstImport = await onFile.keys.getParametersForImport({ keyId: imported.keyId, wrappingAlgorithm: WrappingAlgorithm.RSAES_OAEP_SHA_256, wrappingKeySpec: WrappingKeySpec.RSA_2048 });
    const oaep = (pem: string, data: Buffer) => publicEncrypt({ key: pem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, data);
    await onFile.keys.importKeyMaterial({ keyId: imported.keyId, importToken: firstImport.importToken, encryptedKeyMaterial: oaep(firstImport.publicKeyPem, importedMaterial) });
    const underImported = (await onFile.crypto.encrypt({ keyId: imported.keyId, plaintext: message })).ciphertextBlob;
    const pending = (await onFile.keys.createKey({ origin: Origin.EXTERNAL, description: "no material yet" })).keyMetadata!;
    const outstanding = await onFile.keys.getParametersForImport({ keyId: pending.keyId, wrappingAlgorithm: WrappingAlgorithm.RSAES_OAEP_SHA_256, wrappingKeySpec: WrappingKeySpec.RSA_2048 });
    await stop();
    // 2 symmetric versions, HMAC, RSA, EC, imported material; 2 import tokens (the pending key's empty material is not a row).
    const total = 8;
    assert.deepEqual(await formats(), { file: total, hsm: 0 });

    // 2. A run stopped after 3 rows: those are re-wrapped, the rest untouched.
    const config = readDevConfig(env, process.cwd());
    const logLines: string[] = [];
    const logger = createJsonLogger({ level: "debug", write: (line) => logLines.push(line) });
    const partial = await migrateRootKeyToHsm(config, logger, { stopAfter: 3 });
    assert.deepEqual(partial, { rewrapped: 3, alreadyMigrated: 0, changedMeanwhile: 0, complete: false });
    assert.deepEqual(await formats(), { file: total - 3, hsm: 3 });
    assert.ok(logLines.some((line) => line.includes("created the root key in the HSM")));
    for (const line of logLines) assert.doesNotMatch(line, new RegExp(importedMaterial.toString("hex").slice(0, 16)));

    // 3. In between, Keyhold on KEYHOLD_ROOT_KEY=hsm reads both formats and wraps new keys in the HSM.
    const between = await start({ KEYHOLD_ROOT_KEY: "hsm" });
    for (const blob of [underV1, underV2]) {
      assert.deepEqual(Buffer.from((await between.crypto.decrypt({ ciphertextBlob: blob, encryptionContext: context })).plaintext), message);
    }
    const created = (await between.keys.createKey({ description: "made mid-migration" })).keyMetadata!;
    const underCreated = (await between.crypto.encrypt({ keyId: created.keyId, plaintext: message })).ciphertextBlob;
    assert.deepEqual(await formats(), { file: total - 3, hsm: 4 });

    // 4. The command, run again (as a real process, while that Keyhold keeps running on the same
    // token and database), continues where the first run stopped.
    const run = await promisify(execFile)(process.execPath, [MAIN, "migrate-root-key", "--to", "hsm"], {
      env: { ...process.env, ...env },
      encoding: "utf8",
    });
    assert.match(run.stderr, new RegExp(`${total - 3} re-wrapped by the HSM root key now, 4 already were`));
    assert.match(run.stderr, /Done\. Start Keyhold with KEYHOLD_ROOT_KEY=hsm/);
    assert.deepEqual(await formats(), { file: 0, hsm: total + 1 });
    assert.deepEqual(Buffer.from((await between.crypto.decrypt({ ciphertextBlob: underImported })).plaintext), message, "the running Keyhold still serves");
    assert.equal((await between.crypto.verifyMac({ keyId: hmac.keyId, message, mac, macAlgorithm: MacAlgorithm.HMAC_SHA_256 })).macValid, true);
    await stop();
    const again = await migrateRootKeyToHsm(config, createSilentLogger());
    assert.deepEqual(again, { rewrapped: 0, alreadyMigrated: total + 1, changedMeanwhile: 0, complete: true }, "a third run has nothing to do");
    const usage = await promisify(execFile)(process.execPath, [MAIN, "migrate-root-key", "--to", "file"], { env: { ...process.env, ...env } }).then(
      () => assert.fail("--to file accepted"),
      (error: { code?: number; stderr?: string }) => error,
    );
    assert.equal(usage.code, 2);

    // 5. The key file gone: Keyhold on the HSM root alone; every old ciphertext still decrypts.
    const rootKeyFile = join(dataDir, "root-key.bin");
    renameSync(rootKeyFile, `${rootKeyFile}.backup`);
    const onHsm = await start({ KEYHOLD_ROOT_KEY: "hsm" });
    assert.equal(existsSync(rootKeyFile), false, "no key file is made on the HSM root");
    for (const versionId of [symmetric.primaryVersionId, hmac.primaryVersionId, rsa.primaryVersionId]) {
      assert.equal((await dev!.keyService.context.store.getVersion(versionId))?.wrappedBy, "HSM key keyhold-root-key");
    }
    for (const blob of [underV1, underV2]) {
      assert.deepEqual(Buffer.from((await onHsm.crypto.decrypt({ ciphertextBlob: blob, encryptionContext: context })).plaintext), message);
    }
    assert.deepEqual(Buffer.from((await onHsm.crypto.decrypt({ ciphertextBlob: dataKey.ciphertextBlob })).plaintext), Buffer.from(dataKey.plaintext));
    assert.equal((await onHsm.crypto.verifyMac({ keyId: hmac.keyId, message, mac, macAlgorithm: MacAlgorithm.HMAC_SHA_256 })).macValid, true);
    const rsaPlain = await onHsm.crypto.asymmetricDecrypt({ keyId: rsa.keyId, ciphertextBlob: underRsa, encryptionAlgorithm: EncryptionAlgorithm.RSAES_OAEP_SHA_256 });
    assert.deepEqual(Buffer.from(rsaPlain.plaintext), message);
    const signature = (await onHsm.crypto.sign({ keyId: ec.keyId, message, signingAlgorithm: SigningAlgorithm.ECDSA_SHA_256 })).signature;
    assert.equal(verify("sha256", message, ecPublic, signature), true, "the same EC private key signs");
    assert.deepEqual(Buffer.from((await onHsm.crypto.decrypt({ ciphertextBlob: underImported })).plaintext), message);
    assert.deepEqual(Buffer.from((await onHsm.crypto.decrypt({ ciphertextBlob: underCreated })).plaintext), message);
    // The import token handed out before the migration still works: its wrapping key was re-wrapped.
    await onHsm.keys.importKeyMaterial({ keyId: pending.keyId, importToken: outstanding.importToken, encryptedKeyMaterial: oaep(outstanding.publicKeyPem, randomBytes(32)) });
    await onHsm.crypto.encrypt({ keyId: pending.keyId, plaintext: message });
    await stop();
  });

  test("refused without an HSM, or without a key file to migrate from", async () => {
    const bare = readDevConfig({ KEYHOLD_DATA_DIR: dataDir }, process.cwd());
    await assert.rejects(migrateRootKeyToHsm(bare, createSilentLogger()), /no HSM is configured/);
    const noFile = readDevConfig({ ...env, KEYHOLD_ROOT_KEY_FILE: join(dataDir, "absent.bin") }, process.cwd());
    await assert.rejects(migrateRootKeyToHsm(noFile, createSilentLogger()), /no local root key file/);
  });
});
