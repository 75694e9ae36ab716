// The main key-service flows through Connect clients built from the generated descriptors
// (@keyhold/proto): the Connect protocol (binary and JSON) and gRPC-Web on the HTTP port, and
// the gRPC protocol against the grpc-js port, each authenticating with the bootstrap
// administrator's API key in an interceptor. Ciphertexts cross protocols in every direction;
// /healthz and grpc.health.v1 report SERVING (and need no credential).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import {
  CryptoService,
  DataKeySpec,
  EncryptionAlgorithm,
  Health,
  HealthCheckResponse_ServingStatus,
  KeyManager,
  KeyService,
  KeySpec,
  KeyState,
  KeyUsage,
  Origin,
  type KeyMetadata,
} from "@keyhold/proto";
import { bearer, withCredential } from "../support/auth.ts";
import { decodeConnectError, expectConnectError } from "../support/errors.ts";
import { createGrpcJsClients, type GrpcJsClients } from "../support/grpc-js-client.ts";
import { DEV_ACCOUNT_ID, DEV_REGION, startTestServer, type TestServer } from "../support/server.ts";

const INVALID_CIPHERTEXT_MESSAGE = "ciphertext_blob: the ciphertext is invalid, or does not match the key or encryption context";
const aliasKrn = (aliasName: string) => `krn:keyhold:kms:${DEV_REGION}:${DEV_ACCOUNT_ID}:${aliasName}`;

let server: TestServer;
let grpcJs: GrpcJsClients;
const sessionManagers: Http2SessionManager[] = [];
let sequence = 0;
const unique = (prefix: string) => `${prefix}-${process.pid}-${++sequence}`;

before(async () => {
  server = await startTestServer();
  grpcJs = createGrpcJsClients(server.grpcAddress, server.credential);
});

after(async () => {
  for (const manager of sessionManagers) manager.abort();
  grpcJs?.close();
  await server?.stop();
});

interface Variant {
  readonly name: string;
  /** A transport to `server` whose calls pass `interceptors` (default: the administrator's credential). */
  transport(server: TestServer, interceptors?: Interceptor[]): Transport;
}

const authenticated = (s: TestServer) => [withCredential(s.credential)];

function grpcTransport(s: TestServer, interceptors: Interceptor[] = authenticated(s)): Transport {
  const sessionManager = new Http2SessionManager(s.grpcBaseUrl);
  sessionManagers.push(sessionManager);
  return createGrpcTransport({ baseUrl: s.grpcBaseUrl, sessionManager, interceptors });
}

const VARIANTS: readonly Variant[] = [
  {
    name: "Connect protocol, binary, HTTP/1.1",
    transport: (s, interceptors = authenticated(s)) => createConnectTransport({ baseUrl: s.httpBaseUrl, httpVersion: "1.1", interceptors }),
  },
  {
    name: "Connect protocol, JSON, HTTP/1.1",
    transport: (s, interceptors = authenticated(s)) => createConnectTransport({ baseUrl: s.httpBaseUrl, httpVersion: "1.1", useBinaryFormat: false, interceptors }),
  },
  {
    name: "gRPC-Web, HTTP/1.1",
    transport: (s, interceptors = authenticated(s)) => createGrpcWebTransport({ baseUrl: s.httpBaseUrl, httpVersion: "1.1", interceptors }),
  },
  { name: "gRPC (Connect client) against the grpc-js port", transport: grpcTransport },
];

interface Clients {
  readonly keys: Client<typeof KeyService>;
  readonly crypto: Client<typeof CryptoService>;
}

function clientsFor(transport: Transport): Clients {
  return { keys: createClient(KeyService, transport), crypto: createClient(CryptoService, transport) };
}

async function newKey(c: Clients, description = unique("connect")): Promise<KeyMetadata> {
  const response = await c.keys.createKey({ description });
  assert.ok(response.keyMetadata !== undefined);
  return response.keyMetadata;
}

