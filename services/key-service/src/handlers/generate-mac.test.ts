import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { KeySpec, KeyUsage, MacAlgorithm } from "@keyhold/proto";
import { invalid, OTHER_ACCOUNT, refusal, startTestKeyService, type TestKeyService } from "../test-support.ts";

const message = new TextEncoder().encode("the message to authenticate");

describe("HMAC keys: GenerateMac and VerifyMac", () => {
  let service: TestKeyService;
  before(async () => {
    service = await startTestKeyService();
  });
  after(() => service.close());

  const hmacKey = async (keySpec: KeySpec) => (await service.keys.createKey({ keySpec })).keyMetadata!;

  test("HMAC_256/384/512 keys have usage GENERATE_VERIFY_MAC and their one algorithm", async () => {
    for (const [spec, algorithm, length] of [
      [KeySpec.HMAC_256, MacAlgorithm.HMAC_SHA_256, 32],
      [KeySpec.HMAC_384, MacAlgorithm.HMAC_SHA_384, 48],
      [KeySpec.HMAC_512, MacAlgorithm.HMAC_SHA_512, 64],
    ] as const) {
      const key = await hmacKey(spec);
      assert.equal(key.keyUsage, KeyUsage.GENERATE_VERIFY_MAC);
      assert.deepEqual(key.macAlgorithms, [algorithm]);
      assert.deepEqual(key.encryptionAlgorithms, []);
      const { mac, keyId, macAlgorithm } = await service.crypto.generateMac({ keyId: key.keyId, message, macAlgorithm: algorithm });
      assert.equal(mac.length, length);
      assert.equal(keyId, key.krn);
      assert.equal(macAlgorithm, algorithm);
      const again = await service.crypto.generateMac({ keyId: key.keyId, message, macAlgorithm: algorithm });
      assert.deepEqual(again.mac, mac, "deterministic");
      const verified = await service.crypto.verifyMac({ keyId: key.keyId, message, macAlgorithm: algorithm, mac });
      assert.equal(verified.macValid, true);
      assert.equal(verified.keyId, key.krn);
    }
  });

  test("a MAC that does not match (other message, flipped bit, truncated, other key) is INVALID_MAC", async () => {
    const key = await hmacKey(KeySpec.HMAC_256);
    const other = await hmacKey(KeySpec.HMAC_256);
    const algorithm = MacAlgorithm.HMAC_SHA_256;
    const { mac } = await service.crypto.generateMac({ keyId: key.keyId, message, macAlgorithm: algorithm });
    const invalidMac = { code: Code.InvalidArgument, reason: "INVALID_MAC", field: "mac" };
    const flipped = Uint8Array.from(mac);
    flipped[31] = flipped[31]! ^ 1;
    assert.deepEqual(await refusal(service.crypto.verifyMac({ keyId: key.keyId, message: new Uint8Array([1]), macAlgorithm: algorithm, mac })), invalidMac);
    assert.deepEqual(await refusal(service.crypto.verifyMac({ keyId: key.keyId, message, macAlgorithm: algorithm, mac: flipped })), invalidMac);
    assert.deepEqual(await refusal(service.crypto.verifyMac({ keyId: key.keyId, message, macAlgorithm: algorithm, mac: mac.subarray(0, 16) })), invalidMac);
    assert.deepEqual(await refusal(service.crypto.verifyMac({ keyId: other.keyId, message, macAlgorithm: algorithm, mac })), invalidMac);
    // A MAC under a key nobody else knows is not plain HMAC of the message under any fixed key.
    assert.notDeepEqual(mac, crypto.createHmac("sha256", Buffer.alloc(32)).update(message).digest());
  });

  test("refuses bad input naming the field, the wrong algorithm, and keys of other usages", async () => {
    const key = await hmacKey(KeySpec.HMAC_384);
    const algorithm = MacAlgorithm.HMAC_SHA_384;
    assert.deepEqual(await refusal(service.crypto.generateMac({ keyId: key.keyId, message: new Uint8Array(), macAlgorithm: algorithm })), invalid("message"));
    assert.deepEqual(await refusal(service.crypto.generateMac({ keyId: key.keyId, message: new Uint8Array(4097), macAlgorithm: algorithm })), invalid("message"));
    assert.ok(await service.crypto.generateMac({ keyId: key.keyId, message: new Uint8Array(4096), macAlgorithm: algorithm }));
    assert.deepEqual(await refusal(service.crypto.generateMac({ keyId: key.keyId, message })), invalid("mac_algorithm"));
    assert.deepEqual(await refusal(service.crypto.generateMac({ keyId: key.keyId, message, macAlgorithm: 42 as MacAlgorithm })), invalid("mac_algorithm"));
    assert.deepEqual(await refusal(service.crypto.generateMac({ keyId: key.keyId, message, macAlgorithm: MacAlgorithm.HMAC_SHA_256 })), invalid("mac_algorithm"));
    assert.deepEqual(await refusal(service.crypto.generateMac({ keyId: "", message, macAlgorithm: algorithm })), invalid("key_id"));
    assert.deepEqual(await refusal(service.crypto.verifyMac({ keyId: key.keyId, message, macAlgorithm: algorithm })), invalid("mac"));
    assert.deepEqual(await refusal(service.crypto.verifyMac({ keyId: key.keyId, message, macAlgorithm: algorithm, mac: new Uint8Array(65) })), invalid("mac"));
    const symmetric = (await service.keys.createKey({})).keyMetadata!;
    const mismatch = { code: Code.FailedPrecondition, reason: "KEY_USAGE_MISMATCH", field: "key_id" };
    assert.deepEqual(await refusal(service.crypto.generateMac({ keyId: symmetric.keyId, message, macAlgorithm: algorithm })), mismatch);
    assert.deepEqual(await refusal(service.crypto.encrypt({ keyId: key.keyId, plaintext: message })), mismatch);
    assert.deepEqual(await refusal(service.crypto.generateDataKey({ keyId: key.keyId })), mismatch);
    assert.deepEqual(await refusal(service.keys.rotateKey({ keyId: key.keyId })), { code: Code.FailedPrecondition, reason: "UNSUPPORTED_OPERATION", field: "key_id" });
  });

  test("states: disabled and pending deletion refuse; another account sees no key", async () => {
    const key = await hmacKey(KeySpec.HMAC_512);
    const algorithm = MacAlgorithm.HMAC_SHA_512;
    const { mac } = await service.crypto.generateMac({ keyId: key.keyId, message, macAlgorithm: algorithm });
    await service.keys.disableKey({ keyId: key.keyId });
    assert.equal((await refusal(service.crypto.generateMac({ keyId: key.keyId, message, macAlgorithm: algorithm }))).reason, "KEY_DISABLED");
    assert.equal((await refusal(service.crypto.verifyMac({ keyId: key.keyId, message, macAlgorithm: algorithm, mac }))).reason, "KEY_DISABLED");
    await service.keys.scheduleKeyDeletion({ keyId: key.keyId });
    assert.equal((await refusal(service.crypto.verifyMac({ keyId: key.keyId, message, macAlgorithm: algorithm, mac }))).reason, "KEY_PENDING_DELETION");
    await service.keys.cancelKeyDeletion({ keyId: key.keyId });
    await service.keys.enableKey({ keyId: key.keyId });
    assert.equal((await service.crypto.verifyMac({ keyId: key.keyId, message, macAlgorithm: algorithm, mac })).macValid, true);
    const them = service.as(OTHER_ACCOUNT);
    assert.equal((await refusal(them.crypto.generateMac({ keyId: key.krn, message, macAlgorithm: algorithm }))).reason, "KEY_NOT_FOUND");
  });
});
