import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { PrincipalType } from "@keyhold/proto";
import { servicePrincipal } from "@keyhold/authz";
import { defaultKeyPolicy } from "../domain/policy/index.ts";
import {
  ACCOUNT,
  assertDenied,
  detailedRefusal,
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

describe("PutResourcePolicy / GetResourcePolicy (key policies, internal)", () => {
  let service: TestPolicyService;
  let keyAdmin: TestUser;
  let keyUser: TestUser;
  let bob: TestUser;
  before(async () => {
    service = await startTestPolicyService();
    keyAdmin = await service.user(ACCOUNT, "keyadmin", ["KeyAdministrator"]);
    keyUser = await service.user(ACCOUNT, "keyuser", ["KeyUser"]);
    bob = await service.user(OTHER_ACCOUNT, "bob", ["AdministratorAccess"]);
  });
  after(() => service.close());

  const mayDecrypt = async (principal: { krn: string; accountId: string }, type = PrincipalType.USER): Promise<boolean> =>
    (await service.internal().authorize({ principal: { krn: principal.krn, accountId: principal.accountId, type }, action: "kms:Decrypt", resource: keyKrn() })).allowed;

  test("a key without a policy shows the default key policy", async () => {
    const got = await service.internal(keyAdmin.principal).getResourcePolicy({ resource: keyKrn() });
    assert.equal(got.document, defaultKeyPolicy(ACCOUNT));
    assert.equal(got.isDefault, true);
  });

  test("put replaces the default; get shows it; it takes effect at once", async () => {
    assert.equal(await mayDecrypt(bob), false);
    const document = documentJson([
      { Sid: "Owner", Effect: "Allow", Principal: { KRN: `krn:keyhold:iam::${ACCOUNT}:root` }, Action: "kms:*", Resource: "*" },
      { Sid: "Isv", Effect: "Allow", Principal: { KRN: OTHER_ACCOUNT }, Action: ["kms:Encrypt", "kms:Decrypt"], Resource: "*" },
    ]);
    await service.internal(keyAdmin.principal).putResourcePolicy({ resource: keyKrn(), document });
    const got = await service.internal(keyAdmin.principal).getResourcePolicy({ resource: keyKrn() });
    assert.deepEqual([got.document, got.isDefault], [document, false]);
    assert.equal(await mayDecrypt(bob), true);
    // A key policy Deny overrides an identity allow.
    await service.internal(keyAdmin.principal).putResourcePolicy({
      resource: keyKrn(),
      document: documentJson([
        { Effect: "Allow", Principal: { KRN: `krn:keyhold:iam::${ACCOUNT}:root` }, Action: "kms:*", Resource: "*" },
        { Effect: "Deny", Principal: { KRN: keyUser.krn }, Action: "kms:Decrypt", Resource: "*" },
      ]),
    });
    assert.equal(await mayDecrypt(keyUser), false);
    assert.equal(await mayDecrypt(bob), false);
  });

  test("a malformed key policy is INVALID_ARGUMENT naming the statement and field", async () => {
    const put = (document: string) => service.internal(keyAdmin.principal).putResourcePolicy({ resource: keyKrn(), document });
    const refused = await detailedRefusal(
      put(
        documentJson([
          { Effect: "Allow", Principal: "*", Action: "kms:Encrypt", Resource: "*" },
          { Effect: "Permit", Principal: "*", Action: "kms:Encrypt", Resource: "*" },
        ]),
      ),
    );
    assert.equal(refused.field, "document.Statement[1].Effect");
    assert.equal(refused.metadata["statement"], "1");
    assert.deepEqual(await refusal(put(documentJson({ Effect: "Allow", Action: "kms:Encrypt", Resource: "*" }))), invalid("document.Statement.Principal"));
    assert.deepEqual(await refusal(put("")), invalid("document"));
    assert.deepEqual(await refusal(service.internal(keyAdmin.principal).putResourcePolicy({ resource: "alias/x", document: defaultKeyPolicy(ACCOUNT) })), invalid("resource"));
    assert.deepEqual(await refusal(service.internal(keyAdmin.principal).getResourcePolicy({ resource: `krn:keyhold:kms:test-1:${ACCOUNT}:key/not-a-uuid` })), invalid("resource"));
  });

  test("the END caller is authorized, never the calling service (no confused deputy)", async () => {
    const other = keyKrn(ACCOUNT, "00000000-0000-4000-8000-000000000001");
    await assertDenied(service.internal(keyUser.principal).putResourcePolicy({ resource: other, document: defaultKeyPolicy(ACCOUNT) }), "kms:PutKeyPolicy", other);
    await assertDenied(service.internal((await service.user(ACCOUNT, "nobody")).principal).getResourcePolicy({ resource: other }), "kms:GetKeyPolicy", other);
    // The service acting as itself has no permissions either (it is in no account: the key looks missing).
    assert.deepEqual(
      await refusal(service.internal().putResourcePolicy({ resource: other, document: defaultKeyPolicy(ACCOUNT) })),
      notFound("KEY_NOT_FOUND", "resource"),
    );
    assert.deepEqual(await refusal(service.internal(servicePrincipal("key-service")).getResourcePolicy({ resource: other })), notFound("KEY_NOT_FOUND", "resource"));
    assert.equal(await service.app.context.store.getResourcePolicy(other), undefined);
  });

  test("another account's key that the caller may not use is KEY_NOT_FOUND", async () => {
    const theirs = keyKrn(OTHER_ACCOUNT);
    assert.deepEqual(await refusal(service.internal(keyAdmin.principal).getResourcePolicy({ resource: theirs })), notFound("KEY_NOT_FOUND", "resource"));
    assert.deepEqual(
      await refusal(service.internal(keyAdmin.principal).putResourcePolicy({ resource: theirs, document: defaultKeyPolicy(OTHER_ACCOUNT) })),
      notFound("KEY_NOT_FOUND", "resource"),
    );
  });

  test("outside callers are refused, even the key's administrator with a valid credential", async () => {
    assert.deepEqual(await refusal(keyAdmin.clients.authz.getResourcePolicy({ resource: keyKrn() })), {
      code: Code.PermissionDenied,
      reason: "ACCESS_DENIED",
      field: undefined,
    });
  });
});
