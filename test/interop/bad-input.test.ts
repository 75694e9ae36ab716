// Bad input for every field of every key-service request, over gRPC (grpc-js + proto-loader,
// so the wire bytes come from a client we did not write). Each refused call must carry the
// right status code, ErrorInfo reason, metadata.field naming the field and a message that
// starts with that field; afterwards the service still answers and nothing it stores changed.
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { status } from "@grpc/grpc-js";
import { decodeGrpcError, expectGrpcError, type DecodedError } from "../support/errors.ts";
import {
  createGrpcJsClients,
  sendRawUnary,
  type GrpcJsClients,
  type PlKeyMetadata,
  type PlRequest,
  type Unary,
} from "../support/grpc-js-client.ts";
import { ACCOUNT_ACCESS_ROLE, DEV_ACCOUNT_ID, DEV_REGION, otherAccount, startTestServer, type TestServer } from "../support/server.ts";

const OTHER_ACCOUNT_ID = "000000000002";
const INVALID_CIPHERTEXT_MESSAGE = "ciphertext_blob: the ciphertext is invalid, or does not match the key or encryption context";
/** docs/ciphertext.md: header (82 bytes) and GCM tag (16 bytes). */
const CIPHERTEXT_HEADER = 82;
const CIPHERTEXT_OVERHEAD = 98;

interface Fixtures {
  /** Enabled; the target of `aliasName`; `ciphertext` is under it. */
  readonly key: PlKeyMetadata;
  /** Enabled; the target of `otherAliasName`. */
  readonly other: PlKeyMetadata;
  readonly disabled: PlKeyMetadata;
  /** Enabled, with 19 tags (one below the limit). */
  readonly tagged: PlKeyMetadata;
  readonly aliasName: string;
  readonly otherAliasName: string;
  /** An alias only the control test deletes. */
  readonly deletableAlias: string;
  readonly context: Readonly<Record<string, string>>;
  readonly ciphertext: Buffer;
  /** A ciphertext under `disabled` (encrypted before it was disabled). */
  readonly disabledCiphertext: Buffer;
  /** The token `key` was created with (description "fixture"). */
  readonly idempotencyToken: string;
  /** next_page_token of ListKeys, ListAliases (all), ListResourceTags of `tagged`. */
  readonly keysToken: string;
  readonly aliasesToken: string;
  readonly tagsToken: string;
}

type Service = "keys" | "crypto";

interface Expect {
  readonly code: number;
  readonly reason: string;
  /** The field metadata.field must name (and the message must start with); null: none. */
  readonly field: string | null;
  readonly message?: string | RegExp;
}

interface Row {
  readonly label: string;
  readonly request: (fx: Fixtures) => PlRequest;
  readonly expect: Expect;
  /** A known bug: the row still runs and asserts, but its failure is reported as TODO. */
  readonly todo?: string;
}

/**
 * Decrypt's key_id and ReEncrypt's source_key_id are compared with the ciphertext's key by key
 * id alone (services/key-service/src/domain/key-access.ts, expectedKeyId): the account and region
 * of a key krn are ignored and an unknown key id is not KEY_NOT_FOUND as before.
 */

/** Marks the rows whose label ends with one of `suffixes` as known bugs. */
interface RpcCase {
  readonly service: Service;
  readonly method: string;
  /** A request this RPC accepts; every row changes one field of it. */
  readonly base: (fx: Fixtures) => PlRequest;
  readonly rows: readonly Row[];
}

const invalid = (field: string, message?: RegExp | string): Expect => ({
  code: status.INVALID_ARGUMENT,
  reason: "INVALID_ARGUMENT",
  field,
  ...(message === undefined ? {} : { message }),
});
const keyNotFound = (field: string): Expect => ({ code: status.NOT_FOUND, reason: "KEY_NOT_FOUND", field, message: `${field}: key not found` });
const aliasNotFound = (field: string): Expect => ({ code: status.NOT_FOUND, reason: "ALIAS_NOT_FOUND", field, message: `${field}: alias not found` });
const keyDisabled = (field: string): Expect => ({ code: status.FAILED_PRECONDITION, reason: "KEY_DISABLED", field, message: `${field}: the key is disabled` });
const invalidCiphertext: Expect = { code: status.INVALID_ARGUMENT, reason: "INVALID_CIPHERTEXT", field: "ciphertext_blob", message: INVALID_CIPHERTEXT_MESSAGE };

const otherAccountKeyKrn = (keyId: string) => `krn:keyhold:kms:${DEV_REGION}:${OTHER_ACCOUNT_ID}:key/${keyId}`;
const otherAccountAliasKrn = (aliasName: string) => `krn:keyhold:kms:${DEV_REGION}:${OTHER_ACCOUNT_ID}:${aliasName}`;
const aliasKrn = (aliasName: string) => `krn:keyhold:kms:${DEV_REGION}:${DEV_ACCOUNT_ID}:${aliasName}`;

interface KeyFieldOptions {
  /** "" is refused as required (false for optional filters such as Decrypt's key_id). */
  readonly required: boolean;
  /** alias/<name> and alias krns are accepted. */
  readonly allowAlias: boolean;
  /** The RPC refuses a disabled key (crypto operations). */
  readonly refusesDisabled: boolean;
}

/** Rows for a key_id-style field: malformed, missing, another account's, disabled. */
function keyFieldRows(field: string, set: (fx: Fixtures, value: string) => PlRequest, options: KeyFieldOptions): Row[] {
  const rows: Row[] = [
    { label: `${field}: not a key id`, request: (fx) => set(fx, "not-a-key-id"), expect: invalid(field, /must be a key id \(UUID\), a key krn/) },
    { label: `${field}: upper-case garbage`, request: (fx) => set(fx, "KEY-1234"), expect: invalid(field) },
    { label: `${field}: 2049 characters`, request: (fx) => set(fx, "a".repeat(2049)), expect: invalid(field, `${field}: is too long`) },
    {
      label: `${field}: key krn without a UUID`,
      request: (fx) => set(fx, `krn:keyhold:kms:${DEV_REGION}:${DEV_ACCOUNT_ID}:key/not-a-uuid`),
      expect: invalid(field, `${field}: the krn does not name a valid key id`),
    },
    {
      label: `${field}: krn with a malformed account`,
      request: (fx) => set(fx, `krn:keyhold:kms:${DEV_REGION}:12345:key/${fx.key.key_id}`),
      expect: invalid(field),
    },
    { label: `${field}: unknown UUID`, request: (fx) => set(fx, randomUUID()), expect: keyNotFound(field) },
    { label: `${field}: another account's key krn`, request: (fx) => set(fx, otherAccountKeyKrn(fx.key.key_id)), expect: keyNotFound(field) },
  ];
  if (options.required) rows.push({ label: `${field}: empty`, request: (fx) => set(fx, ""), expect: invalid(field, `${field}: is required`) });
  if (options.allowAlias) {
    rows.push(
      { label: `${field}: alias with a space`, request: (fx) => set(fx, "alias/bad name"), expect: invalid(field, /must be alias\/<name>/) },
      { label: `${field}: "alias/" alone`, request: (fx) => set(fx, "alias/"), expect: invalid(field, /must be alias\/<name>/) },
      { label: `${field}: unknown alias`, request: (fx) => set(fx, `alias/missing-${randomUUID()}`), expect: aliasNotFound(field) },
      { label: `${field}: another account's alias krn`, request: (fx) => set(fx, otherAccountAliasKrn(fx.aliasName)), expect: aliasNotFound(field) },
    );
  } else {
    const notAlias = invalid(field, `${field}: must be a key id or key krn, not an alias`);
    rows.push(
      { label: `${field}: an alias name`, request: (fx) => set(fx, fx.aliasName), expect: notAlias },
      { label: `${field}: an alias krn`, request: (fx) => set(fx, aliasKrn(fx.aliasName)), expect: notAlias },
    );
  }
  if (options.refusesDisabled) rows.push({ label: `${field}: a disabled key`, request: (fx) => set(fx, fx.disabled.key_id), expect: keyDisabled(field) });
  return rows;
}

