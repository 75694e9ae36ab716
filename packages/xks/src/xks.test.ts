import assert from "node:assert/strict";
import { test } from "node:test";
import {
  ciphertextDataIntegrityValue, hsmAad, normalizePrefix, parseDecryptRequest, parseEncryptRequest, parseHealthRequest, parseMetadataRequest, parseXksPath,
  safeErrorMessage, XKS_ERROR_STATUS, XksError, xksPath,
} from "./index.ts";

// The examples of the XKS Proxy API specification (v1).
const META = {
  awsPrincipalArn: "arn:aws:iam::123456789012:user/Alice",
  kmsKeyArn: "arn:aws:kms:us-east-2:123456789012:/key/1234abcd-12ab-34cd-56ef-1234567890ab",
  kmsOperation: "Encrypt",
  kmsRequestId: "4112f4d6-db54-4af4-ae30-c55a22a8dfae",
  kmsViaService: "ebs",
};
const SPEC_ENCRYPT = {
  requestMetadata: META,
  additionalAuthenticatedData: "cHJvamVjdD1uaWxlLGRlcGFydG1lbnQ9bWFya2V0aW5n",
  plaintext: "SGVsbG8gV29ybGQh",
  encryptionAlgorithm: "AES_GCM",
  ciphertextDataIntegrityValueAlgorithm: "SHA_256",
};
const SPEC_DECRYPT = {
  requestMetadata: { ...META, kmsOperation: "Decrypt", kmsRequestId: "5112f4d6-db54-4af4-ae30-c55a22a8dfae" },
  additionalAuthenticatedData: "cHJvamVjdD1uaWxlLGRlcGFydG1lbnQ9bWFya2V0aW5n",
  encryptionAlgorithm: "AES_GCM",
  ciphertext: "ghxkK1txeDNn3q8Y",
  ciphertextMetadata: "a2V5X3ZlcnNpb249MQ==",
  initializationVector: "HMrlRw85cAJUd5Ax",
  authenticationTag: "vBxN2ncH1oEkR8WVXpmyYQ==",
};

const validation = (field: string) => (error: unknown) => error instanceof XksError && error.errorName === "ValidationException" && error.message.startsWith(`${field}:`);

test("the specification's Encrypt and Decrypt examples parse", () => {
  const encrypt = parseEncryptRequest(SPEC_ENCRYPT);
  assert.equal(encrypt.plaintext.toString(), "Hello World!");
  assert.equal(encrypt.additionalAuthenticatedData.toString(), "project=nile,department=marketing");
  assert.equal(encrypt.wantsIntegrityValue, true);
  assert.equal(encrypt.requestMetadata.kmsViaService, "ebs");
  const decrypt = parseDecryptRequest(SPEC_DECRYPT);
  assert.equal(decrypt.ciphertextMetadata.toString(), "key_version=1");
  assert.equal(decrypt.initializationVector.length, 12);
  assert.equal(parseMetadataRequest({ requestMetadata: { awsPrincipalArn: META.awsPrincipalArn, kmsOperation: "CreateKey", kmsRequestId: "r" } }).requestMetadata.kmsKeyArn, undefined);
  assert.equal(parseHealthRequest({ requestMetadata: { kmsRequestId: "r", kmsOperation: "KmsHealthCheck" } }).requestMetadata.kmsOperation, "KmsHealthCheck");
});

test("the CDIV of the specification's example (Appendix C)", () => {
  const b = (s: string) => Buffer.from(s, "base64");
  const cdiv = ciphertextDataIntegrityValue({
    additionalAuthenticatedData: b(SPEC_DECRYPT.additionalAuthenticatedData),
    ciphertextMetadata: b(SPEC_DECRYPT.ciphertextMetadata),
    initializationVector: b(SPEC_DECRYPT.initializationVector),
    ciphertext: b(SPEC_DECRYPT.ciphertext),
    authenticationTag: b(SPEC_DECRYPT.authenticationTag),
  });
  assert.equal(cdiv.toString("base64"), "qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc=");
});

test("the HSM's AAD carries both lengths, so metadata cannot pass for AAD or the other way round", () => {
  assert.equal(hsmAad(Buffer.from("ab"), Buffer.from("m")).toString("hex"), "0002" + "6162" + "01" + "6d");
  assert.equal(hsmAad(Buffer.alloc(0), Buffer.alloc(0)).toString("hex"), "000000");
  assert.notDeepEqual(hsmAad(Buffer.from("m"), Buffer.alloc(0)), hsmAad(Buffer.alloc(0), Buffer.from("m")));
  assert.throws(() => hsmAad(Buffer.alloc(0), Buffer.alloc(21)), RangeError);
});

test("sizes the specification requires are accepted: 4300-byte plaintext and ciphertext, 8192-byte AAD", () => {
  const big = Buffer.alloc(4300, 7).toString("base64");
  const aad = Buffer.alloc(8192, 1).toString("base64");
  assert.equal(parseEncryptRequest({ ...SPEC_ENCRYPT, plaintext: big, additionalAuthenticatedData: aad }).plaintext.length, 4300);
  assert.equal(parseDecryptRequest({ ...SPEC_DECRYPT, ciphertext: big, additionalAuthenticatedData: aad }).additionalAuthenticatedData.length, 8192);
  assert.throws(() => parseEncryptRequest({ ...SPEC_ENCRYPT, plaintext: Buffer.alloc(70_000).toString("base64") }), (e: unknown) => e instanceof XksError && e.errorName === "UnsupportedOperationException");
});

