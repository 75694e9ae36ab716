import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { PrincipalType } from "@keyhold/proto";
import { ACCOUNT, MANAGEMENT_ACCOUNT, refusal, startTestPolicyService, UNAUTHENTICATED, type TestPolicyService } from "../test-support.ts";

describe("GetCallerIdentity", () => {
  let service: TestPolicyService;
  before(async () => {
    service = await startTestPolicyService();
  });
  after(() => service.close());

  test("answers any authenticated caller, with no permission needed", async () => {
    const nobody = await service.user(ACCOUNT, "nobody");
    const me = await nobody.clients.sts.getCallerIdentity({});
    assert.deepEqual([me.principalKrn, me.accountId, me.type, me.sessionName], [nobody.krn, ACCOUNT, PrincipalType.USER, ""]);
    const root = await (await service.root(ACCOUNT)).clients.sts.getCallerIdentity({});
    assert.deepEqual([root.principalKrn, root.type], [`krn:keyhold:iam::${ACCOUNT}:root`, PrincipalType.ROOT]);
    const admin = await service.admin.sts.getCallerIdentity({});
    assert.deepEqual([admin.principalKrn, admin.accountId], [`krn:keyhold:iam::${MANAGEMENT_ACCOUNT}:user/admin`, MANAGEMENT_ACCOUNT]);
  });

  test("refuses missing, malformed and unknown credentials alike", async () => {
    assert.deepEqual(await refusal(service.as(undefined).sts.getCallerIdentity({})), UNAUTHENTICATED);
    assert.deepEqual(await refusal(service.as("garbage").sts.getCallerIdentity({})), UNAUTHENTICATED);
    assert.deepEqual(await refusal(service.as(`khk_0000000000000000_${"A".repeat(43)}`).sts.getCallerIdentity({})), UNAUTHENTICATED);
  });
});
