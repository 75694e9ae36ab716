// XKS Proxy API v1 conformance, over real HTTP on loopback against a real SoftHSMv2 token:
// every endpoint, the methods and paths the spec refuses, the error names and HTTP codes of bad
// input, unknown, disabled and wrong-usage keys, the sizes a proxy must accept, tampering of
// every part of a ciphertext, and the ciphertext data integrity value.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import { after, before, describe, test } from "node:test";
import pkcs11js from "pkcs11js";
import { USER_PIN } from "@keyhold/pkcs11/testing";
import { startXkiProxyForTests, type TestXkiProxy, type XksAnswer } from "../test-support.ts";
import { decryptBody, encryptBody, healthBody, META, metadataBody } from "./support.ts";

let proxy: TestXkiProxy;
before(async () => {
  proxy = await startXkiProxyForTests();
  for (const id of ["k1", "k-disabled", "k-encrypt-only"]) await proxy.admin.createKey({ externalKeyId: id });
  await proxy.admin.disableKey({ externalKeyId: "k-disabled" });
  restrictToEncrypt(proxy, "k-encrypt-only");
});
after(async () => {
  await proxy.close();
});

/** Clears CKA_DECRYPT of a key through a session of our own (same module, same process). */
function restrictToEncrypt(p: TestXkiProxy, label: string): void {
  const module = new pkcs11js.PKCS11();
  module.load(p.token.modulePath);
  try {
    module.C_Initialize();
  } catch {
    // Already initialized by the proxy's token: that is the point.
  }
  const slot = module.C_GetSlotList(true).find((s) => module.C_GetTokenInfo(s).label.trim() === p.tokenLabel);
  assert.ok(slot !== undefined);
  const session = module.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  try {
    try {
      module.C_Login(session, pkcs11js.CKU_USER, USER_PIN);
    } catch {
      // The proxy's login holds for the whole token.
    }
    module.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_LABEL, value: label }]);
    const [key] = module.C_FindObjects(session, 1);
    module.C_FindObjectsFinal(session);
    assert.ok(key !== undefined);
    module.C_SetAttributeValue(session, key, [{ type: pkcs11js.CKA_DECRYPT, value: false }]);
  } finally {
    module.C_CloseSession(session);
  }
}

function assertError(answer: XksAnswer, status: number, errorName: string): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.equal(answer.body["errorName"], errorName, JSON.stringify(answer.body));
  const message = answer.body["errorMessage"];
  if (message !== undefined) {
    assert.equal(typeof message, "string");
    assert.ok((message as string).length < 512);
    assert.match(message as string, /^[\x20-\x7e]*$/);
  }
}

async function sealed(plaintext: Buffer, aad?: Buffer, key = "k1"): Promise<Record<string, unknown>> {
  const answer = await proxy.xks("encrypt", key, encryptBody(plaintext, aad));
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body;
}

function flip(base64: unknown, at = 0): string {
  const bytes = Buffer.from(base64 as string, "base64");
  bytes[at] = (bytes[at] ?? 0) ^ 0x01;
  return bytes.toString("base64");
}

