// Keys with origin HSM through key-service's public API (in-memory router transport) on a real
// SoftHSMv2 token behind a real hsm-gateway: each supported spec, every operation in the token,
// rotation making a second token object, purge destroying them, a restart finding them by
// key version id, and the gateway out of reach answering UNAVAILABLE HSM_UNAVAILABLE.
import assert from "node:assert/strict";
import { createPublicKey, createHash, verify as verifyInNode, constants } from "node:crypto";
import { mkdtempSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createRouterTransport } from "@connectrpc/connect";
import { RemoteHsmClient } from "@keyhold/hsm-client";
import { createSoftHsmToken, startTestGateway, type SoftHsmToken, type TestGateway } from "@keyhold/hsm-gateway/testing";
import { HsmService, KeySpec, KeyState, KeyUsage, MessageType, Origin, SigningAlgorithm } from "@keyhold/proto";
import { createInMemoryTransport, createSilentLogger, KeyholdError } from "@keyhold/server-kit";
import { invalid, ManualClock, refusal, startTestKeyService, TEST_ACCOUNT, type TestKeyService } from "../test-support.ts";
import { hsmKeyError } from "./hsm-keys.ts";
import { DAY_MS } from "./rotation.ts";

const T0 = new Date("2030-03-01T00:00:00Z");
const HSM_UNAVAILABLE = { code: Code.Unavailable, reason: "HSM_UNAVAILABLE" };

function hsmClientOf(gateway: TestGateway): RemoteHsmClient {
  return new RemoteHsmClient(createInMemoryTransport(gateway.app.bindings, [], createSilentLogger(), { callingService: "key-service" }));
}

/** The labels of the token's objects (pkcs11-tool, from outside the process's PKCS#11 state). */
function labels(token: SoftHsmToken): string[] {
  return [...token.listObjects().matchAll(/^\s*label:\s+(\S+)\s*$/gm)].map((m) => m[1]!);
}

async function codeAndReason(call: Promise<unknown>): Promise<{ code: Code; reason: string | undefined }> {
  const { code, reason } = await refusal(call);
  return { code, reason };
}

