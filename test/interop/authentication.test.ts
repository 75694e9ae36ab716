// Every public call must carry `authorization: Bearer <credential>`. A call with none, with a
// malformed header or with a credential Keyhold does not know is UNAUTHENTICATED with one
// google.rpc.ErrorInfo (reason UNAUTHENTICATED, domain keyhold.dev, no field) over every
// protocol: gRPC (grpc-js + proto-loader, and Connect's gRPC transport), Connect (binary and
// JSON) and gRPC-Web. A refused call does nothing. Malformed and wrong credentials get the same
// answer, so the answer says nothing about which part was wrong.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { CryptoService, IamService, KeyService, PrincipalType, StsService } from "@keyhold/proto";
import { authorizationHeader, bearer, generateApiKey, generateSessionToken, withCredential } from "../support/auth.ts";
import { expectConnectError, expectGrpcError, type ExpectedError } from "../support/errors.ts";
import { createGrpcJsClients, type GrpcJsClients } from "../support/grpc-js-client.ts";
import { ACCOUNT_ACCESS_ROLE, DEV_ACCOUNT_ID, otherAccount, startTestServer, type TestServer } from "../support/server.ts";

const OTHER_ACCOUNT_ID = "000000000003";
/** What a malformed or unknown credential is told: the same, whatever was wrong with it. */
const INVALID_CREDENTIAL = "invalid credential";

let server: TestServer;
let admin: GrpcJsClients;
/** A role session of OTHER_ACCOUNT_ID's AccountAccessRole. */
let otherCredential: string;
const sessionManagers: Http2SessionManager[] = [];

before(async () => {
  server = await startTestServer();
  admin = createGrpcJsClients(server.grpcAddress, server.credential);
  otherCredential = await otherAccount(server, OTHER_ACCOUNT_ID);
});

after(async () => {
  for (const manager of sessionManagers) manager.abort();
  admin?.close();
  await server?.stop();
});

/** One bad `authorization` header (undefined: none at all) and the message it must get. */
interface BadCredential {
  readonly label: string;
  readonly header: (s: TestServer) => string | undefined;
  readonly message: string | RegExp;
}

/** The administrator's key with one character of its secret changed at `index` (negative: from the end). */
function alteredSecret(credential: string, index: number): string {
  const at = index < 0 ? credential.length + index : credential.lastIndexOf("_") + 1 + index;
  const replacement = credential[at] === "A" ? "B" : "A";
  return credential.slice(0, at) + replacement + credential.slice(at + 1);
}

const BAD_CREDENTIALS: readonly BadCredential[] = [
  { label: "no authorization header", header: () => undefined, message: /^missing credential/ },
  // Malformed: not `Bearer <token>` with a token shaped like a Keyhold credential.
  { label: "malformed: Basic scheme", header: () => "Basic YWRtaW46YWRtaW4=", message: INVALID_CREDENTIAL },
  { label: "malformed: 'Bearer' without a token", header: () => "Bearer", message: INVALID_CREDENTIAL },
  { label: "malformed: the key without 'Bearer '", header: (s) => s.credential, message: INVALID_CREDENTIAL },
  { label: "malformed: not a Keyhold token", header: () => "Bearer not-a-keyhold-key", message: INVALID_CREDENTIAL },
  { label: "malformed: a second word after the key", header: (s) => `${bearer(s.credential)} extra`, message: INVALID_CREDENTIAL },
  { label: "malformed: upper-case hex in the key id", header: () => bearer(`khk_0123456789ABCDEF_${"A".repeat(43)}`), message: INVALID_CREDENTIAL },
  { label: "malformed: 600 characters", header: () => bearer(`khk_0123456789abcdef_${"A".repeat(579)}`), message: INVALID_CREDENTIAL },
  // Wrong: well-formed, but no credential Keyhold issued.
  { label: "wrong: an API key no account has", header: () => bearer(generateApiKey()), message: INVALID_CREDENTIAL },
  { label: "wrong: the right key id, last secret character changed", header: (s) => bearer(alteredSecret(s.credential, -1)), message: INVALID_CREDENTIAL },
  { label: "wrong: the right key id, first secret character changed", header: (s) => bearer(alteredSecret(s.credential, 0)), message: INVALID_CREDENTIAL },
  { label: "wrong: the right key, secret one character short", header: (s) => bearer(s.credential.slice(0, -1)), message: INVALID_CREDENTIAL },
  { label: "wrong: the right key, secret one character long", header: (s) => bearer(`${s.credential}A`), message: INVALID_CREDENTIAL },
  { label: "wrong: a session token no session has", header: () => bearer(generateSessionToken()), message: INVALID_CREDENTIAL },
];

