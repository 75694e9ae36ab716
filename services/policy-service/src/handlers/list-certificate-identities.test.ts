import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { SubjectAltNameType } from "@keyhold/proto";
import { ACCOUNT, assertDenied, invalid, notFound, OTHER_ACCOUNT, refusal, startTestPolicyService, type TestPolicyService, type TestUser } from "../test-support.ts";

describe("ListCertificateIdentities", () => {
  let service: TestPolicyService;
  let admin: TestUser;
  before(async () => {
    service = await startTestPolicyService();
    admin = await service.user(ACCOUNT, "admin", ["AdministratorAccess"]);
  });
  after(() => service.close());

  test("lists a principal's identities in SAN order, and nobody else's", async () => {
    const app = await service.user(ACCOUNT, "app");
    const other = await service.user(ACCOUNT, "other");
    for (const san of ["spiffe://example.org/z", "app.example.org", "spiffe://example.org/a"]) {
      await admin.clients.iam.addCertificateIdentity({ principalKrn: app.krn, san });
    }
    await admin.clients.iam.addCertificateIdentity({ principalKrn: other.krn, san: "spiffe://example.org/other" });
    const { certificateIdentities } = await admin.clients.iam.listCertificateIdentities({ principalKrn: app.krn });
    assert.deepEqual(
      certificateIdentities.map((i) => [i.san, i.type, i.principalKrn]),
      [
        ["app.example.org", SubjectAltNameType.DNS, app.krn],
        ["spiffe://example.org/a", SubjectAltNameType.URI, app.krn],
        ["spiffe://example.org/z", SubjectAltNameType.URI, app.krn],
      ],
    );
    assert.deepEqual((await admin.clients.iam.listCertificateIdentities({ principalKrn: admin.krn })).certificateIdentities, []);
  });

  test("a missing principal or one of another account is PRINCIPAL_NOT_FOUND; the root is not a holder", async () => {
    assert.deepEqual(await refusal(admin.clients.iam.listCertificateIdentities({ principalKrn: `krn:keyhold:iam::${ACCOUNT}:user/ghost` })), notFound("PRINCIPAL_NOT_FOUND", "principal_krn"));
    const stranger = await service.user(OTHER_ACCOUNT, "stranger");
    assert.deepEqual(await refusal(admin.clients.iam.listCertificateIdentities({ principalKrn: stranger.krn })), notFound("PRINCIPAL_NOT_FOUND", "principal_krn"));
    assert.deepEqual(await refusal(admin.clients.iam.listCertificateIdentities({ principalKrn: `krn:keyhold:iam::${ACCOUNT}:root` })), invalid("principal_krn"));
    assert.deepEqual(await refusal(admin.clients.iam.listCertificateIdentities({ principalKrn: "" })), invalid("principal_krn"));
  });

  test("needs iam:ListCertificateIdentities on the principal", async () => {
    const nobody = await service.user(ACCOUNT, "nobody");
    await assertDenied(nobody.clients.iam.listCertificateIdentities({ principalKrn: nobody.krn }), "iam:ListCertificateIdentities", nobody.krn);
  });
});
