import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { SubjectAltNameType } from "@keyhold/proto";
import { MAX_CERTIFICATE_IDENTITIES_PER_PRINCIPAL } from "../domain/certificate-identities.ts";
import {
  ACCOUNT,
  assertDenied,
  documentJson,
  invalid,
  notFound,
  OTHER_ACCOUNT,
  refusal,
  START,
  startTestPolicyService,
  UNAUTHENTICATED,
  type TestPolicyService,
  type TestUser,
} from "../test-support.ts";

const BILLING = "spiffe://example.org/ns/prod/sa/billing";

describe("AddCertificateIdentity", () => {
  let service: TestPolicyService;
  let admin: TestUser;
  before(async () => {
    service = await startTestPolicyService();
    admin = await service.user(ACCOUNT, "admin", ["AdministratorAccess"]);
  });
  after(() => service.close());

  test("maps a SPIFFE id to a user: a client certificate with it then authenticates as the user; a credential change", async () => {
    const app = await service.user(ACCOUNT, "app", ["KeyUser"]);
    const before = await service.app.context.store.currentSequence();
    const { certificateIdentity } = await admin.clients.iam.addCertificateIdentity({ principalKrn: app.krn, san: BILLING });
    assert.equal(certificateIdentity!.san, BILLING);
    assert.equal(certificateIdentity!.type, SubjectAltNameType.URI);
    assert.equal(certificateIdentity!.principalKrn, app.krn);
    assert.deepEqual(timestampDate(certificateIdentity!.creationDate!), START);
    assert.equal(await service.app.context.store.currentSequence(), before + 1n, "caches flush");
    const caller = await service.asCertificate({ uris: [BILLING], dnsNames: [] }).sts.getCallerIdentity({});
    assert.equal(caller.principalKrn, app.krn);
    assert.equal(caller.accountId, ACCOUNT);
  });

  test("maps a DNS name (stored in lower case, matched case-insensitively) to a role", async () => {
    await admin.clients.iam.createRole({ roleName: "batch", trustPolicy: documentJson({ Effect: "Allow", Principal: { KRN: ACCOUNT }, Action: "sts:AssumeRole" }) });
    const roleKrn = `krn:keyhold:iam::${ACCOUNT}:role/batch`;
    const { certificateIdentity } = await admin.clients.iam.addCertificateIdentity({ principalKrn: roleKrn, san: "Batch.Workers.Example.org" });
    assert.deepEqual([certificateIdentity!.san, certificateIdentity!.type], ["batch.workers.example.org", SubjectAltNameType.DNS]);
    const caller = await service.asCertificate({ uris: [], dnsNames: ["BATCH.workers.example.org"] }).sts.getCallerIdentity({});
    assert.equal(caller.principalKrn, roleKrn);
  });

  test("a SAN maps to one principal in the whole system: ALREADY_EXISTS naming san", async () => {
    const one = await service.user(ACCOUNT, "one");
    const other = await service.user(OTHER_ACCOUNT, "other");
    await admin.clients.iam.addCertificateIdentity({ principalKrn: one.krn, san: "spiffe://example.org/one" });
    const already = { code: Code.AlreadyExists, reason: "ALREADY_EXISTS", field: "san" };
    assert.deepEqual(await refusal(admin.clients.iam.addCertificateIdentity({ principalKrn: one.krn, san: "spiffe://example.org/one" })), already);
    const otherAdmin = await service.user(OTHER_ACCOUNT, "admin", ["AdministratorAccess"]);
    assert.deepEqual(await refusal(otherAdmin.clients.iam.addCertificateIdentity({ principalKrn: other.krn, san: "spiffe://example.org/one" })), already);
    assert.deepEqual(await refusal(admin.clients.iam.addCertificateIdentity({ principalKrn: one.krn, san: "BATCH.workers.example.org" })), already);
  });

  test("validation names the field; the account root holds no certificate identities", async () => {
    const target = `krn:keyhold:iam::${ACCOUNT}:user/admin`;
    for (const san of ["", "URI:spiffe://example.org/x", "spiffe://example.org", "spiffe://EXAMPLE.org/x", "*.example.org", "not a name", "x".repeat(2049)]) {
      assert.deepEqual(await refusal(admin.clients.iam.addCertificateIdentity({ principalKrn: target, san })), invalid("san"), san);
    }
    for (const principalKrn of ["", "user/admin", `krn:keyhold:iam::${ACCOUNT}:root`, `krn:keyhold:iam::${ACCOUNT}:policy/p`]) {
      assert.deepEqual(await refusal(admin.clients.iam.addCertificateIdentity({ principalKrn, san: "spiffe://example.org/v" })), invalid("principal_krn"), principalKrn);
    }
  });

  test("a missing principal, or one of another account, is PRINCIPAL_NOT_FOUND and stores nothing", async () => {
    const before = await service.app.context.store.currentSequence();
    const ghost = `krn:keyhold:iam::${ACCOUNT}:user/ghost`;
    assert.deepEqual(await refusal(admin.clients.iam.addCertificateIdentity({ principalKrn: ghost, san: "spiffe://example.org/ghost" })), notFound("PRINCIPAL_NOT_FOUND", "principal_krn"));
    const stranger = `krn:keyhold:iam::${OTHER_ACCOUNT}:user/other`;
    assert.deepEqual(await refusal(admin.clients.iam.addCertificateIdentity({ principalKrn: stranger, san: "spiffe://example.org/s" })), notFound("PRINCIPAL_NOT_FOUND", "principal_krn"));
    assert.equal(await service.app.context.store.currentSequence(), before);
    assert.equal(await service.app.context.store.getCertificateIdentity("spiffe://example.org/ghost"), undefined);
  });

  test("needs iam:AddCertificateIdentity on the principal: not even for oneself without it", async () => {
    const nobody = await service.user(ACCOUNT, "nobody");
    await assertDenied(nobody.clients.iam.addCertificateIdentity({ principalKrn: nobody.krn, san: "spiffe://example.org/me" }), "iam:AddCertificateIdentity", nobody.krn);
    const keyUser = await service.user(ACCOUNT, "keyuser", ["KeyUser"]);
    await assertDenied(keyUser.clients.iam.addCertificateIdentity({ principalKrn: admin.krn, san: "spiffe://example.org/admin" }), "iam:AddCertificateIdentity", admin.krn);
    const { policy } = await admin.clients.iam.putPolicy({
      policyName: "self-certs",
      document: documentJson({ Effect: "Allow", Action: "iam:AddCertificateIdentity", Resource: nobody.krn }),
    });
    await admin.clients.iam.attachPolicy({ principalKrn: nobody.krn, policyKrn: policy!.krn });
    await nobody.clients.iam.addCertificateIdentity({ principalKrn: nobody.krn, san: "spiffe://example.org/me" });
    await assertDenied(nobody.clients.iam.addCertificateIdentity({ principalKrn: admin.krn, san: "spiffe://example.org/admin" }), "iam:AddCertificateIdentity", admin.krn);
  });

  test(`at most ${MAX_CERTIFICATE_IDENTITIES_PER_PRINCIPAL} per principal: LIMIT_EXCEEDED`, async () => {
    const busy = await service.user(ACCOUNT, "busy");
    for (let i = 0; i < MAX_CERTIFICATE_IDENTITIES_PER_PRINCIPAL; i++) {
      await service.app.context.store.addCertificateIdentity({ san: `spiffe://example.org/busy/${i}`, type: "uri", principalKrn: busy.krn, accountId: ACCOUNT, createdAt: START }, MAX_CERTIFICATE_IDENTITIES_PER_PRINCIPAL);
    }
    assert.deepEqual(await refusal(admin.clients.iam.addCertificateIdentity({ principalKrn: busy.krn, san: "spiffe://example.org/busy/more" })), {
      code: Code.FailedPrecondition,
      reason: "LIMIT_EXCEEDED",
      field: "principal_krn",
    });
  });

  test("an unmapped certificate is UNAUTHENTICATED; a deleted principal's certificate no longer authenticates", async () => {
    assert.deepEqual(await refusal(service.asCertificate({ uris: ["spiffe://example.org/unmapped"], dnsNames: ["unmapped.example.org"] }).sts.getCallerIdentity({})), UNAUTHENTICATED);
    const temp = await service.user(ACCOUNT, "temp");
    await admin.clients.iam.addCertificateIdentity({ principalKrn: temp.krn, san: "spiffe://example.org/temp" });
    const asTemp = service.asCertificate({ uris: ["spiffe://example.org/temp"], dnsNames: [] });
    assert.equal((await asTemp.sts.getCallerIdentity({})).principalKrn, temp.krn);
    await admin.clients.iam.deletePrincipal({ principalKrn: temp.krn });
    assert.deepEqual(await refusal(asTemp.sts.getCallerIdentity({})), UNAUTHENTICATED);
  });

  test("a bearer credential wins over the certificate", async () => {
    const mapped = await service.user(ACCOUNT, "mapped");
    await admin.clients.iam.addCertificateIdentity({ principalKrn: mapped.krn, san: "spiffe://example.org/mapped" });
    const both = service.asCertificate({ uris: ["spiffe://example.org/mapped"], dnsNames: [] });
    assert.equal((await both.sts.getCallerIdentity({}, { headers: { authorization: `Bearer ${admin.token}` } })).principalKrn, admin.krn);
    assert.deepEqual(await refusal(both.sts.getCallerIdentity({}, { headers: { authorization: "Bearer khk_wrong" } })), UNAUTHENTICATED);
  });
});