function pageRows(set: (fx: Fixtures, page: PlRequest) => PlRequest, foreignTokens: readonly [string, (fx: Fixtures) => string][]): Row[] {
  const rows: Row[] = [
    { label: "page_size: 1001", request: (fx) => set(fx, { page_size: 1001 }), expect: invalid("page_size", "page_size: must be between 1 and 1000") },
    { label: "page_size: -1", request: (fx) => set(fx, { page_size: -1 }), expect: invalid("page_size", "page_size: must be between 1 and 1000") },
    { label: "page_size: -2147483648", request: (fx) => set(fx, { page_size: -2147483648 }), expect: invalid("page_size") },
    { label: "page_token: garbage", request: (fx) => set(fx, { page_token: "not a token!" }), expect: invalid("page_token", "page_token: is not a token this list returned") },
    {
      label: "page_token: base64url of JSON for no list",
      request: (fx) => set(fx, { page_token: Buffer.from(JSON.stringify({ l: "nope", a: "x" })).toString("base64url") }),
      expect: invalid("page_token"),
    },
    { label: "page_token: base64url of non-JSON", request: (fx) => set(fx, { page_token: Buffer.from("{{{").toString("base64url") }), expect: invalid("page_token") },
  ];
  for (const [label, token] of foreignTokens) {
    rows.push({ label: `page_token: ${label}`, request: (fx) => set(fx, { page_token: token(fx) }), expect: invalid("page_token", "page_token: is not a token this list returned") });
  }
  return rows;
}

function contextRows(field: string, set: (fx: Fixtures, context: Record<string, string>) => PlRequest): Row[] {
  return [
    { label: `${field}: an empty key`, request: (fx) => set(fx, { "": "value" }), expect: invalid(field, `${field}: keys must not be empty`) },
    { label: `${field}: an empty key beside valid ones`, request: (fx) => set(fx, { a: "b", "": "" }), expect: invalid(field, `${field}: keys must not be empty`) },
    { label: `${field}: 8193 encoded bytes`, request: (fx) => set(fx, { k: "v".repeat(8180) }), expect: invalid(field, /more than the limit of 8192 bytes/) },
  ];
}

/** The same ciphertext, damaged in one way: all must be the one uniform INVALID_CIPHERTEXT. */
const CIPHERTEXT_DAMAGE: readonly [string, (blob: Buffer) => Buffer][] = [
  ["truncated by one byte", (b) => b.subarray(0, b.length - 1)],
  ["truncated to the header", (b) => b.subarray(0, CIPHERTEXT_HEADER)],
  ["truncated below the overhead", (b) => b.subarray(0, CIPHERTEXT_OVERHEAD - 1)],
  ["one byte", () => Buffer.from([0x01])],
  ["one byte appended", (b) => Buffer.concat([b, Buffer.from([0])])],
  ["format version changed", (b) => flip(b, 0)],
  ["key version id changed", (b) => flip(b, 5)],
  ["algorithm byte changed", (b) => flip(b, 17)],
  ["nonce changed", (b) => flip(b, 30)],
  ["commitment changed", (b) => flip(b, 60)],
  ["body changed", (b) => flip(b, CIPHERTEXT_HEADER)],
  ["tag changed", (b) => flip(b, b.length - 1)],
  ["garbage", () => Buffer.concat([Buffer.from([0x07]), randomBytes(199)])],
  ["garbage with a valid-looking header", () => Buffer.concat([Buffer.from([0x01]), randomBytes(16), Buffer.from([0x01]), randomBytes(100)])],
  ["over the largest possible ciphertext", () => Buffer.alloc(6144 + CIPHERTEXT_OVERHEAD + 1, 1)],
];

function flip(blob: Buffer, index: number): Buffer {
  const copy = Buffer.from(blob);
  copy[index] = copy[index]! ^ 0x01;
  return copy;
}

function tagRows(field: string, set: (fx: Fixtures, tags: { tag_key: string; tag_value: string }[]) => PlRequest): Row[] {
  const t = (tag_key: string, tag_value = "v") => ({ tag_key, tag_value });
  const tagKey = `${field}[0].tag_key`;
  const tagValue = `${field}[0].tag_value`;
  return [
    {
      label: `${field}: 21 tags`,
      request: (fx) => set(fx, Array.from({ length: 21 }, (_, i) => t(`n${i}`))),
      expect: invalid(field, `${field}: at most 20 tags per resource`),
    },
    { label: `${tagKey}: empty`, request: (fx) => set(fx, [t("")]), expect: invalid(tagKey, `${tagKey}: tag key must not be empty`) },
    { label: `${tagKey}: 129 characters`, request: (fx) => set(fx, [t("k".repeat(129))]), expect: invalid(tagKey, `${tagKey}: tag key must be at most 128 characters`) },
    { label: `${tagKey}: '*'`, request: (fx) => set(fx, [t("a*b")]), expect: invalid(tagKey, /tag key has a character outside/) },
    { label: `${tagKey}: '<script>'`, request: (fx) => set(fx, [t("<script>")]), expect: invalid(tagKey, /tag key has a character outside/) },
    { label: `${tagKey}: a newline`, request: (fx) => set(fx, [t("a\nb")]), expect: invalid(tagKey, /tag key has a character outside/) },
    { label: `${tagKey}: reserved keyhold: prefix`, request: (fx) => set(fx, [t("keyhold:owner")]), expect: invalid(tagKey, /reserved/) },
    { label: `${tagKey}: reserved prefix in upper case`, request: (fx) => set(fx, [t("KeyHold:owner")]), expect: invalid(tagKey, /reserved/) },
    { label: `${tagValue}: 129 characters`, request: (fx) => set(fx, [t("k", "v".repeat(129))]), expect: invalid(tagValue, `${tagValue}: tag value must be at most 128 characters`) },
    { label: `${tagValue}: '$'`, request: (fx) => set(fx, [t("k", "a$b")]), expect: invalid(tagValue, /tag value has a character outside/) },
    { label: `${field}[1].tag_key: duplicate`, request: (fx) => set(fx, [t("dup"), t("dup", "w")]), expect: invalid(`${field}[1].tag_key`, /duplicate tag key/) },
    { label: `${field}[2].tag_key: the bad tag is named by index`, request: (fx) => set(fx, [t("a"), t("b"), t("c*")]), expect: invalid(`${field}[2].tag_key`) },
  ];
}

