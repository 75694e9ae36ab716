import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { PrincipalType } from "@keyhold/proto";
import { secretDigest } from "../domain/credentials.ts";
import {
  ACCOUNT,
  assertDenied,
  invalid,
  keyKrn,
  notFound,
  OTHER_ACCOUNT,
  refusal,
  startTestPolicyService,
  type TestPolicyService,
  type TestUser,
} from "../test-support.ts";

describe("CreateGrant / ListGrants / RevokeGrant (internal)", () => {
  let service: TestPolicyService;
  let owner: TestUser;
  let bob: TestUser;
  let keyAdmin: TestUser;
  before(async () => {
    service = await startTestPolicyService();
    owner = await service.root(ACCOUNT);
    bob = await service.user(OTHER_ACCOUNT, "bob", ["AdministratorAccess"]);
    keyAdmin = await service.user(ACCOUNT, "keyadmin", ["KeyAdministrator"]);
  });
  after(() => service.close());

  const may = async (who: TestUser, action: string, encryptionContext: Record<string, string> = {}, key = keyKrn()): Promise<boolean> =>
    (
      await service.internal().authorize({
        principal: { krn: who.krn, accountId: who.accountId, type: who.name === "root" ? PrincipalType.ROOT : PrincipalType.USER },
        action,
        resource: key,
        encryptionContext,
      })
    ).allowed;

  test("the ISV story: a grant lets another account's principal use the key; revoking ends it at once", async () => {
    assert.equal(await may(bob, "kms:Encrypt"), false);
    const { grantId, grantToken } = await service.internal(owner.principal).createKeyGrant({
      keyId: keyKrn(),
      granteePrincipal: bob.krn,
      operations: ["kms:Encrypt", "Decrypt", "kms:generatedatakey"],
      name: "isv-b",
    });
    assert.match(grantId, /^[0-9a-f]{32}$/);
    assert.match(grantToken, new RegExp(`^khg_${grantId}_[A-Za-z0-9_-]{43}$`));
    const stored = (await service.app.context.store.getGrant(grantId))!;
    assert.deepEqual(stored.operations, ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"]);
    assert.deepEqual(stored.tokenHash, secretDigest(grantToken.slice(4 + 32 + 1)));
    assert.equal(stored.issuingPrincipal, owner.krn);
    for (const action of ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"]) assert.equal(await may(bob, action), true, action);
    assert.equal(await may(bob, "kms:ReEncryptFrom"), false);
    assert.equal(await may(bob, "kms:Encrypt", {}, keyKrn(ACCOUNT, "00000000-0000-4000-8000-000000000002")), false);

    const listed = await service.internal(owner.principal).listKeyGrants({ keyId: keyKrn() });
    assert.equal(listed.grants.length, 1);
    const g = listed.grants[0]!;
    assert.deepEqual(
      [g.grantId, g.keyId, g.granteePrincipal, g.operations, g.name, g.issuingPrincipal, g.retiringPrincipal],
      [grantId, keyKrn(), bob.krn, ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"], "isv-b", owner.krn, ""],
    );

    await service.internal(keyAdmin.principal).revokeKeyGrant({ keyId: keyKrn(), grantId });
    assert.equal(await may(bob, "kms:Encrypt"), false);
    assert.deepEqual(await refusal(service.internal(owner.principal).revokeKeyGrant({ keyId: keyKrn(), grantId })), notFound("GRANT_NOT_FOUND", "grant_id"));
  });

  test("encryption context constraints: exact match or subset", async () => {
    const exact = await service.internal(owner.principal).createKeyGrant({
      keyId: keyKrn(),
      granteePrincipal: bob.krn,
      operations: ["kms:Decrypt"],
      constraints: { encryptionContextEquals: { tenant: "a", purpose: "backup" } },
    });
    assert.equal(await may(bob, "kms:Decrypt", { tenant: "a", purpose: "backup" }), true);
    assert.equal(await may(bob, "kms:Decrypt", { tenant: "a", purpose: "backup", extra: "x" }), false);
    assert.equal(await may(bob, "kms:Decrypt", { tenant: "a" }), false);
    await service.internal(owner.principal).revokeKeyGrant({ keyId: keyKrn(), grantId: exact.grantId });
    await service.internal(owner.principal).createKeyGrant({
      keyId: keyKrn(),
      granteePrincipal: bob.krn,
      operations: ["kms:Decrypt"],
      constraints: { encryptionContextSubset: { tenant: "a" } },
    });
    assert.equal(await may(bob, "kms:Decrypt", { tenant: "a", extra: "x" }), true);
    assert.equal(await may(bob, "kms:Decrypt", { tenant: "b" }), false);
    const listed = await service.internal(owner.principal).listKeyGrants({ keyId: keyKrn(), granteePrincipal: bob.krn });
    assert.deepEqual(listed.grants[0]!.constraints?.encryptionContextSubset, { tenant: "a" });
  });

  test("validation names the field", async () => {
    const create = (request: Parameters<ReturnType<TestPolicyService["internal"]>["createKeyGrant"]>[0]) => service.internal(owner.principal).createKeyGrant(request);
    const base = { keyId: keyKrn(), granteePrincipal: bob.krn, operations: ["kms:Encrypt"] };
    assert.deepEqual(await refusal(create({ ...base, keyId: "" })), invalid("key_id"));
    assert.deepEqual(await refusal(create({ ...base, keyId: "6b8f4c2e-1d3a-4e5f-9a7b-0c1d2e3f4a5b" })), invalid("key_id"));
    assert.deepEqual(await refusal(create({ ...base, granteePrincipal: "" })), invalid("grantee_principal"));
    assert.deepEqual(await refusal(create({ ...base, granteePrincipal: "krn:keyhold:iam::123:user/x" })), invalid("grantee_principal"));
    assert.deepEqual(await refusal(create({ ...base, retiringPrincipal: "nobody" })), invalid("retiring_principal"));
    assert.deepEqual(await refusal(create({ ...base, operations: [] })), invalid("operations"));
    assert.deepEqual(await refusal(create({ ...base, operations: ["kms:Encrypt", "kms:CreateGrant"] })), invalid("operations[1]"));
    assert.deepEqual(await refusal(create({ ...base, operations: ["kms:ScheduleKeyDeletion"] })), invalid("operations[0]"));
    assert.deepEqual(await refusal(create({ ...base, operations: ["kms:*"] })), invalid("operations[0]"));
    assert.deepEqual(
      await refusal(create({ ...base, constraints: { encryptionContextEquals: { a: "1" }, encryptionContextSubset: { b: "2" } } })),
      invalid("constraints"),
    );
    assert.deepEqual(await refusal(create({ ...base, constraints: { encryptionContextSubset: { "": "x" } } })), invalid("constraints.encryption_context_subset"));
    assert.deepEqual(await refusal(create({ ...base, name: "has space" })), invalid("name"));
    assert.deepEqual(await refusal(service.internal(owner.principal).listKeyGrants({ keyId: keyKrn(), grantId: "xyz" })), invalid("grant_id"));
    assert.deepEqual(await refusal(service.internal(owner.principal).listKeyGrants({ keyId: keyKrn(), pageSize: -1 })), invalid("page_size"));
    assert.deepEqual(await refusal(service.internal(owner.principal).revokeKeyGrant({ keyId: keyKrn(), grantId: "" })), invalid("grant_id"));
  });

  test("authorization of the END caller: kms:CreateGrant / kms:ListGrants / kms:RevokeGrant on the key", async () => {
    const keyUser = await service.user(ACCOUNT, "keyuser", ["KeyUser"]);
    await assertDenied(
      service.internal(keyUser.principal).createKeyGrant({ keyId: keyKrn(), granteePrincipal: keyUser.krn, operations: ["kms:Encrypt"] }),
      "kms:CreateGrant",
      keyKrn(),
    );
    await assertDenied(
      service.internal(keyAdmin.principal).createKeyGrant({ keyId: keyKrn(), granteePrincipal: keyAdmin.krn, operations: ["kms:Encrypt"] }),
      "kms:CreateGrant",
      keyKrn(),
    );
    await assertDenied(service.internal((await service.user(ACCOUNT, "nobody")).principal).listKeyGrants({ keyId: keyKrn() }), "kms:ListGrants", keyKrn());
    await assertDenied(service.internal(keyUser.principal).revokeKeyGrant({ keyId: keyKrn(), grantId: "0".repeat(32) }), "kms:RevokeGrant", keyKrn());
    assert.deepEqual(await refusal(service.internal().listKeyGrants({ keyId: keyKrn() })), notFound("KEY_NOT_FOUND", "key_id"), "the service itself is in no account");
    // Another account's key looks missing.
    assert.deepEqual(
      await refusal(service.internal(keyAdmin.principal).listKeyGrants({ keyId: keyKrn(OTHER_ACCOUNT) })),
      notFound("KEY_NOT_FOUND", "key_id"),
    );
    // Outside callers may not call the internal API at all.
    assert.deepEqual(await refusal(owner.clients.authz.listKeyGrants({ keyId: keyKrn() })), { code: Code.PermissionDenied, reason: "ACCESS_DENIED", field: undefined });
  });

  test("ListGrants pages and filters; a grant id of another key is not found", async () => {
    const key = keyKrn(ACCOUNT, "00000000-0000-4000-8000-0000000000aa");
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await service.internal(owner.principal).createKeyGrant({ keyId: key, granteePrincipal: i % 2 === 0 ? bob.krn : keyAdmin.krn, operations: ["kms:Encrypt"] })).grantId);
    }
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await service.internal(owner.principal).listKeyGrants({ keyId: key, pageSize: 2, pageToken });
      seen.push(...page.grants.map((g) => g.grantId));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    assert.deepEqual(seen, [...ids].sort());
    assert.equal((await service.internal(owner.principal).listKeyGrants({ keyId: key, granteePrincipal: bob.krn })).grants.length, 3);
    assert.deepEqual(
      (await service.internal(owner.principal).listKeyGrants({ keyId: key, grantId: ids[1]! })).grants.map((g) => g.grantId),
      [ids[1]],
    );
    assert.deepEqual(await refusal(service.internal(owner.principal).revokeKeyGrant({ keyId: keyKrn(), grantId: ids[0]! })), notFound("GRANT_NOT_FOUND", "grant_id"));
  });
});
