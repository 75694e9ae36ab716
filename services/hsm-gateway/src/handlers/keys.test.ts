// GenerateKey, GetPublicKey and DestroyKey on a real SoftHSMv2 token, checked from outside
// with pkcs11-tool: the attributes are right, the private half never leaves the token, and keys
// are found again by id after the gateway restarts.
import assert from "node:assert/strict";
import { createPublicKey } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { HsmKeySpec, HsmKeyUsage } from "@keyhold/proto";
import pkcs11js from "pkcs11js";
import { createSoftHsmToken, refusal, startTestGateway, USER_PIN, type SoftHsmToken, type TestGateway } from "../test-support.ts";

/** pkcs11-tool's listing, split per object, keyed by label and kind. */
function objectsOf(listing: string): Map<string, string> {
  const objects = new Map<string, string>();
  for (const block of listing.split(/\n(?=\S)/)) {
    const kind = /^(Secret|Private|Public) Key Object/.exec(block)?.[1];
    const label = /label:\s+(\S+)/.exec(block)?.[1];
    if (kind !== undefined && label !== undefined) objects.set(`${label}/${kind}`, block);
  }
  return objects;
}

describe("keys in the token", () => {
  let token: SoftHsmToken;
  let gateway: TestGateway;
  before(() => {
    token = createSoftHsmToken();
    gateway = startTestGateway(token);
  });
  after(async () => {
    await gateway.close();
    token.remove();
  });

  test("AES, RSA and EC keys are token objects, sensitive, never extractable, labelled and id'd (pkcs11-tool --list-objects)", async () => {
    await gateway.client.generateKey({ keyId: "aes-enc", keySpec: HsmKeySpec.AES_256, keyUsage: HsmKeyUsage.ENCRYPT_DECRYPT });
    await gateway.client.generateKey({ keyId: "aes-wrap", keySpec: HsmKeySpec.AES_256, keyUsage: HsmKeyUsage.WRAP_UNWRAP });
    await gateway.client.generateKey({ keyId: "rsa-sign", keySpec: HsmKeySpec.RSA_2048, keyUsage: HsmKeyUsage.SIGN_VERIFY });
    await gateway.client.generateKey({ keyId: "ec-sign", keySpec: HsmKeySpec.EC_P384, keyUsage: HsmKeyUsage.SIGN_VERIFY });
    const objects = objectsOf(token.listObjects());
    const aes = objects.get("aes-enc/Secret") ?? assert.fail("aes-enc is not in the token");
    assert.match(aes, /AES length 32/);
    assert.match(aes, /ID:\s+6165732d656e63/, "CKA_ID is the key id's UTF-8");
    assert.match(aes, /Usage:\s+encrypt, decrypt\n/);
    assert.match(aes, /Access:\s+sensitive, always sensitive, never extractable, local/);
    const wrap = objects.get("aes-wrap/Secret") ?? assert.fail("aes-wrap is not in the token");
    assert.match(wrap, /Usage:\s+wrap, unwrap\n/);
    assert.match(wrap, /never extractable/);
    for (const label of ["rsa-sign", "ec-sign"]) {
      const privateKey = objects.get(`${label}/Private`) ?? assert.fail(`${label}'s private key is not in the token`);
      assert.match(privateKey, /Usage:\s+sign\n/);
      assert.match(privateKey, /Access:\s+sensitive, always sensitive, never extractable, local/);
      const publicKey = objects.get(`${label}/Public`) ?? assert.fail(`${label}'s public key is not in the token`);
      assert.match(publicKey, /Usage:\s+verify\n/);
    }
    assert.match(objects.get("rsa-sign/Public") ?? "", /RSA 2048 bits/);
    assert.match(objects.get("ec-sign/Public") ?? "", /EC_PARAMS:\s+06052b81040022/, "P-384");
  });

  test("the private key and the secret key cannot be exported: not by pkcs11-tool, not by reading CKA_VALUE, not by wrapping", async () => {
    await gateway.client.generateKey({ keyId: "no-export-ec", keySpec: HsmKeySpec.EC_P256, keyUsage: HsmKeyUsage.SIGN_VERIFY });
    for (const type of ["privkey", "secrkey"]) {
      const label = type === "privkey" ? "no-export-ec" : "aes-enc";
      let exported = "";
      try {
        exported = token.run("pkcs11-tool", ["--module", token.modulePath, "--token-label", token.label, "--login", "--pin", USER_PIN, "--read-object", "--type", type, "--label", label]);
      } catch {
        // Refused outright: also fine.
      }
      assert.equal(exported, "", `${type} ${label} must not be readable`);
    }
    // Through the gateway's own logged-in module: the token refuses every way out.
    const module = gateway.app.context.token.module;
    const { pool } = gateway.app.context;
    const lease = await pool.acquire(performance.now() + 1000);
    try {
      const find = (label: string, cls: number) => {
        module.C_FindObjectsInit(lease.session, [{ type: pkcs11js.CKA_LABEL, value: label }, { type: pkcs11js.CKA_CLASS, value: cls }]);
        const [handle] = module.C_FindObjects(lease.session, 1);
        module.C_FindObjectsFinal(lease.session);
        return handle ?? assert.fail(`${label} not found`);
      };
      const privateKey = find("no-export-ec", pkcs11js.CKO_PRIVATE_KEY);
      assert.throws(() => module.C_GetAttributeValue(lease.session, privateKey, [{ type: pkcs11js.CKA_VALUE }]), /CKR_ATTRIBUTE_SENSITIVE/);
      assert.throws(() => module.C_SetAttributeValue(lease.session, privateKey, [{ type: pkcs11js.CKA_EXTRACTABLE, value: true }]), /CKR_ATTRIBUTE_READ_ONLY|CKR_VENDOR_DEFINED:27|CKR_ATTRIBUTE_VALUE_INVALID/ /* 27 = 0x1B, CKR_ACTION_PROHIBITED */);
      const secret = find("aes-enc", pkcs11js.CKO_SECRET_KEY);
      assert.throws(() => module.C_GetAttributeValue(lease.session, secret, [{ type: pkcs11js.CKA_VALUE }]), /CKR_ATTRIBUTE_SENSITIVE/);
      const wrapping = find("aes-wrap", pkcs11js.CKO_SECRET_KEY);
      assert.throws(
        () => module.C_WrapKey(lease.session, { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, wrapping, secret, Buffer.alloc(64)),
        /CKR_KEY_UNEXTRACTABLE/,
      );
    } finally {
      pool.release(lease, "none");
    }
  });

  test("GenerateKey answers the public key (DER SPKI), and GetPublicKey answers the same", async () => {
    const generated = await gateway.client.generateKey({ keyId: "rsa-3072", keySpec: HsmKeySpec.RSA_3072, keyUsage: HsmKeyUsage.SIGN_VERIFY });
    assert.equal(generated.keySpec, HsmKeySpec.RSA_3072);
    const key = createPublicKey({ key: Buffer.from(generated.publicKey), format: "der", type: "spki" });
    assert.equal(key.asymmetricKeyType, "rsa");
    assert.equal(key.asymmetricKeyDetails?.modulusLength, 3072);
    const fetched = await gateway.client.getPublicKey({ keyId: "rsa-3072" });
    assert.equal(fetched.keySpec, HsmKeySpec.RSA_3072);
    assert.deepEqual(Buffer.from(fetched.publicKey), Buffer.from(generated.publicKey));
    const ec = await gateway.client.getPublicKey({ keyId: "ec-sign" });
    assert.equal(ec.keySpec, HsmKeySpec.EC_P384);
    assert.equal(createPublicKey({ key: Buffer.from(ec.publicKey), format: "der", type: "spki" }).asymmetricKeyDetails?.namedCurve, "secp384r1");
    assert.equal(generated.publicKey.length > 0 && (await gateway.client.generateKey({ keyId: "aes-nopub", keySpec: HsmKeySpec.AES_256, keyUsage: HsmKeyUsage.ENCRYPT_DECRYPT })).publicKey.length, 0);
    const aesPublic = await refusal(gateway.client.getPublicKey({ keyId: "aes-nopub" }));
    assert.deepEqual([aesPublic.code, aesPublic.reason], [Code.NotFound, "KEY_NOT_FOUND"]);
  });

  test("a key id is taken once: ALREADY_EXISTS, also for two generations racing", async () => {
    const first = await refusal(gateway.client.generateKey({ keyId: "aes-enc", keySpec: HsmKeySpec.AES_256, keyUsage: HsmKeyUsage.ENCRYPT_DECRYPT }));
    assert.deepEqual([first.code, first.reason], [Code.AlreadyExists, "ALREADY_EXISTS"]);
    const outcomes = await Promise.allSettled([
      gateway.client.generateKey({ keyId: "race", keySpec: HsmKeySpec.EC_P256, keyUsage: HsmKeyUsage.SIGN_VERIFY }),
      gateway.client.generateKey({ keyId: "race", keySpec: HsmKeySpec.EC_P256, keyUsage: HsmKeyUsage.SIGN_VERIFY }),
    ]);
    assert.equal(outcomes.filter((o) => o.status === "fulfilled").length, 1);
    assert.equal((objectsOf(token.listObjects()).get("race/Private") ?? "") !== "", true);
  });

  test("keys are found by id after the gateway restarts", async () => {
    const before = await gateway.client.getPublicKey({ keyId: "ec-sign" });
    const encrypted = await gateway.client.encrypt({ keyId: "aes-enc", plaintext: Buffer.from("kept"), aad: new Uint8Array() });
    await gateway.close();
    gateway = startTestGateway(token);
    assert.deepEqual((await gateway.client.getPublicKey({ keyId: "ec-sign" })).publicKey, before.publicKey);
    const decrypted = await gateway.client.decrypt({ keyId: "aes-enc", iv: encrypted.iv, ciphertext: encrypted.ciphertext, aad: new Uint8Array() });
    assert.equal(Buffer.from(decrypted.plaintext).toString(), "kept");
  });

  test("DestroyKey removes both halves of a pair; then the key is KEY_NOT_FOUND", async () => {
    await gateway.client.generateKey({ keyId: "doomed", keySpec: HsmKeySpec.EC_P256, keyUsage: HsmKeyUsage.SIGN_VERIFY });
    assert.equal((await gateway.client.destroyKey({ keyId: "doomed" })).destroyedObjects, 2);
    assert.equal([...objectsOf(token.listObjects()).keys()].some((k) => k.startsWith("doomed/")), false);
    for (const call of [gateway.client.getPublicKey({ keyId: "doomed" }), gateway.client.destroyKey({ keyId: "doomed" })]) {
      const refused = await refusal(call);
      assert.deepEqual([refused.code, refused.reason], [Code.NotFound, "KEY_NOT_FOUND"]);
    }
    // The id is free again.
    await gateway.client.generateKey({ keyId: "doomed", keySpec: HsmKeySpec.AES_256, keyUsage: HsmKeyUsage.ENCRYPT_DECRYPT });
  });
});
