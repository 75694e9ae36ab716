import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { PrincipalType } from "@keyhold/proto";
import { ACCOUNT, assertDenied, invalid, keyKrn, notFound, OTHER_ACCOUNT, refusal, startTestPolicyService, type TestPolicyService, type TestUser } from "../test-support.ts";

describe("RetireGrant (internal)", () => {
  let service: TestPolicyService;
  let owner: TestUser;
  let bob: TestUser;
  let carol: TestUser;
  let nobody: TestUser;
  before(async () => {
    service = await startTestPolicyService();
    owner = await service.root(ACCOUNT);
    bob = await service.user(OTHER_ACCOUNT, "bob", ["AdministratorAccess"]);
    carol = await service.user(OTHER_ACCOUNT, "carol");
    nobody = await service.user(ACCOUNT, "nobody");
  });
  after(() => service.close());

  const grant = async (retiringPrincipal = "") =>
    service.internal(owner.principal).createKeyGrant({ keyId: keyKrn(), granteePrincipal: bob.krn, retiringPrincipal, operations: ["kms:Encrypt"] });
  const exists = async (grantId: string) => (await service.app.context.store.getGrant(grantId)) !== undefined;

  test("the grant token retires the grant, whoever holds it; the grantee loses access", async () => {
    const { grantId, grantToken } = await grant();
    const may = async () =>
      (await service.internal().authorize({ principal: { krn: bob.krn, accountId: OTHER_ACCOUNT, type: PrincipalType.USER }, action: "kms:Encrypt", resource: keyKrn() })).allowed;
    assert.equal(await may(), true);
    await service.internal(carol.principal).retireKeyGrant({ grantToken });
    assert.equal(await exists(grantId), false);
    assert.equal(await may(), false);
    assert.deepEqual(await refusal(service.internal(carol.principal).retireKeyGrant({ grantToken })), notFound("GRANT_NOT_FOUND", "grant_token"));
  });

  test("a wrong, truncated or mismatched token retires nothing", async () => {
    const { grantId, grantToken } = await grant();
    const wrong = grantToken.slice(0, -1) + (grantToken.endsWith("A") ? "B" : "A");
    for (const token of [wrong, grantToken.slice(0, -1), `${grantToken}A`]) {
      assert.deepEqual(await refusal(service.internal(carol.principal).retireKeyGrant({ grantToken: token })), notFound("GRANT_NOT_FOUND", "grant_token"));
    }
    assert.deepEqual(
      await refusal(service.internal(carol.principal).retireKeyGrant({ grantToken, keyId: keyKrn(ACCOUNT, "00000000-0000-4000-8000-000000000003") })),
      notFound("GRANT_NOT_FOUND", "grant_token"),
    );
    assert.deepEqual(await refusal(service.internal(carol.principal).retireKeyGrant({ grantToken, grantId: "f".repeat(32) })), invalid("grant_id"));
    assert.deepEqual(await refusal(service.internal(carol.principal).retireKeyGrant({ grantToken: "khk_0123456789abcdef_x" })), invalid("grant_token"));
    assert.deepEqual(await refusal(service.internal(carol.principal).retireKeyGrant({})), invalid("grant_token"));
    assert.equal(await exists(grantId), true);
  });

  test("by key and grant id: the grantee, the retiring principal and the key's account may retire", async () => {
    const byGrantee = await grant();
    await service.internal(bob.principal).retireKeyGrant({ keyId: keyKrn(), grantId: byGrantee.grantId });
    assert.equal(await exists(byGrantee.grantId), false);

    const byRetiring = await grant(carol.krn);
    await service.internal(carol.principal).retireKeyGrant({ keyId: keyKrn(), grantId: byRetiring.grantId });
    assert.equal(await exists(byRetiring.grantId), false);

    const byOwner = await grant();
    await service.internal(owner.principal).retireKeyGrant({ keyId: keyKrn(), grantId: byOwner.grantId });
    assert.equal(await exists(byOwner.grantId), false);
  });

  test("anyone else is refused: ACCESS_DENIED in the key's account, GRANT_NOT_FOUND from another", async () => {
    const { grantId } = await grant();
    await assertDenied(service.internal(nobody.principal).retireKeyGrant({ keyId: keyKrn(), grantId }), "kms:RetireGrant", keyKrn());
    assert.deepEqual(await refusal(service.internal(carol.principal).retireKeyGrant({ keyId: keyKrn(), grantId })), notFound("GRANT_NOT_FOUND", "grant_id"));
    assert.equal(await exists(grantId), true);
    assert.deepEqual(
      await refusal(service.internal(bob.principal).retireKeyGrant({ keyId: keyKrn(ACCOUNT, "00000000-0000-4000-8000-000000000004"), grantId })),
      notFound("GRANT_NOT_FOUND", "grant_id"),
      "the grant is not on that key",
    );
    assert.deepEqual(await refusal(service.internal(owner.principal).retireKeyGrant({ keyId: keyKrn(), grantId: "bad" })), invalid("grant_id"));
  });
});
