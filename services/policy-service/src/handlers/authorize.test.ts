import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { PrincipalType } from "@keyhold/proto";
import { ACCOUNT, documentJson, invalid, keyKrn, OTHER_ACCOUNT, refusal, startTestPolicyService, type TestPolicyService } from "../test-support.ts";

interface Request {
  readonly principal?: { readonly krn: string; readonly accountId: string; readonly type: PrincipalType; readonly sessionName?: string } | undefined;
  readonly action: string;
  readonly resource: string;
  readonly encryptionContext?: Record<string, string>;
  readonly sourceIp?: string;
  readonly viaService?: string;
  readonly secureTransport?: boolean;
}

describe("Authorize (internal)", () => {
  let service: TestPolicyService;
  before(async () => {
    service = await startTestPolicyService();
  });
  after(() => service.close());

  const user = (krn: string, accountId = ACCOUNT) => ({ krn, accountId, type: PrincipalType.USER });

  test("answers with the decision, the deciding statement and what it depended on", async () => {
    const alice = await service.user(ACCOUNT, "alice", ["KeyUser"]);
    const yes = await service.internal().authorize({ principal: user(alice.krn), action: "kms:Encrypt", resource: keyKrn(), secureTransport: true });
    assert.equal(yes.allowed, true);
    assert.equal(yes.reason, "allowed");
    assert.equal(yes.decidedBy?.policyName, "KeyUser");
    assert.equal(yes.decidedBy?.sid, "KeyUse");
    assert.deepEqual([yes.dependsOnEncryptionContext, yes.dependsOnSourceIp, yes.dependsOnTime], [false, false, false]);
    const no = await service.internal().authorize({ principal: user(alice.krn), action: "kms:DisableKey", resource: keyKrn() });
    assert.deepEqual([no.allowed, no.reason, no.decidedBy], [false, "implicit-deny", undefined]);
  });

  test("passes encryption context, source address, service and transport to the conditions", async () => {
    const admin = await service.user(ACCOUNT, "admin", ["AdministratorAccess"]);
    const p = await admin.clients.iam.putPolicy({
      policyName: "conditional",
      document: documentJson({
        Effect: "Allow",
        Action: "kms:Decrypt",
        Resource: "*",
        Condition: {
          StringEquals: { "kms:EncryptionContext:tenant": "t1", "kms:ViaService": "secrets-service" },
          IpAddress: { "keyhold:SourceIp": "10.0.0.0/8" },
          Bool: { "keyhold:SecureTransport": true },
        },
      }),
    });
    const bob = await service.user(ACCOUNT, "bob", [p.policy!.krn]);
    const base: Request = {
      principal: user(bob.krn),
      action: "kms:Decrypt",
      resource: keyKrn(),
      encryptionContext: { tenant: "t1" },
      sourceIp: "10.2.3.4",
      viaService: "secrets-service",
      secureTransport: true,
    };
    const ok = await service.internal().authorize(base);
    assert.equal(ok.allowed, true);
    assert.deepEqual([ok.dependsOnEncryptionContext, ok.dependsOnSourceIp, ok.dependsOnTime], [true, true, false]);
    for (const change of [{ encryptionContext: { tenant: "t2" } }, { sourceIp: "192.0.2.1" }, { viaService: "" }, { secureTransport: false }] as Partial<Request>[]) {
      assert.equal((await service.internal().authorize({ ...base, ...change })).allowed, false, JSON.stringify(change));
    }
  });

  test("role sessions, account roots and services", async () => {
    assert.equal(
      (await service.internal().authorize({ principal: { krn: `krn:keyhold:iam::${ACCOUNT}:root`, accountId: ACCOUNT, type: PrincipalType.ROOT }, action: "kms:Decrypt", resource: keyKrn() })).allowed,
      true,
    );
    const service_ = { krn: "krn:keyhold:iam::keyhold:service/key-service", accountId: "", type: PrincipalType.SERVICE };
    assert.equal((await service.internal().authorize({ principal: service_, action: "kms:Decrypt", resource: keyKrn() })).allowed, false);
    const admin = await service.user(ACCOUNT, "admin2", ["AdministratorAccess"]);
    await admin.clients.iam.createRole({ roleName: "reader", trustPolicy: documentJson({ Effect: "Allow", Principal: { KRN: admin.krn }, Action: "sts:AssumeRole" }) });
    await admin.clients.iam.attachPolicy({ principalKrn: `krn:keyhold:iam::${ACCOUNT}:role/reader`, policyKrn: "krn:keyhold:iam::keyhold:policy/KeyUser" });
    const session = { krn: `krn:keyhold:iam::${ACCOUNT}:role/reader`, accountId: ACCOUNT, type: PrincipalType.ROLE, sessionName: "s1" };
    assert.equal((await service.internal().authorize({ principal: session, action: "kms:Decrypt", resource: keyKrn() })).allowed, true);
  });

  test("validates the principal, action and resource", async () => {
    const alice = `krn:keyhold:iam::${ACCOUNT}:user/alice`;
    const base: Request = { principal: user(alice), action: "kms:Encrypt", resource: keyKrn() };
    const cases: [Request, string][] = [
      [{ ...base, principal: undefined }, "principal"],
      [{ ...base, principal: user("alice") }, "principal.krn"],
      [{ ...base, principal: user(alice, OTHER_ACCOUNT) }, "principal.account_id"],
      [{ ...base, principal: { ...user(alice), type: PrincipalType.ROLE } }, "principal.type"],
      [{ ...base, principal: { ...user(alice), type: PrincipalType.UNSPECIFIED } }, "principal.type"],
      [{ ...base, principal: { ...user(alice), sessionName: "s1" } }, "principal.session_name"],
      [{ ...base, principal: { krn: "krn:keyhold:iam::keyhold:service/x", accountId: ACCOUNT, type: PrincipalType.SERVICE } }, "principal.account_id"],
      [{ ...base, principal: { krn: alice, accountId: "", type: PrincipalType.SERVICE } }, "principal.krn"],
      [{ ...base, action: "" }, "action"],
      [{ ...base, action: "Encrypt" }, "action"],
      [{ ...base, resource: "" }, "resource"],
      [{ ...base, resource: "arn:aws:kms:us-east-1:123456789012:key/x" }, "resource"],
      [{ ...base, sourceIp: "1".repeat(65) }, "source_ip"],
    ];
    for (const [request, field] of cases) assert.deepEqual(await refusal(service.internal().authorize(request)), invalid(field), field);
  });

  test("is refused to callers that are not Keyhold services", async () => {
    const refused = await refusal(service.admin.authz.authorize({ principal: user(`krn:keyhold:iam::${ACCOUNT}:user/alice`), action: "kms:Encrypt", resource: keyKrn() }));
    assert.deepEqual(refused, { code: Code.PermissionDenied, reason: "ACCESS_DENIED", field: undefined });
  });
});