function dataKeyRows(): Row[] {
  return [
    { label: "key_spec: 99", request: (fx) => ({ key_id: fx.key.key_id, key_spec: 99 }), expect: invalid("key_spec", "key_spec: unknown data key spec") },
    {
      label: "key_spec and number_of_bytes together",
      request: (fx) => ({ key_id: fx.key.key_id, key_spec: "DATA_KEY_SPEC_AES_256", number_of_bytes: 32 }),
      expect: invalid("key_spec", /not both/),
    },
    { label: "number_of_bytes: 1025", request: (fx) => ({ key_id: fx.key.key_id, number_of_bytes: 1025 }), expect: invalid("number_of_bytes", "number_of_bytes: must be between 1 and 1024") },
    { label: "number_of_bytes: -1", request: (fx) => ({ key_id: fx.key.key_id, number_of_bytes: -1 }), expect: invalid("number_of_bytes", "number_of_bytes: must be between 1 and 1024") },
    { label: "number_of_bytes: 2147483647", request: (fx) => ({ key_id: fx.key.key_id, number_of_bytes: 2147483647 }), expect: invalid("number_of_bytes") },
    ...keyFieldRows("key_id", (fx, key_id) => ({ key_id }), { required: true, allowAlias: true, refusesDisabled: true }),
    ...contextRows("encryption_context", (fx, encryption_context) => ({ key_id: fx.key.key_id, encryption_context })),
  ];
}

const aliasNameRows = (set: (fx: Fixtures, alias_name: string) => PlRequest, options: { reserved: boolean }): Row[] => {
  const shape = /must be alias\/<name> with letters, digits/;
  const rows: Row[] = [
    { label: "alias_name: empty", request: (fx) => set(fx, ""), expect: invalid("alias_name", "alias_name: is required") },
    { label: "alias_name: no alias/ prefix", request: (fx) => set(fx, "my-key"), expect: invalid("alias_name", shape) },
    { label: "alias_name: 'alias/' alone", request: (fx) => set(fx, "alias/"), expect: invalid("alias_name", shape) },
    { label: "alias_name: a space", request: (fx) => set(fx, "alias/my key"), expect: invalid("alias_name", shape) },
    { label: "alias_name: '.'", request: (fx) => set(fx, "alias/my.key"), expect: invalid("alias_name", shape) },
    { label: "alias_name: non-ASCII letter", request: (fx) => set(fx, "alias/cl\u00e9"), expect: invalid("alias_name", shape) },
    { label: "alias_name: upper-case prefix", request: (fx) => set(fx, "ALIAS/x"), expect: invalid("alias_name", shape) },
    { label: "alias_name: 257 characters", request: (fx) => set(fx, `alias/${"a".repeat(251)}`), expect: invalid("alias_name", "alias_name: must be at most 256 characters") },
    { label: "alias_name: an alias krn", request: (fx) => set(fx, aliasKrn("alias/x")), expect: invalid("alias_name", shape) },
  ];
  if (options.reserved) {
    rows.push(
      { label: "alias_name: reserved alias/keyhold/ prefix", request: (fx) => set(fx, "alias/keyhold/s3"), expect: invalid("alias_name", "alias_name: the prefix alias/keyhold/ is reserved") },
    );
  }
  return rows;
};

let aliasSequence = 0;
const freshAlias = () => `alias/bad-input/${process.pid}-${++aliasSequence}`;

