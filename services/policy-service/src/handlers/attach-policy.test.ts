import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { managedPolicy } from "../domain/policy/index.ts";
import {
  ACCOUNT,
  assertDenied,
  documentJson,
  invalid,
  keyKrn,
  notFound,
  OTHER_ACCOUNT,
  refusal,
  startTestPolicyService,
  type TestPolicyService,
  type TestUser,
} from "../test-support.ts";

const KEY_USER = "krn:keyhold:iam::keyhold:policy/KeyUser";
const KEY_ADMIN = "krn:keyhold:iam::keyhold:policy/KeyAdministrator";

describe("AttachPolicy / DetachPolicy / ListAttachedPolicies", () => {
  let service: TestPolicyService;
  let admin: TestUser;
  let alice: string;
  before(async () => {
    service = await startTestPolicyService();
    admin = await service.user(ACCOUNT, "admin", ["AdministratorAccess"]);
    alice = (await admin.clients.iam.createUser({ userName: "alice" })).principal!.krn;
  });
  after(() => service.close());

  const mayEncrypt = async (krn: string): Promise<boolean> =>
    (
      await service.internal().authorize({
        principal: { krn, accountId: ACCOUNT, type: 2 },
        action: "kms:Encrypt",
        resource: keyKrn(),
      })
    ).allowed;

  test("attaching a managed policy takes effect at once; detaching removes it at once", async () => {
    assert.equal(await mayEncrypt(alice), false);
    await admin.clients.iam.attachPolicy({ principalKrn: alice, policyKrn: KEY_USER });
    assert.equal(await mayEncrypt(alice), true);
    await admin.clients.iam.attachPolicy({ principalKrn: alice, policyKrn: KEY_USER });
    const attached = (await admin.clients.iam.listAttachedPolicies({ principalKrn: alice })).policies;
    assert.deepEqual(
      attached.map((p) => [p.krn, p.managed]),
      [[KEY_USER, true]],
    );
    assert.equal(attached[0]!.document, managedPolicy("KeyUser", ACCOUNT));
    await admin.clients.iam.detachPolicy({ principalKrn: alice, policyKrn: KEY_USER });
    assert.equal(await mayEncrypt(alice), false);
    assert.deepEqual(await refusal(admin.clients.iam.detachPolicy({ principalKrn: alice, policyKrn: KEY_USER })), notFound("POLICY_NOT_FOUND", "policy_krn"));
  });

  test("customer policies attach in order; a changed policy document applies at once", async () => {
    const p = (await admin.clients.iam.putPolicy({ policyName: "enc", document: documentJson({ Effect: "Allow", Action: "kms:Encrypt", Resource: "*" }) })).policy!;
    await admin.clients.iam.attachPolicy({ principalKrn: alice, policyKrn: KEY_ADMIN });
    await admin.clients.iam.attachPolicy({ principalKrn: alice, policyKrn: p.krn });
    assert.deepEqual(
      (await admin.clients.iam.listAttachedPolicies({ principalKrn: alice })).policies.map((x) => x.name),
      ["KeyAdministrator", "enc"],
    );
    assert.equal(await mayEncrypt(alice), true);
    await admin.clients.iam.putPolicy({ policyName: "enc", document: documentJson({ Effect: "Allow", Action: "kms:Decrypt", Resource: "*" }) });
    assert.equal(await mayEncrypt(alice), false);
  });

  test("validation: users and roles only; the policy must be the principal's account's or managed; both must exist", async () => {
    assert.deepEqual(await refusal(admin.clients.iam.attachPolicy({ principalKrn: `krn:keyhold:iam::${ACCOUNT}:root`, policyKrn: KEY_USER })), invalid("principal_krn"));
    assert.deepEqual(await refusal(admin.clients.iam.attachPolicy({ principalKrn: alice, policyKrn: "" })), invalid("policy_krn"));
    assert.deepEqual(
      await refusal(admin.clients.iam.attachPolicy({ principalKrn: alice, policyKrn: `krn:keyhold:iam::${OTHER_ACCOUNT}:policy/x` })),
      invalid("policy_krn"),
    );
    assert.deepEqual(
      await refusal(admin.clients.iam.attachPolicy({ principalKrn: alice, policyKrn: `krn:keyhold:iam::${ACCOUNT}:policy/none` })),
      notFound("POLICY_NOT_FOUND", "policy_krn"),
    );
    assert.deepEqual(
      await refusal(admin.clients.iam.attachPolicy({ principalKrn: `krn:keyhold:iam::${ACCOUNT}:user/ghost`, policyKrn: KEY_USER })),
      notFound("PRINCIPAL_NOT_FOUND", "principal_krn"),
    );
    assert.deepEqual(
      await refusal(admin.clients.iam.listAttachedPolicies({ principalKrn: `krn:keyhold:iam::${ACCOUNT}:user/ghost` })),
      notFound("PRINCIPAL_NOT_FOUND", "principal_krn"),
    );
    const bob = await service.user(OTHER_ACCOUNT, "bob");
    assert.deepEqual(await refusal(admin.clients.iam.attachPolicy({ principalKrn: bob.krn, policyKrn: KEY_USER })), notFound("PRINCIPAL_NOT_FOUND", "principal_krn"));
    assert.deepEqual((await admin.clients.iam.listAttachedPolicies({ principalKrn: `krn:keyhold:iam::${ACCOUNT}:root` })).policies, []);
  });

  test("needs iam:AttachPolicy / iam:DetachPolicy / iam:ListAttachedPolicies on the principal: no self-escalation without it", async () => {
    const keyUser = await service.user(ACCOUNT, "keyuser", ["KeyUser"]);
    const admins = "krn:keyhold:iam::keyhold:policy/AdministratorAccess";
    await assertDenied(keyUser.clients.iam.attachPolicy({ principalKrn: keyUser.krn, policyKrn: admins }), "iam:AttachPolicy", keyUser.krn);
    await assertDenied(keyUser.clients.iam.detachPolicy({ principalKrn: keyUser.krn, policyKrn: KEY_USER }), "iam:DetachPolicy", keyUser.krn);
    await assertDenied(keyUser.clients.iam.listAttachedPolicies({ principalKrn: keyUser.krn }), "iam:ListAttachedPolicies", keyUser.krn);
    assert.equal((await service.app.context.store.listAttachments(keyUser.krn)).length, 1);
  });
});