const unauthenticated = (message: string | RegExp): ExpectedError => ({ code: Code.Unauthenticated, reason: "UNAUTHENTICATED", field: null, message });

/** What a refused call could have changed: keys, aliases and accounts. */
async function snapshot() {
  const iam = createClient(IamService, createConnectTransport({ baseUrl: server.httpBaseUrl, httpVersion: "1.1", interceptors: [withCredential(server.credential)] }));
  return {
    keys: (await admin.keys.ListKeys({ page_size: 1000 })).keys.map((k) => k.key_id),
    aliases: (await admin.keys.ListAliases({ page_size: 1000 })).aliases.map((a) => a.alias_name),
    accounts: (await iam.listAccounts({ pageSize: 1000 })).accounts.map((a) => a.accountId),
  };
}

describe("gRPC (grpc-js + proto-loader) without a valid credential", () => {
  let anonymous: GrpcJsClients;
  before(() => {
    anonymous = createGrpcJsClients(server.grpcAddress, undefined);
  });
  after(() => anonymous?.close());

  for (const bad of BAD_CREDENTIALS) {
    test(`${bad.label}: UNAUTHENTICATED, nothing done`, async () => {
      const metadata = () => {
        const m = new grpc.Metadata();
        const header = bad.header(server);
        if (header !== undefined) m.set("authorization", header);
        return m;
      };
      const expected = { ...unauthenticated(bad.message), code: grpc.status.UNAUTHENTICATED };
      const before = await snapshot();
      await expectGrpcError(anonymous.keys.CreateKey({ description: "must not exist" }, metadata()), expected, "CreateKey");
      await expectGrpcError(anonymous.keys.ListKeys({}, metadata()), expected, "ListKeys");
      await expectGrpcError(anonymous.crypto.GenerateRandom({ number_of_bytes: 16 }, metadata()), expected, "GenerateRandom");
      await expectGrpcError(anonymous.crypto.Encrypt({ key_id: "alias/none", plaintext: Buffer.from("p") }, metadata()), expected, "Encrypt");
      await expectGrpcError(anonymous.sts.GetCallerIdentity({}, metadata()), expected, "GetCallerIdentity");
      assert.deepEqual(await snapshot(), before, "nothing changed");
    });
  }

  test("the client without a credential sends none, and is refused", async () => {
    await expectGrpcError(anonymous.crypto.GenerateRandom({ number_of_bytes: 16 }), { ...unauthenticated(/^missing credential/), code: grpc.status.UNAUTHENTICATED });
  });
});

interface ConnectVariant {
  readonly name: string;
  transport(interceptors: Interceptor[]): Transport;
}

const CONNECT_VARIANTS: readonly ConnectVariant[] = [
  { name: "Connect protocol, binary", transport: (interceptors) => createConnectTransport({ baseUrl: server.httpBaseUrl, httpVersion: "1.1", interceptors }) },
  {
    name: "Connect protocol, JSON",
    transport: (interceptors) => createConnectTransport({ baseUrl: server.httpBaseUrl, httpVersion: "1.1", useBinaryFormat: false, interceptors }),
  },
  { name: "gRPC-Web", transport: (interceptors) => createGrpcWebTransport({ baseUrl: server.httpBaseUrl, httpVersion: "1.1", interceptors }) },
  {
    name: "gRPC (Connect client)",
    transport: (interceptors) => {
      const sessionManager = new Http2SessionManager(server.grpcBaseUrl);
      sessionManagers.push(sessionManager);
      return createGrpcTransport({ baseUrl: server.grpcBaseUrl, sessionManager, interceptors });
    },
  },
];