for (const variant of VARIANTS) {
  describe(variant.name, () => {
    let c: Clients;
    before(() => {
      c = clientsFor(variant.transport(server));
    });

    test("key lifecycle: create, get by every name, list with paging, update, disable, enable", async () => {
      const description = unique("lifecycle");
      const created = await c.keys.createKey({ description, tags: [{ tagKey: "team", tagValue: "crypto" }] });
      const key = created.keyMetadata!;
      assert.match(key.keyId, /^[0-9a-f-]{36}$/);
      assert.equal(key.krn, `krn:keyhold:kms:${DEV_REGION}:${DEV_ACCOUNT_ID}:key/${key.keyId}`);
      assert.equal(key.accountId, DEV_ACCOUNT_ID);
      assert.equal(key.description, description);
      assert.equal(key.keySpec, KeySpec.SYMMETRIC_DEFAULT);
      assert.equal(key.keyUsage, KeyUsage.ENCRYPT_DECRYPT);
      assert.equal(key.origin, Origin.SOFTWARE);
      assert.equal(key.keyState, KeyState.ENABLED);
      assert.equal(key.keyManager, KeyManager.CUSTOMER);
      assert.equal(key.enabled, true);
      assert.ok(key.creationDate !== undefined && key.creationDate.seconds > 0n);
      assert.deepEqual(key.encryptionAlgorithms, [EncryptionAlgorithm.SYMMETRIC_DEFAULT]);

      const aliasName = `alias/${unique("connect")}`;
      await c.keys.createAlias({ aliasName, targetKeyId: key.keyId });
      for (const ref of [key.keyId, key.krn, aliasName, aliasKrn(aliasName)]) {
        assert.equal((await c.keys.getKey({ keyId: ref })).keyMetadata!.keyId, key.keyId, `getKey(${ref})`);
      }

      await newKey(c);
      await newKey(c);
      const everything = (await c.keys.listKeys({ pageSize: 1000 })).keys.map((k) => k.keyId);
      const paged: string[] = [];
      let pageToken = "";
      do {
        const page = await c.keys.listKeys({ pageSize: 2, pageToken });
        assert.ok(page.keys.length <= 2);
        paged.push(...page.keys.map((k) => k.keyId));
        pageToken = page.nextPageToken;
      } while (pageToken !== "");
      assert.deepEqual(paged, everything);
      assert.ok(everything.includes(key.keyId));

      const updated = await c.keys.updateKey({ keyId: key.keyId, description: "updated over Connect" });
      assert.equal(updated.keyMetadata!.description, "updated over Connect");

      const disabled = await c.keys.disableKey({ keyId: aliasName });
      assert.equal(disabled.keyMetadata!.keyState, KeyState.DISABLED);
      assert.equal(disabled.keyMetadata!.enabled, false);
      await expectConnectError(c.crypto.encrypt({ keyId: key.keyId, plaintext: new Uint8Array([1]) }), {
        code: Code.FailedPrecondition,
        reason: "KEY_DISABLED",
        field: "key_id",
        message: "key_id: the key is disabled",
      });
      const enabled = await c.keys.enableKey({ keyId: key.krn });
      assert.equal(enabled.keyMetadata!.keyState, KeyState.ENABLED);
      assert.ok((await c.crypto.encrypt({ keyId: key.keyId, plaintext: new Uint8Array([1]) })).ciphertextBlob.length > 0);
    });

    test("aliases and tags", async () => {
      const a = await newKey(c);
      const b = await newKey(c);
      const prefix = `alias/${unique("connect-alias")}`;
      const names = [`${prefix}/1`, `${prefix}/2`, `${prefix}/3`];
      for (const aliasName of names) {
        const created = await c.keys.createAlias({ aliasName, targetKeyId: a.keyId });
        assert.equal(created.alias!.aliasKrn, aliasKrn(aliasName));
        assert.equal(created.alias!.targetKeyId, a.keyId);
      }
      const first = await c.keys.listAliases({ keyId: a.keyId, pageSize: 2 });
      const second = await c.keys.listAliases({ keyId: a.keyId, pageSize: 2, pageToken: first.nextPageToken });
      assert.deepEqual(
        [...first.aliases, ...second.aliases].map((x) => x.aliasName),
        names,
      );
      assert.equal(second.nextPageToken, "");

      const moved = await c.keys.updateAlias({ aliasName: names[0]!, targetKeyId: b.krn });
      assert.equal(moved.alias!.targetKeyId, b.keyId);
      assert.equal((await c.keys.getKey({ keyId: names[0]! })).keyMetadata!.keyId, b.keyId);
      assert.deepEqual(
        (await c.keys.listAliases({ keyId: b.keyId })).aliases.map((x) => x.aliasName),
        [names[0]],
      );
      await c.keys.deleteAlias({ aliasName: names[0]! });
      await expectConnectError(c.keys.getKey({ keyId: names[0]! }), { code: Code.NotFound, reason: "ALIAS_NOT_FOUND", field: "key_id" });

      await c.keys.tagResource({ keyId: a.keyId, tags: [{ tagKey: "x", tagValue: "1" }, { tagKey: "y", tagValue: "2" }] });
      await c.keys.tagResource({ keyId: a.krn, tags: [{ tagKey: "x", tagValue: "one" }] });
      assert.deepEqual(
        (await c.keys.listResourceTags({ keyId: a.keyId })).tags.map((t) => [t.tagKey, t.tagValue]),
        [
          ["x", "one"],
          ["y", "2"],
        ],
      );
      await c.keys.untagResource({ keyId: a.keyId, tagKeys: ["x"] });
      assert.deepEqual(
        (await c.keys.listResourceTags({ keyId: a.keyId })).tags.map((t) => t.tagKey),
        ["y"],
      );
    });

    test("crypto: Encrypt/Decrypt with context, ReEncrypt, data keys, random", async () => {
      const key = await newKey(c);
      const other = await newKey(c);
      const plaintext = new TextEncoder().encode(`hello from ${variant.name}`);
      const encryptionContext = { tenant: "acme", "\u00e9": "\u00fc" };
      const encrypted = await c.crypto.encrypt({ keyId: key.keyId, plaintext, encryptionContext });
      assert.equal(encrypted.keyId, key.krn);
      assert.equal(encrypted.keyVersionId, key.primaryVersionId);
      assert.equal(encrypted.encryptionAlgorithm, EncryptionAlgorithm.SYMMETRIC_DEFAULT);
      const decrypted = await c.crypto.decrypt({ ciphertextBlob: encrypted.ciphertextBlob, encryptionContext });
      assert.deepEqual(decrypted.plaintext, plaintext);
      assert.equal(decrypted.keyId, key.krn);

      for (const wrong of [{}, { tenant: "acme" }, { ...encryptionContext, extra: "1" }, { tenant: "evil", "\u00e9": "\u00fc" }]) {
        await expectConnectError(c.crypto.decrypt({ ciphertextBlob: encrypted.ciphertextBlob, encryptionContext: wrong }), {
          code: Code.InvalidArgument,
          reason: "INVALID_CIPHERTEXT",
          field: "ciphertext_blob",
          message: INVALID_CIPHERTEXT_MESSAGE,
        });
      }

      const moved = await c.crypto.reEncrypt({
        ciphertextBlob: encrypted.ciphertextBlob,
        sourceEncryptionContext: encryptionContext,
        destinationKeyId: other.keyId,
        destinationEncryptionContext: { moved: "yes" },
      });
      assert.equal(moved.sourceKeyId, key.krn);
      assert.equal(moved.keyId, other.krn);
      const movedBack = await c.crypto.decrypt({ ciphertextBlob: moved.ciphertextBlob, encryptionContext: { moved: "yes" } });
      assert.deepEqual(movedBack.plaintext, plaintext);
      assert.equal(movedBack.keyId, other.krn);

      for (const [request, length] of [
        [{}, 32],
        [{ keySpec: DataKeySpec.AES_128 }, 16],
        [{ numberOfBytes: 64 }, 64],
      ] as const) {
        const dataKey = await c.crypto.generateDataKey({ keyId: key.keyId, encryptionContext: { dk: "1" }, ...request });
        assert.equal(dataKey.plaintext.length, length);
        const opened = await c.crypto.decrypt({ ciphertextBlob: dataKey.ciphertextBlob, encryptionContext: { dk: "1" } });
        assert.deepEqual(opened.plaintext, dataKey.plaintext);
      }
      const withoutPlaintext = await c.crypto.generateDataKeyWithoutPlaintext({ keyId: key.keyId, numberOfBytes: 24 });
      assert.equal((await c.crypto.decrypt({ ciphertextBlob: withoutPlaintext.ciphertextBlob })).plaintext.length, 24);

      const random = await c.crypto.generateRandom({ numberOfBytes: 48 });
      assert.equal(random.plaintext.length, 48);
    });

    test("errors carry one ErrorInfo with reason, domain and field", async () => {
      const key = await newKey(c);
      await expectConnectError(c.crypto.encrypt({ keyId: key.keyId, plaintext: new Uint8Array(6145) }), {
        code: Code.InvalidArgument,
        reason: "PLAINTEXT_TOO_LARGE",
        field: "plaintext",
        message: /^plaintext: /,
      });
      await expectConnectError(c.crypto.encrypt({ keyId: key.keyId, plaintext: new Uint8Array(0) }), {
        code: Code.InvalidArgument,
        reason: "INVALID_ARGUMENT",
        field: "plaintext",
        message: "plaintext: must not be empty",
      });
      await expectConnectError(c.keys.getKey({ keyId: "00000000-0000-4000-8000-000000000000" }), {
        code: Code.NotFound,
        reason: "KEY_NOT_FOUND",
        field: "key_id",
        message: "key_id: key not found",
      });
      await expectConnectError(c.keys.createKey({ keySpec: 99 as KeySpec }), { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "key_spec" });
      await expectConnectError(c.keys.listKeys({ pageSize: 1001 }), { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "page_size" });
      await expectConnectError(c.keys.createAlias({ aliasName: "alias/keyhold/x", targetKeyId: key.keyId }), {
        code: Code.InvalidArgument,
        reason: "INVALID_ARGUMENT",
        field: "alias_name",
        message: "alias_name: the prefix alias/keyhold/ is reserved",
      });
      await expectConnectError(c.crypto.generateRandom({ numberOfBytes: 1025 }), { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "number_of_bytes" });
      await expectConnectError(c.crypto.decrypt({ ciphertextBlob: new Uint8Array(200).fill(7) }), {
        code: Code.InvalidArgument,
        reason: "INVALID_CIPHERTEXT",
        field: "ciphertext_blob",
        message: INVALID_CIPHERTEXT_MESSAGE,
      });

      const token = unique("idem");
      const first = await c.keys.createKey({ description: "same", idempotencyToken: token });
      const second = await c.keys.createKey({ description: "same", idempotencyToken: token });
      assert.equal(second.keyMetadata!.keyId, first.keyMetadata!.keyId);
      await expectConnectError(c.keys.createKey({ description: "different", idempotencyToken: token }), {
        code: Code.AlreadyExists,
        reason: "IDEMPOTENCY_CONFLICT",
        field: "idempotency_token",
      });
    });
  });
}

