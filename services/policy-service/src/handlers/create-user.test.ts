import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { PrincipalType } from "@keyhold/proto";
import { ACCOUNT, assertDenied, invalid, refusal, START, startTestPolicyService, type TestPolicyService } from "../test-support.ts";

describe("CreateUser", () => {
  let service: TestPolicyService;
  before(async () => {
    service = await startTestPolicyService();
  });
  after(() => service.close());

  test("creates a user in the caller's account", async () => {
    const admin = await service.user(ACCOUNT, "admin", ["AdministratorAccess"]);
    const { principal } = await admin.clients.iam.createUser({ userName: "alice.smith@example+ops=1,x_y-z" });
    assert.equal(principal!.krn, `krn:keyhold:iam::${ACCOUNT}:user/alice.smith@example+ops=1,x_y-z`);
    assert.equal(principal!.accountId, ACCOUNT);
    assert.equal(principal!.type, PrincipalType.USER);
    assert.equal(principal!.name, "alice.smith@example+ops=1,x_y-z");
    assert.equal(principal!.trustPolicy, "");
    assert.deepEqual(timestampDate(principal!.creationDate!), START);
    assert.deepEqual((await admin.clients.iam.getPrincipal({ principalKrn: principal!.krn })).principal, principal);
  });

  test("a duplicate name is ALREADY_EXISTS naming user_name", async () => {
    const root = await service.root(ACCOUNT);
    await root.clients.iam.createUser({ userName: "dup" });
    assert.deepEqual(await refusal(root.clients.iam.createUser({ userName: "dup" })), { code: Code.AlreadyExists, reason: "ALREADY_EXISTS", field: "user_name" });
  });

  test("names: required, at most 64 characters of the IAM set", async () => {
    const root = await service.root(ACCOUNT);
    for (const bad of ["", "u".repeat(65), "has space", "slash/name", "colon:name", "ü"]) {
      assert.deepEqual(await refusal(root.clients.iam.createUser({ userName: bad })), invalid("user_name"), bad);
    }
    assert.equal((await root.clients.iam.createUser({ userName: "u".repeat(64) })).principal!.name, "u".repeat(64));
  });

  test("needs iam:CreateUser on the new user's krn: a user without policies, a KeyAdministrator are denied", async () => {
    const nobody = await service.user(ACCOUNT, "nobody");
    const keyAdmin = await service.user(ACCOUNT, "keyadmin", ["KeyAdministrator"]);
    for (const caller of [nobody, keyAdmin]) {
      await assertDenied(caller.clients.iam.createUser({ userName: "mallory" }), "iam:CreateUser", `krn:keyhold:iam::${ACCOUNT}:user/mallory`);
    }
    assert.equal(await service.app.context.store.getPrincipal(`krn:keyhold:iam::${ACCOUNT}:user/mallory`), undefined);
  });
});