test("every bad field is a ValidationException naming it", () => {
  const { requestMetadata: _unused, ...withoutMeta } = SPEC_ENCRYPT;
  void _unused;
  assert.throws(() => parseEncryptRequest(withoutMeta), validation("requestMetadata"));
  assert.throws(() => parseEncryptRequest({ ...SPEC_ENCRYPT, requestMetadata: { ...META, awsPrincipalArn: undefined } }), validation("requestMetadata.awsPrincipalArn"));
  assert.throws(() => parseEncryptRequest({ ...SPEC_ENCRYPT, requestMetadata: { ...META, kmsKeyArn: 5 } }), validation("requestMetadata.kmsKeyArn"));
  assert.throws(() => parseEncryptRequest({ ...SPEC_ENCRYPT, requestMetadata: { ...META, kmsRequestId: "" } }), validation("requestMetadata.kmsRequestId"));
  assert.throws(() => parseEncryptRequest({ ...SPEC_ENCRYPT, plaintext: undefined }), validation("plaintext"));
  assert.throws(() => parseEncryptRequest({ ...SPEC_ENCRYPT, plaintext: "not base64!" }), validation("plaintext"));
  assert.throws(() => parseEncryptRequest({ ...SPEC_ENCRYPT, plaintext: "SGVsbG8" }), validation("plaintext"), "unpadded");
  assert.throws(() => parseEncryptRequest({ ...SPEC_ENCRYPT, encryptionAlgorithm: undefined }), validation("encryptionAlgorithm"));
  assert.throws(() => parseEncryptRequest({ ...SPEC_ENCRYPT, encryptionAlgorithm: "AES_CBC" }), (e: unknown) => e instanceof XksError && e.errorName === "UnsupportedOperationException");
  assert.throws(() => parseDecryptRequest({ ...SPEC_DECRYPT, initializationVector: Buffer.alloc(8).toString("base64") }), validation("initializationVector"));
  assert.throws(() => parseDecryptRequest({ ...SPEC_DECRYPT, authenticationTag: Buffer.alloc(12).toString("base64") }), validation("authenticationTag"));
  assert.throws(() => parseDecryptRequest({ ...SPEC_DECRYPT, ciphertextMetadata: Buffer.alloc(21).toString("base64") }), validation("ciphertextMetadata"));
  assert.throws(() => parseHealthRequest([]), validation("body"));
  // A new KMS operation is not invalid.
  assert.equal(parseEncryptRequest({ ...SPEC_ENCRYPT, requestMetadata: { ...META, kmsOperation: "BulkEncrypt" } }).requestMetadata.kmsOperation, "BulkEncrypt");
});

test("paths: prefixes isolate tenants; anything else is InvalidUriPathException's business", () => {
  const prefixes = [normalizePrefix("/tenant-a/"), normalizePrefix("tenant_b/x")];
  assert.deepEqual(parseXksPath("/tenant-a/kms/xks/v1/keys/key-1.v2/encrypt", prefixes), { prefix: "tenant-a", operation: "encrypt", externalKeyId: "key-1.v2" });
  assert.deepEqual(parseXksPath("/tenant_b/x/kms/xks/v1/health", prefixes), { prefix: "tenant_b/x", operation: "health", externalKeyId: undefined });
  for (const path of ["/kms/xks/v1/health", "/tenant-c/kms/xks/v1/health", "/tenant-a/kms/xks/v1/keys/k/sign", "/tenant-a/kms/xks/v1/keys/k%2F1/encrypt", "/tenant-a/kms/xks/v2/health", `/tenant-a/kms/xks/v1/keys/${"k".repeat(129)}/metadata`]) {
    assert.equal(parseXksPath(path, prefixes), undefined, path);
  }
  assert.deepEqual(parseXksPath("/kms/xks/v1/keys/k/metadata", [""]), { prefix: "", operation: "metadata", externalKeyId: "k" });
  assert.equal(xksPath("tenant-a", "decrypt", "k"), "/tenant-a/kms/xks/v1/keys/k/decrypt");
  assert.throws(() => normalizePrefix("bad prefix"));
});

test("error names, HTTP codes, and messages that are printable ASCII under 512 characters", () => {
  assert.equal(XKS_ERROR_STATUS.AuthenticationFailedException, 401);
  assert.equal(XKS_ERROR_STATUS.DependencyTimeoutException, 503);
  assert.equal(new XksError("KeyNotFoundException", "no").status, 404);
  assert.equal(safeErrorMessage(`é\n${"x".repeat(600)}`).length, 511);
  assert.match(safeErrorMessage("é\n"), /^[\x20-\x7e]*$/);
  assert.deepEqual(new XksError("InvalidStateException", "disabled").toJSON(), { errorName: "InvalidStateException", errorMessage: "disabled" });
});