describe("endpoints", () => {
  test("GetKeyMetadata: AES_256, ENCRYPT and DECRYPT, ENABLED; DISABLED after DisableKey and ENABLED after EnableKey", async () => {
    const answer = await proxy.xks("metadata", "k1", metadataBody);
    assert.equal(answer.status, 200);
    assert.equal(answer.headers["content-type"], "application/json");
    assert.deepEqual(answer.body, { keySpec: "AES_256", keyUsage: ["ENCRYPT", "DECRYPT"], keyStatus: "ENABLED" });
    assert.deepEqual((await proxy.xks("metadata", "k-disabled", metadataBody)).body, { keySpec: "AES_256", keyUsage: ["ENCRYPT", "DECRYPT"], keyStatus: "DISABLED" });
    await proxy.admin.createKey({ externalKeyId: "k-toggle" });
    await proxy.admin.disableKey({ externalKeyId: "k-toggle" });
    assert.equal((await proxy.xks("metadata", "k-toggle", metadataBody)).body["keyStatus"], "DISABLED");
    await proxy.admin.enableKey({ externalKeyId: "k-toggle" });
    assert.equal((await proxy.xks("metadata", "k-toggle", metadataBody)).body["keyStatus"], "ENABLED");
    assert.equal((await proxy.xks("encrypt", "k-toggle", encryptBody(Buffer.from("x")))).status, 200);
  });

  test("GetKeyMetadata during KMS CreateKey (no kmsKeyArn) is answered", async () => {
    const answer = await proxy.xks("metadata", "k1", { requestMetadata: { awsPrincipalArn: META.awsPrincipalArn, kmsOperation: "CreateKey", kmsRequestId: "r-1" } });
    assert.equal(answer.status, 200);
  });

  test("Encrypt then Decrypt round-trips with and without AAD; ciphertext as long as plaintext, 12-byte IV, 16-byte tag", async () => {
    for (const aad of [undefined, Buffer.from("project=nile,department=marketing")]) {
      const plaintext = Buffer.from("Hello World!");
      const body = await sealed(plaintext, aad);
      assert.equal(Buffer.from(body["ciphertext"] as string, "base64").length, plaintext.length);
      assert.equal(Buffer.from(body["initializationVector"] as string, "base64").length, 12);
      assert.equal(Buffer.from(body["authenticationTag"] as string, "base64").length, 16);
      assert.ok(Buffer.from(body["ciphertextMetadata"] as string, "base64").length <= 20);
      assert.equal(body["ciphertextDataIntegrityValue"], undefined);
      const back = await proxy.xks("decrypt", "k1", decryptBody(body, aad));
      assert.equal(back.status, 200, JSON.stringify(back.body));
      assert.deepEqual(back.body, { plaintext: plaintext.toString("base64") });
    }
  });

  test("two encryptions of the same plaintext use different IVs", async () => {
    const a = await sealed(Buffer.from("same"));
    const b = await sealed(Buffer.from("same"));
    assert.notEqual(a["initializationVector"], b["initializationVector"]);
  });

  test("GetHealthStatus reports the proxy and one ACTIVE HSM", async () => {
    const answer = await proxy.xks("health", undefined, healthBody);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body["xksProxyFleetSize"], 1);
    assert.equal(typeof answer.body["xksProxyVendor"], "string");
    assert.equal(typeof answer.body["xksProxyModel"], "string");
    assert.equal(typeof answer.body["ekmVendor"], "string");
    const fleet = answer.body["ekmFleetDetails"] as Record<string, unknown>[];
    assert.equal(fleet.length, 1);
    assert.equal(fleet[0]?.["healthStatus"], "ACTIVE");
    assert.equal(typeof fleet[0]?.["id"], "string");
    assert.equal(typeof fleet[0]?.["model"], "string");
  });

  test("GET (and PUT, DELETE) on every XKS URI answers 405; unknown paths InvalidUriPathException 404", async () => {
    for (const method of ["GET", "PUT", "DELETE"]) {
      for (const [op, key] of [["metadata", "k1"], ["encrypt", "k1"], ["decrypt", "k1"], ["health", undefined]] as const) {
        const answer = await proxy.xks(op, key, {}, { method });
        assert.equal(answer.status, 405, `${method} ${op}`);
        assert.equal(answer.headers["allow"], "POST");
      }
    }
    for (const path of ["/kms/xks/v1/keys/k1/encrypt", "/tenant-b/kms/xks/v1/health", "/tenant-a/kms/xks/v2/health", "/tenant-a/kms/xks/v1/keys/k1/sign", "/tenant-a/kms/xks/v1/keys/bad%20id/encrypt", `/tenant-a/kms/xks/v1/keys/${"k".repeat(129)}/metadata`, "/"]) {
      assertError(await proxy.xks("health", undefined, healthBody, { path }), 404, "InvalidUriPathException");
    }
  });

  test("the ping path answers GET for load balancers without a signature", async () => {
    const status = await new Promise<number>((resolve, reject) => {
      httpRequest(`${proxy.endpoint}/ping`, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      })
        .on("error", reject)
        .end();
    });
    assert.equal(status, 200);
  });
});

