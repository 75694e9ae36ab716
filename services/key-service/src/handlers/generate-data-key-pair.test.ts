import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { DataKeyPairSpec, EncryptionAlgorithm, KeySpec } from "@keyhold/proto";
import { invalid, refusal, startTestKeyService, type TestKeyService } from "../test-support.ts";

describe("GenerateDataKeyPair(WithoutPlaintext) and GenerateAndExportDataKey", () => {
  let service: TestKeyService;
  let keyId: string;
  before(async () => {
    service = await startTestKeyService();
    keyId = (await service.keys.createKey({})).keyMetadata!.keyId;
  });
  after(() => service.close());

  for (const [spec, type, detail] of [
    [DataKeyPairSpec.RSA_2048, "rsa", 2048],
    [DataKeyPairSpec.ECC_NIST_P256, "ec", "prime256v1"],
    [DataKeyPairSpec.ECC_NIST_P384, "ec", "secp384r1"],
    [DataKeyPairSpec.ECC_NIST_P521, "ec", "secp521r1"],
    [DataKeyPairSpec.ECC_SECG_P256K1, "ec", "secp256k1"],
  ] as const) {
    test(`${DataKeyPairSpec[spec]}: a working pair, its private key also under the key (Decrypt returns it)`, async () => {
      const context = { purpose: "pair" };
      const pair = await service.crypto.generateDataKeyPair({ keyId, keyPairSpec: spec, encryptionContext: context });
      assert.equal(pair.keyPairSpec, spec);
      const privateKey = crypto.createPrivateKey({ key: Buffer.from(pair.privateKeyPlaintext), format: "der", type: "pkcs8" });
      const publicKey = crypto.createPublicKey({ key: Buffer.from(pair.publicKey), format: "der", type: "spki" });
      assert.equal(privateKey.asymmetricKeyType, type);
      const details = privateKey.asymmetricKeyDetails!;
      assert.equal(type === "rsa" ? details.modulusLength : details.namedCurve, detail);
      const signature = crypto.sign("sha256", Buffer.from("m"), privateKey);
      assert.equal(crypto.verify("sha256", Buffer.from("m"), publicKey, signature), true, "the halves belong together");
      const opened = await service.crypto.decrypt({ ciphertextBlob: pair.privateKeyCiphertextBlob, encryptionContext: context });
      assert.deepEqual(opened.plaintext, pair.privateKeyPlaintext);
      assert.equal(opened.keyVersionId, pair.keyVersionId);
    });
  }

  test("WithoutPlaintext returns no private key; Decrypt recovers one matching the public key", async () => {
    const pair = await service.crypto.generateDataKeyPairWithoutPlaintext({ keyId, keyPairSpec: DataKeyPairSpec.ECC_NIST_P256 });
    assert.equal(Object.hasOwn(pair, "privateKeyPlaintext"), false);
    const opened = await service.crypto.decrypt({ ciphertextBlob: pair.privateKeyCiphertextBlob });
    const derived = crypto.createPublicKey(crypto.createPrivateKey({ key: Buffer.from(opened.plaintext), format: "der", type: "pkcs8" }));
    assert.deepEqual(derived.export({ type: "spki", format: "der" }), Buffer.from(pair.publicKey));
  });

  test("key pair requests refuse bad input and non-symmetric keys", async () => {
    assert.deepEqual(await refusal(service.crypto.generateDataKeyPair({ keyId })), invalid("key_pair_spec"));
    assert.deepEqual(await refusal(service.crypto.generateDataKeyPair({ keyId, keyPairSpec: 99 as DataKeyPairSpec })), invalid("key_pair_spec"));
    assert.deepEqual(await refusal(service.crypto.generateDataKeyPairWithoutPlaintext({ keyId, keyPairSpec: DataKeyPairSpec.RSA_2048, encryptionContext: { "": "x" } })), invalid("encryption_context"));
    const rsa = (await service.keys.createKey({ keySpec: KeySpec.RSA_2048 })).keyMetadata!;
    assert.deepEqual(await refusal(service.crypto.generateDataKeyPair({ keyId: rsa.keyId, keyPairSpec: DataKeyPairSpec.RSA_2048 })), { code: Code.FailedPrecondition, reason: "KEY_USAGE_MISMATCH", field: "key_id" });
    const disabled = (await service.keys.createKey({})).keyMetadata!;
    await service.keys.disableKey({ keyId: disabled.keyId });
    assert.equal((await refusal(service.crypto.generateDataKeyPair({ keyId: disabled.keyId, keyPairSpec: DataKeyPairSpec.ECC_NIST_P256 }))).reason, "KEY_DISABLED");
  });

  test("GenerateAndExportDataKey: the same data key under the key and under the caller's RSA public key", async () => {
    const recipient = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
    for (const [publicKey, wrappingAlgorithm, oaepHash] of [
      [recipient.publicKey.export({ type: "spki", format: "der" }), EncryptionAlgorithm.RSAES_OAEP_SHA_256, "sha256"],
      [Buffer.from(recipient.publicKey.export({ type: "spki", format: "pem" })), EncryptionAlgorithm.RSAES_OAEP_SHA_1, "sha1"],
      [recipient.publicKey.export({ type: "spki", format: "der" }), EncryptionAlgorithm.UNSPECIFIED, "sha256"],
    ] as const) {
      const out = await service.crypto.generateAndExportDataKey({ keyId, publicKey, wrappingAlgorithm, numberOfBytes: 24, encryptionContext: { e: "x" } });
      assert.equal(out.wrappingAlgorithm, wrappingAlgorithm === EncryptionAlgorithm.UNSPECIFIED ? EncryptionAlgorithm.RSAES_OAEP_SHA_256 : wrappingAlgorithm);
      assert.equal(Object.hasOwn(out, "plaintext"), false);
      const exported = crypto.privateDecrypt({ key: recipient.privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, out.exportEncryptedDataKey);
      const sealed = await service.crypto.decrypt({ ciphertextBlob: out.ciphertextBlob, encryptionContext: { e: "x" } });
      assert.equal(exported.length, 24);
      assert.deepEqual(Buffer.from(sealed.plaintext), exported);
    }
  });

  test("GenerateAndExportDataKey refuses a public key that is not RSA 2048-4096, and bad input", async () => {
    const ec = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" }).publicKey.export({ type: "spki", format: "der" });
    const small = crypto.generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({ type: "spki", format: "der" });
    const good = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ type: "spki", format: "der" });
    for (const publicKey of [new Uint8Array(), new Uint8Array([1, 2, 3]), ec, small, Buffer.from("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")]) {
      assert.deepEqual(await refusal(service.crypto.generateAndExportDataKey({ keyId, publicKey })), invalid("public_key"));
    }
    assert.deepEqual(await refusal(service.crypto.generateAndExportDataKey({ keyId, publicKey: good, wrappingAlgorithm: EncryptionAlgorithm.SYMMETRIC_DEFAULT })), invalid("wrapping_algorithm"));
    assert.deepEqual(await refusal(service.crypto.generateAndExportDataKey({ keyId, publicKey: good, numberOfBytes: 2000 })), invalid("number_of_bytes"));
    assert.deepEqual(await refusal(service.crypto.generateAndExportDataKey({ keyId: "", publicKey: good })), invalid("key_id"));
  });
});
