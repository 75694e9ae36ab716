// Bad input is INVALID_ARGUMENT naming the field, before the token is asked; only Keyhold
// services may call the gateway at all.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { HsmKeySpec, HsmKeyUsage, HsmMessageType, HsmSigningAlgorithm } from "@keyhold/proto";
import { createSoftHsmToken, invalid, refusal, startTestGateway, type SoftHsmToken, type TestGateway } from "../test-support.ts";

describe("HsmService input and access", () => {
  let token: SoftHsmToken;
  let gateway: TestGateway;
  before(async () => {
    token = createSoftHsmToken();
    gateway = startTestGateway(token);
    await gateway.client.generateKey({ keyId: "aes", keySpec: HsmKeySpec.AES_256, keyUsage: HsmKeyUsage.ENCRYPT_DECRYPT });
    await gateway.client.generateKey({ keyId: "root", keySpec: HsmKeySpec.AES_256, keyUsage: HsmKeyUsage.WRAP_UNWRAP });
  });
  after(async () => {
    await gateway.close();
    token.remove();
  });

  test("an outside caller (no Keyhold service) is PERMISSION_DENIED ACCESS_DENIED on every method", async () => {
    const o = gateway.outsider;
    const calls: (() => Promise<unknown>)[] = [
      () => o.generateKey({ keyId: "x", keySpec: HsmKeySpec.AES_256, keyUsage: HsmKeyUsage.ENCRYPT_DECRYPT }),
      () => o.encrypt({ keyId: "aes", plaintext: Buffer.from("m") }),
      () => o.decrypt({ keyId: "aes" }),
      () => o.sign({ keyId: "aes" }),
      () => o.verify({ keyId: "aes" }),
      () => o.wrapKey({ wrappingKeyId: "root" }),
      () => o.unwrapKey({ wrappingKeyId: "root" }),
      () => o.getPublicKey({ keyId: "aes" }),
      () => o.generateRandom({ length: 8 }),
      () => o.destroyKey({ keyId: "aes" }),
      () => o.getStatus({}),
    ];
    for (const call of calls) {
      const refused = await refusal(call());
      assert.deepEqual([refused.code, refused.reason], [Code.PermissionDenied, "ACCESS_DENIED"]);
    }
    // Nothing was destroyed or made.
    await gateway.client.encrypt({ keyId: "aes", plaintext: Buffer.from("still here") });
  });

  test("every bad field is INVALID_ARGUMENT naming it", async () => {
    const c = gateway.client;
    const sign = { keyId: "aes", signingAlgorithm: HsmSigningAlgorithm.ECDSA_SHA_256, messageType: HsmMessageType.RAW, message: Buffer.from("m") };
    const cases: [string, () => Promise<unknown>][] = [
      ["key_id", () => c.generateKey({ keyId: "", keySpec: HsmKeySpec.AES_256, keyUsage: HsmKeyUsage.ENCRYPT_DECRYPT })],
      ["key_id", () => c.generateKey({ keyId: "has space", keySpec: HsmKeySpec.AES_256, keyUsage: HsmKeyUsage.ENCRYPT_DECRYPT })],
      ["key_id", () => c.generateKey({ keyId: "x".repeat(65), keySpec: HsmKeySpec.AES_256, keyUsage: HsmKeyUsage.ENCRYPT_DECRYPT })],
      ["key_spec", () => c.generateKey({ keyId: "k", keySpec: HsmKeySpec.UNSPECIFIED, keyUsage: HsmKeyUsage.ENCRYPT_DECRYPT })],
      ["key_spec", () => c.generateKey({ keyId: "k", keySpec: 99 as HsmKeySpec, keyUsage: HsmKeyUsage.ENCRYPT_DECRYPT })],
      ["key_usage", () => c.generateKey({ keyId: "k", keySpec: HsmKeySpec.AES_256, keyUsage: HsmKeyUsage.UNSPECIFIED })],
      ["key_usage", () => c.generateKey({ keyId: "k", keySpec: HsmKeySpec.AES_256, keyUsage: HsmKeyUsage.SIGN_VERIFY })],
      ["key_usage", () => c.generateKey({ keyId: "k", keySpec: HsmKeySpec.EC_P256, keyUsage: HsmKeyUsage.ENCRYPT_DECRYPT })],
      ["key_id", () => c.encrypt({ keyId: "", plaintext: Buffer.from("m") })],
      ["plaintext", () => c.encrypt({ keyId: "aes", plaintext: new Uint8Array() })],
      ["plaintext", () => c.encrypt({ keyId: "aes", plaintext: new Uint8Array(64 * 1024 + 1) })],
      ["aad", () => c.encrypt({ keyId: "aes", plaintext: Buffer.from("m"), aad: new Uint8Array(16 * 1024 + 1) })],
      ["iv", () => c.decrypt({ keyId: "aes", iv: new Uint8Array(11), ciphertext: new Uint8Array(32) })],
      ["ciphertext", () => c.decrypt({ keyId: "aes", iv: new Uint8Array(12), ciphertext: new Uint8Array(16) })],
      ["aad", () => c.decrypt({ keyId: "aes", iv: new Uint8Array(12), ciphertext: new Uint8Array(32), aad: new Uint8Array(16 * 1024 + 1) })],
      ["signing_algorithm", () => c.sign({ ...sign, signingAlgorithm: HsmSigningAlgorithm.UNSPECIFIED })],
      ["message_type", () => c.sign({ ...sign, messageType: HsmMessageType.UNSPECIFIED })],
      ["message", () => c.sign({ ...sign, messageType: HsmMessageType.DIGEST, message: new Uint8Array(31) })],
      ["message", () => c.sign({ ...sign, message: new Uint8Array(64 * 1024 + 1) })],
      ["signature", () => c.verify({ ...sign, signature: new Uint8Array() })],
      ["wrapping_key_id", () => c.wrapKey({ wrappingKeyId: "", keyMaterial: new Uint8Array(32) })],
      ["key_material", () => c.wrapKey({ wrappingKeyId: "root", keyMaterial: new Uint8Array(8) })],
      ["key_material", () => c.wrapKey({ wrappingKeyId: "root", keyMaterial: new Uint8Array(33) })],
      ["key_material", () => c.wrapKey({ wrappingKeyId: "root", keyMaterial: new Uint8Array(1032) })],
      ["wrapped_key", () => c.unwrapKey({ wrappingKeyId: "root", wrappedKey: new Uint8Array(8) })],
      ["import_key_id", () => c.unwrapKey({ wrappingKeyId: "root", wrappedKey: new Uint8Array(40), importKeyId: "bad id" })],
      ["key_id", () => c.getPublicKey({ keyId: "" })],
      ["length", () => c.generateRandom({ length: 0 })],
      ["length", () => c.generateRandom({ length: 1025 })],
      ["key_id", () => c.destroyKey({ keyId: "" })],
    ];
    for (const [field, call] of cases) {
      const { code, reason, field: named } = await refusal(call());
      assert.deepEqual({ code, reason, field: named }, invalid(field), `expected INVALID_ARGUMENT on ${field}`);
    }
  });

  test("an unknown key id is NOT_FOUND KEY_NOT_FOUND for every operation on a key", async () => {
    const c = gateway.client;
    const calls: (() => Promise<unknown>)[] = [
      () => c.encrypt({ keyId: "missing", plaintext: Buffer.from("m") }),
      () => c.decrypt({ keyId: "missing", iv: new Uint8Array(12), ciphertext: new Uint8Array(32) }),
      () => c.sign({ keyId: "missing", signingAlgorithm: HsmSigningAlgorithm.ECDSA_SHA_256, messageType: HsmMessageType.RAW, message: Buffer.from("m") }),
      () => c.verify({ keyId: "missing", signingAlgorithm: HsmSigningAlgorithm.ECDSA_SHA_256, messageType: HsmMessageType.RAW, message: Buffer.from("m"), signature: new Uint8Array(8) }),
      () => c.wrapKey({ wrappingKeyId: "missing", keyMaterial: new Uint8Array(32) }),
      () => c.unwrapKey({ wrappingKeyId: "missing", wrappedKey: new Uint8Array(40) }),
      () => c.getPublicKey({ keyId: "missing" }),
      () => c.destroyKey({ keyId: "missing" }),
    ];
    for (const call of calls) {
      const refused = await refusal(call());
      assert.deepEqual([refused.code, refused.reason], [Code.NotFound, "KEY_NOT_FOUND"]);
    }
  });
});
