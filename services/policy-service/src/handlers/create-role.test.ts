import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { PrincipalType } from "@keyhold/proto";
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

const TRUST = documentJson({ Effect: "Allow", Principal: { KRN: OTHER_ACCOUNT }, Action: "sts:AssumeRole" });

describe("CreateRole / UpdateRoleTrustPolicy", () => {
  let service: TestPolicyService;
  let admin: TestUser;
  before(async () => {
    service = await startTestPolicyService();
    admin = await service.user(ACCOUNT, "admin", ["AdministratorAccess"]);
  });
  after(() => service.close());

  test("creates a role with its trust policy", async () => {
    const { principal } = await admin.clients.iam.createRole({ roleName: "isv", trustPolicy: TRUST });
    assert.equal(principal!.krn, `krn:keyhold:iam::${ACCOUNT}:role/isv`);
    assert.equal(principal!.type, PrincipalType.ROLE);
    assert.equal(principal!.trustPolicy, TRUST);
    assert.deepEqual(await refusal(admin.clients.iam.createRole({ roleName: "isv", trustPolicy: TRUST })), {
      code: Code.AlreadyExists,
      reason: "ALREADY_EXISTS",
      field: "role_name",
    });
  });

  test("a user and a role may share a name (different krns)", async () => {
    await admin.clients.iam.createUser({ userName: "shared" });
    await admin.clients.iam.createRole({ roleName: "shared", trustPolicy: TRUST });
  });

  test("the trust policy is required and validated, naming the statement and field", async () => {
    assert.deepEqual(await refusal(admin.clients.iam.createRole({ roleName: "r1", trustPolicy: "" })), invalid("trust_policy"));
    assert.deepEqual(await refusal(admin.clients.iam.createRole({ roleName: "r1", trustPolicy: "{" })), invalid("trust_policy"));
    const bad = await refusal(
      admin.clients.iam.createRole({
        roleName: "r1",
        trustPolicy: documentJson([
          { Effect: "Allow", Principal: "*", Action: "sts:AssumeRole" },
          { Effect: "Allow", Principal: "*", Action: "kms:Encrypt" },
        ]),
      }),
    );
    assert.deepEqual(bad, invalid("trust_policy.Statement[1].Action"));
    assert.deepEqual(
      await refusal(admin.clients.iam.createRole({ roleName: "r1", trustPolicy: documentJson({ Effect: "Allow", Action: "sts:AssumeRole" }) })),
      invalid("trust_policy.Statement.Principal"),
    );
    assert.deepEqual(await refusal(admin.clients.iam.createRole({ roleName: "bad name", trustPolicy: TRUST })), invalid("role_name"));
  });

  test("UpdateRoleTrustPolicy replaces the trust policy", async () => {
    const role = `krn:keyhold:iam::${ACCOUNT}:role/isv`;
    const next = documentJson({ Effect: "Allow", Principal: { KRN: `krn:keyhold:iam::${OTHER_ACCOUNT}:user/bob` }, Action: "sts:AssumeRole" });
    const { principal } = await admin.clients.iam.updateRoleTrustPolicy({ roleKrn: role, trustPolicy: next });
    assert.equal(principal!.trustPolicy, next);
    assert.equal((await service.app.context.store.getPrincipal(role))!.trustPolicy, next);
  });

  test("UpdateRoleTrustPolicy: validation, missing roles, users, other accounts' roles, authorization", async () => {
    assert.deepEqual(await refusal(admin.clients.iam.updateRoleTrustPolicy({ roleKrn: "", trustPolicy: TRUST })), invalid("role_krn"));
    assert.deepEqual(
      await refusal(admin.clients.iam.updateRoleTrustPolicy({ roleKrn: `krn:keyhold:iam::${ACCOUNT}:user/shared`, trustPolicy: TRUST })),
      invalid("role_krn"),
    );
    assert.deepEqual(
      await refusal(admin.clients.iam.updateRoleTrustPolicy({ roleKrn: `krn:keyhold:iam::${ACCOUNT}:role/isv`, trustPolicy: "[]" })),
      invalid("trust_policy"),
    );
    assert.deepEqual(
      await refusal(admin.clients.iam.updateRoleTrustPolicy({ roleKrn: `krn:keyhold:iam::${ACCOUNT}:role/missing`, trustPolicy: TRUST })),
      notFound("PRINCIPAL_NOT_FOUND", "role_krn"),
    );
    const theirs = await service.user(OTHER_ACCOUNT, "admin", ["AdministratorAccess"]);
    await theirs.clients.iam.createRole({ roleName: "theirs", trustPolicy: TRUST });
    assert.deepEqual(
      await refusal(admin.clients.iam.updateRoleTrustPolicy({ roleKrn: `krn:keyhold:iam::${OTHER_ACCOUNT}:role/theirs`, trustPolicy: TRUST })),
      notFound("PRINCIPAL_NOT_FOUND", "role_krn"),
      "another account's role looks missing",
    );
    const nobody = await service.user(ACCOUNT, "nobody");
    await assertDenied(
      nobody.clients.iam.updateRoleTrustPolicy({ roleKrn: `krn:keyhold:iam::${ACCOUNT}:role/missing`, trustPolicy: TRUST }),
      "iam:UpdateRoleTrustPolicy",
      `krn:keyhold:iam::${ACCOUNT}:role/missing`,
    );
    await assertDenied(nobody.clients.iam.createRole({ roleName: "x", trustPolicy: TRUST }), "iam:CreateRole", `krn:keyhold:iam::${ACCOUNT}:role/x`);
  });
});
