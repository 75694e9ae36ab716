// Every RPC of issue 5 over real gRPC from a client Keyhold did not generate (grpc-js +
// proto-loader reading proto/), against `keyhold dev`: versions and rotation, deletion and
// state, HMAC, asymmetric keys (with openssl on the other side), data key pairs and export,
// imported key material wrapped by openssl. Refusals carry the status, reason and field.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { status } from "@grpc/grpc-js";
import { expectGrpcError } from "../support/errors.ts";
import { createGrpcJsClients, type GrpcJsClients, type PlKeyMetadata, type PlRequest } from "../support/grpc-js-client.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

type Response = Record<string, unknown>;

let server: TestServer;
let grpc: GrpcJsClients;
let dir: string;
let files = 0;

before(async () => {
  server = await startTestServer();
  grpc = createGrpcJsClients(server.grpcAddress, server.credential);
  dir = mkdtempSync(join(tmpdir(), "keyhold-keys-complete-"));
});
after(async () => {
  grpc?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Calls any method of KeyService ("keys") or CryptoService ("crypto") by its proto name. */
function call(service: "keys" | "crypto", method: string, request: PlRequest): Promise<Response> {
  const fn = (grpc[service] as unknown as Record<string, ((request: PlRequest) => Promise<Response>) | undefined>)[method];
  if (fn === undefined) throw new Error(`no ${service}.${method} in the loaded protos`);
  return fn(request);
}
const keys = (method: string, request: PlRequest) => call("keys", method, request);
const cryptoCall = (method: string, request: PlRequest) => call("crypto", method, request);
const createKey = async (request: PlRequest = {}) => (await keys("CreateKey", request))["key_metadata"] as PlKeyMetadata;
const file = (content?: Uint8Array | string) => {
  const path = join(dir, `f${files++}`);
  if (content !== undefined) writeFileSync(path, content);
  return path;
};
const failed = (code: number, reason: string, field: string) => ({ code, reason, field });

describe("versions, rotation and deletion over gRPC", () => {
  test("RotateKey, ListKeyVersions, GetKeyVersion; old ciphertexts decrypt; ReEncrypt moves them to the primary", async () => {
    const key = await createKey();
    const old = await cryptoCall("Encrypt", { key_id: key.key_id, plaintext: Buffer.from("v1") });
    const rotated = await keys("RotateKey", { key_id: key.key_id });
    const version = rotated["key_version"] as { key_version_id: string; primary: boolean; source: string };
    assert.equal(version.primary, true);
    assert.equal(version.source, "KEY_VERSION_SOURCE_ON_DEMAND_ROTATION");
    const list = (await keys("ListKeyVersions", { key_id: key.key_id }))["key_versions"] as { key_version_id: string }[];
    assert.deepEqual(list.map((v) => v.key_version_id), [key.primary_version_id, version.key_version_id]);
    const got = (await keys("GetKeyVersion", { key_id: key.key_id, key_version_id: key.primary_version_id }))["key_version"] as { primary: boolean };
    assert.equal(got.primary, false);
    assert.deepEqual((await cryptoCall("Decrypt", { ciphertext_blob: old["ciphertext_blob"] }))["plaintext"], Buffer.from("v1"));
    const moved = await cryptoCall("ReEncrypt", { ciphertext_blob: old["ciphertext_blob"], destination_key_id: key.key_id });
    assert.equal(moved["key_version_id"], version.key_version_id);
    await expectGrpcError(keys("GetKeyVersion", { key_id: key.key_id, key_version_id: "not-a-uuid" }), failed(status.INVALID_ARGUMENT, "INVALID_ARGUMENT", "key_version_id"));
  });

  test("rotation policy: on, period bounds, off", async () => {
    const key = await createKey();
    const policy = (await keys("UpdateRotationPolicy", { key_id: key.key_id, enabled: true, rotation_period_in_days: 90 }))["rotation_policy"] as Record<string, unknown>;
    assert.equal(policy["enabled"], true);
    assert.equal(policy["rotation_period_in_days"], 90);
    assert.notEqual(policy["next_rotation_date"], null);
    await expectGrpcError(keys("UpdateRotationPolicy", { key_id: key.key_id, enabled: true, rotation_period_in_days: 2561 }), failed(status.INVALID_ARGUMENT, "INVALID_ARGUMENT", "rotation_period_in_days"));
    assert.equal(((await keys("GetRotationPolicy", { key_id: key.key_id }))["rotation_policy"] as Record<string, unknown>)["rotation_period_in_days"], 90);
    await keys("UpdateRotationPolicy", { key_id: key.key_id, enabled: false });
    assert.equal(((await keys("GetRotationPolicy", { key_id: key.key_id }))["rotation_policy"] as Record<string, unknown>)["enabled"], false);
  });

  test("Enabled → PendingDeletion → Disabled → Enabled, and deletion protection", async () => {
    const key = await createKey();
    const scheduled = (await keys("ScheduleKeyDeletion", { key_id: key.key_id, pending_window_in_days: 7 }))["key_metadata"] as PlKeyMetadata;
    assert.equal(scheduled.key_state, "KEY_STATE_PENDING_DELETION");
    assert.notEqual(scheduled.deletion_date, null);
    await expectGrpcError(cryptoCall("Encrypt", { key_id: key.key_id, plaintext: Buffer.from("x") }), failed(status.FAILED_PRECONDITION, "KEY_PENDING_DELETION", "key_id"));
    await expectGrpcError(keys("ScheduleKeyDeletion", { key_id: key.key_id, pending_window_in_days: 31 }), failed(status.INVALID_ARGUMENT, "INVALID_ARGUMENT", "pending_window_in_days"));
    const cancelled = (await keys("CancelKeyDeletion", { key_id: key.key_id }))["key_metadata"] as PlKeyMetadata;
    assert.equal(cancelled.key_state, "KEY_STATE_DISABLED");
    await expectGrpcError(keys("CancelKeyDeletion", { key_id: key.key_id }), failed(status.FAILED_PRECONDITION, "KEY_INVALID_STATE", "key_id"));
    await keys("EnableKey", { key_id: key.key_id });
    await keys("UpdateDeletionProtection", { key_id: key.key_id, enabled: true });
    await expectGrpcError(keys("ScheduleKeyDeletion", { key_id: key.key_id }), failed(status.FAILED_PRECONDITION, "DELETION_PROTECTED", "key_id"));
  });
});

describe("HMAC and asymmetric keys over gRPC, with openssl", () => {
  test("GenerateMac / VerifyMac", async () => {
    const key = await createKey({ key_spec: "KEY_SPEC_HMAC_384" });
    assert.equal(key.key_usage, "KEY_USAGE_GENERATE_VERIFY_MAC");
    const message = Buffer.from("mac me");
    const { mac } = (await cryptoCall("GenerateMac", { key_id: key.key_id, message, mac_algorithm: "MAC_ALGORITHM_HMAC_SHA_384" })) as { mac: Buffer };
    assert.equal(mac.length, 48);
    assert.equal((await cryptoCall("VerifyMac", { key_id: key.key_id, message, mac, mac_algorithm: "MAC_ALGORITHM_HMAC_SHA_384" }))["mac_valid"], true);
    await expectGrpcError(cryptoCall("VerifyMac", { key_id: key.key_id, message: Buffer.from("other"), mac, mac_algorithm: "MAC_ALGORITHM_HMAC_SHA_384" }), failed(status.INVALID_ARGUMENT, "INVALID_MAC", "mac"));
  });

  test("Sign with EC_P256 and RSA_3072 (RAW and DIGEST) verifies with openssl and the key from GetPublicKey", async () => {
    const message = Buffer.from("signed over gRPC");
    for (const [spec, algorithm, options] of [
      ["KEY_SPEC_EC_P256", "SIGNING_ALGORITHM_ECDSA_SHA_256", []],
      ["KEY_SPEC_RSA_3072", "SIGNING_ALGORITHM_RSASSA_PSS_SHA_256", ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"]],
      ["KEY_SPEC_RSA_3072", "SIGNING_ALGORITHM_RSASSA_PKCS1_V1_5_SHA_256", []],
    ] as const) {
      const key = await createKey({ key_spec: spec, key_usage: "KEY_USAGE_SIGN_VERIFY" });
      const pem = (await keys("GetPublicKey", { key_id: key.key_id }))["public_key_pem"] as string;
      for (const type of ["MESSAGE_TYPE_RAW", "MESSAGE_TYPE_DIGEST"]) {
        const input = type === "MESSAGE_TYPE_RAW" ? message : crypto.createHash("sha256").update(message).digest();
        const { signature } = (await cryptoCall("Sign", { key_id: key.key_id, message: input, message_type: type, signing_algorithm: algorithm })) as { signature: Buffer };
        const out = execFileSync("openssl", ["dgst", "-sha256", "-verify", file(pem), ...options, "-signature", file(signature), file(message)], { encoding: "utf8" });
        assert.equal(out.trim(), "Verified OK", `${spec} ${algorithm} ${type}`);
        assert.equal((await cryptoCall("Verify", { key_id: key.key_id, message: input, message_type: type, signature, signing_algorithm: algorithm }))["signature_valid"], true);
      }
    }
  });

  test("openssl pkeyutl encrypts under the public key; AsymmetricDecrypt decrypts", async () => {
    const key = await createKey({ key_spec: "KEY_SPEC_RSA_2048", key_usage: "KEY_USAGE_ENCRYPT_DECRYPT" });
    const pem = (await keys("GetPublicKey", { key_id: key.key_id }))["public_key_pem"] as string;
    const secret = crypto.randomBytes(48);
    const out = file();
    execFileSync("openssl", ["pkeyutl", "-encrypt", "-pubin", "-inkey", file(pem), "-in", file(secret), "-out", out,
      "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256"]);
    const decrypted = await cryptoCall("AsymmetricDecrypt", { key_id: key.key_id, ciphertext_blob: readFileSync(out), encryption_algorithm: "ENCRYPTION_ALGORITHM_RSAES_OAEP_SHA_256" });
    assert.deepEqual(decrypted["plaintext"], secret);
    const encrypted = await cryptoCall("AsymmetricEncrypt", { key_id: key.key_id, plaintext: secret, encryption_algorithm: "ENCRYPTION_ALGORITHM_RSAES_OAEP_SHA_1" });
    const back = await cryptoCall("AsymmetricDecrypt", { key_id: key.key_id, ciphertext_blob: encrypted["ciphertext_blob"], encryption_algorithm: "ENCRYPTION_ALGORITHM_RSAES_OAEP_SHA_1" });
    assert.deepEqual(back["plaintext"], secret);
    await expectGrpcError(
      cryptoCall("AsymmetricDecrypt", { key_id: key.key_id, ciphertext_blob: readFileSync(out), encryption_algorithm: "ENCRYPTION_ALGORITHM_RSAES_OAEP_SHA_1" }),
      failed(status.INVALID_ARGUMENT, "INVALID_CIPHERTEXT", "ciphertext_blob"),
    );
  });

  test("GenerateDataKeyPair(WithoutPlaintext) and GenerateAndExportDataKey", async () => {
    const key = await createKey();
    const pair = await cryptoCall("GenerateDataKeyPair", { key_id: key.key_id, key_pair_spec: "DATA_KEY_PAIR_SPEC_ECC_NIST_P384" });
    const opened = await cryptoCall("Decrypt", { ciphertext_blob: pair["private_key_ciphertext_blob"] });
    assert.deepEqual(opened["plaintext"], pair["private_key_plaintext"]);
    const without = await cryptoCall("GenerateDataKeyPairWithoutPlaintext", { key_id: key.key_id, key_pair_spec: "DATA_KEY_PAIR_SPEC_RSA_2048" });
    assert.equal((without["public_key"] as Buffer).length > 200, true);
    const recipient = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
    const exported = await cryptoCall("GenerateAndExportDataKey", {
      key_id: key.key_id,
      public_key: Buffer.from(recipient.publicKey.export({ type: "spki", format: "pem" })),
      number_of_bytes: 32,
    });
    const mine = crypto.privateDecrypt({ key: recipient.privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, exported["export_encrypted_data_key"] as Buffer);
    assert.deepEqual((await cryptoCall("Decrypt", { ciphertext_blob: exported["ciphertext_blob"] }))["plaintext"], mine);
  });
});

describe("imported key material over gRPC", () => {
  test("PendingImport → (openssl RSA_AES_KEY_WRAP_SHA_256) Enabled → DeleteImportedKeyMaterial → PendingImport", async () => {
    const key = await createKey({ origin: "ORIGIN_EXTERNAL" });
    assert.equal(key.key_state, "KEY_STATE_PENDING_IMPORT");
    await expectGrpcError(cryptoCall("Encrypt", { key_id: key.key_id, plaintext: Buffer.from("x") }), failed(status.FAILED_PRECONDITION, "KEY_PENDING_IMPORT", "key_id"));
    const params = await keys("GetParametersForImport", { key_id: key.key_id, wrapping_algorithm: "WRAPPING_ALGORITHM_RSA_AES_KEY_WRAP_SHA_256", wrapping_key_spec: "WRAPPING_KEY_SPEC_RSA_2048" });
    const material = file(crypto.randomBytes(32));
    const aesKey = file();
    execFileSync("openssl", ["rand", "-out", aesKey, "32"]);
    const kwp = file();
    execFileSync("openssl", ["enc", "-id-aes256-wrap-pad", "-K", readFileSync(aesKey).toString("hex"), "-iv", "A65959A6", "-in", material, "-out", kwp]);
    const rsaPart = file();
    execFileSync("openssl", ["pkeyutl", "-encrypt", "-pubin", "-inkey", file(params["public_key_pem"] as string), "-in", aesKey, "-out", rsaPart,
      "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256"]);
    const imported = await keys("ImportKeyMaterial", {
      key_id: key.key_id,
      import_token: params["import_token"],
      encrypted_key_material: Buffer.concat([readFileSync(rsaPart), readFileSync(kwp)]),
    });
    assert.equal((imported["key_metadata"] as PlKeyMetadata).key_state, "KEY_STATE_ENABLED");
    const sealed = await cryptoCall("Encrypt", { key_id: key.key_id, plaintext: Buffer.from("byok") });
    assert.deepEqual((await cryptoCall("Decrypt", { ciphertext_blob: sealed["ciphertext_blob"] }))["plaintext"], Buffer.from("byok"));
    await expectGrpcError(keys("RotateKey", { key_id: key.key_id }), failed(status.FAILED_PRECONDITION, "UNSUPPORTED_OPERATION", "key_id"));
    const deleted = await keys("DeleteImportedKeyMaterial", { key_id: key.key_id });
    assert.equal((deleted["key_metadata"] as PlKeyMetadata).key_state, "KEY_STATE_PENDING_IMPORT");
    await expectGrpcError(cryptoCall("Decrypt", { ciphertext_blob: sealed["ciphertext_blob"] }), failed(status.FAILED_PRECONDITION, "KEY_PENDING_IMPORT", "key_id"));
    await expectGrpcError(
      keys("ImportKeyMaterial", { key_id: key.key_id, import_token: Buffer.alloc(32), encrypted_key_material: Buffer.alloc(256) }),
      failed(status.INVALID_ARGUMENT, "INVALID_IMPORT_TOKEN", "import_token"),
    );
  });
});