describe("keys with origin HSM (SoftHSMv2 through hsm-gateway)", () => {
  let token: SoftHsmToken;
  let gateway: TestGateway;
  let service: TestKeyService;
  let dataDir: string;
  const clock = new ManualClock(T0);

  before(async () => {
    token = createSoftHsmToken("keyhold-hsm-keys");
    gateway = startTestGateway(token);
    dataDir = mkdtempSync(join(tmpdir(), "keyhold-hsm-keys-"));
    service = await startTestKeyService({ clock }, { dataDir, hsm: hsmClientOf(gateway) });
  });
  after(async () => {
    await service.close();
    await gateway.close();
    token.remove();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("SYMMETRIC_DEFAULT: made in the token under its version id, origin HSM; Encrypt/Decrypt/GenerateDataKey*/ReEncrypt there", async () => {
    const created = (await service.keys.createKey({ origin: Origin.HSM, description: "hsm" })).keyMetadata!;
    assert.equal(created.origin, Origin.HSM);
    assert.equal(created.keySpec, KeySpec.SYMMETRIC_DEFAULT);
    assert.equal(created.keyUsage, KeyUsage.ENCRYPT_DECRYPT);
    assert.equal(created.keyState, KeyState.ENABLED);
    assert.equal((await service.keys.getKey({ keyId: created.keyId })).keyMetadata!.origin, Origin.HSM);
    const [version] = (await service.keys.listKeyVersions({ keyId: created.keyId })).keyVersions;
    assert.ok(labels(token).includes(version!.keyVersionId), "the token object is labelled with the key version id");
    const record = (await service.app.context.store.getVersion(version!.keyVersionId))!;
    assert.equal(record.wrappedMaterial.length, 0, "no material stored for an HSM key");

    const before = gateway.app.context.metrics.snapshot().operations["Encrypt"] ?? 0;
    const context = { tenant: "a", purpose: "test" };
    const plaintext = Buffer.from("secret in the token");
    const sealed = await service.crypto.encrypt({ keyId: created.keyId, plaintext, encryptionContext: context });
    assert.equal(gateway.app.context.metrics.snapshot().operations["Encrypt"], before + 1, "encrypted by the gateway");
    assert.equal(sealed.keyVersionId, version!.keyVersionId);
    const blob = Buffer.from(sealed.ciphertextBlob);
    assert.equal(blob[0], 0x01, "format v1");
    assert.equal(blob[17], 0x02, "algorithm 0x02: AES-GCM in the HSM");
    assert.equal(blob.subarray(1, 17).toString("hex"), version!.keyVersionId.replaceAll("-", ""), "the header names the version");
    assert.equal(blob.length, plaintext.length + 46);
    const opened = await service.crypto.decrypt({ ciphertextBlob: blob, encryptionContext: context });
    assert.deepEqual(Buffer.from(opened.plaintext), plaintext);
    assert.equal(opened.keyVersionId, version!.keyVersionId);

    // The context, and every byte of the blob, is bound.
    const invalidCiphertext = { code: Code.InvalidArgument, reason: "INVALID_CIPHERTEXT", field: "ciphertext_blob" };
    assert.deepEqual(await refusal(service.crypto.decrypt({ ciphertextBlob: blob, encryptionContext: { tenant: "b", purpose: "test" } })), invalidCiphertext);
    assert.deepEqual(await refusal(service.crypto.decrypt({ ciphertextBlob: blob })), invalidCiphertext);
    for (const at of [17, 18, 29, 30, blob.length - 1]) {
      const tampered = Buffer.from(blob);
      tampered[at]! ^= 1;
      assert.deepEqual(await refusal(service.crypto.decrypt({ ciphertextBlob: tampered, encryptionContext: context })), invalidCiphertext, `byte ${at}`);
    }
    assert.deepEqual(await refusal(service.crypto.decrypt({ ciphertextBlob: blob.subarray(0, 45), encryptionContext: context })), invalidCiphertext);

    const dataKey = await service.crypto.generateDataKey({ keyId: created.keyId, encryptionContext: context });
    assert.equal(dataKey.plaintext.length, 32);
    assert.deepEqual((await service.crypto.decrypt({ ciphertextBlob: dataKey.ciphertextBlob, encryptionContext: context })).plaintext, dataKey.plaintext);
    const noPlain = await service.crypto.generateDataKeyWithoutPlaintext({ keyId: created.keyId, numberOfBytes: 64 });
    assert.equal((await service.crypto.decrypt({ ciphertextBlob: noPlain.ciphertextBlob })).plaintext.length, 64);

    // ReEncrypt from the HSM key to a software key and back.
    const software = (await service.keys.createKey({})).keyMetadata!;
    const moved = await service.crypto.reEncrypt({ ciphertextBlob: blob, sourceEncryptionContext: context, destinationKeyId: software.keyId });
    assert.equal(Buffer.from(moved.ciphertextBlob)[17], 0x01);
    const back = await service.crypto.reEncrypt({ ciphertextBlob: moved.ciphertextBlob, destinationKeyId: created.keyId, destinationEncryptionContext: { x: "y" } });
    assert.equal(Buffer.from(back.ciphertextBlob)[17], 0x02);
    assert.deepEqual(Buffer.from((await service.crypto.decrypt({ ciphertextBlob: back.ciphertextBlob, encryptionContext: { x: "y" } })).plaintext), plaintext);

    // A software ciphertext relabelled as the HSM key's (and the other way round) does not open.
    const softBlob = Buffer.from((await service.crypto.encrypt({ keyId: software.keyId, plaintext })).ciphertextBlob);
    const relabelled = Buffer.from(softBlob);
    blob.copy(relabelled, 1, 1, 17);
    assert.deepEqual(await refusal(service.crypto.decrypt({ ciphertextBlob: relabelled })), invalidCiphertext);
    assert.deepEqual(await refusal(service.crypto.decrypt({ ciphertextBlob: softBlob, keyId: created.keyId })), invalidCiphertext);

    // A disabled HSM key refuses like any other.
    await service.keys.disableKey({ keyId: created.keyId });
    assert.deepEqual(await refusal(service.crypto.encrypt({ keyId: created.keyId, plaintext })), { code: Code.FailedPrecondition, reason: "KEY_DISABLED", field: "key_id" });
    assert.deepEqual(await refusal(service.crypto.decrypt({ ciphertextBlob: blob, encryptionContext: context })), { code: Code.FailedPrecondition, reason: "KEY_DISABLED", field: "key_id" });
    await service.keys.enableKey({ keyId: created.keyId });
  });

  test("RSA and EC SIGN_VERIFY keys sign in the token; GetPublicKey from the token verifies them outside", async () => {
    const cases = [
      { keySpec: KeySpec.RSA_2048, algorithms: [SigningAlgorithm.RSASSA_PSS_SHA_256, SigningAlgorithm.RSASSA_PKCS1_V1_5_SHA_512] },
      { keySpec: KeySpec.RSA_3072, algorithms: [SigningAlgorithm.RSASSA_PSS_SHA_384] },
      { keySpec: KeySpec.EC_P256, algorithms: [SigningAlgorithm.ECDSA_SHA_256] },
      { keySpec: KeySpec.EC_P384, algorithms: [SigningAlgorithm.ECDSA_SHA_384] },
    ];
    for (const { keySpec, algorithms } of cases) {
      const key = (await service.keys.createKey({ origin: Origin.HSM, keySpec, keyUsage: KeyUsage.SIGN_VERIFY })).keyMetadata!;
      assert.equal(key.origin, Origin.HSM);
      const publicKey = await service.keys.getPublicKey({ keyId: key.keyId });
      assert.equal(publicKey.keySpec, keySpec);
      const spki = createPublicKey({ key: Buffer.from(publicKey.publicKey), format: "der", type: "spki" });
      for (const signingAlgorithm of algorithms) {
        const name = SigningAlgorithm[signingAlgorithm];
        const hash = `sha${name.slice(-3)}`;
        const message = Buffer.from(`message for ${name}`);
        const { signature } = await service.crypto.sign({ keyId: key.keyId, signingAlgorithm, message });
        const options = name.startsWith("RSASSA_PSS")
          ? { key: spki, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(name.slice(-3)) / 8 }
          : name.startsWith("RSASSA_PKCS1")
            ? { key: spki, padding: constants.RSA_PKCS1_PADDING }
            : { key: spki, dsaEncoding: "der" as const };
        assert.ok(verifyInNode(hash, message, options, signature), `${KeySpec[keySpec]} ${name} verifies outside`);
        assert.equal((await service.crypto.verify({ keyId: key.keyId, signingAlgorithm, message, signature })).signatureValid, true);
        const digest = createHash(hash).update(message).digest();
        const overDigest = await service.crypto.sign({ keyId: key.keyId, signingAlgorithm, message: digest, messageType: MessageType.DIGEST });
        assert.equal((await service.crypto.verify({ keyId: key.keyId, signingAlgorithm, message, signature: overDigest.signature })).signatureValid, true);
        assert.deepEqual(await refusal(service.crypto.verify({ keyId: key.keyId, signingAlgorithm, message: Buffer.from("other"), signature })), {
          code: Code.InvalidArgument,
          reason: "INVALID_SIGNATURE",
          field: "signature",
        });
      }
      // Bad input is refused before the token is asked.
      assert.deepEqual(await refusal(service.crypto.sign({ keyId: key.keyId, signingAlgorithm: SigningAlgorithm.ED25519_SHA_512, message: Buffer.from("m") })), invalid("signing_algorithm"));
      assert.deepEqual(await refusal(service.crypto.sign({ keyId: key.keyId, signingAlgorithm: algorithms[0]!, message: Buffer.alloc(3), messageType: MessageType.DIGEST })), invalid("message"));
      assert.deepEqual(await refusal(service.crypto.encrypt({ keyId: key.keyId, plaintext: Buffer.from("x") })), { code: Code.FailedPrecondition, reason: "KEY_USAGE_MISMATCH", field: "key_id" });
    }
  });

  test("what the token cannot hold is INVALID_ARGUMENT naming the field; nothing is made", async () => {
    const before = labels(token).length;
    assert.deepEqual(await refusal(service.keys.createKey({ origin: Origin.HSM, keySpec: KeySpec.HMAC_256, keyUsage: KeyUsage.GENERATE_VERIFY_MAC })), invalid("key_spec"));
    assert.deepEqual(await refusal(service.keys.createKey({ origin: Origin.HSM, keySpec: KeySpec.EC_SECG_P256K1 })), invalid("key_spec"));
    assert.deepEqual(await refusal(service.keys.createKey({ origin: Origin.HSM, keySpec: KeySpec.ED25519 })), invalid("key_spec"));
    assert.deepEqual(await refusal(service.keys.createKey({ origin: Origin.HSM, keySpec: KeySpec.RSA_2048, keyUsage: KeyUsage.ENCRYPT_DECRYPT })), invalid("key_usage"));
    assert.deepEqual(await refusal(service.keys.createKey({ origin: Origin.HSM, keySpec: KeySpec.SYMMETRIC_DEFAULT, keyUsage: KeyUsage.SIGN_VERIFY })), invalid("key_usage"));
    assert.equal(labels(token).length, before);
  });

  test("rotation (on demand and scheduled) makes a new token object per version; old ciphertexts still decrypt", async () => {
    const key = (await service.keys.createKey({ origin: Origin.HSM })).keyMetadata!;
    const first = await service.crypto.encrypt({ keyId: key.keyId, plaintext: Buffer.from("v1") });
    const rotated = await service.keys.rotateKey({ keyId: key.keyId });
    const second = rotated.keyVersion!.keyVersionId;
    assert.notEqual(second, first.keyVersionId);
    const now = labels(token);
    assert.ok(now.includes(first.keyVersionId) && now.includes(second), "one token object per version");
    const afterRotation = await service.crypto.encrypt({ keyId: key.keyId, plaintext: Buffer.from("v2") });
    assert.equal(afterRotation.keyVersionId, second);
    assert.deepEqual(Buffer.from((await service.crypto.decrypt({ ciphertextBlob: first.ciphertextBlob })).plaintext).toString(), "v1");

    await service.keys.updateRotationPolicy({ keyId: key.keyId, enabled: true, rotationPeriodInDays: 7 });
    clock.advance(7 * DAY_MS + 1);
    assert.equal((await service.app.jobs.runOnce()).rotated, 1);
    const versions = (await service.keys.listKeyVersions({ keyId: key.keyId })).keyVersions;
    assert.equal(versions.length, 3);
    for (const version of versions) assert.ok(labels(token).includes(version.keyVersionId));
    for (const [blob, text] of [[first.ciphertextBlob, "v1"], [afterRotation.ciphertextBlob, "v2"]] as const) {
      assert.equal(Buffer.from((await service.crypto.decrypt({ ciphertextBlob: blob })).plaintext).toString(), text);
    }
    // Asymmetric HSM keys are not rotated (as software ones).
    const signing = (await service.keys.createKey({ origin: Origin.HSM, keySpec: KeySpec.EC_P256, keyUsage: KeyUsage.SIGN_VERIFY })).keyMetadata!;
    assert.deepEqual(await refusal(service.keys.rotateKey({ keyId: signing.keyId })), { code: Code.FailedPrecondition, reason: "UNSUPPORTED_OPERATION", field: "key_id" });
  });

  test("a restarted key-service finds the token objects by key version id", async () => {
    const key = (await service.keys.createKey({ origin: Origin.HSM })).keyMetadata!;
    const sealed = await service.crypto.encrypt({ keyId: key.keyId, plaintext: Buffer.from("across restarts"), encryptionContext: { a: "1" } });
    await service.close();
    service = await startTestKeyService({ clock }, { dataDir, hsm: hsmClientOf(gateway) });
    const opened = await service.crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob, encryptionContext: { a: "1" } });
    assert.equal(Buffer.from(opened.plaintext).toString(), "across restarts");
  });

  test("a key-service started without its HSM refuses HSM keys' operations as a server state, naming key_id", async () => {
    const key = (await service.keys.createKey({ origin: Origin.HSM })).keyMetadata!;
    const sealed = await service.crypto.encrypt({ keyId: key.keyId, plaintext: Buffer.from("x") });
    const noHsm = await startTestKeyService({ clock }, { dataDir });
    try {
      const unsupported = { code: Code.FailedPrecondition, reason: "UNSUPPORTED_OPERATION", field: "key_id" };
      assert.deepEqual(await refusal(noHsm.crypto.encrypt({ keyId: key.keyId, plaintext: Buffer.from("x") })), unsupported);
      assert.deepEqual(await refusal(noHsm.crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob })), unsupported);
      assert.deepEqual(await refusal(noHsm.keys.rotateKey({ keyId: key.keyId })), unsupported);
      assert.equal((await noHsm.keys.getKey({ keyId: key.keyId })).keyMetadata!.origin, Origin.HSM);
    } finally {
      await noHsm.close();
    }
  });

  test("the deletion job destroys every version's token object, then the key; with the HSM out of reach it waits", async () => {
    const key = (await service.keys.createKey({ origin: Origin.HSM })).keyMetadata!;
    await service.keys.rotateKey({ keyId: key.keyId });
    const versionIds = (await service.keys.listKeyVersions({ keyId: key.keyId })).keyVersions.map((v) => v.keyVersionId);
    const signing = (await service.keys.createKey({ origin: Origin.HSM, keySpec: KeySpec.EC_P384, keyUsage: KeyUsage.SIGN_VERIFY })).keyMetadata!;
    const signingVersion = (await service.keys.listKeyVersions({ keyId: signing.keyId })).keyVersions[0]!.keyVersionId;
    await service.keys.scheduleKeyDeletion({ keyId: key.keyId, pendingWindowInDays: 7 });
    await service.keys.scheduleKeyDeletion({ keyId: signing.keyId, pendingWindowInDays: 7 });
    clock.advance(8 * DAY_MS);

    // The HSM out of reach: nothing is purged, the keys stay pending deletion.
    const tokenDir = token.tokenDir;
    renameSync(tokenDir, `${tokenDir}.away`);
    try {
      assert.equal((await service.app.jobs.runOnce()).deleted, 0);
      assert.ok((await service.app.context.store.getKey(TEST_ACCOUNT, key.keyId)) !== undefined, "still there while the HSM is away");
    } finally {
      renameSync(`${tokenDir}.away`, tokenDir);
    }
    // Reconnects after the interval (100 ms in tests).
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal((await service.app.jobs.runOnce()).deleted, 2);
    const left = labels(token);
    for (const id of [...versionIds, signingVersion]) assert.ok(!left.includes(id), `token object ${id} destroyed`);
    assert.equal((await service.app.context.store.getKey(TEST_ACCOUNT, key.keyId)), undefined);
  });

  test("the HSM out of reach is UNAVAILABLE HSM_UNAVAILABLE for every operation, and nothing hangs", async () => {
    const key = (await service.keys.createKey({ origin: Origin.HSM })).keyMetadata!;
    const signing = (await service.keys.createKey({ origin: Origin.HSM, keySpec: KeySpec.EC_P256, keyUsage: KeyUsage.SIGN_VERIFY })).keyMetadata!;
    const sealed = await service.crypto.encrypt({ keyId: key.keyId, plaintext: Buffer.from("x") });
    const tokenDir = token.tokenDir;
    renameSync(tokenDir, `${tokenDir}.away`);
    const started = performance.now();
    try {
      assert.deepEqual(await codeAndReason(service.crypto.encrypt({ keyId: key.keyId, plaintext: Buffer.from("x") })), HSM_UNAVAILABLE);
      assert.deepEqual(await codeAndReason(service.crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob })), HSM_UNAVAILABLE);
      assert.deepEqual(await codeAndReason(service.crypto.generateDataKey({ keyId: key.keyId })), HSM_UNAVAILABLE);
      assert.deepEqual(await codeAndReason(service.crypto.sign({ keyId: signing.keyId, signingAlgorithm: SigningAlgorithm.ECDSA_SHA_256, message: Buffer.from("m") })), HSM_UNAVAILABLE);
      assert.deepEqual(await codeAndReason(service.keys.getPublicKey({ keyId: signing.keyId })), HSM_UNAVAILABLE);
      assert.deepEqual(await codeAndReason(service.keys.createKey({ origin: Origin.HSM })), HSM_UNAVAILABLE);
      assert.deepEqual(await codeAndReason(service.keys.rotateKey({ keyId: key.keyId })), HSM_UNAVAILABLE);
      assert.equal((await service.keys.listKeyVersions({ keyId: key.keyId })).keyVersions.length, 1, "a failed rotation adds no version");
    } finally {
      renameSync(`${tokenDir}.away`, tokenDir);
    }
    assert.ok(performance.now() - started < 5_000, "answered promptly");
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(Buffer.from((await service.crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob })).plaintext).toString(), "x", "served again once the token is back");

    // hsm-gateway itself unreachable (nothing listening): same answer, at once.
    const away = await startTestKeyService({}, { hsm: new RemoteHsmClient(unreachable()) });
    try {
      assert.deepEqual(await codeAndReason(away.keys.createKey({ origin: Origin.HSM })), HSM_UNAVAILABLE);
    } finally {
      await away.close();
    }
  });

  test("a gateway timeout maps to HSM_UNAVAILABLE; a busy pool stays RESOURCE_EXHAUSTED; the rest is INTERNAL", async () => {
    assert.equal(hsmKeyError(new KeyholdError("HSM_TIMEOUT", "late"), "encrypt").reason, "HSM_UNAVAILABLE");
    assert.equal(hsmKeyError(new KeyholdError("SERVICE_UNAVAILABLE", "down"), "encrypt").reason, "HSM_UNAVAILABLE");
    assert.equal(hsmKeyError(new KeyholdError("HSM_BUSY", "busy"), "encrypt").reason, "HSM_BUSY");
    assert.equal(hsmKeyError(new KeyholdError("KEY_NOT_FOUND", "gone"), "encrypt").reason, "INTERNAL");
    assert.equal(hsmKeyError(new Error("boom"), "encrypt").reason, "INTERNAL");
  });
});

/** A transport to an hsm-gateway that does not answer (the connection is refused). */
function unreachable() {
  return createRouterTransport(({ service }) => {
    const refuse = () => {
      throw new ConnectError("connect ECONNREFUSED 127.0.0.1:1", Code.Unavailable);
    };
    service(HsmService, {
      generateKey: refuse, encrypt: refuse, decrypt: refuse, sign: refuse, verify: refuse, wrapKey: refuse, unwrapKey: refuse,
      getPublicKey: refuse, generateRandom: refuse, destroyKey: refuse, getStatus: refuse,
    });
  });
}
