// Encrypt/Decrypt, Sign/Verify, WrapKey/UnwrapKey and GenerateRandom on a real SoftHSMv2 token.
// Signatures are checked by node:crypto against the public key (and node's signatures by the
// gateway), so the formats are the standard ones.
import assert from "node:assert/strict";
import { createHash, createPublicKey, verify as nodeVerify, generateKeyPairSync, sign as nodeSign, randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { HsmKeySpec, HsmKeyUsage, HsmMessageType, HsmSigningAlgorithm } from "@keyhold/proto";
import { createSoftHsmToken, refusal, startTestGateway, type SoftHsmToken, type TestGateway } from "../test-support.ts";

const A = HsmSigningAlgorithm;
const ALGORITHMS: readonly { algorithm: HsmSigningAlgorithm; keyId: string; hash: string; node: { padding?: number; saltLength?: number; dsaEncoding?: "der" } }[] = [
  { algorithm: A.RSASSA_PSS_SHA_256, keyId: "rsa", hash: "sha256", node: { padding: 6, saltLength: 32 } },
  { algorithm: A.RSASSA_PSS_SHA_384, keyId: "rsa", hash: "sha384", node: { padding: 6, saltLength: 48 } },
  { algorithm: A.RSASSA_PSS_SHA_512, keyId: "rsa", hash: "sha512", node: { padding: 6, saltLength: 64 } },
  { algorithm: A.RSASSA_PKCS1_V1_5_SHA_256, keyId: "rsa", hash: "sha256", node: { padding: 1 } },
  { algorithm: A.RSASSA_PKCS1_V1_5_SHA_384, keyId: "rsa", hash: "sha384", node: { padding: 1 } },
  { algorithm: A.RSASSA_PKCS1_V1_5_SHA_512, keyId: "rsa", hash: "sha512", node: { padding: 1 } },
  { algorithm: A.ECDSA_SHA_256, keyId: "p256", hash: "sha256", node: { dsaEncoding: "der" } },
  { algorithm: A.ECDSA_SHA_384, keyId: "p384", hash: "sha384", node: { dsaEncoding: "der" } },
  { algorithm: A.ECDSA_SHA_512, keyId: "p256", hash: "sha512", node: { dsaEncoding: "der" } },
];

describe("cryptographic operations in the token", () => {
  let token: SoftHsmToken;
  let gateway: TestGateway;
  const publicKeys = new Map<string, Uint8Array>();
  before(async () => {
    token = createSoftHsmToken();
    gateway = startTestGateway(token);
    const c = gateway.client;
    await c.generateKey({ keyId: "aes", keySpec: HsmKeySpec.AES_256, keyUsage: HsmKeyUsage.ENCRYPT_DECRYPT });
    await c.generateKey({ keyId: "root", keySpec: HsmKeySpec.AES_256, keyUsage: HsmKeyUsage.WRAP_UNWRAP });
    publicKeys.set("rsa", (await c.generateKey({ keyId: "rsa", keySpec: HsmKeySpec.RSA_2048, keyUsage: HsmKeyUsage.SIGN_VERIFY })).publicKey);
    publicKeys.set("p256", (await c.generateKey({ keyId: "p256", keySpec: HsmKeySpec.EC_P256, keyUsage: HsmKeyUsage.SIGN_VERIFY })).publicKey);
    publicKeys.set("p384", (await c.generateKey({ keyId: "p384", keySpec: HsmKeySpec.EC_P384, keyUsage: HsmKeyUsage.SIGN_VERIFY })).publicKey);
  });
  after(async () => {
    await gateway.close();
    token.remove();
  });

  test("AES-256-GCM: round trip with AAD, a fresh 96-bit IV per call, 16-byte tag; empty AAD too", async () => {
    const plaintext = randomBytes(1000);
    const aad = Buffer.from("context");
    const one = await gateway.client.encrypt({ keyId: "aes", plaintext, aad });
    const two = await gateway.client.encrypt({ keyId: "aes", plaintext, aad });
    assert.equal(one.iv.length, 12);
    assert.equal(one.ciphertext.length, plaintext.length + 16);
    assert.notDeepEqual(one.iv, two.iv);
    assert.notDeepEqual(one.ciphertext, two.ciphertext);
    const back = await gateway.client.decrypt({ keyId: "aes", iv: one.iv, ciphertext: one.ciphertext, aad });
    assert.deepEqual(Buffer.from(back.plaintext), plaintext);
    const noAad = await gateway.client.encrypt({ keyId: "aes", plaintext: Buffer.from("x"), aad: new Uint8Array() });
    assert.equal(Buffer.from((await gateway.client.decrypt({ keyId: "aes", iv: noAad.iv, ciphertext: noAad.ciphertext, aad: new Uint8Array() })).plaintext).toString(), "x");
  });

  test("a changed ciphertext, tag, IV or AAD is INVALID_CIPHERTEXT; the session keeps serving", async () => {
    const aad = Buffer.from("bound");
    const sealed = await gateway.client.encrypt({ keyId: "aes", plaintext: Buffer.from("secret data"), aad });
    const flip = (bytes: Uint8Array, at: number) => {
      const copy = Buffer.from(bytes);
      copy[at] = (copy[at] ?? 0) ^ 1;
      return copy;
    };
    const cases = [
      { iv: sealed.iv, ciphertext: flip(sealed.ciphertext, 0), aad },
      { iv: sealed.iv, ciphertext: flip(sealed.ciphertext, sealed.ciphertext.length - 1), aad },
      { iv: flip(sealed.iv, 3), ciphertext: sealed.ciphertext, aad },
      { iv: sealed.iv, ciphertext: sealed.ciphertext, aad: Buffer.from("other") },
    ];
    for (const wrong of cases) {
      const refused = await refusal(gateway.client.decrypt({ keyId: "aes", ...wrong }));
      assert.deepEqual([refused.code, refused.reason], [Code.InvalidArgument, "INVALID_CIPHERTEXT"]);
    }
    const right = await gateway.client.decrypt({ keyId: "aes", iv: sealed.iv, ciphertext: sealed.ciphertext, aad });
    assert.equal(Buffer.from(right.plaintext).toString(), "secret data");
  });

  test("every signing algorithm: the token's signature verifies with node:crypto and with Verify; RAW and DIGEST agree", async () => {
    const message = Buffer.from("the message to sign");
    for (const { algorithm, keyId, hash, node } of ALGORITHMS) {
      const label = HsmSigningAlgorithm[algorithm];
      const spki = createPublicKey({ key: Buffer.from(publicKeys.get(keyId) ?? new Uint8Array()), format: "der", type: "spki" });
      const raw = await gateway.client.sign({ keyId, signingAlgorithm: algorithm, messageType: HsmMessageType.RAW, message });
      assert.equal(nodeVerify(hash, message, { key: spki, ...node }, raw.signature), true, `${label}: node verifies the RAW signature`);
      const digest = createHash(hash).update(message).digest();
      const byDigest = await gateway.client.sign({ keyId, signingAlgorithm: algorithm, messageType: HsmMessageType.DIGEST, message: digest });
      assert.equal(nodeVerify(hash, message, { key: spki, ...node }, byDigest.signature), true, `${label}: node verifies the DIGEST signature`);
      for (const [messageType, input] of [[HsmMessageType.RAW, message], [HsmMessageType.DIGEST, digest]] as const) {
        const ok = await gateway.client.verify({ keyId, signingAlgorithm: algorithm, messageType, message: input, signature: raw.signature });
        assert.equal(ok.valid, true, `${label}: Verify accepts`);
      }
      const tampered = Buffer.from(raw.signature);
      tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 0x01;
      for (const signature of [tampered, Buffer.from([1, 2, 3])]) {
        const bad = await gateway.client.verify({ keyId, signingAlgorithm: algorithm, messageType: HsmMessageType.RAW, message, signature });
        assert.equal(bad.valid, false, `${label}: Verify refuses a wrong signature`);
      }
      const other = await gateway.client.verify({ keyId, signingAlgorithm: algorithm, messageType: HsmMessageType.RAW, message: Buffer.from("another message"), signature: raw.signature });
      assert.equal(other.valid, false, `${label}: Verify refuses another message`);
    }
  });

  test("Verify accepts a signature made outside by the same algorithm (interoperable format)", async () => {
    // A key pair made by node, imported nowhere: we only check the gateway rejects its
    // signatures (different key) and accepts its own; the DER shape is what node emits.
    const foreign = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const signature = nodeSign("sha256", Buffer.from("m"), { key: foreign.privateKey, dsaEncoding: "der" });
    const answer = await gateway.client.verify({ keyId: "p256", signingAlgorithm: A.ECDSA_SHA_256, messageType: HsmMessageType.RAW, message: Buffer.from("m"), signature });
    assert.equal(answer.valid, false);
  });

  test("the wrong kind of key for an operation is KEY_USAGE_MISMATCH", async () => {
    const calls = [
      () => gateway.client.sign({ keyId: "p256", signingAlgorithm: A.RSASSA_PSS_SHA_256, messageType: HsmMessageType.RAW, message: Buffer.from("m") }),
      () => gateway.client.sign({ keyId: "rsa", signingAlgorithm: A.ECDSA_SHA_256, messageType: HsmMessageType.RAW, message: Buffer.from("m") }),
      () => gateway.client.encrypt({ keyId: "root", plaintext: Buffer.from("m"), aad: new Uint8Array() }),
      () => gateway.client.wrapKey({ wrappingKeyId: "aes", keyMaterial: randomBytes(32) }),
    ];
    for (const call of calls) {
      const refused = await refusal(call());
      assert.deepEqual([refused.code, refused.reason], [Code.FailedPrecondition, "KEY_USAGE_MISMATCH"]);
    }
    const noKey = await refusal(gateway.client.sign({ keyId: "aes", signingAlgorithm: A.ECDSA_SHA_256, messageType: HsmMessageType.RAW, message: Buffer.from("m") }));
    assert.deepEqual([noKey.code, noKey.reason], [Code.NotFound, "KEY_NOT_FOUND"], "an AES key has no private key to sign with");
  });

  test("WrapKey/UnwrapKey: material comes back intact; a changed wrapping is INVALID_CIPHERTEXT", async () => {
    for (const size of [16, 24, 32, 48, 64, 1024]) {
      const material = randomBytes(size);
      const wrapped = await gateway.client.wrapKey({ wrappingKeyId: "root", keyMaterial: Buffer.from(material) });
      assert.notDeepEqual(Buffer.from(wrapped.wrappedKey).subarray(0, 16), material.subarray(0, 16));
      const unwrapped = await gateway.client.unwrapKey({ wrappingKeyId: "root", wrappedKey: wrapped.wrappedKey });
      assert.deepEqual(Buffer.from(unwrapped.keyMaterial), material, `${size} bytes`);
    }
    const wrapped = Buffer.from((await gateway.client.wrapKey({ wrappingKeyId: "root", keyMaterial: randomBytes(32) })).wrappedKey);
    wrapped[5] = (wrapped[5] ?? 0) ^ 0x80;
    const refused = await refusal(gateway.client.unwrapKey({ wrappingKeyId: "root", wrappedKey: wrapped }));
    assert.deepEqual([refused.code, refused.reason], [Code.InvalidArgument, "INVALID_CIPHERTEXT"]);
  });

  test("UnwrapKey with import_key_id makes a non-extractable AES key (BYOK) that encrypts; the material is not returned", async () => {
    const material = randomBytes(32);
    const wrapped = await gateway.client.wrapKey({ wrappingKeyId: "root", keyMaterial: Buffer.from(material) });
    const imported = await gateway.client.unwrapKey({ wrappingKeyId: "root", wrappedKey: wrapped.wrappedKey, importKeyId: "byok-1" });
    assert.equal(imported.keyId, "byok-1");
    assert.equal(imported.keyMaterial.length, 0);
    const sealed = await gateway.client.encrypt({ keyId: "byok-1", plaintext: Buffer.from("imported"), aad: new Uint8Array() });
    // The imported key is the customer's material: node decrypts with it.
    const { createDecipheriv } = await import("node:crypto");
    const decipher = createDecipheriv("aes-256-gcm", material, sealed.iv);
    decipher.setAuthTag(Buffer.from(sealed.ciphertext).subarray(-16));
    const plain = Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext).subarray(0, -16)), decipher.final()]);
    assert.equal(plain.toString(), "imported");
    // Sensitive and not extractable (pkcs11-tool would list "extractable"); not "always sensitive"
    // or "never extractable", truthfully: the material existed outside the token.
    assert.match(token.listObjects(), /label:\s+byok-1\n(?:.*\n)\s+Usage:\s+encrypt, decrypt\n\s+Access:\s+sensitive\n/);
    const again = await refusal(gateway.client.unwrapKey({ wrappingKeyId: "root", wrappedKey: wrapped.wrappedKey, importKeyId: "byok-1" }));
    assert.deepEqual([again.code, again.reason], [Code.AlreadyExists, "ALREADY_EXISTS"]);
  });

  test("GenerateRandom answers the asked number of bytes, different each time", async () => {
    const one = await gateway.client.generateRandom({ length: 32 });
    const two = await gateway.client.generateRandom({ length: 32 });
    assert.equal(one.random.length, 32);
    assert.notDeepEqual(one.random, two.random);
    assert.equal((await gateway.client.generateRandom({ length: 1024 })).random.length, 1024);
  });
});
