import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ACCOUNT, assertDenied, documentJson, invalid, keyKrn, notFound, OTHER_ACCOUNT, refusal, startTestPolicyService, type TestPolicyService, type TestUser } from "../test-support.ts";

describe("SimulatePrincipalPolicy", () => {
  let service: TestPolicyService;
  let admin: TestUser;
  before(async () => {
    service = await startTestPolicyService();
    admin = await service.user(ACCOUNT, "admin", ["AdministratorAccess"]);
  });
  after(() => service.close());

  test("answers allow or deny and the deciding statement, with context", async () => {
    const alice = await service.user(ACCOUNT, "alice", ["KeyUser"]);
    const allowed = await admin.clients.iam.simulatePrincipalPolicy({ principalKrn: alice.krn, action: "kms:Encrypt", resource: keyKrn() });
    assert.equal(allowed.allowed, true);
    assert.equal(allowed.reason, "allowed");
    const { kind, policyId, policyName, statementIndex, sid } = allowed.decidedBy!;
    assert.deepEqual(
      { kind, policyId, policyName, statementIndex, sid },
      { kind: "identity", policyId: "krn:keyhold:iam::keyhold:policy/KeyUser", policyName: "KeyUser", statementIndex: 0, sid: "KeyUse" },
    );
    const denied = await admin.clients.iam.simulatePrincipalPolicy({ principalKrn: alice.krn, action: "kms:ScheduleKeyDeletion", resource: keyKrn() });
    assert.equal(denied.allowed, false);
    assert.equal(denied.reason, "implicit-deny");
    assert.equal(denied.decidedBy, undefined);

    const p = await admin.clients.iam.putPolicy({
      policyName: "office-only",
      document: documentJson({ Sid: "NotFromHome", Effect: "Deny", Action: "kms:*", Resource: "*", Condition: { NotIpAddress: { "keyhold:SourceIp": "10.0.0.0/8" } } }),
    });
    await admin.clients.iam.attachPolicy({ principalKrn: alice.krn, policyKrn: p.policy!.krn });
    const fromHome = await admin.clients.iam.simulatePrincipalPolicy({ principalKrn: alice.krn, action: "kms:Encrypt", resource: keyKrn(), sourceIp: "192.0.2.1" });
    assert.equal(fromHome.reason, "explicit-deny");
    assert.equal(fromHome.decidedBy?.sid, "NotFromHome");
    const fromOffice = await admin.clients.iam.simulatePrincipalPolicy({ principalKrn: alice.krn, action: "kms:Encrypt", resource: keyKrn(), sourceIp: "10.1.2.3" });
    assert.equal(fromOffice.allowed, true);
  });

  test("the root and cross-account resources", async () => {
    const root = await admin.clients.iam.simulatePrincipalPolicy({ principalKrn: `krn:keyhold:iam::${ACCOUNT}:root`, action: "kms:Decrypt", resource: keyKrn() });
    assert.equal(root.allowed, true);
    const foreign = await admin.clients.iam.simulatePrincipalPolicy({ principalKrn: admin.krn, action: "kms:Decrypt", resource: keyKrn(OTHER_ACCOUNT) });
    assert.equal(foreign.reason, "cross-account-missing-resource-allow");
  });

  test("validation, missing principals, other accounts, authorization", async () => {
    const base = { principalKrn: admin.krn, action: "kms:Encrypt", resource: keyKrn() };
    assert.deepEqual(await refusal(admin.clients.iam.simulatePrincipalPolicy({ ...base, action: "" })), invalid("action"));
    assert.deepEqual(await refusal(admin.clients.iam.simulatePrincipalPolicy({ ...base, action: "kms:*" })), invalid("action"));
    assert.deepEqual(await refusal(admin.clients.iam.simulatePrincipalPolicy({ ...base, resource: "key/1" })), invalid("resource"));
    assert.deepEqual(await refusal(admin.clients.iam.simulatePrincipalPolicy({ ...base, principalKrn: "bob" })), invalid("principal_krn"));
    assert.deepEqual(
      await refusal(admin.clients.iam.simulatePrincipalPolicy({ ...base, principalKrn: `krn:keyhold:iam::${ACCOUNT}:user/ghost` })),
      notFound("PRINCIPAL_NOT_FOUND", "principal_krn"),
    );
    const bob = await service.user(OTHER_ACCOUNT, "bob");
    assert.deepEqual(await refusal(admin.clients.iam.simulatePrincipalPolicy({ ...base, principalKrn: bob.krn })), notFound("PRINCIPAL_NOT_FOUND", "principal_krn"));
    const keyAdmin = await service.user(ACCOUNT, "keyadmin", ["KeyAdministrator"]);
    await assertDenied(keyAdmin.clients.iam.simulatePrincipalPolicy(base), "iam:SimulatePrincipalPolicy", admin.krn);
  });
});