interface ConnectClients {
  readonly keys: Client<typeof KeyService>;
  readonly crypto: Client<typeof CryptoService>;
  readonly iam: Client<typeof IamService>;
  readonly sts: Client<typeof StsService>;
}

function connectClients(transport: Transport): ConnectClients {
  return {
    keys: createClient(KeyService, transport),
    crypto: createClient(CryptoService, transport),
    iam: createClient(IamService, transport),
    sts: createClient(StsService, transport),
  };
}

for (const variant of CONNECT_VARIANTS) {
  describe(`${variant.name} without a valid credential`, () => {
    for (const bad of BAD_CREDENTIALS) {
      test(`${bad.label}: UNAUTHENTICATED, nothing done`, async () => {
        const header = bad.header(server);
        const c = connectClients(variant.transport(header === undefined ? [] : [authorizationHeader(header)]));
        const expected = unauthenticated(bad.message);
        const before = await snapshot();
        await expectConnectError(c.keys.createKey({ description: "must not exist" }), expected, "createKey");
        await expectConnectError(c.keys.createAlias({ aliasName: "alias/must-not-exist", targetKeyId: "00000000-0000-4000-8000-000000000000" }), expected, "createAlias");
        await expectConnectError(c.crypto.generateRandom({ numberOfBytes: 16 }), expected, "generateRandom");
        await expectConnectError(c.crypto.decrypt({ ciphertextBlob: new Uint8Array(120).fill(1) }), expected, "decrypt");
        await expectConnectError(c.iam.createAccount({ accountId: "000000000099", name: "must not exist" }), expected, "createAccount");
        await expectConnectError(c.sts.assumeRole({ roleKrn: `krn:keyhold:iam::${OTHER_ACCOUNT_ID}:role/${ACCOUNT_ACCESS_ROLE}`, roleSessionName: "nope" }), expected, "assumeRole");
        await expectConnectError(c.sts.getCallerIdentity({}), expected, "getCallerIdentity");
        assert.deepEqual(await snapshot(), before, "nothing changed");
      });
    }
  });
}

describe("valid credentials over every protocol", () => {
  test("the administrator's API key and another account's role session each act as themselves", async () => {
    const grpcJsAdmin = await admin.sts.GetCallerIdentity({});
    assert.equal(grpcJsAdmin.account_id, DEV_ACCOUNT_ID);
    assert.equal(grpcJsAdmin.principal_krn, `krn:keyhold:iam::${DEV_ACCOUNT_ID}:user/admin`);
    assert.equal(grpcJsAdmin.type, "PRINCIPAL_TYPE_USER");
    const grpcJsOther = createGrpcJsClients(server.grpcAddress, otherCredential);
    try {
      const identity = await grpcJsOther.sts.GetCallerIdentity({});
      assert.equal(identity.account_id, OTHER_ACCOUNT_ID);
      assert.equal(identity.principal_krn, `krn:keyhold:iam::${OTHER_ACCOUNT_ID}:role/${ACCOUNT_ACCESS_ROLE}`);
    } finally {
      grpcJsOther.close();
    }
    for (const variant of CONNECT_VARIANTS) {
      const asAdmin = connectClients(variant.transport([withCredential(server.credential)]));
      const a = await asAdmin.sts.getCallerIdentity({});
      assert.equal(a.accountId, DEV_ACCOUNT_ID, variant.name);
      assert.equal(a.principalKrn, `krn:keyhold:iam::${DEV_ACCOUNT_ID}:user/admin`, variant.name);
      assert.equal(a.type, PrincipalType.USER, variant.name);
      assert.equal((await asAdmin.crypto.generateRandom({ numberOfBytes: 8 })).plaintext.length, 8, variant.name);

      const asOther = connectClients(variant.transport([withCredential(otherCredential)]));
      const o = await asOther.sts.getCallerIdentity({});
      assert.equal(o.accountId, OTHER_ACCOUNT_ID, variant.name);
      assert.equal(o.principalKrn, `krn:keyhold:iam::${OTHER_ACCOUNT_ID}:role/${ACCOUNT_ACCESS_ROLE}`, variant.name);
      assert.equal(o.type, PrincipalType.ROLE, variant.name);
      assert.equal(o.sessionName, "tests", variant.name);
      const key = (await asOther.keys.createKey({ description: variant.name })).keyMetadata!;
      assert.equal(key.accountId, OTHER_ACCOUNT_ID, `${variant.name}: the role session's key is in its account`);
    }
  });
});

