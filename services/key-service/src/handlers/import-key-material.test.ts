// Imported key material (BYOK), wrapped with the openssl CLI exactly as a customer would:
// RSAES_OAEP_SHA_256, and RSA_AES_KEY_WRAP_SHA_256 (RSA-OAEP of an AES key + AES-KWP, RFC 5649).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ExpirationModel, KeySpec, KeyState, MacAlgorithm, Origin, WrappingAlgorithm, WrappingKeySpec } from "@keyhold/proto";
import { invalid, ManualClock, OTHER_ACCOUNT, refusal, startTestKeyService, type TestKeyService } from "../test-support.ts";

const T0 = new Date("2026-07-01T00:00:00.000Z");
const DAY = 86_400_000;
const pendingImport = { code: Code.FailedPrecondition, reason: "KEY_PENDING_IMPORT", field: "key_id" };

describe("imported key material: GetParametersForImport, ImportKeyMaterial, DeleteImportedKeyMaterial", () => {
  let service: TestKeyService;
  let clock: ManualClock;
  let dir: string;
  let n = 0;
  before(async () => {
    clock = new ManualClock(T0);
    service = await startTestKeyService({ clock });
    dir = mkdtempSync(join(tmpdir(), "keyhold-import-"));
  });
  after(async () => {
    await service.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const file = (content?: Uint8Array | string) => {
    const path = join(dir, `f${n++}`);
    if (content !== undefined) writeFileSync(path, content);
    return path;
  };
  const openssl = (...args: string[]) => execFileSync("openssl", args);
  const oaepWrap = (pem: string, data: Uint8Array) => {
    const out = file();
    openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", file(pem), "-in", file(data), "-out", out,
      "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256");
    return readFileSync(out);
  };
  /** RSA_AES_KEY_WRAP_SHA_256 with the openssl CLI, as AWS KMS documents it. */
  const keyWrap = (pem: string, material: Uint8Array) => {
    const aesKey = file();
    openssl("rand", "-out", aesKey, "32");
    const kwp = file();
    openssl("enc", "-id-aes256-wrap-pad", "-K", readFileSync(aesKey).toString("hex"), "-iv", "A65959A6", "-in", file(material), "-out", kwp);
    return Buffer.concat([oaepWrap(pem, readFileSync(aesKey)), readFileSync(kwp)]);
  };
  const externalKey = async (keySpec = KeySpec.SYMMETRIC_DEFAULT) => (await service.keys.createKey({ origin: Origin.EXTERNAL, keySpec })).keyMetadata!;
  const parameters = (keyId: string, wrappingAlgorithm = WrappingAlgorithm.RSAES_OAEP_SHA_256, wrappingKeySpec = WrappingKeySpec.RSA_2048) =>
    service.keys.getParametersForImport({ keyId, wrappingAlgorithm, wrappingKeySpec });
  const importWith = async (keyId: string, material: Uint8Array, extra: { validTo?: Date; algorithm?: WrappingAlgorithm; spec?: WrappingKeySpec } = {}) => {
    const algorithm = extra.algorithm ?? WrappingAlgorithm.RSAES_OAEP_SHA_256;
    const params = await parameters(keyId, algorithm, extra.spec ?? WrappingKeySpec.RSA_2048);
    const encryptedKeyMaterial = algorithm === WrappingAlgorithm.RSAES_OAEP_SHA_256 ? oaepWrap(params.publicKeyPem, material) : keyWrap(params.publicKeyPem, material);
    return service.keys.importKeyMaterial({
      keyId,
      importToken: params.importToken,
      encryptedKeyMaterial,
      ...(extra.validTo === undefined ? {} : { validTo: timestampFromDate(extra.validTo) }),
    });
  };

  test("an EXTERNAL key starts PendingImport and refuses use; openssl-wrapped material (OAEP) enables it", async () => {
    clock.set(T0);
    const key = await externalKey();
    assert.equal(key.origin, Origin.EXTERNAL);
    assert.equal(key.keyState, KeyState.PENDING_IMPORT);
    assert.equal(key.expirationModel, ExpirationModel.KEY_MATERIAL_DOES_NOT_EXPIRE);
    assert.deepEqual(await refusal(service.crypto.encrypt({ keyId: key.keyId, plaintext: new Uint8Array([1]) })), pendingImport);
    assert.equal((await refusal(service.keys.enableKey({ keyId: key.keyId }))).reason, "KEY_PENDING_IMPORT");
    const params = await parameters(key.keyId);
    assert.equal(params.keyId, key.krn);
    assert.equal(timestampDate(params.parametersValidTo!).getTime(), T0.getTime() + DAY);
    const wrappingKey = crypto.createPublicKey({ key: Buffer.from(params.publicKey), format: "der", type: "spki" });
    assert.equal(wrappingKey.asymmetricKeyDetails?.modulusLength, 2048);
    const material = crypto.randomBytes(32);
    const imported = await service.keys.importKeyMaterial({ keyId: key.keyId, importToken: params.importToken, encryptedKeyMaterial: oaepWrap(params.publicKeyPem, material) });
    assert.equal(imported.keyMetadata!.keyState, KeyState.ENABLED);
    const sealed = await service.crypto.encrypt({ keyId: key.keyId, plaintext: new Uint8Array([4, 2]) });
    assert.deepEqual((await service.crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob })).plaintext, new Uint8Array([4, 2]));
    assert.equal((await refusal(service.keys.rotateKey({ keyId: key.keyId }))).reason, "UNSUPPORTED_OPERATION");
  });

  test("RSA_AES_KEY_WRAP_SHA_256 with RSA_3072 and RSA_4096 wrapping keys; HMAC material gives the customer's own HMAC", async () => {
    for (const spec of [WrappingKeySpec.RSA_3072, WrappingKeySpec.RSA_4096]) {
      const key = await externalKey(KeySpec.HMAC_256);
      const material = crypto.randomBytes(40);
      await importWith(key.keyId, material, { algorithm: WrappingAlgorithm.RSA_AES_KEY_WRAP_SHA_256, spec });
      const message = Buffer.from("known answer");
      const { mac } = await service.crypto.generateMac({ keyId: key.keyId, message, macAlgorithm: MacAlgorithm.HMAC_SHA_256 });
      assert.deepEqual(Buffer.from(mac), crypto.createHmac("sha256", material).update(message).digest());
    }
  });

  test("material with an expiry: unusable once expired, removed by the job, and the same material re-imports", async () => {
    clock.set(T0);
    const key = await externalKey();
    const material = crypto.randomBytes(32);
    const validTo = new Date(T0.getTime() + 2 * DAY);
    const imported = (await importWith(key.keyId, material, { validTo })).keyMetadata!;
    assert.equal(imported.expirationModel, ExpirationModel.KEY_MATERIAL_EXPIRES);
    assert.equal(timestampDate(imported.validTo!).getTime(), validTo.getTime());
    const sealed = await service.crypto.encrypt({ keyId: key.keyId, plaintext: new Uint8Array([9]) });
    clock.set(validTo);
    assert.deepEqual(await refusal(service.crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob })), pendingImport);
    assert.ok((await service.app.jobs.runOnce()).expired >= 1);
    assert.equal((await service.keys.getKey({ keyId: key.keyId })).keyMetadata!.keyState, KeyState.PENDING_IMPORT);
    assert.equal((await service.app.context.store.getVersion(key.primaryVersionId))!.wrappedMaterial.length, 0, "the expired material is gone");
    const other = crypto.randomBytes(32);
    assert.deepEqual(await refusal(importWith(key.keyId, other)), { code: Code.InvalidArgument, reason: "INCORRECT_KEY_MATERIAL", field: "encrypted_key_material" });
    const again = (await importWith(key.keyId, material)).keyMetadata!;
    assert.equal(again.keyState, KeyState.ENABLED);
    assert.equal(again.expirationModel, ExpirationModel.KEY_MATERIAL_DOES_NOT_EXPIRE);
    assert.deepEqual((await service.crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob })).plaintext, new Uint8Array([9]));
  });

  test("DeleteImportedKeyMaterial makes the key PendingImport at once; only the same material brings it back", async () => {
    clock.set(T0);
    const key = await externalKey();
    const material = crypto.randomBytes(32);
    await importWith(key.keyId, material);
    const sealed = await service.crypto.encrypt({ keyId: key.keyId, plaintext: new Uint8Array([7]) });
    const deleted = (await service.keys.deleteImportedKeyMaterial({ keyId: key.keyId })).keyMetadata!;
    assert.equal(deleted.keyState, KeyState.PENDING_IMPORT);
    assert.deepEqual(await refusal(service.crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob })), pendingImport);
    assert.equal((await refusal(importWith(key.keyId, crypto.randomBytes(32)))).reason, "INCORRECT_KEY_MATERIAL");
    await importWith(key.keyId, material);
    assert.deepEqual((await service.crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob })).plaintext, new Uint8Array([7]));
    // Disabled keys keep their state across a re-import (to change the expiry).
    await service.keys.disableKey({ keyId: key.keyId });
    assert.equal((await importWith(key.keyId, material, { validTo: new Date(T0.getTime() + DAY) })).keyMetadata!.keyState, KeyState.DISABLED);
    // Deletion without material: cancelled, it returns to PendingImport.
    await service.keys.deleteImportedKeyMaterial({ keyId: key.keyId });
    await service.keys.scheduleKeyDeletion({ keyId: key.keyId });
    assert.equal((await service.keys.cancelKeyDeletion({ keyId: key.keyId })).keyMetadata!.keyState, KeyState.PENDING_IMPORT);
  });

  test("a key pending deletion stays pending deletion when its material expires or is deleted, and is purged with it", async () => {
    clock.set(T0);
    const expiring = await externalKey();
    await importWith(expiring.keyId, crypto.randomBytes(32), { validTo: new Date(T0.getTime() + DAY) });
    await service.keys.scheduleKeyDeletion({ keyId: expiring.keyId, pendingWindowInDays: 7 });
    const deleting = await externalKey();
    await importWith(deleting.keyId, crypto.randomBytes(32));
    await service.keys.scheduleKeyDeletion({ keyId: deleting.keyId, pendingWindowInDays: 7 });
    assert.equal((await service.keys.deleteImportedKeyMaterial({ keyId: deleting.keyId })).keyMetadata!.keyState, KeyState.PENDING_DELETION);
    clock.set(new Date(T0.getTime() + 2 * DAY));
    await service.app.jobs.runOnce();
    assert.equal((await service.keys.getKey({ keyId: expiring.keyId })).keyMetadata!.keyState, KeyState.PENDING_DELETION);
    assert.equal((await service.app.context.store.getVersion(expiring.primaryVersionId))!.wrappedMaterial.length, 0);
    // A disabled key whose material expires becomes PendingImport too.
    const disabled = await externalKey();
    await importWith(disabled.keyId, crypto.randomBytes(32), { validTo: new Date(clock.now().getTime() + DAY) });
    await service.keys.disableKey({ keyId: disabled.keyId });
    clock.set(new Date(T0.getTime() + 8 * DAY));
    await service.app.jobs.runOnce();
    assert.equal((await service.keys.getKey({ keyId: disabled.keyId })).keyMetadata!.keyState, KeyState.PENDING_IMPORT);
    for (const keyId of [expiring.keyId, deleting.keyId]) assert.equal((await refusal(service.keys.getKey({ keyId }))).reason, "KEY_NOT_FOUND");
  });

  test("import tokens: expired after 24 hours, bound to their key; bad wrapping is INVALID_CIPHERTEXT", async () => {
    clock.set(T0);
    const key = await externalKey();
    const other = await externalKey();
    const material = crypto.randomBytes(32);
    const params = await parameters(key.keyId);
    const wrapped = oaepWrap(params.publicKeyPem, material);
    const badToken = { code: Code.InvalidArgument, reason: "INVALID_IMPORT_TOKEN", field: "import_token" };
    assert.deepEqual(await refusal(service.keys.importKeyMaterial({ keyId: other.keyId, importToken: params.importToken, encryptedKeyMaterial: wrapped })), badToken);
    assert.deepEqual(await refusal(service.keys.importKeyMaterial({ keyId: key.keyId, importToken: crypto.randomBytes(32), encryptedKeyMaterial: wrapped })), badToken);
    const badMaterial = { code: Code.InvalidArgument, reason: "INVALID_CIPHERTEXT", field: "encrypted_key_material" };
    const flipped = Buffer.from(wrapped);
    flipped[10] = flipped[10]! ^ 1;
    assert.deepEqual(await refusal(service.keys.importKeyMaterial({ keyId: key.keyId, importToken: params.importToken, encryptedKeyMaterial: flipped })), badMaterial);
    assert.deepEqual(await refusal(service.keys.importKeyMaterial({ keyId: key.keyId, importToken: params.importToken, encryptedKeyMaterial: wrapped.subarray(1) })), badMaterial);
    const otherParams = await parameters(key.keyId);
    assert.deepEqual(await refusal(service.keys.importKeyMaterial({ keyId: key.keyId, importToken: otherParams.importToken, encryptedKeyMaterial: wrapped })), badMaterial, "another wrapping key");
    const short = oaepWrap(params.publicKeyPem, crypto.randomBytes(16));
    assert.deepEqual(await refusal(service.keys.importKeyMaterial({ keyId: key.keyId, importToken: params.importToken, encryptedKeyMaterial: short })), invalid("encrypted_key_material"));
    clock.set(new Date(T0.getTime() + DAY));
    assert.deepEqual(await refusal(service.keys.importKeyMaterial({ keyId: key.keyId, importToken: params.importToken, encryptedKeyMaterial: wrapped })), badToken);
    clock.set(new Date(T0.getTime() + DAY - 1));
    assert.equal((await service.keys.importKeyMaterial({ keyId: key.keyId, importToken: params.importToken, encryptedKeyMaterial: wrapped })).keyMetadata!.keyState, KeyState.ENABLED);
  });

  test("refuses bad input naming the field, and keys that are not EXTERNAL", async () => {
    clock.set(T0);
    const key = await externalKey();
    const params = await parameters(key.keyId);
    const wrapped = oaepWrap(params.publicKeyPem, crypto.randomBytes(32));
    const base = { keyId: key.keyId, importToken: params.importToken, encryptedKeyMaterial: wrapped };
    assert.deepEqual(await refusal(service.keys.getParametersForImport({ keyId: key.keyId })), invalid("wrapping_algorithm"));
    assert.deepEqual(await refusal(service.keys.getParametersForImport({ keyId: key.keyId, wrappingAlgorithm: 9 as WrappingAlgorithm })), invalid("wrapping_algorithm"));
    assert.deepEqual(await refusal(service.keys.getParametersForImport({ keyId: key.keyId, wrappingAlgorithm: WrappingAlgorithm.RSAES_OAEP_SHA_256, wrappingKeySpec: 9 as WrappingKeySpec })), invalid("wrapping_key_spec"));
    assert.deepEqual(await refusal(service.keys.importKeyMaterial({ ...base, importToken: new Uint8Array() })), invalid("import_token"));
    assert.deepEqual(await refusal(service.keys.importKeyMaterial({ ...base, encryptedKeyMaterial: new Uint8Array() })), invalid("encrypted_key_material"));
    assert.deepEqual(await refusal(service.keys.importKeyMaterial({ ...base, validTo: timestampFromDate(T0) })), invalid("valid_to"));
    assert.deepEqual(await refusal(service.keys.importKeyMaterial({ ...base, validTo: timestampFromDate(new Date(T0.getTime() + 366 * DAY)) })), invalid("valid_to"));
    assert.deepEqual(await refusal(service.keys.importKeyMaterial({ ...base, expirationModel: ExpirationModel.KEY_MATERIAL_EXPIRES })), invalid("valid_to"));
    assert.deepEqual(
      await refusal(service.keys.importKeyMaterial({ ...base, expirationModel: ExpirationModel.KEY_MATERIAL_DOES_NOT_EXPIRE, validTo: timestampFromDate(new Date(T0.getTime() + DAY)) })),
      invalid("valid_to"),
    );
    assert.deepEqual(await refusal(service.keys.importKeyMaterial({ ...base, expirationModel: 7 as ExpirationModel })), invalid("expiration_model"));
    assert.deepEqual(await refusal(service.keys.createKey({ origin: Origin.EXTERNAL, keySpec: KeySpec.RSA_2048 })), invalid("key_spec"));
    // No HSM configured: refused as AWS KMS refuses a custom key store that is not connected (a state, not an input fault).
    assert.deepEqual(await refusal(service.keys.createKey({ origin: Origin.HSM })), { code: Code.FailedPrecondition, reason: "UNSUPPORTED_OPERATION", field: "origin" });
    const software = (await service.keys.createKey({})).keyMetadata!;
    const unsupported = { code: Code.FailedPrecondition, reason: "UNSUPPORTED_OPERATION", field: "key_id" };
    assert.deepEqual(await refusal(parameters(software.keyId)), unsupported);
    assert.deepEqual(await refusal(service.keys.importKeyMaterial({ ...base, keyId: software.keyId })), unsupported);
    assert.deepEqual(await refusal(service.keys.deleteImportedKeyMaterial({ keyId: software.keyId })), unsupported);
    await service.keys.scheduleKeyDeletion({ keyId: key.keyId });
    assert.equal((await refusal(parameters(key.keyId))).reason, "KEY_PENDING_DELETION");
    assert.equal((await refusal(service.keys.importKeyMaterial(base))).reason, "KEY_PENDING_DELETION");
    const them = service.as(OTHER_ACCOUNT);
    assert.equal((await refusal(them.keys.getParametersForImport({ keyId: key.krn, wrappingAlgorithm: WrappingAlgorithm.RSAES_OAEP_SHA_256 }))).reason, "KEY_NOT_FOUND");
  });
});