const CASES: readonly RpcCase[] = [
  {
    service: "keys",
    method: "CreateKey",
    base: () => ({ description: "bad-input control" }),
    rows: [
      { label: "description: 8193 characters", request: () => ({ description: "d".repeat(8193) }), expect: invalid("description", "description: must be at most 8192 characters") },
      { label: "key_usage: SIGN_VERIFY", request: () => ({ key_usage: "KEY_USAGE_SIGN_VERIFY" }), expect: invalid("key_usage") },
      { label: "key_usage: GENERATE_VERIFY_MAC", request: () => ({ key_usage: "KEY_USAGE_GENERATE_VERIFY_MAC" }), expect: invalid("key_usage") },
      { label: "key_usage: 99", request: () => ({ key_usage: 99 }), expect: invalid("key_usage") },
      { label: "key_spec: SM2", request: () => ({ key_spec: "KEY_SPEC_SM2" }), expect: invalid("key_spec", /SM2 and SM4 keys are not offered/) },
      { label: "key_spec: SM4", request: () => ({ key_spec: "KEY_SPEC_SM4" }), expect: invalid("key_spec") },
      { label: "key_spec: HMAC_256 with ENCRYPT_DECRYPT", request: () => ({ key_spec: "KEY_SPEC_HMAC_256", key_usage: "KEY_USAGE_ENCRYPT_DECRYPT" }), expect: invalid("key_usage") },
      { label: "key_spec: EC_P256 with ENCRYPT_DECRYPT", request: () => ({ key_spec: "KEY_SPEC_EC_P256", key_usage: "KEY_USAGE_ENCRYPT_DECRYPT" }), expect: invalid("key_usage") },
      { label: "key_spec: 99", request: () => ({ key_spec: 99 }), expect: invalid("key_spec") },
      { label: "key_spec: -1", request: () => ({ key_spec: -1 }), expect: invalid("key_spec") },
      {
        // This server has no HSM configured: a state of the server (as AWS KMS's key store not connected), not a bad input.
        label: "origin: HSM without an HSM",
        request: () => ({ origin: "ORIGIN_HSM" }),
        expect: { code: status.FAILED_PRECONDITION, reason: "UNSUPPORTED_OPERATION", field: "origin", message: /no HSM is configured/ },
      },
      { label: "origin: HSM with HMAC_256", request: () => ({ origin: "ORIGIN_HSM", key_spec: "KEY_SPEC_HMAC_256", key_usage: "KEY_USAGE_GENERATE_VERIFY_MAC" }), expect: invalid("key_spec") },
      { label: "origin: HSM with RSA_2048 ENCRYPT_DECRYPT", request: () => ({ origin: "ORIGIN_HSM", key_spec: "KEY_SPEC_RSA_2048", key_usage: "KEY_USAGE_ENCRYPT_DECRYPT" }), expect: invalid("key_usage", /RSA-OAEP/) },
      { label: "origin: EXTERNAL_KEY_STORE without a store", request: () => ({ origin: "ORIGIN_EXTERNAL_KEY_STORE" }), expect: invalid("external_key_store_id", /is required/) },
      {
        label: "origin: EXTERNAL_KEY_STORE with a bad xks_key_id",
        request: () => ({ origin: "ORIGIN_EXTERNAL_KEY_STORE", external_key_store_id: "00000000-0000-4000-8000-000000000000", xks_key_id: "a/b" }),
        expect: invalid("xks_key_id"),
      },
      { label: "xks_key_id without origin EXTERNAL_KEY_STORE", request: () => ({ xks_key_id: "k" }), expect: invalid("xks_key_id") },
      { label: "origin: EXTERNAL with RSA_2048", request: () => ({ origin: "ORIGIN_EXTERNAL", key_spec: "KEY_SPEC_RSA_2048" }), expect: invalid("key_spec") },
      { label: "origin: 99", request: () => ({ origin: 99 }), expect: invalid("origin") },
      ...tagRows("tags", (_fx, tags) => ({ tags })),
      { label: "idempotency_token: 65 characters", request: () => ({ idempotency_token: "t".repeat(65) }), expect: invalid("idempotency_token", /1-64 characters/) },
      { label: "idempotency_token: a space", request: () => ({ idempotency_token: "bad token" }), expect: invalid("idempotency_token", /1-64 characters/) },
      { label: "idempotency_token: '/'", request: () => ({ idempotency_token: "a/b" }), expect: invalid("idempotency_token") },
      {
        label: "idempotency_token: reused with another body",
        request: (fx) => ({ description: "not the fixture", idempotency_token: fx.idempotencyToken }),
        expect: { code: status.ALREADY_EXISTS, reason: "IDEMPOTENCY_CONFLICT", field: "idempotency_token" },
      },
    ],
  },
  {
    service: "keys",
    method: "GetKey",
    base: (fx) => ({ key_id: fx.key.key_id }),
    rows: keyFieldRows("key_id", (_fx, key_id) => ({ key_id }), { required: true, allowAlias: true, refusesDisabled: false }),
  },
  {
    service: "keys",
    method: "ListKeys",
    base: () => ({}),
    rows: pageRows((_fx, page) => page, [
      ["a ListAliases token", (fx) => fx.aliasesToken],
      ["a ListResourceTags token", (fx) => fx.tagsToken],
    ]),
  },
  {
    service: "keys",
    method: "UpdateKey",
    base: (fx) => ({ key_id: fx.other.key_id, description: "fixture" }),
    rows: [
      ...keyFieldRows("key_id", (_fx, key_id) => ({ key_id, description: "x" }), { required: true, allowAlias: true, refusesDisabled: false }),
      { label: "description: 8193 characters", request: (fx) => ({ key_id: fx.key.key_id, description: "d".repeat(8193) }), expect: invalid("description") },
    ],
  },
  {
    service: "keys",
    method: "EnableKey",
    base: (fx) => ({ key_id: fx.key.key_id }),
    rows: keyFieldRows("key_id", (_fx, key_id) => ({ key_id }), { required: true, allowAlias: true, refusesDisabled: false }),
  },
  {
    service: "keys",
    method: "DisableKey",
    base: (fx) => ({ key_id: fx.disabled.key_id }),
    rows: keyFieldRows("key_id", (_fx, key_id) => ({ key_id }), { required: true, allowAlias: true, refusesDisabled: false }),
  },
  {
    service: "keys",
    method: "CreateAlias",
    base: (fx) => ({ alias_name: freshAlias(), target_key_id: fx.key.key_id }),
    rows: [
      ...aliasNameRows((fx, alias_name) => ({ alias_name, target_key_id: fx.key.key_id }), { reserved: true }),
      {
        label: "alias_name: already exists",
        request: (fx) => ({ alias_name: fx.aliasName, target_key_id: fx.other.key_id }),
        expect: { code: status.ALREADY_EXISTS, reason: "ALREADY_EXISTS", field: "alias_name", message: /already exists/ },
      },
      ...keyFieldRows("target_key_id", (_fx, target_key_id) => ({ alias_name: freshAlias(), target_key_id }), { required: true, allowAlias: false, refusesDisabled: false }),
    ],
  },
  {
    service: "keys",
    method: "UpdateAlias",
    base: (fx) => ({ alias_name: fx.aliasName, target_key_id: fx.key.key_id }),
    rows: [
      ...aliasNameRows((fx, alias_name) => ({ alias_name, target_key_id: fx.other.key_id }), { reserved: true }),
      { label: "alias_name: does not exist", request: (fx) => ({ alias_name: freshAlias(), target_key_id: fx.other.key_id }), expect: aliasNotFound("alias_name") },
      ...keyFieldRows("target_key_id", (fx, target_key_id) => ({ alias_name: fx.aliasName, target_key_id }), { required: true, allowAlias: false, refusesDisabled: false }),
    ],
  },
  {
    service: "keys",
    method: "DeleteAlias",
    base: (fx) => ({ alias_name: fx.deletableAlias }),
    rows: [
      ...aliasNameRows((_fx, alias_name) => ({ alias_name }), { reserved: true }),
      { label: "alias_name: does not exist", request: () => ({ alias_name: freshAlias() }), expect: aliasNotFound("alias_name") },
    ],
  },
  {
    service: "keys",
    method: "ListAliases",
    base: (fx) => ({ key_id: fx.key.key_id }),
    rows: [
      ...keyFieldRows("key_id", (_fx, key_id) => ({ key_id }), { required: false, allowAlias: false, refusesDisabled: false }),
      ...pageRows((_fx, page) => page, [
        ["a ListKeys token", (fx) => fx.keysToken],
        ["a ListResourceTags token", (fx) => fx.tagsToken],
      ]),
      {
        label: "page_token: a token of all aliases used for one key's aliases",
        request: (fx) => ({ key_id: fx.key.key_id, page_token: fx.aliasesToken }),
        expect: invalid("page_token"),
      },
    ],
  },
  {
    service: "keys",
    method: "TagResource",
    base: (fx) => ({ key_id: fx.other.key_id, tags: [{ tag_key: "control", tag_value: "v" }] }),
    rows: [
      ...keyFieldRows("key_id", (_fx, key_id) => ({ key_id, tags: [{ tag_key: "k", tag_value: "v" }] }), { required: true, allowAlias: false, refusesDisabled: false }),
      { label: "tags: none", request: (fx) => ({ key_id: fx.key.key_id, tags: [] }), expect: invalid("tags", "tags: at least one tag is required") },
      ...tagRows("tags", (fx, tags) => ({ key_id: fx.tagged.key_id, tags })),
      {
        label: "tags: 19 existing + 2 new is over 20",
        request: (fx) => ({ key_id: fx.tagged.key_id, tags: [{ tag_key: "new1", tag_value: "" }, { tag_key: "new2", tag_value: "" }] }),
        expect: invalid("tags", "tags: a resource can have at most 20 tags"),
      },
    ],
  },
  {
    service: "keys",
    method: "UntagResource",
    base: (fx) => ({ key_id: fx.other.key_id, tag_keys: ["absent"] }),
    rows: [
      ...keyFieldRows("key_id", (_fx, key_id) => ({ key_id, tag_keys: ["t00"] }), { required: true, allowAlias: false, refusesDisabled: false }),
      { label: "tag_keys: none", request: (fx) => ({ key_id: fx.tagged.key_id, tag_keys: [] }), expect: invalid("tag_keys", "tag_keys: at least one tag key is required") },
      {
        label: "tag_keys: 21 keys",
        request: (fx) => ({ key_id: fx.tagged.key_id, tag_keys: Array.from({ length: 21 }, (_, i) => `t${String(i).padStart(2, "0")}`) }),
        expect: invalid("tag_keys", "tag_keys: at most 20 tag keys"),
      },
      { label: "tag_keys[0]: empty", request: (fx) => ({ key_id: fx.tagged.key_id, tag_keys: [""] }), expect: invalid("tag_keys[0]", /must not be empty/) },
      { label: "tag_keys[1]: '*' (t00 stays)", request: (fx) => ({ key_id: fx.tagged.key_id, tag_keys: ["t00", "a*"] }), expect: invalid("tag_keys[1]", /character outside/) },
      { label: "tag_keys[0]: 129 characters", request: (fx) => ({ key_id: fx.tagged.key_id, tag_keys: ["k".repeat(129)] }), expect: invalid("tag_keys[0]", /at most 128/) },
      { label: "tag_keys[0]: reserved prefix", request: (fx) => ({ key_id: fx.tagged.key_id, tag_keys: ["keyhold:x"] }), expect: invalid("tag_keys[0]", /reserved/) },
    ],
  },
  {
    service: "keys",
    method: "ListResourceTags",
    base: (fx) => ({ key_id: fx.tagged.key_id }),
    rows: [
      ...keyFieldRows("key_id", (_fx, key_id) => ({ key_id }), { required: true, allowAlias: false, refusesDisabled: false }),
      ...pageRows((fx, page) => ({ key_id: fx.tagged.key_id, ...page }), [
        ["a ListKeys token", (fx) => fx.keysToken],
        ["a ListAliases token", (fx) => fx.aliasesToken],
      ]),
      { label: "page_token: another key's tag token", request: (fx) => ({ key_id: fx.other.key_id, page_token: fx.tagsToken }), expect: invalid("page_token") },
    ],
  },
  {
    service: "crypto",
    method: "Encrypt",
    base: (fx) => ({ key_id: fx.key.key_id, plaintext: Buffer.from("control"), encryption_context: fx.context }),
    rows: [
      ...keyFieldRows("key_id", (_fx, key_id) => ({ key_id, plaintext: Buffer.from("p") }), { required: true, allowAlias: true, refusesDisabled: true }),
      { label: "plaintext: empty", request: (fx) => ({ key_id: fx.key.key_id, plaintext: Buffer.alloc(0) }), expect: invalid("plaintext", "plaintext: must not be empty") },
      {
        label: "plaintext: 6145 bytes",
        request: (fx) => ({ key_id: fx.key.key_id, plaintext: Buffer.alloc(6145, 0x61) }),
        expect: { code: status.INVALID_ARGUMENT, reason: "PLAINTEXT_TOO_LARGE", field: "plaintext", message: /at most 6144 bytes/ },
      },
      {
        label: "plaintext: 65536 bytes",
        request: (fx) => ({ key_id: fx.key.key_id, plaintext: Buffer.alloc(65536, 0x61) }),
        expect: { code: status.INVALID_ARGUMENT, reason: "PLAINTEXT_TOO_LARGE", field: "plaintext" },
      },
      ...contextRows("encryption_context", (fx, encryption_context) => ({ key_id: fx.key.key_id, plaintext: Buffer.from("p"), encryption_context })),
      {
        label: "encryption_algorithm: 99",
        request: (fx) => ({ key_id: fx.key.key_id, plaintext: Buffer.from("p"), encryption_algorithm: 99 }),
        expect: invalid("encryption_algorithm", /only SYMMETRIC_DEFAULT/),
      },
    ],
  },
  {
    service: "crypto",
    method: "Decrypt",
    base: (fx) => ({ ciphertext_blob: fx.ciphertext, encryption_context: fx.context }),
    rows: [
      { label: "ciphertext_blob: empty", request: (fx) => ({ ciphertext_blob: Buffer.alloc(0), encryption_context: fx.context }), expect: invalid("ciphertext_blob", "ciphertext_blob: must not be empty") },
      ...CIPHERTEXT_DAMAGE.map(([label, damage]): Row => ({
        label: `ciphertext_blob: ${label}`,
        request: (fx) => ({ ciphertext_blob: damage(fx.ciphertext), encryption_context: fx.context }),
        expect: invalidCiphertext,
      })),
      {
        label: "ciphertext_blob: under a disabled key",
        request: (fx) => ({ ciphertext_blob: fx.disabledCiphertext }),
        expect: keyDisabled("key_id"),
      },
      ...contextRows("encryption_context", (fx, encryption_context) => ({ ciphertext_blob: fx.ciphertext, encryption_context })),
      ...keyFieldRows("key_id", (fx, key_id) => ({ ciphertext_blob: fx.ciphertext, encryption_context: fx.context, key_id }), {
          required: false,
          allowAlias: true,
          refusesDisabled: false,
        }),
      {
        label: "key_id: another existing key",
        request: (fx) => ({ ciphertext_blob: fx.ciphertext, encryption_context: fx.context, key_id: fx.other.key_id }),
        expect: invalidCiphertext,
      },
      {
        label: "encryption_algorithm: 99",
        request: (fx) => ({ ciphertext_blob: fx.ciphertext, encryption_context: fx.context, encryption_algorithm: 99 }),
        expect: invalid("encryption_algorithm"),
      },
    ],
  },
  {
    service: "crypto",
    method: "ReEncrypt",
    base: (fx) => ({ ciphertext_blob: fx.ciphertext, source_encryption_context: fx.context, destination_key_id: fx.other.key_id }),
    rows: [
      {
        label: "ciphertext_blob: empty",
        request: (fx) => ({ ciphertext_blob: Buffer.alloc(0), source_encryption_context: fx.context, destination_key_id: fx.other.key_id }),
        expect: invalid("ciphertext_blob", "ciphertext_blob: must not be empty"),
      },
      ...CIPHERTEXT_DAMAGE.map(([label, damage]): Row => ({
        label: `ciphertext_blob: ${label}`,
        request: (fx) => ({ ciphertext_blob: damage(fx.ciphertext), source_encryption_context: fx.context, destination_key_id: fx.other.key_id }),
        expect: invalidCiphertext,
      })),
      {
        label: "source_encryption_context: wrong",
        request: (fx) => ({ ciphertext_blob: fx.ciphertext, source_encryption_context: { wrong: "context" }, destination_key_id: fx.other.key_id }),
        expect: invalidCiphertext,
      },
      ...contextRows("source_encryption_context", (fx, source_encryption_context) => ({
        ciphertext_blob: fx.ciphertext,
        source_encryption_context,
        destination_key_id: fx.other.key_id,
      })),
      ...contextRows("destination_encryption_context", (fx, destination_encryption_context) => ({
        ciphertext_blob: fx.ciphertext,
        source_encryption_context: fx.context,
        destination_key_id: fx.other.key_id,
        destination_encryption_context,
      })),
      ...keyFieldRows(
        "source_key_id",
        (fx, source_key_id) => ({ ciphertext_blob: fx.ciphertext, source_encryption_context: fx.context, source_key_id, destination_key_id: fx.other.key_id }),
        { required: false, allowAlias: true, refusesDisabled: false },
      ),
      {
        label: "source_key_id: another existing key",
        request: (fx) => ({ ciphertext_blob: fx.ciphertext, source_encryption_context: fx.context, source_key_id: fx.other.key_id, destination_key_id: fx.other.key_id }),
        expect: invalidCiphertext,
      },
      ...keyFieldRows(
        "destination_key_id",
        (fx, destination_key_id) => ({ ciphertext_blob: fx.ciphertext, source_encryption_context: fx.context, destination_key_id }),
        { required: true, allowAlias: true, refusesDisabled: true },
      ),
    ],
  },
  {
    service: "crypto",
    method: "GenerateDataKey",
    base: (fx) => ({ key_id: fx.key.key_id }),
    rows: dataKeyRows(),
  },
  {
    service: "crypto",
    method: "GenerateDataKeyWithoutPlaintext",
    base: (fx) => ({ key_id: fx.key.key_id }),
    rows: dataKeyRows(),
  },
  {
    service: "crypto",
    method: "GenerateRandom",
    base: () => ({ number_of_bytes: 16 }),
    rows: [
      { label: "number_of_bytes: 0 (unset)", request: () => ({}), expect: invalid("number_of_bytes", "number_of_bytes: must be between 1 and 1024") },
      { label: "number_of_bytes: 1025", request: () => ({ number_of_bytes: 1025 }), expect: invalid("number_of_bytes", "number_of_bytes: must be between 1 and 1024") },
      { label: "number_of_bytes: -1", request: () => ({ number_of_bytes: -1 }), expect: invalid("number_of_bytes") },
      { label: "number_of_bytes: 2147483647", request: () => ({ number_of_bytes: 2147483647 }), expect: invalid("number_of_bytes") },
    ],
  },
];

