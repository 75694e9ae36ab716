// KeyService's grant and key-policy RPCs over real gRPC: each refuses bad input naming the field
// (validation in key-service for the key, in policy-service for the rest, reported under this
// API's field names), changes nothing when refused, and a key policy really governs access.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { CryptoService, ErrorInfoSchema, IamService, KeyService } from "@keyhold/proto";
import { withCredential } from "../support/auth.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

interface Refusal {
  code: Code;
  reason: string | undefined;
  field: string | undefined;
}

async function refusal(promise: Promise<unknown>): Promise<Refusal> {
  const error = await promise.then(
    () => assert.fail("expected a refusal"),
    (e: unknown) => ConnectError.from(e),
  );
  const info = error.findDetails(ErrorInfoSchema)[0];
  return { code: error.code, reason: info?.reason, field: info?.metadata["field"] };
}

const invalid = (field: string): Refusal => ({ code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field });

describe("grants and key policies through KeyService", () => {
  let server: TestServer;
  let keys: Client<typeof KeyService>;
  let crypto: Client<typeof CryptoService>;
  let iam: Client<typeof IamService>;
  let keyId: string;
  const grantee = "krn:keyhold:iam::000000000001:user/grantee";

  before(async () => {
    server = await startTestServer();
    const transport = createGrpcTransport({ baseUrl: server.grpcBaseUrl, interceptors: [withCredential(server.credential)] });
    keys = createClient(KeyService, transport);
    crypto = createClient(CryptoService, transport);
    iam = createClient(IamService, transport);
    keyId = (await keys.createKey({})).keyMetadata!.keyId;
    await iam.createUser({ userName: "grantee" });
  });
  after(() => server.stop());

  const grantCount = async () => (await keys.listGrants({ keyId })).grants.length;

  test("CreateGrant refuses bad input naming the field, and stores nothing", async () => {
    const before = await grantCount();
    assert.deepEqual(await refusal(keys.createGrant({ keyId: "", granteePrincipal: grantee, operations: ["kms:Encrypt"] })), invalid("key_id"));
    assert.deepEqual(await refusal(keys.createGrant({ keyId: "not-a-key", granteePrincipal: grantee, operations: ["kms:Encrypt"] })), invalid("key_id"));
    assert.deepEqual(await refusal(keys.createGrant({ keyId, granteePrincipal: "bob", operations: ["kms:Encrypt"] })), invalid("grantee_principal"));
    assert.deepEqual(await refusal(keys.createGrant({ keyId, granteePrincipal: grantee, operations: [] })), invalid("operations"));
    assert.equal((await refusal(keys.createGrant({ keyId, granteePrincipal: grantee, operations: ["kms:NoSuchThing"] }))).field?.startsWith("operations"), true);
    assert.deepEqual(await refusal(keys.createGrant({ keyId: "00000000-0000-4000-8000-000000000000", granteePrincipal: grantee, operations: ["kms:Encrypt"] })), {
      code: Code.NotFound,
      reason: "KEY_NOT_FOUND",
      field: "key_id",
    });
    assert.equal(await grantCount(), before);
  });

  test("a grant lists, and RetireGrant / RevokeGrant refuse bad input", async () => {
    const { grantId, grantToken } = await keys.createGrant({ keyId, granteePrincipal: grantee, operations: ["Encrypt", "kms:Decrypt"], name: "app" });
    const listed = (await keys.listGrants({ keyId, grantId })).grants;
    assert.equal(listed.length, 1);
    assert.equal(listed[0]!.granteePrincipal, grantee);
    assert.deepEqual(await refusal(keys.retireGrant({})), invalid("grant_token"));
    assert.deepEqual(await refusal(keys.retireGrant({ keyId: "alias/x", grantId })), invalid("key_id"));
    assert.equal((await refusal(keys.revokeGrant({ keyId, grantId: "" }))).field, "grant_id");
    await keys.retireGrant({ grantToken });
    assert.equal((await keys.listGrants({ keyId, grantId })).grants.length, 0);
  });

  test("PutKeyPolicy refuses a malformed policy naming statement and field, and keeps the old one", async () => {
    const before = await keys.getKeyPolicy({ keyId });
    assert.equal(before.isDefault, true);
    assert.equal((await refusal(keys.putKeyPolicy({ keyId, policy: "{" }))).field?.startsWith("policy"), true);
    const badEffect = JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "allow", Principal: "*", Action: "kms:*", Resource: "*" }] });
    const refused = await refusal(keys.putKeyPolicy({ keyId, policy: badEffect }));
    assert.equal(refused.code, Code.InvalidArgument);
    assert.equal(refused.field, "policy.Statement[0].Effect");
    assert.deepEqual(await keys.getKeyPolicy({ keyId }), before);
  });

  test("a key policy that denies Encrypt to everyone stops even the administrator", async () => {
    const guarded = (await keys.createKey({})).keyMetadata!;
    await crypto.encrypt({ keyId: guarded.keyId, plaintext: new Uint8Array([1]) });
    const policy = JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        { Sid: "Owner", Effect: "Allow", Principal: { KRN: "000000000001" }, Action: "kms:*", Resource: "*" },
        { Sid: "NoEncrypt", Effect: "Deny", Principal: "*", Action: "kms:Encrypt", Resource: "*" },
      ],
    });
    await keys.putKeyPolicy({ keyId: guarded.keyId, policy });
    const got = await keys.getKeyPolicy({ keyId: guarded.keyId });
    assert.equal(got.isDefault, false);
    assert.deepEqual(JSON.parse(got.policy), JSON.parse(policy));
    assert.deepEqual(await refusal(crypto.encrypt({ keyId: guarded.keyId, plaintext: new Uint8Array([1]) })), {
      code: Code.PermissionDenied,
      reason: "ACCESS_DENIED",
      field: undefined,
    });
    // Other actions still allowed by the owner statement and the admin's identity policy.
    assert.equal((await keys.getKey({ keyId: guarded.keyId })).keyMetadata?.keyId, guarded.keyId);
  });
});
