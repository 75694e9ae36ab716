// Bad input for every field of every issue-5 request, over gRPC (grpc-js + proto-loader): each
// refused call carries the right status, ErrorInfo reason and metadata.field, with a message
// starting with that field; the key_id of every RPC is checked against malformed ids, unknown
// keys and aliases, another account's keys, and keys in a state or of a kind the RPC refuses.
// Every table's base request is accepted (the control).
import assert from "node:assert/strict";
import crypto, { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { status } from "@grpc/grpc-js";
import { expectGrpcError, type ExpectedError } from "../support/errors.ts";
import { createGrpcJsClients, type GrpcJsClients, type PlKeyMetadata, type PlRequest } from "../support/grpc-js-client.ts";
import { DEV_ACCOUNT_ID, DEV_REGION, startTestServer, type TestServer } from "../support/server.ts";

interface Fixtures {
  readonly symmetric: PlKeyMetadata;
  readonly disabled: PlKeyMetadata;
  readonly pendingDeletion: PlKeyMetadata;
  readonly hmac: PlKeyMetadata;
  readonly ec: PlKeyMetadata;
  readonly rsaSign: PlKeyMetadata;
  readonly rsaEncrypt: PlKeyMetadata;
  readonly external: PlKeyMetadata;
  readonly rsaCiphertext: Buffer;
  readonly ecSignature: Buffer;
  readonly hmacMac: Buffer;
  readonly importToken: Buffer;
  readonly recipientKey: Buffer;
}

interface Row {
  readonly label: string;
  readonly request: (fx: Fixtures) => PlRequest;
  readonly expect: ExpectedError;
}

interface RpcCase {
  readonly service: "keys" | "crypto";
  readonly method: string;
  readonly base: (fx: Fixtures) => PlRequest;
  readonly rows: readonly Row[];
}

const invalid = (field: string, message?: RegExp): ExpectedError => ({ code: status.INVALID_ARGUMENT, reason: "INVALID_ARGUMENT", field, ...(message === undefined ? {} : { message }) });
const precondition = (reason: string, field = "key_id"): ExpectedError => ({ code: status.FAILED_PRECONDITION, reason, field });
const keyNotFound: ExpectedError = { code: status.NOT_FOUND, reason: "KEY_NOT_FOUND", field: "key_id" };
const aliasNotFound: ExpectedError = { code: status.NOT_FOUND, reason: "ALIAS_NOT_FOUND", field: "key_id" };

/** key_id rows every RPC shares; `wrongKind` is a key the RPC refuses for its spec/usage/origin. */
function keyRows(base: (fx: Fixtures) => PlRequest, wrongKind?: { key: (fx: Fixtures) => PlKeyMetadata; expect: ExpectedError }, refusesDisabled = true): Row[] {
  const set = (fx: Fixtures, keyId: string) => ({ ...base(fx), key_id: keyId });
  const rows: Row[] = [
    { label: "key_id: empty", request: (fx) => set(fx, ""), expect: invalid("key_id", /^key_id: is required$/) },
    { label: "key_id: not a key id", request: (fx) => set(fx, "not-a-key"), expect: invalid("key_id") },
    { label: "key_id: unknown UUID", request: (fx) => set(fx, randomUUID()), expect: keyNotFound },
    { label: "key_id: unknown alias", request: (fx) => set(fx, `alias/missing-${randomUUID()}`), expect: aliasNotFound },
    { label: "key_id: another account's key krn", request: (fx) => set(fx, `krn:keyhold:kms:${DEV_REGION}:000000000002:key/${fx.symmetric.key_id}`), expect: keyNotFound },
    { label: "key_id: another region's key krn", request: (fx) => set(fx, `krn:keyhold:kms:elsewhere-1:${DEV_ACCOUNT_ID}:key/${fx.symmetric.key_id}`), expect: keyNotFound },
    { label: "key_id: a key pending deletion", request: (fx) => set(fx, fx.pendingDeletion.key_id), expect: precondition("KEY_PENDING_DELETION") },
  ];
  if (refusesDisabled) rows.push({ label: "key_id: a disabled key", request: (fx) => set(fx, fx.disabled.key_id), expect: precondition("KEY_DISABLED") });
  if (wrongKind !== undefined) rows.push({ label: "key_id: a key of the wrong kind", request: (fx) => set(fx, wrongKind.key(fx).key_id), expect: wrongKind.expect });
  return rows;
}

const usageMismatch = precondition("KEY_USAGE_MISMATCH");
const unsupported = precondition("UNSUPPORTED_OPERATION");
const message = Buffer.from("bad-input message");

const CASES: readonly RpcCase[] = [
  {
    service: "keys",
    method: "RotateKey",
    base: (fx) => ({ key_id: fx.symmetric.key_id }),
    rows: [...keyRows((fx) => ({ key_id: fx.symmetric.key_id }), { key: (fx) => fx.ec, expect: unsupported })],
  },
  {
    service: "keys",
    method: "ListKeyVersions",
    base: (fx) => ({ key_id: fx.symmetric.key_id }),
    rows: [
      { label: "key_id: empty", request: () => ({ key_id: "" }), expect: invalid("key_id") },
      { label: "key_id: unknown UUID", request: () => ({ key_id: randomUUID() }), expect: keyNotFound },
      { label: "page_size: 1001", request: (fx) => ({ key_id: fx.symmetric.key_id, page_size: 1001 }), expect: invalid("page_size") },
      { label: "page_size: -1", request: (fx) => ({ key_id: fx.symmetric.key_id, page_size: -1 }), expect: invalid("page_size") },
      { label: "page_token: garbage", request: (fx) => ({ key_id: fx.symmetric.key_id, page_token: "garbage!" }), expect: invalid("page_token") },
      {
        label: "page_token: of the right list with a forged cursor",
        request: (fx) => ({ key_id: fx.symmetric.key_id, page_token: Buffer.from(JSON.stringify({ l: `versions:${fx.symmetric.key_id}`, a: "x/y" })).toString("base64url") }),
        expect: invalid("page_token"),
      },
    ],
  },
  {
    service: "keys",
    method: "GetKeyVersion",
    base: (fx) => ({ key_id: fx.symmetric.key_id, key_version_id: fx.symmetric.primary_version_id }),
    rows: [
      { label: "key_version_id: empty", request: (fx) => ({ key_id: fx.symmetric.key_id }), expect: invalid("key_version_id") },
      { label: "key_version_id: not a UUID", request: (fx) => ({ key_id: fx.symmetric.key_id, key_version_id: "v1" }), expect: invalid("key_version_id") },
      {
        label: "key_version_id: another key's version",
        request: (fx) => ({ key_id: fx.symmetric.key_id, key_version_id: fx.ec.primary_version_id }),
        expect: { code: status.NOT_FOUND, reason: "KEY_VERSION_NOT_FOUND", field: "key_version_id" },
      },
      { label: "key_id: unknown UUID", request: (fx) => ({ key_id: randomUUID(), key_version_id: fx.symmetric.primary_version_id }), expect: keyNotFound },
    ],
  },
  {
    service: "keys",
    method: "UpdateRotationPolicy",
    base: (fx) => ({ key_id: fx.symmetric.key_id, enabled: true, rotation_period_in_days: 30 }),
    rows: [
      { label: "rotation_period_in_days: 6", request: (fx) => ({ key_id: fx.symmetric.key_id, enabled: true, rotation_period_in_days: 6 }), expect: invalid("rotation_period_in_days", /between 7 and 2560/) },
      { label: "rotation_period_in_days: 2561", request: (fx) => ({ key_id: fx.symmetric.key_id, enabled: true, rotation_period_in_days: 2561 }), expect: invalid("rotation_period_in_days") },
      { label: "rotation_period_in_days: -1", request: (fx) => ({ key_id: fx.symmetric.key_id, enabled: true, rotation_period_in_days: -1 }), expect: invalid("rotation_period_in_days") },
      { label: "rotation_period_in_days without enabled", request: (fx) => ({ key_id: fx.symmetric.key_id, enabled: false, rotation_period_in_days: 30 }), expect: invalid("rotation_period_in_days") },
      { label: "key_id: an EXTERNAL key", request: (fx) => ({ key_id: fx.external.key_id, enabled: true }), expect: unsupported },
      { label: "key_id: a key pending deletion", request: (fx) => ({ key_id: fx.pendingDeletion.key_id, enabled: true }), expect: precondition("KEY_PENDING_DELETION") },
    ],
  },
  {
    service: "keys",
    method: "ScheduleKeyDeletion",
    base: (fx) => ({ key_id: fx.disabled.key_id, pending_window_in_days: 30 }),
    rows: [
      { label: "pending_window_in_days: 6", request: (fx) => ({ key_id: fx.symmetric.key_id, pending_window_in_days: 6 }), expect: invalid("pending_window_in_days", /between 7 and 30/) },
      { label: "pending_window_in_days: 31", request: (fx) => ({ key_id: fx.symmetric.key_id, pending_window_in_days: 31 }), expect: invalid("pending_window_in_days") },
      { label: "key_id: already pending deletion", request: (fx) => ({ key_id: fx.pendingDeletion.key_id }), expect: precondition("KEY_PENDING_DELETION") },
      { label: "key_id: unknown UUID", request: () => ({ key_id: randomUUID() }), expect: keyNotFound },
    ],
  },
  {
    service: "keys",
    method: "CancelKeyDeletion",
    base: (fx) => ({ key_id: fx.pendingDeletion.key_id }),
    rows: [
      { label: "key_id: not pending deletion", request: (fx) => ({ key_id: fx.symmetric.key_id }), expect: precondition("KEY_INVALID_STATE") },
      { label: "key_id: empty", request: () => ({ key_id: "" }), expect: invalid("key_id") },
    ],
  },
  {
    service: "keys",
    method: "UpdateDeletionProtection",
    base: (fx) => ({ key_id: fx.symmetric.key_id, enabled: false }),
    rows: [
      { label: "key_id: protecting a key pending deletion", request: (fx) => ({ key_id: fx.pendingDeletion.key_id, enabled: true }), expect: precondition("KEY_PENDING_DELETION") },
      { label: "key_id: unknown UUID", request: () => ({ key_id: randomUUID(), enabled: true }), expect: keyNotFound },
    ],
  },
  {
    service: "keys",
    method: "GetPublicKey",
    base: (fx) => ({ key_id: fx.ec.key_id }),
    rows: keyRows((fx) => ({ key_id: fx.ec.key_id }), { key: (fx) => fx.symmetric, expect: usageMismatch }),
  },
  {
    service: "crypto",
    method: "GenerateMac",
    base: (fx) => ({ key_id: fx.hmac.key_id, message, mac_algorithm: "MAC_ALGORITHM_HMAC_SHA_256" }),
    rows: [
      ...keyRows((fx) => ({ key_id: fx.hmac.key_id, message, mac_algorithm: "MAC_ALGORITHM_HMAC_SHA_256" }), { key: (fx) => fx.symmetric, expect: usageMismatch }),
      { label: "message: empty", request: (fx) => ({ key_id: fx.hmac.key_id, mac_algorithm: "MAC_ALGORITHM_HMAC_SHA_256" }), expect: invalid("message") },
      { label: "message: 4097 bytes", request: (fx) => ({ key_id: fx.hmac.key_id, message: Buffer.alloc(4097), mac_algorithm: "MAC_ALGORITHM_HMAC_SHA_256" }), expect: invalid("message") },
      { label: "mac_algorithm: unset", request: (fx) => ({ key_id: fx.hmac.key_id, message }), expect: invalid("mac_algorithm", /is required/) },
      { label: "mac_algorithm: 99", request: (fx) => ({ key_id: fx.hmac.key_id, message, mac_algorithm: 99 }), expect: invalid("mac_algorithm") },
      { label: "mac_algorithm: not the key's", request: (fx) => ({ key_id: fx.hmac.key_id, message, mac_algorithm: "MAC_ALGORITHM_HMAC_SHA_512" }), expect: invalid("mac_algorithm") },
    ],
  },
  {
    service: "crypto",
    method: "VerifyMac",
    base: (fx) => ({ key_id: fx.hmac.key_id, message, mac_algorithm: "MAC_ALGORITHM_HMAC_SHA_256", mac: fx.hmacMac }),
    rows: [
      { label: "mac: empty", request: (fx) => ({ key_id: fx.hmac.key_id, message, mac_algorithm: "MAC_ALGORITHM_HMAC_SHA_256" }), expect: invalid("mac") },
      { label: "mac: 65 bytes", request: (fx) => ({ key_id: fx.hmac.key_id, message, mac_algorithm: "MAC_ALGORITHM_HMAC_SHA_256", mac: Buffer.alloc(65) }), expect: invalid("mac") },
      {
        label: "mac: wrong",
        request: (fx) => ({ key_id: fx.hmac.key_id, message, mac_algorithm: "MAC_ALGORITHM_HMAC_SHA_256", mac: Buffer.alloc(32) }),
        expect: { code: status.INVALID_ARGUMENT, reason: "INVALID_MAC", field: "mac" },
      },
      { label: "key_id: a disabled key", request: (fx) => ({ key_id: fx.disabled.key_id, message, mac_algorithm: "MAC_ALGORITHM_HMAC_SHA_256", mac: fx.hmacMac }), expect: precondition("KEY_DISABLED") },
    ],
  },
  {
    service: "crypto",
    method: "Sign",
    base: (fx) => ({ key_id: fx.ec.key_id, message, signing_algorithm: "SIGNING_ALGORITHM_ECDSA_SHA_256" }),
    rows: [
      ...keyRows((fx) => ({ key_id: fx.ec.key_id, message, signing_algorithm: "SIGNING_ALGORITHM_ECDSA_SHA_256" }), { key: (fx) => fx.rsaEncrypt, expect: usageMismatch }),
      { label: "signing_algorithm: unset", request: (fx) => ({ key_id: fx.ec.key_id, message }), expect: invalid("signing_algorithm", /is required/) },
      { label: "signing_algorithm: 99", request: (fx) => ({ key_id: fx.ec.key_id, message, signing_algorithm: 99 }), expect: invalid("signing_algorithm") },
      { label: "signing_algorithm: RSA on an EC key", request: (fx) => ({ key_id: fx.ec.key_id, message, signing_algorithm: "SIGNING_ALGORITHM_RSASSA_PSS_SHA_256" }), expect: invalid("signing_algorithm") },
      { label: "message: empty", request: (fx) => ({ key_id: fx.ec.key_id, signing_algorithm: "SIGNING_ALGORITHM_ECDSA_SHA_256" }), expect: invalid("message") },
      { label: "message: 4097 bytes RAW", request: (fx) => ({ key_id: fx.ec.key_id, message: Buffer.alloc(4097), signing_algorithm: "SIGNING_ALGORITHM_ECDSA_SHA_256" }), expect: invalid("message") },
      {
        label: "message: a DIGEST of the wrong length",
        request: (fx) => ({ key_id: fx.rsaSign.key_id, message: Buffer.alloc(48), message_type: "MESSAGE_TYPE_DIGEST", signing_algorithm: "SIGNING_ALGORITHM_RSASSA_PSS_SHA_256" }),
        expect: invalid("message"),
      },
      { label: "message_type: 9", request: (fx) => ({ key_id: fx.ec.key_id, message, message_type: 9, signing_algorithm: "SIGNING_ALGORITHM_ECDSA_SHA_256" }), expect: invalid("message_type") },
    ],
  },
  {
    service: "crypto",
    method: "Verify",
    base: (fx) => ({ key_id: fx.ec.key_id, message, signing_algorithm: "SIGNING_ALGORITHM_ECDSA_SHA_256", signature: fx.ecSignature }),
    rows: [
      { label: "signature: empty", request: (fx) => ({ key_id: fx.ec.key_id, message, signing_algorithm: "SIGNING_ALGORITHM_ECDSA_SHA_256" }), expect: invalid("signature") },
      { label: "signature: 1025 bytes", request: (fx) => ({ key_id: fx.ec.key_id, message, signing_algorithm: "SIGNING_ALGORITHM_ECDSA_SHA_256", signature: Buffer.alloc(1025) }), expect: invalid("signature") },
      {
        label: "signature: of another message",
        request: (fx) => ({ key_id: fx.ec.key_id, message: Buffer.from("other"), signing_algorithm: "SIGNING_ALGORITHM_ECDSA_SHA_256", signature: fx.ecSignature }),
        expect: { code: status.INVALID_ARGUMENT, reason: "INVALID_SIGNATURE", field: "signature" },
      },
      { label: "key_id: a key pending deletion", request: (fx) => ({ key_id: fx.pendingDeletion.key_id, message, signing_algorithm: "SIGNING_ALGORITHM_ECDSA_SHA_256", signature: fx.ecSignature }), expect: precondition("KEY_PENDING_DELETION") },
    ],
  },
  {
    service: "crypto",
    method: "AsymmetricEncrypt",
    base: (fx) => ({ key_id: fx.rsaEncrypt.key_id, plaintext: message, encryption_algorithm: "ENCRYPTION_ALGORITHM_RSAES_OAEP_SHA_256" }),
    rows: [
      ...keyRows((fx) => ({ key_id: fx.rsaEncrypt.key_id, plaintext: message, encryption_algorithm: "ENCRYPTION_ALGORITHM_RSAES_OAEP_SHA_256" }), { key: (fx) => fx.rsaSign, expect: usageMismatch }),
      { label: "plaintext: empty", request: (fx) => ({ key_id: fx.rsaEncrypt.key_id, encryption_algorithm: "ENCRYPTION_ALGORITHM_RSAES_OAEP_SHA_256" }), expect: invalid("plaintext") },
      { label: "plaintext: 191 bytes", request: (fx) => ({ key_id: fx.rsaEncrypt.key_id, plaintext: Buffer.alloc(191), encryption_algorithm: "ENCRYPTION_ALGORITHM_RSAES_OAEP_SHA_256" }), expect: invalid("plaintext", /at most 190 bytes/) },
      { label: "encryption_algorithm: unset", request: (fx) => ({ key_id: fx.rsaEncrypt.key_id, plaintext: message }), expect: invalid("encryption_algorithm") },
      { label: "encryption_algorithm: SYMMETRIC_DEFAULT", request: (fx) => ({ key_id: fx.rsaEncrypt.key_id, plaintext: message, encryption_algorithm: "ENCRYPTION_ALGORITHM_SYMMETRIC_DEFAULT" }), expect: invalid("encryption_algorithm") },
    ],
  },
  {
    service: "crypto",
    method: "AsymmetricDecrypt",
    base: (fx) => ({ key_id: fx.rsaEncrypt.key_id, ciphertext_blob: fx.rsaCiphertext, encryption_algorithm: "ENCRYPTION_ALGORITHM_RSAES_OAEP_SHA_256" }),
    rows: [
      ...keyRows((fx) => ({ key_id: fx.rsaEncrypt.key_id, ciphertext_blob: fx.rsaCiphertext, encryption_algorithm: "ENCRYPTION_ALGORITHM_RSAES_OAEP_SHA_256" }), { key: (fx) => fx.hmac, expect: usageMismatch }),
      { label: "ciphertext_blob: empty", request: (fx) => ({ key_id: fx.rsaEncrypt.key_id, encryption_algorithm: "ENCRYPTION_ALGORITHM_RSAES_OAEP_SHA_256" }), expect: invalid("ciphertext_blob") },
      {
        label: "ciphertext_blob: garbage",
        request: (fx) => ({ key_id: fx.rsaEncrypt.key_id, ciphertext_blob: Buffer.alloc(256, 1), encryption_algorithm: "ENCRYPTION_ALGORITHM_RSAES_OAEP_SHA_256" }),
        expect: { code: status.INVALID_ARGUMENT, reason: "INVALID_CIPHERTEXT", field: "ciphertext_blob" },
      },
      { label: "encryption_algorithm: 99", request: (fx) => ({ key_id: fx.rsaEncrypt.key_id, ciphertext_blob: fx.rsaCiphertext, encryption_algorithm: 99 }), expect: invalid("encryption_algorithm") },
    ],
  },
  ...(["GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"] as const).map(
    (method): RpcCase => ({
      service: "crypto",
      method,
      base: (fx) => ({ key_id: fx.symmetric.key_id, key_pair_spec: "DATA_KEY_PAIR_SPEC_ECC_NIST_P256" }),
      rows: [
        ...keyRows((fx) => ({ key_id: fx.symmetric.key_id, key_pair_spec: "DATA_KEY_PAIR_SPEC_ECC_NIST_P256" }), { key: (fx) => fx.rsaEncrypt, expect: usageMismatch }),
        { label: "key_pair_spec: unset", request: (fx) => ({ key_id: fx.symmetric.key_id }), expect: invalid("key_pair_spec") },
        { label: "key_pair_spec: 99", request: (fx) => ({ key_id: fx.symmetric.key_id, key_pair_spec: 99 }), expect: invalid("key_pair_spec") },
        { label: "encryption_context: an empty key", request: (fx) => ({ key_id: fx.symmetric.key_id, key_pair_spec: "DATA_KEY_PAIR_SPEC_RSA_2048", encryption_context: { "": "v" } }), expect: invalid("encryption_context") },
      ],
    }),
  ),
  {
    service: "crypto",
    method: "GenerateAndExportDataKey",
    base: (fx) => ({ key_id: fx.symmetric.key_id, public_key: fx.recipientKey }),
    rows: [
      ...keyRows((fx) => ({ key_id: fx.symmetric.key_id, public_key: fx.recipientKey }), { key: (fx) => fx.hmac, expect: usageMismatch }),
      { label: "public_key: empty", request: (fx) => ({ key_id: fx.symmetric.key_id }), expect: invalid("public_key") },
      { label: "public_key: garbage", request: (fx) => ({ key_id: fx.symmetric.key_id, public_key: Buffer.from("nope") }), expect: invalid("public_key") },
      {
        label: "public_key: an EC key",
        request: (fx) => ({ key_id: fx.symmetric.key_id, public_key: crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" }).publicKey.export({ type: "spki", format: "der" }) }),
        expect: invalid("public_key"),
      },
      { label: "wrapping_algorithm: SYMMETRIC_DEFAULT", request: (fx) => ({ key_id: fx.symmetric.key_id, public_key: fx.recipientKey, wrapping_algorithm: "ENCRYPTION_ALGORITHM_SYMMETRIC_DEFAULT" }), expect: invalid("wrapping_algorithm") },
      { label: "number_of_bytes: 1025", request: (fx) => ({ key_id: fx.symmetric.key_id, public_key: fx.recipientKey, number_of_bytes: 1025 }), expect: invalid("number_of_bytes") },
      { label: "key_spec and number_of_bytes", request: (fx) => ({ key_id: fx.symmetric.key_id, public_key: fx.recipientKey, number_of_bytes: 16, key_spec: "DATA_KEY_SPEC_AES_256" }), expect: invalid("key_spec") },
    ],
  },
  {
    service: "keys",
    method: "GetParametersForImport",
    base: (fx) => ({ key_id: fx.external.key_id, wrapping_algorithm: "WRAPPING_ALGORITHM_RSAES_OAEP_SHA_256" }),
    rows: [
      { label: "wrapping_algorithm: unset", request: (fx) => ({ key_id: fx.external.key_id }), expect: invalid("wrapping_algorithm") },
      { label: "wrapping_algorithm: 99", request: (fx) => ({ key_id: fx.external.key_id, wrapping_algorithm: 99 }), expect: invalid("wrapping_algorithm") },
      { label: "wrapping_key_spec: 99", request: (fx) => ({ key_id: fx.external.key_id, wrapping_algorithm: "WRAPPING_ALGORITHM_RSAES_OAEP_SHA_256", wrapping_key_spec: 99 }), expect: invalid("wrapping_key_spec") },
      { label: "key_id: a SOFTWARE key", request: (fx) => ({ key_id: fx.symmetric.key_id, wrapping_algorithm: "WRAPPING_ALGORITHM_RSAES_OAEP_SHA_256" }), expect: unsupported },
      { label: "key_id: unknown UUID", request: () => ({ key_id: randomUUID(), wrapping_algorithm: "WRAPPING_ALGORITHM_RSAES_OAEP_SHA_256" }), expect: keyNotFound },
    ],
  },
  {
    service: "keys",
    method: "ImportKeyMaterial",
    // No accepted base here: the control for ImportKeyMaterial is the openssl test in keys-complete.
    base: () => ({}),
    rows: [
      { label: "import_token: empty", request: (fx) => ({ key_id: fx.external.key_id, encrypted_key_material: Buffer.alloc(256) }), expect: invalid("import_token") },
      { label: "encrypted_key_material: empty", request: (fx) => ({ key_id: fx.external.key_id, import_token: fx.importToken }), expect: invalid("encrypted_key_material") },
      {
        label: "encrypted_key_material: 4097 bytes",
        request: (fx) => ({ key_id: fx.external.key_id, import_token: fx.importToken, encrypted_key_material: Buffer.alloc(4097) }),
        expect: invalid("encrypted_key_material"),
      },
      {
        label: "encrypted_key_material: not wrapped under the token's key",
        request: (fx) => ({ key_id: fx.external.key_id, import_token: fx.importToken, encrypted_key_material: Buffer.alloc(256, 3) }),
        expect: { code: status.INVALID_ARGUMENT, reason: "INVALID_CIPHERTEXT", field: "encrypted_key_material" },
      },
      {
        label: "import_token: unknown",
        request: (fx) => ({ key_id: fx.external.key_id, import_token: Buffer.alloc(32, 9), encrypted_key_material: Buffer.alloc(256) }),
        expect: { code: status.INVALID_ARGUMENT, reason: "INVALID_IMPORT_TOKEN", field: "import_token" },
      },
      {
        label: "valid_to: in the past",
        request: (fx) => ({ key_id: fx.external.key_id, import_token: fx.importToken, encrypted_key_material: Buffer.alloc(256), valid_to: { seconds: "1", nanos: 0 } }),
        expect: invalid("valid_to"),
      },
      {
        label: "expiration_model: 9",
        request: (fx) => ({ key_id: fx.external.key_id, import_token: fx.importToken, encrypted_key_material: Buffer.alloc(256), expiration_model: 9 }),
        expect: invalid("expiration_model"),
      },
      {
        label: "key_id: a SOFTWARE key",
        request: (fx) => ({ key_id: fx.symmetric.key_id, import_token: fx.importToken, encrypted_key_material: Buffer.alloc(256) }),
        expect: unsupported,
      },
    ],
  },
  {
    service: "keys",
    method: "DeleteImportedKeyMaterial",
    base: (fx) => ({ key_id: fx.external.key_id }),
    rows: [
      { label: "key_id: a SOFTWARE key", request: (fx) => ({ key_id: fx.symmetric.key_id }), expect: unsupported },
      { label: "key_id: empty", request: () => ({ key_id: "" }), expect: invalid("key_id") },
    ],
  },
];

let server: TestServer;
let grpc: GrpcJsClients;
let fx: Fixtures;

function rpc(service: "keys" | "crypto", method: string): (request: PlRequest) => Promise<unknown> {
  const fn = (grpc[service] as unknown as Record<string, ((request: PlRequest) => Promise<unknown>) | undefined>)[method];
  if (fn === undefined) throw new Error(`no ${service}.${method}`);
  return fn;
}

before(async () => {
  server = await startTestServer();
  grpc = createGrpcJsClients(server.grpcAddress, server.credential);
  const create = async (request: PlRequest = {}) => (await grpc.keys.CreateKey(request)).key_metadata!;
  const symmetric = await create();
  const disabled = await create();
  const pendingDeletion = await create();
  const hmac = await create({ key_spec: "KEY_SPEC_HMAC_256" });
  const ec = await create({ key_spec: "KEY_SPEC_EC_P256" });
  const rsaSign = await create({ key_spec: "KEY_SPEC_RSA_2048", key_usage: "KEY_USAGE_SIGN_VERIFY" });
  const rsaEncrypt = await create({ key_spec: "KEY_SPEC_RSA_2048", key_usage: "KEY_USAGE_ENCRYPT_DECRYPT" });
  const external = await create({ origin: "ORIGIN_EXTERNAL" });
  await grpc.keys.DisableKey({ key_id: disabled.key_id });
  await rpc("keys", "ScheduleKeyDeletion")({ key_id: pendingDeletion.key_id });
  const rsaCiphertext = ((await rpc("crypto", "AsymmetricEncrypt")({ key_id: rsaEncrypt.key_id, plaintext: message, encryption_algorithm: "ENCRYPTION_ALGORITHM_RSAES_OAEP_SHA_256" })) as { ciphertext_blob: Buffer }).ciphertext_blob;
  const ecSignature = ((await rpc("crypto", "Sign")({ key_id: ec.key_id, message, signing_algorithm: "SIGNING_ALGORITHM_ECDSA_SHA_256" })) as { signature: Buffer }).signature;
  const hmacMac = ((await rpc("crypto", "GenerateMac")({ key_id: hmac.key_id, message, mac_algorithm: "MAC_ALGORITHM_HMAC_SHA_256" })) as { mac: Buffer }).mac;
  const importToken = ((await rpc("keys", "GetParametersForImport")({ key_id: external.key_id, wrapping_algorithm: "WRAPPING_ALGORITHM_RSAES_OAEP_SHA_256" })) as { import_token: Buffer }).import_token;
  const recipientKey = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ type: "spki", format: "der" });
  fx = { symmetric, disabled, pendingDeletion, hmac, ec, rsaSign, rsaEncrypt, external, rsaCiphertext, ecSignature, hmacMac, importToken, recipientKey };
});

after(async () => {
  grpc?.close();
  await server?.stop();
});

for (const { service, method, rows } of CASES) {
  describe(`${method} refuses bad input`, () => {
    for (const row of rows) {
      test(row.label, async () => {
        const decoded = await expectGrpcError(rpc(service, method)(row.request(fx)), row.expect, `${method} ${row.label}`);
        if (typeof row.expect.field === "string") assert.ok(decoded.message.startsWith(`${row.expect.field}: `), `${method} ${row.label}: the message names the field: "${decoded.message}"`);
      });
    }
  });
}

describe("control: the base request of every table is accepted", () => {
  for (const { service, method, base } of CASES) {
    if (method === "ImportKeyMaterial") continue;
    test(`${method} accepts its base request`, async () => {
      await rpc(service, method)(base(fx));
    });
  }
});