// ---------------------------------------------------------------------------------------------

let server: TestServer;
let grpc: GrpcJsClients;
let fx: Fixtures;

function rpc(service: Service, method: string): Unary<unknown> {
  const fn = (grpc[service] as unknown as Record<string, Unary<unknown> | undefined>)[method];
  if (fn === undefined) throw new Error(`no ${service}.${method}`);
  return fn;
}

/** Everything a refused call must leave untouched. */
async function snapshot() {
  const keys = await grpc.keys.ListKeys({ page_size: 1000 });
  const aliases = await grpc.keys.ListAliases({ page_size: 1000 });
  const states = await Promise.all(
    [fx.key, fx.other, fx.disabled, fx.tagged].map(async (k) => {
      const m = (await grpc.keys.GetKey({ key_id: k.key_id })).key_metadata!;
      return [m.key_id, m.description, m.key_state];
    }),
  );
  const tags = await Promise.all([fx.key, fx.other, fx.tagged].map(async (k) => (await grpc.keys.ListResourceTags({ key_id: k.key_id, page_size: 1000 })).tags));
  return {
    keys: keys.keys.map((k) => k.key_id),
    aliases: aliases.aliases.map((a) => [a.alias_name, a.target_key_id]),
    states,
    tags,
  };
}

before(async () => {
  server = await startTestServer();
  grpc = createGrpcJsClients(server.grpcAddress, server.credential);
  const idempotencyToken = `fixture-${process.pid}`;
  const create = async (description: string, extra: PlRequest = {}) => (await grpc.keys.CreateKey({ description, ...extra })).key_metadata!;
  const key = await create("fixture", { idempotency_token: idempotencyToken });
  const other = await create("other");
  const disabled = await create("disabled");
  const tagged = await create("tagged", { tags: Array.from({ length: 19 }, (_, i) => ({ tag_key: `t${String(i).padStart(2, "0")}`, tag_value: `${i}` })) });
  const context = { tenant: "acme", purpose: "bad-input" };
  const ciphertext = (await grpc.crypto.Encrypt({ key_id: key.key_id, plaintext: Buffer.from("fixture plaintext"), encryption_context: context })).ciphertext_blob;
  const disabledCiphertext = (await grpc.crypto.Encrypt({ key_id: disabled.key_id, plaintext: Buffer.from("x") })).ciphertext_blob;
  await grpc.keys.DisableKey({ key_id: disabled.key_id });
  const aliasName = "alias/bad-input/fixture";
  const otherAliasName = "alias/bad-input/other";
  const deletableAlias = "alias/bad-input/deletable";
  await grpc.keys.CreateAlias({ alias_name: aliasName, target_key_id: key.key_id });
  await grpc.keys.CreateAlias({ alias_name: otherAliasName, target_key_id: other.key_id });
  await grpc.keys.CreateAlias({ alias_name: deletableAlias, target_key_id: other.key_id });
  const keysToken = (await grpc.keys.ListKeys({ page_size: 1 })).next_page_token;
  const aliasesToken = (await grpc.keys.ListAliases({ page_size: 1 })).next_page_token;
  const tagsToken = (await grpc.keys.ListResourceTags({ key_id: tagged.key_id, page_size: 1 })).next_page_token;
  for (const token of [keysToken, aliasesToken, tagsToken]) assert.notEqual(token, "", "fixture lists have a second page");
  fx = { key, other, disabled, tagged, aliasName, otherAliasName, deletableAlias, context, ciphertext, disabledCiphertext, idempotencyToken, keysToken, aliasesToken, tagsToken };
});

