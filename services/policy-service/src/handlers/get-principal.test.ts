import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { PrincipalType } from "@keyhold/proto";
import { ACCOUNT, assertDenied, invalid, notFound, OTHER_ACCOUNT, refusal, startTestPolicyService, type TestPolicyService } from "../test-support.ts";

describe("GetPrincipal / ListPrincipals", () => {
  let service: TestPolicyService;
  before(async () => {
    service = await startTestPolicyService();
  });
  after(() => service.close());

  test("gets users, roles and the implicit root; lists the account's users and roles in pages", async () => {
    const root = await service.root(ACCOUNT);
    for (const name of ["u1", "u2", "u3"]) await root.clients.iam.createUser({ userName: name });
    await root.clients.iam.createRole({ roleName: "r1", trustPolicy: '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}}' });
    const rootView = (await root.clients.iam.getPrincipal({ principalKrn: `krn:keyhold:iam::${ACCOUNT}:root` })).principal!;
    assert.equal(rootView.type, PrincipalType.ROOT);
    assert.equal(rootView.name, "root");
    assert.equal((await root.clients.iam.getPrincipal({ principalKrn: `krn:keyhold:iam::${ACCOUNT}:role/r1` })).principal!.type, PrincipalType.ROLE);
    const names: string[] = [];
    let pageToken = "";
    do {
      const page = await root.clients.iam.listPrincipals({ pageSize: 3, pageToken });
      names.push(...page.principals.map((p) => p.name));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    assert.deepEqual(names, ["r1", "u1", "u2", "u3"]);
  });

  test("missing and other accounts' principals are PRINCIPAL_NOT_FOUND; a malformed krn INVALID_ARGUMENT", async () => {
    const root = await service.root(ACCOUNT);
    await service.user(OTHER_ACCOUNT, "bob");
    assert.deepEqual(await refusal(root.clients.iam.getPrincipal({ principalKrn: `krn:keyhold:iam::${ACCOUNT}:user/ghost` })), notFound("PRINCIPAL_NOT_FOUND", "principal_krn"));
    assert.deepEqual(await refusal(root.clients.iam.getPrincipal({ principalKrn: `krn:keyhold:iam::${OTHER_ACCOUNT}:user/bob` })), notFound("PRINCIPAL_NOT_FOUND", "principal_krn"));
    assert.deepEqual(await refusal(root.clients.iam.getPrincipal({ principalKrn: `krn:keyhold:iam::${OTHER_ACCOUNT}:root` })), notFound("PRINCIPAL_NOT_FOUND", "principal_krn"));
    for (const bad of ["", "alice", `krn:keyhold:iam::${ACCOUNT}:user/`, `krn:keyhold:iam::${ACCOUNT}:group/x`, `krn:keyhold:kms::${ACCOUNT}:user/x`]) {
      assert.deepEqual(await refusal(root.clients.iam.getPrincipal({ principalKrn: bad })), invalid("principal_krn"), bad);
    }
  });

  test("authorization: iam:GetPrincipal on the krn, iam:ListPrincipals on the account", async () => {
    const nobody = await service.user(ACCOUNT, "nobody");
    await assertDenied(nobody.clients.iam.getPrincipal({ principalKrn: nobody.krn }), "iam:GetPrincipal", nobody.krn);
    await assertDenied(nobody.clients.iam.listPrincipals({}), "iam:ListPrincipals", `krn:keyhold:iam::${ACCOUNT}:*`);
    const keyUser = await service.user(ACCOUNT, "keyuser", ["KeyUser"]);
    await assertDenied(keyUser.clients.iam.listPrincipals({}), "iam:ListPrincipals", `krn:keyhold:iam::${ACCOUNT}:*`);
    const admin = await service.user(ACCOUNT, "admin", ["AdministratorAccess"]);
    assert.ok((await admin.clients.iam.listPrincipals({})).principals.length > 0);
  });
});
