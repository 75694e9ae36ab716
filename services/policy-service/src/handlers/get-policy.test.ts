import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  ACCOUNT,
  assertDenied,
  documentJson,
  invalid,
  notFound,
  OTHER_ACCOUNT,
  refusal,
  startTestPolicyService,
  type TestPolicyService,
  type TestUser,
} from "../test-support.ts";
import { managedPolicy } from "../domain/policy/index.ts";

const DOC = documentJson({ Effect: "Allow", Action: "kms:Encrypt", Resource: "*" });

describe("GetPolicy / ListPolicies / DeletePolicy", () => {
  let service: TestPolicyService;
  let admin: TestUser;
  before(async () => {
    service = await startTestPolicyService();
    admin = await service.user(ACCOUNT, "admin", ["AdministratorAccess"]);
    for (const name of ["p1", "p2", "p3"]) await admin.clients.iam.putPolicy({ policyName: name, document: DOC });
  });
  after(() => service.close());

  test("gets customer policies; managed policies show as they apply in the caller's account", async () => {
    const p1 = (await admin.clients.iam.getPolicy({ policyKrn: `krn:keyhold:iam::${ACCOUNT}:policy/p1` })).policy!;
    assert.equal(p1.document, DOC);
    const managed = (await admin.clients.iam.getPolicy({ policyKrn: "krn:keyhold:iam::keyhold:policy/KeyUser" })).policy!;
    assert.equal(managed.managed, true);
    assert.equal(managed.name, "KeyUser");
    assert.equal(managed.document, managedPolicy("KeyUser", ACCOUNT));
    assert.ok(managed.description.length > 0);
  });

  test("missing, unknown managed and other accounts' policies; malformed krns", async () => {
    assert.deepEqual(await refusal(admin.clients.iam.getPolicy({ policyKrn: `krn:keyhold:iam::${ACCOUNT}:policy/none` })), notFound("POLICY_NOT_FOUND", "policy_krn"));
    const bob = await service.user(OTHER_ACCOUNT, "bob", ["AdministratorAccess"]);
    await bob.clients.iam.putPolicy({ policyName: "theirs", document: DOC });
    assert.deepEqual(await refusal(admin.clients.iam.getPolicy({ policyKrn: `krn:keyhold:iam::${OTHER_ACCOUNT}:policy/theirs` })), notFound("POLICY_NOT_FOUND", "policy_krn"));
    assert.deepEqual(await refusal(admin.clients.iam.deletePolicy({ policyKrn: `krn:keyhold:iam::${OTHER_ACCOUNT}:policy/theirs` })), notFound("POLICY_NOT_FOUND", "policy_krn"));
    assert.deepEqual(await refusal(admin.clients.iam.getPolicy({ policyKrn: "krn:keyhold:iam::keyhold:policy/NoSuchManaged" })), invalid("policy_krn"));
    assert.deepEqual(await refusal(admin.clients.iam.getPolicy({ policyKrn: "" })), invalid("policy_krn"));
    assert.deepEqual(await refusal(admin.clients.iam.getPolicy({ policyKrn: `krn:keyhold:iam::${ACCOUNT}:user/x` })), invalid("policy_krn"));
  });

  test("lists customer policies, then managed ones when asked, in pages", async () => {
    const names = async (includeManaged: boolean, pageSize: number): Promise<string[]> => {
      const seen: string[] = [];
      let pageToken = "";
      do {
        const page = await admin.clients.iam.listPolicies({ includeManaged, pageSize, pageToken });
        assert.ok(page.policies.length <= pageSize);
        seen.push(...page.policies.map((p) => p.name));
        pageToken = page.nextPageToken;
      } while (pageToken !== "");
      return seen;
    };
    assert.deepEqual(await names(false, 2), ["p1", "p2", "p3"]);
    const all = ["p1", "p2", "p3", "AdministratorAccess", "KeyAdministrator", "KeyUser", "ReadOnlyAudit"];
    for (const size of [1, 2, 3, 4, 7, 100]) assert.deepEqual(await names(true, size), all, `page size ${size}`);
    const page = await admin.clients.iam.listPolicies({ pageSize: 1 });
    assert.deepEqual(await refusal(admin.clients.iam.listPolicies({ includeManaged: true, pageToken: page.nextPageToken })), invalid("page_token"));
  });

  test("deleting a policy detaches it from every principal, at once", async () => {
    const krn = `krn:keyhold:iam::${ACCOUNT}:policy/p3`;
    const user = await service.user(ACCOUNT, "holder", [krn]);
    assert.equal((await service.internal().authorize(authorizeRequest(user.krn, "kms:Encrypt"))).allowed, true);
    await admin.clients.iam.deletePolicy({ policyKrn: krn });
    assert.deepEqual(await service.app.context.store.listAttachments(user.krn), []);
    assert.equal((await service.internal().authorize(authorizeRequest(user.krn, "kms:Encrypt"))).allowed, false);
    assert.deepEqual(await refusal(admin.clients.iam.deletePolicy({ policyKrn: krn })), notFound("POLICY_NOT_FOUND", "policy_krn"));
    assert.deepEqual(await refusal(admin.clients.iam.deletePolicy({ policyKrn: "krn:keyhold:iam::keyhold:policy/KeyUser" })), invalid("policy_krn"));
  });

  test("authorization: iam:GetPolicy / iam:ListPolicies / iam:DeletePolicy", async () => {
    const nobody = await service.user(ACCOUNT, "nobody");
    await assertDenied(nobody.clients.iam.getPolicy({ policyKrn: `krn:keyhold:iam::${ACCOUNT}:policy/p1` }), "iam:GetPolicy", `krn:keyhold:iam::${ACCOUNT}:policy/p1`);
    await assertDenied(nobody.clients.iam.getPolicy({ policyKrn: "krn:keyhold:iam::keyhold:policy/KeyUser" }), "iam:GetPolicy", "krn:keyhold:iam::keyhold:policy/KeyUser");
    await assertDenied(nobody.clients.iam.listPolicies({}), "iam:ListPolicies", `krn:keyhold:iam::${ACCOUNT}:policy/*`);
    await assertDenied(nobody.clients.iam.deletePolicy({ policyKrn: `krn:keyhold:iam::${ACCOUNT}:policy/p1` }), "iam:DeletePolicy", `krn:keyhold:iam::${ACCOUNT}:policy/p1`);
    const root = await service.root(ACCOUNT);
    assert.equal((await root.clients.iam.getPolicy({ policyKrn: "krn:keyhold:iam::keyhold:policy/ReadOnlyAudit" })).policy!.name, "ReadOnlyAudit");
  });
});

function authorizeRequest(krn: string, action: string) {
  return {
    principal: { krn, accountId: ACCOUNT, type: 2, sessionName: "" },
    action,
    resource: `krn:keyhold:kms:test-1:${ACCOUNT}:key/6b8f4c2e-1d3a-4e5f-9a7b-0c1d2e3f4a5b`,
  };
}