after(async () => {
  grpc?.close();
  await server?.stop();
});

/** Runs one refused call and checks it changed nothing. */
async function refused(service: Service, method: string, request: PlRequest, expected: Expect, label: string): Promise<DecodedError> {
  const before = await snapshot();
  const decoded = await expectGrpcError(rpc(service, method)(request), expected, `${method} ${label}`);
  if (expected.field !== null) {
    assert.ok(decoded.message.startsWith(`${expected.field}: `), `${method} ${label}: the message names ${expected.field}: "${decoded.message}"`);
  }
  assert.deepEqual(await snapshot(), before, `${method} ${label}: nothing changed`);
  return decoded;
}

for (const { service, method, rows } of CASES) {
  describe(`${method} refuses bad input`, () => {
    for (const row of rows) {
      test(row.label, row.todo === undefined ? {} : { todo: row.todo }, async () => {
        await refused(service, method, row.request(fx), row.expect, row.label);
      });
    }
  });
}

describe("ciphertext errors give nothing away", () => {
  test("every damaged ciphertext, wrong context and wrong key gets the identical message", async () => {
    const messages = new Set<string>();
    const decrypt = (request: PlRequest) => expectGrpcError(grpc.crypto.Decrypt(request), invalidCiphertext);
    for (const [, damage] of CIPHERTEXT_DAMAGE) messages.add((await decrypt({ ciphertext_blob: damage(fx.ciphertext), encryption_context: fx.context })).message);
    messages.add((await decrypt({ ciphertext_blob: fx.ciphertext, encryption_context: {} })).message);
    messages.add((await decrypt({ ciphertext_blob: fx.ciphertext, encryption_context: { ...fx.context, extra: "1" } })).message);
    messages.add((await decrypt({ ciphertext_blob: fx.ciphertext, encryption_context: fx.context, key_id: fx.other.key_id })).message);
    const reencrypted = await expectGrpcError(
      grpc.crypto.ReEncrypt({ ciphertext_blob: flip(fx.ciphertext, 40), source_encryption_context: fx.context, destination_key_id: fx.other.key_id }),
      invalidCiphertext,
    );
    messages.add(reencrypted.message);
    assert.deepEqual([...messages], [INVALID_CIPHERTEXT_MESSAGE]);
  });
});

describe("a request body that is not protobuf", () => {
  const bodies: readonly [string, Buffer][] = [
    ["invalid wire type", Buffer.from([0xff, 0xff, 0xff, 0xff])],
    ["truncated length-delimited field", Buffer.from([0x0a, 0x10, 0x61, 0x62])],
    ["truncated varint", Buffer.from([0x10, 0x80, 0x80])],
    ["an HTTP request line", Buffer.from("GET / HTTP/1.1\r\n\r\n")],
    ["JSON", Buffer.from(JSON.stringify({ key_id: "x", plaintext: "aGVsbG8=" }))],
  ];
  // The tag of a string field of each request (field number << 3 | 2), for invalid UTF-8.
  const targets: readonly [Service, string, number | undefined][] = [
    ["keys", "CreateKey", (1 << 3) | 2], // description
    ["keys", "TagResource", (1 << 3) | 2], // key_id
    ["crypto", "Encrypt", (1 << 3) | 2], // key_id
    ["crypto", "Decrypt", (3 << 3) | 2], // key_id
    ["crypto", "GenerateRandom", undefined],
  ];
  for (const [service, method, stringTag] of targets) {
    const cases = stringTag === undefined ? bodies : [...bodies, ["invalid UTF-8 in a string field", Buffer.from([stringTag, 0x02, 0xc3, 0x28])] as const];
    for (const [label, body] of cases) {
      test(`${method}: ${label} is INVALID_ARGUMENT`, async () => {
        const before = await snapshot();
        const client = grpc.raw[service];
        const typeName = service === "keys" ? "keyhold.key.v1.KeyService" : "keyhold.key.v1.CryptoService";
        let error: unknown;
        try {
          await sendRawUnary(client, `/${typeName}/${method}`, body, grpc.metadata());
        } catch (e) {
          error = e;
        }
        assert.ok(error !== undefined, "the call failed");
        const decoded = decodeGrpcError(error);
        assert.equal(decoded.code, status.INVALID_ARGUMENT);
        assert.equal(decoded.reason, "INVALID_ARGUMENT");
        assert.equal(decoded.message, "request: not a valid protobuf message");
        assert.deepEqual(await snapshot(), before, "nothing changed");
        // The service still serves normal calls on the same channel.
        assert.equal((await grpc.crypto.GenerateRandom({ number_of_bytes: 8 })).plaintext.length, 8);
      });
    }
  }

  test("a string protobufjs encodes from a lone surrogate (invalid UTF-8) is INVALID_ARGUMENT", async () => {
    const before = await snapshot();
    for (const encryption_context of [{ k: "\uD800" }, { "\uDC00": "v" }]) {
      await expectGrpcError(
        grpc.crypto.Encrypt({ key_id: fx.key.key_id, plaintext: Buffer.from("p"), encryption_context }),
        { code: status.INVALID_ARGUMENT, reason: "INVALID_ARGUMENT", message: "request: not a valid protobuf message" },
      );
    }
    await expectGrpcError(grpc.keys.CreateKey({ description: "\uD83D" }), { code: status.INVALID_ARGUMENT, reason: "INVALID_ARGUMENT" });
    assert.deepEqual(await snapshot(), before);
  });

  test("an empty body is a valid (all-default) request and is validated as such", async () => {
    const error = await sendRawUnary(grpc.raw.crypto, "/keyhold.key.v1.CryptoService/Encrypt", Buffer.alloc(0), grpc.metadata()).then(
      () => undefined,
      (e: unknown) => e,
    );
    const decoded = decodeGrpcError(error);
    assert.equal(decoded.reason, "INVALID_ARGUMENT");
    assert.equal(decoded.metadata["field"], "plaintext");
  });
});

