// Every RPC of policy-service, swept: unauthenticated callers are refused everywhere; a user
// without policies is refused by every IamService / StsService RPC except GetCallerIdentity;
// outside callers are refused by every AuthorizationService RPC. A handler that forgot to
// authorize fails here (and in authorizationRequiredInterceptor).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { ApiKeyStatus, AuthorizationService, IamService, StsService } from "@keyhold/proto";
import { ACCOUNT, documentJson, keyKrn, refusal, startTestPolicyService, UNAUTHENTICATED, type Clients, type TestPolicyService, type TestUser } from "./test-support.ts";

type Call = (clients: Clients) => Promise<unknown>;

describe("every RPC authenticates and authorizes", () => {
  let service: TestPolicyService;
  let nobody: TestUser;
  let ownKeyId: string;
  before(async () => {
    service = await startTestPolicyService();
    nobody = await service.user(ACCOUNT, "nobody");
    ownKeyId = (await service.app.context.store.listApiKeys(nobody.krn, undefined, 1)).items[0]!.apiKeyId;
    await service.user(ACCOUNT, "target");
  });
  after(() => service.close());

  const user = `krn:keyhold:iam::${ACCOUNT}:user/target`;
  const trust = documentJson({ Effect: "Allow", Principal: "*", Action: "sts:AssumeRole" });
  const iam: Record<string, Call> = {
    CreateAccount: (c) => c.iam.createAccount({ accountId: "999988887777" }),
    ListAccounts: (c) => c.iam.listAccounts({}),
    CreateUser: (c) => c.iam.createUser({ userName: "new" }),
    CreateRole: (c) => c.iam.createRole({ roleName: "new", trustPolicy: trust }),
    UpdateRoleTrustPolicy: (c) => c.iam.updateRoleTrustPolicy({ roleKrn: `krn:keyhold:iam::${ACCOUNT}:role/r`, trustPolicy: trust }),
    GetPrincipal: (c) => c.iam.getPrincipal({ principalKrn: user }),
    ListPrincipals: (c) => c.iam.listPrincipals({}),
    DeletePrincipal: (c) => c.iam.deletePrincipal({ principalKrn: user }),
    CreateApiKey: (c) => c.iam.createApiKey({}),
    ListApiKeys: (c) => c.iam.listApiKeys({}),
    UpdateApiKeyStatus: (c) => c.iam.updateApiKeyStatus({ apiKeyId: ownKeyId, status: ApiKeyStatus.DISABLED }),
    DeleteApiKey: (c) => c.iam.deleteApiKey({ apiKeyId: ownKeyId }),
    PutPolicy: (c) => c.iam.putPolicy({ policyName: "p", document: documentJson({ Effect: "Allow", Action: "*", Resource: "*" }) }),
    GetPolicy: (c) => c.iam.getPolicy({ policyKrn: `krn:keyhold:iam::${ACCOUNT}:policy/p` }),
    ListPolicies: (c) => c.iam.listPolicies({ includeManaged: true }),
    DeletePolicy: (c) => c.iam.deletePolicy({ policyKrn: `krn:keyhold:iam::${ACCOUNT}:policy/p` }),
    AttachPolicy: (c) => c.iam.attachPolicy({ principalKrn: nobody.krn, policyKrn: "krn:keyhold:iam::keyhold:policy/AdministratorAccess" }),
    DetachPolicy: (c) => c.iam.detachPolicy({ principalKrn: user, policyKrn: "krn:keyhold:iam::keyhold:policy/KeyUser" }),
    ListAttachedPolicies: (c) => c.iam.listAttachedPolicies({ principalKrn: user }),
    SimulatePrincipalPolicy: (c) => c.iam.simulatePrincipalPolicy({ principalKrn: user, action: "kms:Encrypt", resource: keyKrn() }),
    AddCertificateIdentity: (c) => c.iam.addCertificateIdentity({ principalKrn: nobody.krn, san: "spiffe://example.org/nobody" }),
    RemoveCertificateIdentity: (c) => c.iam.removeCertificateIdentity({ principalKrn: user, san: "spiffe://example.org/target" }),
    ListCertificateIdentities: (c) => c.iam.listCertificateIdentities({ principalKrn: user }),
  };
  const sts: Record<string, Call> = {
    AssumeRole: (c) => c.sts.assumeRole({ roleKrn: `krn:keyhold:iam::${ACCOUNT}:role/r`, roleSessionName: "s1" }),
    GetCallerIdentity: (c) => c.sts.getCallerIdentity({}),
  };
  const authz: Record<string, Call> = {
    Authenticate: (c) => c.authz.authenticate({ credential: nobody.token }),
    Authorize: (c) => c.authz.authorize({ principal: { krn: nobody.krn, accountId: ACCOUNT, type: 2 }, action: "kms:Encrypt", resource: keyKrn() }),
    WatchChanges: async (c) => {
      for await (const _ of c.authz.watchChanges({})) break;
    },
    PutResourcePolicy: (c) => c.authz.putResourcePolicy({ resource: keyKrn(), document: documentJson({ Effect: "Allow", Principal: "*", Action: "*", Resource: "*" }) }),
    GetResourcePolicy: (c) => c.authz.getResourcePolicy({ resource: keyKrn() }),
    CreateKeyGrant: (c) => c.authz.createKeyGrant({ keyId: keyKrn(), granteePrincipal: nobody.krn, operations: ["kms:Encrypt"] }),
    ListKeyGrants: (c) => c.authz.listKeyGrants({ keyId: keyKrn() }),
    RetireKeyGrant: (c) => c.authz.retireKeyGrant({ keyId: keyKrn(), grantId: "0".repeat(32) }),
    RevokeKeyGrant: (c) => c.authz.revokeKeyGrant({ keyId: keyKrn(), grantId: "0".repeat(32) }),
  };

  test("the sweep covers every method of the three services", async () => {
    assert.deepEqual(Object.keys(iam).sort(), IamService.methods.map((m) => m.name).sort());
    assert.deepEqual(Object.keys(sts).sort(), StsService.methods.map((m) => m.name).sort());
    assert.deepEqual(Object.keys(authz).sort(), AuthorizationService.methods.map((m) => m.name).sort());
  });

  test("without a credential every RPC is UNAUTHENTICATED", async () => {
    const anonymous = service.as(undefined);
    for (const [name, call] of Object.entries({ ...iam, ...sts, ...authz })) {
      assert.deepEqual(await refusal(call(anonymous)), UNAUTHENTICATED, name);
    }
  });

  test("a user without policies is ACCESS_DENIED by every IAM and STS RPC but GetCallerIdentity, and changes nothing", async () => {
    const before = await service.app.context.store.currentSequence();
    for (const [name, call] of Object.entries({ ...iam, ...sts })) {
      if (name === "GetCallerIdentity") continue;
      const refused = await refusal(call(nobody.clients));
      assert.deepEqual([refused.code, refused.reason], [Code.PermissionDenied, "ACCESS_DENIED"], name);
    }
    assert.equal(await service.app.context.store.currentSequence(), before);
    assert.equal((await nobody.clients.sts.getCallerIdentity({})).principalKrn, nobody.krn);
  });

  test("AuthorizationService refuses every outside caller, even the administrator", async () => {
    for (const [name, call] of Object.entries(authz)) {
      const refused = await refusal(call(service.admin));
      assert.deepEqual([refused.code, refused.reason], [Code.PermissionDenied, "ACCESS_DENIED"], name);
    }
  });
});
