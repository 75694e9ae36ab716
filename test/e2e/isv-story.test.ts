// The ISV story end to end over real gRPC: account A (the customer) owns a key and grants a role
// of account B (the ISV) Encrypt/Decrypt/GenerateDataKey; B uses the key; A revokes, and B is
// refused within a second. A's auditor can read but not use keys. And the Alibaba-style
// administrator/user split with the managed KeyAdministrator and KeyUser policies. Runs against
// `keyhold dev`, or with KEYHOLD_E2E_TOPOLOGY=1 against the multi-process topology (the grant's
// revocation then has to reach the other processes' caches).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { CryptoService, ErrorInfoSchema, IamService, KeyService, StsService } from "@keyhold/proto";
import { startTestServer, type TestServer } from "../support/server.ts";

const A = "000000000001"; // the management account: the customer
const B = "000000000002"; // the ISV

interface Clients {
  iam: Client<typeof IamService>;
  sts: Client<typeof StsService>;
  keys: Client<typeof KeyService>;
  crypto: Client<typeof CryptoService>;
}

async function refusal(promise: Promise<unknown>): Promise<{ code: Code; reason: string | undefined }> {
  const error = await promise.then(
    () => assert.fail("expected the call to be refused"),
    (e: unknown) => ConnectError.from(e),
  );
  return { code: error.code, reason: error.findDetails(ErrorInfoSchema)[0]?.reason };
}