describe("limits are inclusive (the largest valid value is accepted)", () => {
  test("description 8192, 20 tags of 128/128 characters, token 64 characters", async () => {
    const tags = Array.from({ length: 20 }, (_, i) => ({ tag_key: `${String(i).padStart(2, "0")}${"k".repeat(126)}`, tag_value: "v".repeat(128) }));
    const created = await grpc.keys.CreateKey({ description: "d".repeat(8192), tags, idempotency_token: "t".repeat(64) });
    assert.equal(created.key_metadata!.description.length, 8192);
    assert.equal((await grpc.keys.ListResourceTags({ key_id: created.key_metadata!.key_id })).tags.length, 20);
    // At the limit, overwriting an existing tag is still allowed; a 21st is not.
    await grpc.keys.TagResource({ key_id: created.key_metadata!.key_id, tags: [{ tag_key: tags[0]!.tag_key, tag_value: "new" }] });
    await expectGrpcError(grpc.keys.TagResource({ key_id: created.key_metadata!.key_id, tags: [{ tag_key: "one-more", tag_value: "" }] }), invalid("tags"));
    const tagsAfter = (await grpc.keys.ListResourceTags({ key_id: created.key_metadata!.key_id })).tags;
    assert.equal(tagsAfter.length, 20);
    assert.equal(tagsAfter[0]!.tag_value, "new");
  });

  test("plaintext 6144 bytes, encryption context of 8192 encoded bytes", async () => {
    const plaintext = randomBytes(6144);
    const context = { k: "v".repeat(8179) };
    const encrypted = await grpc.crypto.Encrypt({ key_id: fx.key.key_id, plaintext, encryption_context: context });
    assert.equal(encrypted.ciphertext_blob.length, 6144 + CIPHERTEXT_OVERHEAD);
    assert.deepEqual((await grpc.crypto.Decrypt({ ciphertext_blob: encrypted.ciphertext_blob, encryption_context: context })).plaintext, plaintext);
  });

  test("number_of_bytes 1024, page_size 1000, alias name of 256 characters", async () => {
    assert.equal((await grpc.crypto.GenerateRandom({ number_of_bytes: 1024 })).plaintext.length, 1024);
    assert.equal((await grpc.crypto.GenerateDataKey({ key_id: fx.key.key_id, number_of_bytes: 1024 })).plaintext.length, 1024);
    await grpc.keys.ListKeys({ page_size: 1000 });
    await grpc.keys.ListAliases({ page_size: 1000 });
    await grpc.keys.ListResourceTags({ key_id: fx.key.key_id, page_size: 1000 });
    const name = `alias/${"a".repeat(250)}`;
    const alias = await grpc.keys.CreateAlias({ alias_name: name, target_key_id: fx.key.key_id });
    assert.equal(alias.alias!.alias_name.length, 256);
    await grpc.keys.DeleteAlias({ alias_name: name });
  });
});

describe("control: the base request of every table is accepted", () => {
  // Runs last: some base requests change state (CreateKey, CreateAlias, DeleteAlias…).
  for (const { service, method, base } of CASES) {
    test(`${method} accepts its base request`, async () => {
      await rpc(service, method)(base(fx));
    });
  }
});