/** Encrypt and Decrypt through one protocol, as the cross-protocol matrix uses them. */
interface CryptoPath {
  readonly name: string;
  encrypt(keyId: string, plaintext: Uint8Array, context: Record<string, string>): Promise<Uint8Array>;
  decrypt(blob: Uint8Array, context: Record<string, string>): Promise<Uint8Array>;
}

describe("ciphertexts cross protocols", () => {
  let paths: CryptoPath[];
  before(() => {
    paths = VARIANTS.map((variant): CryptoPath => {
      const c = clientsFor(variant.transport(server));
      return {
        name: variant.name,
        encrypt: async (keyId, plaintext, encryptionContext) => (await c.crypto.encrypt({ keyId, plaintext, encryptionContext })).ciphertextBlob,
        decrypt: async (ciphertextBlob, encryptionContext) => (await c.crypto.decrypt({ ciphertextBlob, encryptionContext })).plaintext,
      };
    });
    paths.push({
      name: "grpc-js + proto-loader",
      encrypt: async (key_id, plaintext, encryption_context) =>
        (await grpcJs.crypto.Encrypt({ key_id, plaintext: Buffer.from(plaintext), encryption_context })).ciphertext_blob,
      decrypt: async (ciphertext_blob, encryption_context) =>
        (await grpcJs.crypto.Decrypt({ ciphertext_blob: Buffer.from(ciphertext_blob), encryption_context })).plaintext,
    });
  });

  test("a ciphertext made through any protocol decrypts through every other", async () => {
    const key = (await grpcJs.keys.CreateKey({ description: "cross-protocol" })).key_metadata!;
    let pairs = 0;
    for (const from of paths) {
      for (const to of paths) {
        const plaintext = new TextEncoder().encode(`${from.name} -> ${to.name}`);
        const context = { from: from.name, to: to.name };
        const blob = await from.encrypt(key.key_id, plaintext, context);
        assert.deepEqual(new Uint8Array(await to.decrypt(blob, context)), plaintext, `${from.name} -> ${to.name}`);
        pairs++;
      }
    }
    assert.equal(pairs, paths.length * paths.length);
    assert.ok(paths.length >= 5);
  });

  test("a data key from grpc-js decrypts over Connect and a key made over Connect is usable over gRPC", async () => {
    const connect = clientsFor(VARIANTS[0]!.transport(server));
    const viaConnect = await newKey(connect);
    const dataKey = await grpcJs.crypto.GenerateDataKey({ key_id: viaConnect.krn, encryption_context: { k: "v" } });
    const opened = await connect.crypto.decrypt({ ciphertextBlob: dataKey.ciphertext_blob, encryptionContext: { k: "v" } });
    assert.deepEqual(Buffer.from(opened.plaintext), dataKey.plaintext);
    const got = (await grpcJs.keys.GetKey({ key_id: viaConnect.keyId })).key_metadata!;
    assert.equal(got.krn, viaConnect.krn);
    assert.equal(got.description, viaConnect.description);
  });
});

