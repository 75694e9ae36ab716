// Keys with origin HSM through `keyhold dev` over real gRPC (HTTP/2 on loopback) on a real
// SoftHSMv2 token: the token objects' attributes checked from outside with pkcs11-tool
// (sensitive, never extractable, labelled and id'd with the key version id), the key material
// refused to anyone who tries to read or wrap it out through PKCS#11 directly (pkcs11js),
// operations and rotation over gRPC, bad input, and the token going away answering UNAVAILABLE
// HSM_UNAVAILABLE promptly.
import assert from "node:assert/strict";
import { renameSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import pkcs11js from "pkcs11js";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { readDevConfig, startDev, type DevInstance } from "@keyhold/cli";
import { createSoftHsmToken, USER_PIN, type SoftHsmToken } from "@keyhold/hsm-gateway/testing";
import { CryptoService, ErrorInfoSchema, KeySpec, KeyService, KeyUsage, Origin, SigningAlgorithm } from "@keyhold/proto";
import { createSilentLogger } from "@keyhold/server-kit";
import { generateApiKey, withCredential } from "../support/auth.ts";

function refusalOf(error: unknown): { code: Code; reason: string | undefined; field: string | undefined } {
  const connect = ConnectError.from(error);
  const info = connect.findDetails(ErrorInfoSchema)[0];
  return { code: connect.code, reason: info?.reason, field: info?.metadata["field"] };
}

async function refused(call: Promise<unknown>): Promise<{ code: Code; reason: string | undefined; field: string | undefined }> {
  return call.then(() => assert.fail("expected a refusal"), refusalOf);
}

/** The pkcs11-tool --list-objects blocks of the objects labelled `label`. */
function blocksOf(listing: string, label: string): string[] {
  return listing.split(/\n(?=\S)/).filter((block) => new RegExp(`label:\\s+${label}\\s*$`, "m").test(block));
}

function accessOf(block: string): string[] {
  return (/^\s*Access:\s*(.*)$/m.exec(block)?.[1] ?? "").split(/,\s*/);
}

/** The CKR_* name pkcs11js put in an error's message. */
function ckrOf(error: unknown): string {
  return /CKR_[A-Z_]+/.exec(error instanceof Error ? error.message : String(error))?.[0] ?? String(error);
}

describe("keys with origin HSM (keyhold dev over gRPC, SoftHSMv2)", () => {
  let token: SoftHsmToken;
  let dataDir: string;
  let dev: DevInstance;
  let keys: Client<typeof KeyService>;
  let crypto: Client<typeof CryptoService>;
  const credential = generateApiKey();

  before(async () => {
    token = createSoftHsmToken("keyhold-hsm-keys-e2e");
    dataDir = await mkdtemp(join(tmpdir(), "keyhold-hsm-keys-e2e-"));
    const pinFile = join(dataDir, "hsm-pin");
    await writeFile(pinFile, `${USER_PIN}\n`, { mode: 0o600 });
    const env = {
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
    };
    dev = await startDev(readDevConfig(env, process.cwd()), createSilentLogger());
    const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${dev.addresses.grpcPort}`, interceptors: [withCredential(credential)] });
    keys = createClient(KeyService, transport);
    crypto = createClient(CryptoService, transport);
  });
  after(async () => {
    await dev.stop();
    await rm(dataDir, { recursive: true, force: true });
    token.remove();
  });

  test("token objects per key version: sensitive, never extractable, labelled and id'd with the version id; operations over gRPC", async () => {
    const aes = (await keys.createKey({ origin: Origin.HSM })).keyMetadata!;
    const rsa = (await keys.createKey({ origin: Origin.HSM, keySpec: KeySpec.RSA_2048, keyUsage: KeyUsage.SIGN_VERIFY })).keyMetadata!;
    const ec = (await keys.createKey({ origin: Origin.HSM, keySpec: KeySpec.EC_P384, keyUsage: KeyUsage.SIGN_VERIFY })).keyMetadata!;
    for (const key of [aes, rsa, ec]) assert.equal((await keys.getKey({ keyId: key.keyId })).keyMetadata!.origin, Origin.HSM);
    const listing = token.listObjects();

    const [secret] = blocksOf(listing, aes.primaryVersionId);
    assert.ok(secret !== undefined, `an object labelled ${aes.primaryVersionId} in:\n${listing}`);
    assert.match(secret, /Secret Key Object; AES length 32/);
    assert.match(secret, new RegExp(`ID:\\s+${Buffer.from(aes.primaryVersionId).toString("hex")}`, "i"));
    assert.ok(accessOf(secret).includes("sensitive") && accessOf(secret).includes("never extractable") && !accessOf(secret).includes("extractable"), accessOf(secret).join(", "));
    for (const key of [rsa, ec]) {
      const blocks = blocksOf(listing, key.primaryVersionId);
      const privateKey = blocks.find((block) => /Private Key Object/.test(block));
      assert.ok(privateKey !== undefined && blocks.some((block) => /Public Key Object/.test(block)), `a key pair labelled ${key.primaryVersionId}`);
      const access = accessOf(privateKey);
      assert.ok(access.includes("sensitive") && access.includes("never extractable") && !access.includes("extractable"), access.join(", "));
    }

    const sealed = await crypto.encrypt({ keyId: aes.keyId, plaintext: Buffer.from("over grpc"), encryptionContext: { app: "e2e" } });
    assert.equal(Buffer.from((await crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob, encryptionContext: { app: "e2e" } })).plaintext).toString(), "over grpc");
    for (const [key, signingAlgorithm] of [[rsa, SigningAlgorithm.RSASSA_PSS_SHA_256], [ec, SigningAlgorithm.ECDSA_SHA_384]] as const) {
      const { signature } = await crypto.sign({ keyId: key.keyId, signingAlgorithm, message: Buffer.from("m") });
      assert.equal((await crypto.verify({ keyId: key.keyId, signingAlgorithm, message: Buffer.from("m"), signature })).signatureValid, true);
    }

    // Rotation: a second token object; the first still decrypts.
    const rotated = (await keys.rotateKey({ keyId: aes.keyId })).keyVersion!.keyVersionId;
    const afterRotation = token.listObjects();
    assert.equal(blocksOf(afterRotation, aes.primaryVersionId).length, 1);
    assert.equal(blocksOf(afterRotation, rotated).length, 1);
    assert.equal(Buffer.from((await crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob, encryptionContext: { app: "e2e" } })).plaintext).toString(), "over grpc");
    assert.equal((await crypto.encrypt({ keyId: aes.keyId, plaintext: Buffer.from("x") })).keyVersionId, rotated);
  });

  test("the key material cannot be read or wrapped out of the token through PKCS#11 directly", async () => {
    const aes = (await keys.createKey({ origin: Origin.HSM })).keyMetadata!;
    const rsa = (await keys.createKey({ origin: Origin.HSM, keySpec: KeySpec.RSA_2048, keyUsage: KeyUsage.SIGN_VERIFY })).keyMetadata!;
    // The gateway runs in this process and has the module initialized and logged in: this is a
    // second user of the same module, with a session of its own (never finalized here).
    const module = new pkcs11js.PKCS11();
    module.load(token.modulePath);
    try {
      module.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    } catch (error) {
      assert.equal(ckrOf(error), "CKR_CRYPTOKI_ALREADY_INITIALIZED");
    }
    const slot = module.C_GetSlotList(true).find((s) => module.C_GetTokenInfo(s).label.trim() === token.label)!;
    const session = module.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      try {
        module.C_Login(session, pkcs11js.CKU_USER, USER_PIN);
      } catch (error) {
        assert.equal(ckrOf(error), "CKR_USER_ALREADY_LOGGED_IN");
      }
      const find = (id: string, cls: number) => {
        module.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(id) }, { type: pkcs11js.CKA_CLASS, value: cls }]);
        try {
          const [handle] = module.C_FindObjects(session, 1);
          assert.ok(handle !== undefined, `object ${id}`);
          return handle;
        } finally {
          module.C_FindObjectsFinal(session);
        }
      };
      const secret = find(aes.primaryVersionId, pkcs11js.CKO_SECRET_KEY);
      const privateKey = find(rsa.primaryVersionId, pkcs11js.CKO_PRIVATE_KEY);
      const [sensitive, extractable] = module.C_GetAttributeValue(session, secret, [{ type: pkcs11js.CKA_SENSITIVE }, { type: pkcs11js.CKA_EXTRACTABLE }]);
      assert.deepEqual([sensitive?.value, extractable?.value], [Buffer.from([1]), Buffer.from([0])]);

      assert.throws(() => module.C_GetAttributeValue(session, secret, [{ type: pkcs11js.CKA_VALUE }]), (error) => ckrOf(error) === "CKR_ATTRIBUTE_SENSITIVE");
      assert.throws(() => module.C_GetAttributeValue(session, privateKey, [{ type: pkcs11js.CKA_PRIVATE_EXPONENT }]), (error) => ckrOf(error) === "CKR_ATTRIBUTE_SENSITIVE");
      // Nor can it be made extractable or insensitive afterwards.
      assert.throws(() => module.C_SetAttributeValue(session, secret, [{ type: pkcs11js.CKA_EXTRACTABLE, value: true }]), /CKR_/);
      assert.throws(() => module.C_SetAttributeValue(session, secret, [{ type: pkcs11js.CKA_SENSITIVE, value: false }]), /CKR_/);

      // Wrapping it out under a key of our own (a session key that may wrap) is refused.
      const wrapper = module.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
        { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
        { type: pkcs11js.CKA_TOKEN, value: false },
        { type: pkcs11js.CKA_WRAP, value: true },
      ]);
      for (const target of [secret, privateKey]) {
        assert.throws(
          () => module.C_WrapKey(session, { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, wrapper, target, Buffer.alloc(4096)),
          (error) => ckrOf(error) === "CKR_KEY_UNEXTRACTABLE",
        );
      }
      module.C_DestroyObject(session, wrapper);
    } finally {
      module.C_CloseSession(session);
    }
    // The gateway is untouched by all this.
    await crypto.encrypt({ keyId: aes.keyId, plaintext: Buffer.from("still serving") });
  });

  test("bad input is INVALID_ARGUMENT naming the field", async () => {
    assert.deepEqual(await refused(keys.createKey({ origin: Origin.HSM, keySpec: KeySpec.HMAC_384, keyUsage: KeyUsage.GENERATE_VERIFY_MAC })), {
      code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "key_spec",
    });
    assert.deepEqual(await refused(keys.createKey({ origin: Origin.HSM, keySpec: KeySpec.RSA_3072 })), { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "key_usage" });
    const aes = (await keys.createKey({ origin: Origin.HSM })).keyMetadata!;
    assert.deepEqual(await refused(crypto.encrypt({ keyId: aes.keyId, plaintext: new Uint8Array(6145) })), { code: Code.InvalidArgument, reason: "PLAINTEXT_TOO_LARGE", field: "plaintext" });
    assert.deepEqual(await refused(crypto.encrypt({ keyId: aes.keyId, plaintext: new Uint8Array(0) })), { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "plaintext" });
    // The largest context (8 KiB encoded) still fits the token call's AAD.
    const encryptionContext = { k: "v".repeat(8192 - 4 - 4 - 1 - 4) };
    const sealed = await crypto.encrypt({ keyId: aes.keyId, plaintext: Buffer.from("x"), encryptionContext });
    assert.equal(Buffer.from((await crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob, encryptionContext })).plaintext).toString(), "x");
  });

  test("the token going away: UNAVAILABLE HSM_UNAVAILABLE at once over gRPC; served again when it is back", async () => {
    const aes = (await keys.createKey({ origin: Origin.HSM })).keyMetadata!;
    const sealed = await crypto.encrypt({ keyId: aes.keyId, plaintext: Buffer.from("back") });
    renameSync(token.tokenDir, `${token.tokenDir}.away`);
    const started = performance.now();
    try {
      const unavailable = { code: Code.Unavailable, reason: "HSM_UNAVAILABLE", field: undefined };
      assert.deepEqual(await refused(crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob })), unavailable);
      assert.deepEqual(await refused(crypto.encrypt({ keyId: aes.keyId, plaintext: Buffer.from("x") })), unavailable);
      assert.deepEqual(await refused(keys.createKey({ origin: Origin.HSM })), unavailable);
    } finally {
      renameSync(`${token.tokenDir}.away`, token.tokenDir);
    }
    assert.ok(performance.now() - started < 5_000, "no call hung");
    const deadline = Date.now() + 5_000;
    for (;;) {
      const outcome = await crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob }).then((answer) => Buffer.from(answer.plaintext).toString(), refusalOf);
      if (outcome === "back") break;
      assert.ok(Date.now() < deadline, `token back, still refused: ${JSON.stringify(outcome)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });
});
