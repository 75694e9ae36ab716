import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { PrincipalType } from "@keyhold/proto";
import { ACCOUNT, documentJson, OTHER_ACCOUNT, refusal, startTestPolicyService, UNAUTHENTICATED, type TestPolicyService } from "../test-support.ts";

describe("Authenticate (internal)", () => {
  let service: TestPolicyService;
  before(async () => {
    service = await startTestPolicyService();
  });
  after(() => service.close());

  test("resolves an API key to its principal with a cache lifetime", async () => {
    const alice = service.user(ACCOUNT, "alice");
    const { principal } = await service.internal().authenticate({ credential: alice.token });
    assert.deepEqual([principal!.krn, principal!.accountId, principal!.type, principal!.sessionName, principal!.cacheSeconds], [alice.krn, ACCOUNT, PrincipalType.USER, "", 300]);
    const root = service.root(OTHER_ACCOUNT);
    assert.equal((await service.internal().authenticate({ credential: root.token })).principal!.type, PrincipalType.ROOT);
  });

  test("a role session's answer is cached no longer than the session lives", async () => {
    const owner = service.user(ACCOUNT, "owner", ["AdministratorAccess"]);
    const caller = service.user(ACCOUNT, "caller");
    await owner.clients.iam.createRole({ roleName: "r", trustPolicy: documentJson({ Effect: "Allow", Principal: { KRN: caller.krn }, Action: "sts:AssumeRole" }) });
    const token = (await caller.clients.sts.assumeRole({ roleKrn: `krn:keyhold:iam::${ACCOUNT}:role/r`, roleSessionName: "sess", durationSeconds: 900 })).sessionToken;
    service.clock.advance(800_000);
    const { principal } = await service.internal().authenticate({ credential: token });
    assert.deepEqual([principal!.type, principal!.sessionName, principal!.cacheSeconds], [PrincipalType.ROLE, "sess", 100]);
  });

  test("every bad credential is UNAUTHENTICATED 'invalid credential'", async () => {
    const alice = service.user(ACCOUNT, "alice2");
    for (const credential of ["", "nonsense", alice.token.slice(0, -1), `${alice.token}x`, alice.token.replace(/_(.)/, "_0")]) {
      const refused = await refusal(service.internal().authenticate({ credential }));
      assert.deepEqual(refused, UNAUTHENTICATED, credential);
    }
  });

  test("is refused to callers that are not Keyhold services, whoever they are", async () => {
    assert.deepEqual(await refusal(service.admin.authz.authenticate({ credential: service.adminToken })), { code: Code.PermissionDenied, reason: "ACCESS_DENIED", field: undefined });
    assert.deepEqual(await refusal(service.as(undefined).authz.authenticate({ credential: service.adminToken })), UNAUTHENTICATED);
  });
});