describe("errors", () => {
  test("an unknown key is KeyNotFoundException 404 on metadata, encrypt and decrypt; the proxy's own keys look unknown", async () => {
    const body = await sealed(Buffer.from("x"));
    for (const key of ["no-such-key", "xki-proxy-health-check", "xki-proxy-credential-seal"]) {
      assertError(await proxy.xks("metadata", key, metadataBody), 404, "KeyNotFoundException");
      assertError(await proxy.xks("encrypt", key, encryptBody(Buffer.from("x"))), 404, "KeyNotFoundException");
      assertError(await proxy.xks("decrypt", key, decryptBody(body)), 404, "KeyNotFoundException");
    }
  });

  test("a disabled key: encrypt and decrypt are InvalidStateException 400", async () => {
    const body = await sealed(Buffer.from("before"), undefined);
    assertError(await proxy.xks("encrypt", "k-disabled", encryptBody(Buffer.from("x"))), 400, "InvalidStateException");
    assertError(await proxy.xks("decrypt", "k-disabled", decryptBody(body)), 400, "InvalidStateException");
  });

  test("a key that may only encrypt: decrypt is InvalidKeyUsageException 400", async () => {
    assert.deepEqual((await proxy.xks("metadata", "k-encrypt-only", metadataBody)).body["keyUsage"], ["ENCRYPT"]);
    const body = await sealed(Buffer.from("x"), undefined, "k-encrypt-only");
    assertError(await proxy.xks("decrypt", "k-encrypt-only", decryptBody(body)), 400, "InvalidKeyUsageException");
  });

  test("bad input is ValidationException 400 naming the field; unsupported algorithms UnsupportedOperationException 501", async () => {
    const good = encryptBody(Buffer.from("x"));
    const dec = decryptBody(await sealed(Buffer.from("x")));
    const cases: [string, "encrypt" | "decrypt" | "metadata", unknown, number, string, RegExp][] = [
      ["not JSON", "encrypt", undefined, 400, "ValidationException", /body/],
      ["an array", "encrypt", [], 400, "ValidationException", /body/],
      ["no requestMetadata", "encrypt", { ...good, requestMetadata: undefined }, 400, "ValidationException", /requestMetadata/],
      ["no kmsRequestId", "encrypt", { ...good, requestMetadata: { ...META, kmsRequestId: undefined } }, 400, "ValidationException", /kmsRequestId/],
      ["no kmsOperation", "metadata", { requestMetadata: { ...META, kmsOperation: undefined } }, 400, "ValidationException", /kmsOperation/],
      ["no awsPrincipalArn", "metadata", { requestMetadata: { ...META, awsPrincipalArn: undefined } }, 400, "ValidationException", /awsPrincipalArn/],
      ["no kmsKeyArn on encrypt", "encrypt", { ...good, requestMetadata: { ...META, kmsKeyArn: undefined } }, 400, "ValidationException", /kmsKeyArn/],
      ["no plaintext", "encrypt", { ...good, plaintext: undefined }, 400, "ValidationException", /plaintext/],
      ["plaintext not Base64", "encrypt", { ...good, plaintext: "not base64!" }, 400, "ValidationException", /plaintext/],
      ["plaintext a number", "encrypt", { ...good, plaintext: 7 }, 400, "ValidationException", /plaintext/],
      ["AAD not Base64", "encrypt", { ...good, additionalAuthenticatedData: "@@" }, 400, "ValidationException", /additionalAuthenticatedData/],
      ["no encryptionAlgorithm", "encrypt", { ...good, encryptionAlgorithm: undefined }, 400, "ValidationException", /encryptionAlgorithm/],
      ["another algorithm", "encrypt", { ...good, encryptionAlgorithm: "AES_CBC" }, 501, "UnsupportedOperationException", /encryptionAlgorithm/],
      ["another CDIV algorithm", "encrypt", { ...good, ciphertextDataIntegrityValueAlgorithm: "MD5" }, 501, "UnsupportedOperationException", /ciphertextDataIntegrityValueAlgorithm/],
      ["no ciphertext", "decrypt", { ...dec, ciphertext: undefined }, 400, "ValidationException", /ciphertext/],
      ["an 8-byte IV", "decrypt", { ...dec, initializationVector: Buffer.alloc(8).toString("base64") }, 400, "ValidationException", /initializationVector/],
      ["a 12-byte tag", "decrypt", { ...dec, authenticationTag: Buffer.alloc(12).toString("base64") }, 400, "ValidationException", /authenticationTag/],
      ["21 bytes of metadata", "decrypt", { ...dec, ciphertextMetadata: Buffer.alloc(21).toString("base64") }, 400, "ValidationException", /ciphertextMetadata/],
    ];
    for (const [what, op, body, status, name, field] of cases) {
      const answer = await proxy.xks(op, "k1", body, body === undefined ? { rawBody: Buffer.from("{not json") } : {});
      assertError(answer, status, name);
      assert.match(answer.body["errorMessage"] as string, field, what);
    }
  });

  test("a body over the size limit is ValidationException 400", async () => {
    const answer = await proxy.xks("encrypt", "k1", undefined, { rawBody: Buffer.alloc(300 * 1024, 0x20) });
    assertError(answer, 400, "ValidationException");
  });
});

