import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ACCOUNT, assertDenied, invalid, notFound, OTHER_ACCOUNT, refusal, startTestPolicyService, UNAUTHENTICATED, type TestPolicyService } from "../test-support.ts";

describe("DeletePrincipal", () => {
  let service: TestPolicyService;
  before(async () => {
    service = await startTestPolicyService();
  });
  after(() => service.close());

  test("deletes a user; its API keys stop working at once", async () => {
    const admin = await service.user(ACCOUNT, "admin", ["AdministratorAccess"]);
    const victim = await service.user(ACCOUNT, "victim", ["KeyUser"]);
    assert.equal((await victim.clients.sts.getCallerIdentity({})).principalKrn, victim.krn);
    await admin.clients.iam.deletePrincipal({ principalKrn: victim.krn });
    assert.deepEqual(await refusal(victim.clients.sts.getCallerIdentity({})), UNAUTHENTICATED);
    assert.deepEqual(await refusal(admin.clients.iam.deletePrincipal({ principalKrn: victim.krn })), notFound("PRINCIPAL_NOT_FOUND", "principal_krn"));
    assert.deepEqual(await service.app.context.store.listAttachments(victim.krn), []);
  });

  test("the root cannot be deleted; other accounts' principals look missing; authorization", async () => {
    const admin = await service.user(ACCOUNT, "admin2", ["AdministratorAccess"]);
    assert.deepEqual(await refusal(admin.clients.iam.deletePrincipal({ principalKrn: `krn:keyhold:iam::${ACCOUNT}:root` })), invalid("principal_krn"));
    const bob = await service.user(OTHER_ACCOUNT, "bob");
    assert.deepEqual(await refusal(admin.clients.iam.deletePrincipal({ principalKrn: bob.krn })), notFound("PRINCIPAL_NOT_FOUND", "principal_krn"));
    assert.ok((await service.app.context.store.getPrincipal(bob.krn)) !== undefined);
    const keyAdmin = await service.user(ACCOUNT, "keyadmin", ["KeyAdministrator"]);
    await assertDenied(keyAdmin.clients.iam.deletePrincipal({ principalKrn: admin.krn }), "iam:DeletePrincipal", admin.krn);
    assert.ok((await service.app.context.store.getPrincipal(admin.krn)) !== undefined);
  });
});
