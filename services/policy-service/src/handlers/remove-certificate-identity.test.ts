import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ACCOUNT, assertDenied, invalid, notFound, OTHER_ACCOUNT, refusal, startTestPolicyService, UNAUTHENTICATED, type TestPolicyService, type TestUser } from "../test-support.ts";

describe("RemoveCertificateIdentity", () => {
  let service: TestPolicyService;
  let admin: TestUser;
  before(async () => {
    service = await startTestPolicyService();
    admin = await service.user(ACCOUNT, "admin", ["AdministratorAccess"]);
  });
  after(() => service.close());

  test("removes the mapping at once: the certificate no longer authenticates; a credential change", async () => {
    const app = await service.user(ACCOUNT, "app");
    await admin.clients.iam.addCertificateIdentity({ principalKrn: app.krn, san: "spiffe://example.org/app" });
    await admin.clients.iam.addCertificateIdentity({ principalKrn: app.krn, san: "app.example.org" });
    const asApp = service.asCertificate({ uris: ["spiffe://example.org/app"], dnsNames: [] });
    assert.equal((await asApp.sts.getCallerIdentity({})).principalKrn, app.krn);
    const before = await service.app.context.store.currentSequence();
    await admin.clients.iam.removeCertificateIdentity({ principalKrn: app.krn, san: "spiffe://example.org/app" });
    assert.equal(await service.app.context.store.currentSequence(), before + 1n);
    assert.deepEqual(await refusal(asApp.sts.getCallerIdentity({})), UNAUTHENTICATED);
    // DNS names are matched in any case.
    await admin.clients.iam.removeCertificateIdentity({ principalKrn: app.krn, san: "APP.example.org" });
    assert.deepEqual((await admin.clients.iam.listCertificateIdentities({ principalKrn: app.krn })).certificateIdentities, []);
  });

  test("a SAN not mapped to that principal is CERTIFICATE_IDENTITY_NOT_FOUND, and another principal's mapping stays", async () => {
    const a = await service.user(ACCOUNT, "a");
    const b = await service.user(ACCOUNT, "b");
    await admin.clients.iam.addCertificateIdentity({ principalKrn: a.krn, san: "spiffe://example.org/a" });
    const missing = notFound("CERTIFICATE_IDENTITY_NOT_FOUND", "san");
    assert.deepEqual(await refusal(admin.clients.iam.removeCertificateIdentity({ principalKrn: b.krn, san: "spiffe://example.org/a" })), missing);
    assert.deepEqual(await refusal(admin.clients.iam.removeCertificateIdentity({ principalKrn: a.krn, san: "spiffe://example.org/never" })), missing);
    assert.equal((await service.asCertificate({ uris: ["spiffe://example.org/a"], dnsNames: [] }).sts.getCallerIdentity({})).principalKrn, a.krn);
  });

  test("validation and authorization", async () => {
    assert.deepEqual(await refusal(admin.clients.iam.removeCertificateIdentity({ principalKrn: admin.krn, san: "" })), invalid("san"));
    assert.deepEqual(await refusal(admin.clients.iam.removeCertificateIdentity({ principalKrn: `krn:keyhold:iam::${ACCOUNT}:root`, san: "spiffe://x.org/y" })), invalid("principal_krn"));
    const nobody = await service.user(ACCOUNT, "nobody");
    await assertDenied(nobody.clients.iam.removeCertificateIdentity({ principalKrn: nobody.krn, san: "spiffe://x.org/y" }), "iam:RemoveCertificateIdentity", nobody.krn);
    const stranger = await service.user(OTHER_ACCOUNT, "stranger");
    assert.deepEqual(await refusal(admin.clients.iam.removeCertificateIdentity({ principalKrn: stranger.krn, san: "spiffe://x.org/y" })), notFound("PRINCIPAL_NOT_FOUND", "principal_krn"));
  });
});
