// RemoteHsmClient against a real hsm-gateway on a real SoftHSMv2 token (in-process transport,
// as in `keyhold dev`): every method, and the gateway's refusals as KeyholdErrors.
import assert from "node:assert/strict";
import { createPublicKey, verify } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createRouterTransport } from "@connectrpc/connect";
import { HsmService } from "@keyhold/proto";
import { createSilentLogger, createInMemoryTransport, KeyholdError } from "@keyhold/server-kit";
import { createSoftHsmToken, startTestGateway, type SoftHsmToken, type TestGateway } from "@keyhold/hsm-gateway/testing";
import { hsmError, RemoteHsmClient } from "./hsm-client.ts";

async function reasonOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (error) {
    assert.ok(error instanceof KeyholdError, `a KeyholdError, got ${String(error)}`);
    return error.reason;
  }
  return assert.fail("expected a refusal");
}

describe("RemoteHsmClient", () => {
  let token: SoftHsmToken;
  let gateway: TestGateway;
  let hsm: RemoteHsmClient;
  before(() => {
    token = createSoftHsmToken();
    gateway = startTestGateway(token);
    hsm = new RemoteHsmClient(createInMemoryTransport(gateway.app.bindings, [], createSilentLogger(), { callingService: "key-service" }));
  });
  after(async () => {
    await gateway.close();
    token.remove();
  });

  test("keys, AES-GCM, signatures, wrapping, random, destroy and health", async () => {
    assert.equal((await hsm.generateKey("v1", "AES_256", "ENCRYPT_DECRYPT")).publicKey, undefined);
    const sealed = await hsm.encrypt("v1", Buffer.from("plain"), Buffer.from("aad"));
    assert.equal(Buffer.from(await hsm.decrypt("v1", sealed.iv, sealed.ciphertext, Buffer.from("aad"))).toString(), "plain");
    assert.equal(await reasonOf(hsm.decrypt("v1", sealed.iv, sealed.ciphertext)), "INVALID_CIPHERTEXT");

    const { publicKey } = await hsm.generateKey("sig", "EC_P256", "SIGN_VERIFY");
    assert.ok(publicKey !== undefined);
    const signature = await hsm.sign("sig", "ECDSA_SHA_256", Buffer.from("m"));
    assert.equal(verify("sha256", Buffer.from("m"), createPublicKey({ key: Buffer.from(publicKey), format: "der", type: "spki" }), signature), true);
    assert.equal(await hsm.verify("sig", "ECDSA_SHA_256", Buffer.from("m"), signature), true);
    assert.equal(await hsm.verify("sig", "ECDSA_SHA_256", Buffer.from("n"), signature), false);
    assert.deepEqual(await hsm.getPublicKey("sig"), { spec: "EC_P256", publicKey });

    await hsm.generateKey("root", "AES_256", "WRAP_UNWRAP");
    const material = new Uint8Array(32).fill(9);
    const wrapped = await hsm.wrapKey("root", material);
    assert.deepEqual(material, new Uint8Array(32).fill(9), "the caller's buffer is left alone");
    assert.deepEqual(Buffer.from(await hsm.unwrapKey("root", wrapped)), Buffer.from(material));
    await hsm.importKey("root", wrapped, "byok");
    await hsm.encrypt("byok", Buffer.from("x"));

    assert.equal((await hsm.generateRandom(24)).byteLength, 24);
    assert.equal(await hsm.destroyKey("sig"), 2);
    assert.equal(await reasonOf(hsm.getPublicKey("sig")), "KEY_NOT_FOUND");
    assert.equal(await reasonOf(hsm.generateKey("v1", "AES_256", "ENCRYPT_DECRYPT")), "ALREADY_EXISTS");
    const health = await hsm.health();
    assert.deepEqual([health.tokenPresent, health.loggedIn, health.tokenLabel], [true, true, token.label]);
    assert.ok(health.pool.capacity >= health.pool.size);
  });

  test("a bad field is INVALID_ARGUMENT naming it; an outside caller is ACCESS_DENIED", async () => {
    try {
      await hsm.generateRandom(0);
      assert.fail("expected a refusal");
    } catch (error) {
      assert.ok(error instanceof KeyholdError);
      assert.deepEqual([error.reason, error.field], ["INVALID_ARGUMENT", "length"]);
    }
    const outsider = new RemoteHsmClient(createInMemoryTransport(gateway.app.bindings, [], createSilentLogger()));
    assert.equal(await reasonOf(outsider.health()), "ACCESS_DENIED");
  });

  test("no answer is HSM_UNAVAILABLE, a late one HSM_TIMEOUT", async () => {
    const down = createRouterTransport(({ service }) => {
      service(HsmService, {
        getStatus() {
          throw new ConnectError("connection refused", Code.Unavailable);
        },
      });
    });
    assert.equal(await reasonOf(new RemoteHsmClient(down).health()), "HSM_UNAVAILABLE");
    assert.equal(hsmError(new ConnectError("late", Code.DeadlineExceeded)).reason, "HSM_TIMEOUT");
  });
});