describe("another account sees nothing of this one", () => {
  // Account 2 on the same server (same databases and root key): a role session of its
  // AccountAccessRole, which may do anything in account 2 and nothing in account 1.
  let otherGrpc: GrpcJsClients;

  before(async () => {
    otherGrpc = createGrpcJsClients(server.grpcAddress, await otherAccount(server, OTHER_ACCOUNT_ID));
  });

  after(() => {
    otherGrpc?.close();
  });

  test("the two credentials act in their own accounts", async () => {
    const one = await grpc.sts.GetCallerIdentity({});
    assert.equal(one.account_id, DEV_ACCOUNT_ID);
    assert.equal(one.principal_krn, `krn:keyhold:iam::${DEV_ACCOUNT_ID}:user/admin`);
    const two = await otherGrpc.sts.GetCallerIdentity({});
    assert.equal(two.account_id, OTHER_ACCOUNT_ID);
    assert.equal(two.principal_krn, `krn:keyhold:iam::${OTHER_ACCOUNT_ID}:role/${ACCOUNT_ACCESS_ROLE}`);
    assert.equal(two.type, "PRINCIPAL_TYPE_ROLE");
    assert.equal(two.session_name, "tests");
  });

  test("lists, names and ciphertexts of account 1 are invisible to account 2", async () => {
    const before = await snapshot();
    assert.deepEqual((await otherGrpc.keys.ListKeys({})).keys, [], "account 2 lists no keys");
    assert.deepEqual((await otherGrpc.keys.ListAliases({})).aliases, [], "account 2 lists no aliases");

    for (const ref of [fx.key.key_id, fx.key.krn]) {
      await expectGrpcError(otherGrpc.keys.GetKey({ key_id: ref }), keyNotFound("key_id"), `GetKey ${ref}`);
      await expectGrpcError(otherGrpc.crypto.Encrypt({ key_id: ref, plaintext: Buffer.from("p") }), keyNotFound("key_id"), `Encrypt ${ref}`);
      await expectGrpcError(otherGrpc.crypto.GenerateDataKey({ key_id: ref }), keyNotFound("key_id"));
      await expectGrpcError(otherGrpc.keys.UpdateKey({ key_id: ref, description: "hijacked" }), keyNotFound("key_id"));
      await expectGrpcError(otherGrpc.keys.DisableKey({ key_id: ref }), keyNotFound("key_id"));
      await expectGrpcError(otherGrpc.keys.TagResource({ key_id: ref, tags: [{ tag_key: "x", tag_value: "y" }] }), keyNotFound("key_id"));
      await expectGrpcError(otherGrpc.keys.UntagResource({ key_id: ref, tag_keys: ["t00"] }), keyNotFound("key_id"));
      await expectGrpcError(otherGrpc.keys.ListResourceTags({ key_id: ref }), keyNotFound("key_id"));
      await expectGrpcError(otherGrpc.keys.ListAliases({ key_id: ref }), keyNotFound("key_id"));
      await expectGrpcError(otherGrpc.keys.CreateAlias({ alias_name: "alias/steal", target_key_id: ref }), keyNotFound("target_key_id"));
    }
    for (const ref of [fx.aliasName, aliasKrn(fx.aliasName)]) {
      await expectGrpcError(otherGrpc.keys.GetKey({ key_id: ref }), aliasNotFound("key_id"), `GetKey ${ref}`);
      await expectGrpcError(otherGrpc.crypto.Encrypt({ key_id: ref, plaintext: Buffer.from("p") }), aliasNotFound("key_id"));
    }
    await expectGrpcError(otherGrpc.keys.DeleteAlias({ alias_name: fx.aliasName }), aliasNotFound("alias_name"));
    await expectGrpcError(otherGrpc.crypto.Decrypt({ ciphertext_blob: fx.ciphertext, encryption_context: fx.context }), invalidCiphertext);
    const own = (await otherGrpc.keys.CreateKey({ description: "account 2" })).key_metadata!;
    assert.equal(own.account_id, OTHER_ACCOUNT_ID);
    await expectGrpcError(
      otherGrpc.crypto.ReEncrypt({ ciphertext_blob: fx.ciphertext, source_encryption_context: fx.context, destination_key_id: own.key_id }),
      invalidCiphertext,
    );
    await expectGrpcError(otherGrpc.keys.UpdateAlias({ alias_name: fx.aliasName, target_key_id: own.key_id }), aliasNotFound("alias_name"));

    // Alias names are per account: account 2 may use account 1's alias name for its own key.
    await otherGrpc.keys.CreateAlias({ alias_name: fx.aliasName, target_key_id: own.key_id });
    assert.equal((await otherGrpc.keys.GetKey({ key_id: fx.aliasName })).key_metadata!.key_id, own.key_id);
    assert.equal((await grpc.keys.GetKey({ key_id: fx.aliasName })).key_metadata!.key_id, fx.key.key_id, "account 1's alias is unchanged");
    // And account 1 cannot reach account 2's key by its krn.
    await expectGrpcError(grpc.keys.GetKey({ key_id: own.krn }), keyNotFound("key_id"));
    const ownCiphertext = await otherGrpc.crypto.Encrypt({ key_id: own.key_id, plaintext: Buffer.from("account 2 secret") });
    await expectGrpcError(grpc.crypto.Decrypt({ ciphertext_blob: ownCiphertext.ciphertext_blob }), invalidCiphertext);

    assert.deepEqual(await snapshot(), before, "account 1's keys, aliases and tags are untouched");
  });

  test(
    "Decrypt's key_id and ReEncrypt's source_key_id do not tell account 1 which aliases account 2 has",
    async () => {
      const own = (await otherGrpc.keys.CreateKey({ description: "account 2, aliased" })).key_metadata!;
      const existing = `alias/account-2-only-${process.pid}`;
      await otherGrpc.keys.CreateAlias({ alias_name: existing, target_key_id: own.key_id });
      const before = await snapshot();
      for (const name of [existing, `alias/never-created-${process.pid}`]) {
        const ref = otherAccountAliasKrn(name);
        await expectGrpcError(grpc.crypto.Decrypt({ ciphertext_blob: fx.ciphertext, encryption_context: fx.context, key_id: ref }), aliasNotFound("key_id"), `Decrypt ${name}`);
        await expectGrpcError(
          grpc.crypto.ReEncrypt({ ciphertext_blob: fx.ciphertext, source_encryption_context: fx.context, source_key_id: ref, destination_key_id: fx.other.key_id }),
          aliasNotFound("source_key_id"),
          `ReEncrypt ${name}`,
        );
        // Encrypt (authorization first) already answers both alike.
        await expectGrpcError(grpc.crypto.Encrypt({ key_id: ref, plaintext: Buffer.from("p") }), aliasNotFound("key_id"), `Encrypt ${name}`);
      }
      assert.deepEqual(await snapshot(), before);
    },
  );
});

describe("SealService/Unseal refuses bad input", () => {
  // The dev server's root key is the local file (not sealable): the form of the request is
  // checked first, so every row is INVALID_ARGUMENT naming share whatever the root key.
  const share = `khs1-${randomBytes(55).toString("base64url")}`;
  const rows: readonly [string, PlRequest][] = [
    ["share: empty", { share: "" }],
    ["share: not a share", { share: "not a share" }],
    ["share: another prefix", { share: share.replace("khs1-", "khs9-") }],
    ["share: not base64url after the prefix", { share: "khs1-abc+/def=" }],
    ["share: 2049 characters", { share: "khs1-" + "A".repeat(2044) }],
    ["share: given with reset", { share, reset: true }],
  ];
  for (const [label, request] of rows) {
    test(label, async () => {
      const decoded = await expectGrpcError(grpc.seal.Unseal(request), invalid("share"), `Unseal ${label}`);
      assert.ok(decoded.message.startsWith("share: "), decoded.message);
    });
  }
  test("control: GetSealStatus answers not sealable; a well-formed share and Seal are UNSUPPORTED_OPERATION", async () => {
    const { status: current } = await grpc.seal.GetSealStatus({});
    assert.deepEqual(current, { sealable: false, sealed: false, threshold: 0, shares: 0, progress: 0 });
    const unsupported: Expect = { code: status.FAILED_PRECONDITION, reason: "UNSUPPORTED_OPERATION", field: null };
    await expectGrpcError(grpc.seal.Unseal({ share }), unsupported);
    await expectGrpcError(grpc.seal.Seal({}), unsupported);
    await expectGrpcError(grpc.seal.Unseal({ reset: true }), unsupported);
  });
});

describe("known bugs", () => {
  test(
    "a key krn naming another region is KEY_NOT_FOUND",
    async () => {
      const krn = `krn:keyhold:kms:eu-west-1:${DEV_ACCOUNT_ID}:key/${fx.key.key_id}`;
      await expectGrpcError(grpc.keys.GetKey({ key_id: krn }), keyNotFound("key_id"));
      await expectGrpcError(grpc.crypto.Encrypt({ key_id: krn, plaintext: Buffer.from("p") }), keyNotFound("key_id"));
      const alias = `krn:keyhold:kms:eu-west-1:${DEV_ACCOUNT_ID}:${fx.aliasName}`;
      await expectGrpcError(grpc.keys.GetKey({ key_id: alias }), aliasNotFound("key_id"));
    },
  );

  test(
    "Decrypt's key_id and ReEncrypt's source_key_id naming the ciphertext's key in another region are KEY_NOT_FOUND",
    async () => {
      // The ciphertext is not under the key this krn names: today it decrypts anyway.
      const krn = `krn:keyhold:kms:eu-west-1:${DEV_ACCOUNT_ID}:key/${fx.key.key_id}`;
      await expectGrpcError(grpc.crypto.Decrypt({ ciphertext_blob: fx.ciphertext, encryption_context: fx.context, key_id: krn }), keyNotFound("key_id"));
      await expectGrpcError(
        grpc.crypto.ReEncrypt({ ciphertext_blob: fx.ciphertext, source_encryption_context: fx.context, source_key_id: krn, destination_key_id: fx.other.key_id }),
        keyNotFound("source_key_id"),
      );
    },
  );
});