/** Every service `keyhold dev` serves (key-service's and policy-service's). */
const SERVED_SERVICES = [
  "keyhold.key.v1.KeyService",
  "keyhold.key.v1.CryptoService",
  "keyhold.key.v1.SealService",
  "keyhold.policy.v1.IamService",
  "keyhold.policy.v1.StsService",
  "keyhold.policy.v1.AuthorizationService",
  "keyhold.audit.v1.AuditService",
  "keyhold.audit.v1.AuditIngestService",
  "keyhold.secrets.v1.SecretsService",
] as const;

describe("health (no credential needed)", () => {
  test("GET /healthz is 200 JSON with status SERVING", async () => {
    const response = await fetch(`${server.httpBaseUrl}/healthz`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
    const body = (await response.json()) as { status: string; services: Record<string, string> };
    assert.equal(body.status, "SERVING");
    assert.deepEqual(body.services, Object.fromEntries(SERVED_SERVICES.map((service) => [service, "SERVING"])));
  });

  test("grpc.health.v1.Health/Check over gRPC is SERVING for \"\" and each service", async () => {
    const health = createClient(Health, grpcTransport(server, []));
    for (const service of ["", ...SERVED_SERVICES]) {
      assert.equal((await health.check({ service })).status, HealthCheckResponse_ServingStatus.SERVING, `health of "${service}"`);
    }
    let error: unknown;
    try {
      await health.check({ service: "no.such.Service" });
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof Error, "an unknown service is an error");
    assert.equal((error as { code?: unknown }).code, Code.NotFound);
  });
});

describe("protocol-level decode errors", () => {
  test(
    "a malformed binary Connect request is INVALID_ARGUMENT with an ErrorInfo",
    async () => {
      const response = await fetch(`${server.httpBaseUrl}/keyhold.key.v1.CryptoService/GenerateRandom`, {
        method: "POST",
        headers: { "content-type": "application/proto", authorization: bearer(server.credential) },
        body: new Uint8Array([0xff, 0xff]),
      });
      const body = (await response.json()) as { code: string; details?: { type: string }[] };
      assert.equal(response.status, 400);
      assert.equal(body.code, "invalid_argument");
      assert.deepEqual(
        body.details?.map((d) => d.type),
        ["google.rpc.ErrorInfo"],
      );
    },
  );

  test(
    "a malformed JSON Connect request carries an ErrorInfo",
    async () => {
      const c = clientsFor(VARIANTS[1]!.transport(server));
      const response = await fetch(`${server.httpBaseUrl}/keyhold.key.v1.CryptoService/GenerateRandom`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: bearer(server.credential) },
        body: "{not json",
      });
      assert.equal(response.status, 400);
      const body = (await response.json()) as { code: string; details?: { type: string }[] };
      assert.equal(body.code, "invalid_argument");
      assert.deepEqual(
        body.details?.map((d) => d.type),
        ["google.rpc.ErrorInfo"],
      );
      // For contrast, a well-formed request refused by the handler does carry one.
      const decoded = decodeConnectError(await c.crypto.generateRandom({ numberOfBytes: 0 }).catch((e: unknown) => e));
      assert.equal(decoded.reason, "INVALID_ARGUMENT");
    },
  );
});