describe("ISV story and administrator/user split", () => {
  let server: TestServer;
  let as: (credential: string) => Clients;
  let admin: Clients;

  before(async () => {
    server = await startTestServer();
    as = (credential) => {
      const auth: Interceptor = (next) => (request) => {
        request.header.set("authorization", `Bearer ${credential}`);
        return next(request);
      };
      const transport = createGrpcTransport({ baseUrl: server.grpcBaseUrl, interceptors: [auth] });
      return {
        iam: createClient(IamService, transport),
        sts: createClient(StsService, transport),
        keys: createClient(KeyService, transport),
        crypto: createClient(CryptoService, transport),
      };
    };
    admin = as(server.credential);
  });

  after(async () => {
    await server.stop();
  });

  /** A user in the caller's account with the given managed or inline policies, and its API key. */
  async function userWith(owner: Clients, name: string, policies: { managed?: string[]; inline?: object }): Promise<Clients> {
    const { principal } = await owner.iam.createUser({ userName: name });
    const account = principal!.accountId;
    for (const managed of policies.managed ?? []) {
      await owner.iam.attachPolicy({ principalKrn: principal!.krn, policyKrn: `krn:keyhold:iam::keyhold:policy/${managed}` });
    }
    if (policies.inline !== undefined) {
      const { policy } = await owner.iam.putPolicy({ policyName: `${name}-policy`, document: JSON.stringify(policies.inline) });
      await owner.iam.attachPolicy({ principalKrn: principal!.krn, policyKrn: policy!.krn });
    }
    const { secret } = await owner.iam.createApiKey({ principalKrn: `krn:keyhold:iam::${account}:user/${name}` });
    return as(secret);
  }

  test("account B's role uses A's key through a grant, and is refused within 1 s of revocation", async (t) => {
    // The ISV's account and, inside it, the role its application runs as.
    await admin.iam.createAccount({ accountId: B, name: "isv" });
    const bAdminSession = await admin.sts.assumeRole({ roleKrn: `krn:keyhold:iam::${B}:role/AccountAccessRole`, roleSessionName: "setup" });
    const bAdmin = as(bAdminSession.sessionToken);
    const roleKrn = `krn:keyhold:iam::${B}:role/isv-app`;
    await bAdmin.iam.createRole({
      roleName: "isv-app",
      trustPolicy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { KRN: B }, Action: "sts:AssumeRole" }] }),
    });
    // B's own side of the cross-account rule: the role may use keys of account A.
    const { policy: useA } = await bAdmin.iam.putPolicy({
      policyName: "use-customer-keys",
      document: JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Action: ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"], Resource: `krn:keyhold:kms:*:${A}:key/*` }],
      }),
    });
    await bAdmin.iam.attachPolicy({ principalKrn: roleKrn, policyKrn: useA!.krn });
    const app = await userWith(bAdmin, "app", {
      inline: { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "sts:AssumeRole", Resource: roleKrn }] },
    });
    const isv = as((await app.sts.assumeRole({ roleKrn, roleSessionName: "app-1" })).sessionToken);

    // The customer's key and the grant.
    const key = (await admin.keys.createKey({ description: "customer data key" })).keyMetadata!;
    // Before the grant B sees nothing.
    assert.deepEqual(await refusal(isv.crypto.encrypt({ keyId: key.krn, plaintext: new Uint8Array([1]) })), {
      code: Code.NotFound,
      reason: "KEY_NOT_FOUND",
    });
    const grant = await admin.keys.createGrant({
      keyId: key.keyId,
      granteePrincipal: roleKrn,
      operations: ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"],
    });

    const plaintext = new TextEncoder().encode("customer record");
    const encrypted = await isv.crypto.encrypt({ keyId: key.krn, plaintext, encryptionContext: { tenant: "acme" } });
    assert.deepEqual((await isv.crypto.decrypt({ ciphertextBlob: encrypted.ciphertextBlob, encryptionContext: { tenant: "acme" } })).plaintext, plaintext);
    const dataKey = await isv.crypto.generateDataKey({ keyId: key.krn });
    assert.equal(dataKey.plaintext.length, 32);
    // The grant gives only what it names.
    assert.equal((await refusal(isv.keys.disableKey({ keyId: key.krn }))).code, Code.NotFound);

    // Revocation: B is refused within a second, measured.
    await admin.keys.revokeGrant({ keyId: key.keyId, grantId: grant.grantId });
    const revokedAt = performance.now();
    let refusedAfterMs: number | undefined;
    while (performance.now() - revokedAt < 5000) {
      const outcome = await isv.crypto.encrypt({ keyId: key.krn, plaintext }).then(
        () => "allowed",
        (e: unknown) => ConnectError.from(e).code,
      );
      if (outcome !== "allowed") {
        assert.equal(outcome, Code.NotFound);
        refusedAfterMs = performance.now() - revokedAt;
        break;
      }
    }
    assert.ok(refusedAfterMs !== undefined && refusedAfterMs < 1000, `refused after ${refusedAfterMs} ms`);
    t.diagnostic(`revocation took effect after ${refusedAfterMs.toFixed(1)} ms`);
    assert.equal((await refusal(isv.crypto.decrypt({ ciphertextBlob: encrypted.ciphertextBlob, encryptionContext: { tenant: "acme" } }))).reason, "INVALID_CIPHERTEXT");
  });

  test("A's auditor can read keys but not use them", async () => {
    const key = (await admin.keys.createKey({})).keyMetadata!;
    const auditor = await userWith(admin, "auditor", { managed: ["ReadOnlyAudit"] });
    assert.equal((await auditor.keys.getKey({ keyId: key.keyId })).keyMetadata?.keyId, key.keyId);
    assert.ok((await auditor.keys.listKeys({})).keys.some((k) => k.keyId === key.keyId));
    assert.deepEqual(await refusal(auditor.crypto.encrypt({ keyId: key.keyId, plaintext: new Uint8Array([1]) })), {
      code: Code.PermissionDenied,
      reason: "ACCESS_DENIED",
    });
    assert.equal((await refusal(auditor.keys.disableKey({ keyId: key.keyId }))).reason, "ACCESS_DENIED");
  });

  test("KeyAdministrator manages keys without cryptography; KeyUser uses them without managing", async () => {
    const keyAdmin = await userWith(admin, "key-admin", { managed: ["KeyAdministrator"] });
    const keyUser = await userWith(admin, "key-user", { managed: ["KeyUser"] });
    const key = (await keyAdmin.keys.createKey({ description: "made by the administrator" })).keyMetadata!;
    await keyAdmin.keys.disableKey({ keyId: key.keyId });
    await keyAdmin.keys.enableKey({ keyId: key.keyId });
    assert.equal((await refusal(keyAdmin.crypto.encrypt({ keyId: key.keyId, plaintext: new Uint8Array([1]) }))).reason, "ACCESS_DENIED");
    assert.equal((await refusal(keyAdmin.crypto.generateDataKey({ keyId: key.keyId }))).reason, "ACCESS_DENIED");

    const encrypted = await keyUser.crypto.encrypt({ keyId: key.keyId, plaintext: new Uint8Array([7]) });
    assert.deepEqual((await keyUser.crypto.decrypt({ ciphertextBlob: encrypted.ciphertextBlob })).plaintext, new Uint8Array([7]));
    assert.equal((await keyUser.keys.getKey({ keyId: key.keyId })).keyMetadata?.keyId, key.keyId);
    assert.equal((await refusal(keyUser.keys.createKey({}))).reason, "ACCESS_DENIED");
    assert.equal((await refusal(keyUser.keys.disableKey({ keyId: key.keyId }))).reason, "ACCESS_DENIED");
  });

  test("a caller without credentials is UNAUTHENTICATED, and a denial names only action and resource", async () => {
    const anonymous = createClient(KeyService, createGrpcTransport({ baseUrl: server.grpcBaseUrl }));
    assert.deepEqual(await refusal(anonymous.listKeys({})), { code: Code.Unauthenticated, reason: "UNAUTHENTICATED" });
    const nobody = await userWith(admin, "nobody", {});
    const error = await nobody.keys.listKeys({}).then(
      () => assert.fail("expected a denial"),
      (e: unknown) => ConnectError.from(e),
    );
    assert.equal(error.code, Code.PermissionDenied);
    assert.equal(error.rawMessage, `access denied: kms:ListKeys on krn:keyhold:kms:local:${A}:key/*`);
  });
});