describe("sizes", () => {
  test("4300-byte plaintext and 8192-byte AAD are accepted and round-trip (and the largest this proxy supports)", async () => {
    for (const [size, aadSize] of [[4300, 8192], [1, 0], [65_536, 65_535]] as const) {
      const plaintext = randomBytes(size);
      const aad = aadSize === 0 ? undefined : randomBytes(aadSize);
      const body = await sealed(plaintext, aad);
      const back = await proxy.xks("decrypt", "k1", decryptBody(body, aad));
      assert.equal(back.status, 200);
      assert.equal(back.body["plaintext"], plaintext.toString("base64"));
    }
  });

  test("larger than supported is UnsupportedOperationException 501", async () => {
    assertError(await proxy.xks("encrypt", "k1", encryptBody(randomBytes(65_537))), 501, "UnsupportedOperationException");
    assertError(await proxy.xks("encrypt", "k1", encryptBody(Buffer.from("x"), randomBytes(65_536))), 501, "UnsupportedOperationException");
  });
});

describe("tampering", () => {
  const aad = Buffer.from("department=marketing");
  test("a changed ciphertext, IV, tag, AAD or ciphertext metadata is InvalidCiphertextException 400", async () => {
    const body = await sealed(Buffer.from("attack at dawn"), aad);
    const base = decryptBody(body, aad);
    const tampered: [string, Record<string, unknown>][] = [
      ["ciphertext", { ...base, ciphertext: flip(body["ciphertext"]) }],
      ["ciphertext truncated", { ...base, ciphertext: Buffer.from(body["ciphertext"] as string, "base64").subarray(1).toString("base64") }],
      ["IV", { ...base, initializationVector: flip(body["initializationVector"]) }],
      ["16-byte IV", { ...base, initializationVector: Buffer.alloc(16, 1).toString("base64") }],
      ["tag", { ...base, authenticationTag: flip(body["authenticationTag"], 15) }],
      ["AAD", { ...base, additionalAuthenticatedData: Buffer.from("department=finance").toString("base64") }],
      ["AAD removed", { ...base, additionalAuthenticatedData: undefined }],
      ["metadata changed", { ...base, ciphertextMetadata: flip(body["ciphertextMetadata"]) }],
      ["metadata removed", { ...base, ciphertextMetadata: undefined }],
      ["metadata added", { ...base, ciphertextMetadata: Buffer.from("v2").toString("base64") }],
    ];
    for (const [what, request] of tampered) {
      assertError(await proxy.xks("decrypt", "k1", request), 400, "InvalidCiphertextException");
      void what;
    }
    // Unchanged, it still decrypts (the session survived every failure).
    assert.equal((await proxy.xks("decrypt", "k1", base)).status, 200);
  });

  test("metadata passed off as AAD (and AAD as metadata) does not decrypt: both lengths are bound", async () => {
    const body = await sealed(Buffer.from("no aad"));
    const swapped = { ...decryptBody(body), ciphertextMetadata: undefined, additionalAuthenticatedData: body["ciphertextMetadata"] };
    assertError(await proxy.xks("decrypt", "k1", swapped), 400, "InvalidCiphertextException");
  });

  test("another key does not decrypt it", async () => {
    await proxy.admin.createKey({ externalKeyId: "k-other" });
    const body = await sealed(Buffer.from("mine"));
    assertError(await proxy.xks("decrypt", "k-other", decryptBody(body)), 400, "InvalidCiphertextException");
  });
});

describe("ciphertext data integrity value", () => {
  test("given when asked: SHA-256 over AAD ‖ metadata ‖ IV ‖ ciphertext ‖ tag, and the ciphertext decrypts", async () => {
    for (const aad of [undefined, randomBytes(100)]) {
      const plaintext = randomBytes(32);
      const answer = await proxy.xks("encrypt", "k1", encryptBody(plaintext, aad, true));
      assert.equal(answer.status, 200);
      const part = (name: string) => Buffer.from(answer.body[name] as string, "base64");
      const expected = createHash("sha256")
        .update(aad ?? Buffer.alloc(0))
        .update(part("ciphertextMetadata"))
        .update(part("initializationVector"))
        .update(part("ciphertext"))
        .update(part("authenticationTag"))
        .digest("base64");
      assert.equal(answer.body["ciphertextDataIntegrityValue"], expected);
      const back = await proxy.xks("decrypt", "k1", decryptBody(answer.body, aad));
      assert.equal(back.body["plaintext"], plaintext.toString("base64"));
    }
  });

  test("the verification decrypt runs: an encrypt with CDIV makes one more HSM decryption than one without", async () => {
    const count = () => proxy.app.context.metrics.snapshot().operations["Decrypt"] ?? 0;
    const before = count();
    await proxy.xks("encrypt", "k1", encryptBody(Buffer.from("x")));
    assert.equal(count(), before);
    await proxy.xks("encrypt", "k1", encryptBody(Buffer.from("x"), undefined, true));
    assert.equal(count(), before + 1);
  });
});