describe("the header services use to forward an end caller is ignored from outside", () => {
  // What key-service sends policy-service on an in-process call (packages/authz
  // forwarded-caller.ts): honoured only from a trusted peer, never from a client.
  const FORWARDED_CALLER_HEADER = "x-keyhold-caller";
  const forgedAdmin = Buffer.from(
    JSON.stringify({ k: `krn:keyhold:iam::${DEV_ACCOUNT_ID}:user/admin`, a: DEV_ACCOUNT_ID, t: "user", n: "admin" }),
    "utf8",
  ).toString("base64url");

  test("without a credential it is UNAUTHENTICATED, over gRPC and Connect", async () => {
    const metadata = new grpc.Metadata();
    metadata.set(FORWARDED_CALLER_HEADER, forgedAdmin);
    const anonymous = createGrpcJsClients(server.grpcAddress, undefined);
    try {
      await expectGrpcError(anonymous.keys.ListKeys({}, metadata), { ...unauthenticated(/^missing credential/), code: grpc.status.UNAUTHENTICATED });
    } finally {
      anonymous.close();
    }
    const forged: Interceptor = (next) => (request) => {
      request.header.set(FORWARDED_CALLER_HEADER, forgedAdmin);
      return next(request);
    };
    for (const variant of CONNECT_VARIANTS) {
      const c = connectClients(variant.transport([forged]));
      await expectConnectError(c.keys.listKeys({}), unauthenticated(/^missing credential/), variant.name);
    }
  });

  test("with another account's credential the caller stays who it is", async () => {
    const keyOfAccount1 = (await admin.keys.CreateKey({ description: "account 1 only" })).key_metadata!;
    const metadata = new grpc.Metadata();
    metadata.set("authorization", bearer(otherCredential));
    metadata.set(FORWARDED_CALLER_HEADER, forgedAdmin);
    const other = createGrpcJsClients(server.grpcAddress, otherCredential);
    try {
      const identity = await other.sts.GetCallerIdentity({}, metadata);
      assert.equal(identity.account_id, OTHER_ACCOUNT_ID);
      assert.equal(identity.principal_krn, `krn:keyhold:iam::${OTHER_ACCOUNT_ID}:role/${ACCOUNT_ACCESS_ROLE}`);
      const listed = (await other.keys.ListKeys({ page_size: 1000 }, metadata)).keys.map((k) => k.key_id);
      assert.ok(!listed.includes(keyOfAccount1.key_id), "account 1's key is not listed");
      await expectGrpcError(other.keys.GetKey({ key_id: keyOfAccount1.krn }, metadata), {
        code: grpc.status.NOT_FOUND,
        reason: "KEY_NOT_FOUND",
        field: "key_id",
      });
    } finally {
      other.close();
    }
  });
});

describe("the Connect protocol over plain HTTP", () => {
  test("a POST without authorization is 401 with code unauthenticated and one ErrorInfo", async () => {
    const response = await fetch(`${server.httpBaseUrl}/keyhold.key.v1.CryptoService/GenerateRandom`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ numberOfBytes: 8 }),
    });
    assert.equal(response.status, 401);
    const body = (await response.json()) as { code: string; message: string; details?: { type: string }[] };
    assert.equal(body.code, "unauthenticated");
    assert.match(body.message, /^missing credential/);
    assert.deepEqual(
      body.details?.map((d) => d.type),
      ["google.rpc.ErrorInfo"],
    );
  });

  test("the same POST with the administrator's key succeeds", async () => {
    const response = await fetch(`${server.httpBaseUrl}/keyhold.key.v1.CryptoService/GenerateRandom`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: bearer(server.credential) },
      body: JSON.stringify({ numberOfBytes: 8 }),
    });
    assert.equal(response.status, 200);
    const body = (await response.json()) as { plaintext: string };
    assert.equal(Buffer.from(body.plaintext, "base64").length, 8);
  });
});
