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
    const alice = await service.user(ACCOUNT, "alice");
    const { principal } = await service.internal().authenticate({ credential: alice.token });
    assert.deepEqual([principal!.krn, principal!.accountId, principal!.type, principal!.sessionName, principal!.cacheSeconds], [alice.krn, ACCOUNT, PrincipalType.USER, "", 300]);
    const root = await service.root(OTHER_ACCOUNT);
    assert.equal((await service.internal().authenticate({ credential: root.token })).principal!.type, PrincipalType.ROOT);
  });

  test("a role session's answer is cached no longer than the session lives", async () => {
    const owner = await service.user(ACCOUNT, "owner", ["AdministratorAccess"]);
    const caller = await service.user(ACCOUNT, "caller");
    await owner.clients.iam.createRole({ roleName: "r", trustPolicy: documentJson({ Effect: "Allow", Principal: { KRN: caller.krn }, Action: "sts:AssumeRole" }) });
    const token = (await caller.clients.sts.assumeRole({ roleKrn: `krn:keyhold:iam::${ACCOUNT}:role/r`, roleSessionName: "sess", durationSeconds: 900 })).sessionToken;
    service.clock.advance(800_000);
    const { principal } = await service.internal().authenticate({ credential: token });
    assert.deepEqual([principal!.type, principal!.sessionName, principal!.cacheSeconds], [PrincipalType.ROLE, "sess", 100]);
  });

  test("every bad credential is UNAUTHENTICATED 'invalid credential'", async () => {
    const alice = await service.user(ACCOUNT, "alice2");
    for (const credential of ["", "nonsense", alice.token.slice(0, -1), `${alice.token}x`, alice.token.replace(/_(.)/, "_0")]) {
      const refused = await refusal(service.internal().authenticate({ credential }));
      assert.deepEqual(refused, UNAUTHENTICATED, credential);
    }
  });

  test("is refused to callers that are not Keyhold services, whoever they are", async () => {
    assert.deepEqual(await refusal(service.admin.authz.authenticate({ credential: service.adminToken })), { code: Code.PermissionDenied, reason: "ACCESS_DENIED", field: undefined });
    assert.deepEqual(await refusal(service.as(undefined).authz.authenticate({ credential: service.adminToken })), UNAUTHENTICATED);
  });

  describe("by client certificate (no credential)", () => {
    const URI_A = "spiffe://example.org/a";
    const URI_B = "spiffe://example.org/b";
    let a: string;
    let b: string;
    let dns: string;
    before(async () => {
      const admin = await service.user(ACCOUNT, "cert-admin", ["AdministratorAccess"]);
      a = (await service.user(ACCOUNT, "cert-a")).krn;
      b = (await service.user(OTHER_ACCOUNT, "cert-b")).krn;
      dns = (await service.user(ACCOUNT, "cert-dns")).krn;
      await admin.clients.iam.addCertificateIdentity({ principalKrn: a, san: URI_A });
      await service.app.context.store.addCertificateIdentity({ san: URI_B, type: "uri", principalKrn: b, accountId: OTHER_ACCOUNT, createdAt: service.clock.now() }, 10);
      await admin.clients.iam.addCertificateIdentity({ principalKrn: dns, san: "svc.example.org" });
    });

    const authenticate = (certificateUris: string[], certificateDnsNames: string[] = [], credential = "") =>
      service.internal().authenticate({ credential, certificateUris, certificateDnsNames });

    test("the first mapped URI decides, then the first mapped DNS name (case-insensitive); the cache lifetime is the configured one", async () => {
      const first = (await authenticate(["spiffe://example.org/unmapped", URI_B, URI_A], ["svc.example.org"])).principal!;
      assert.deepEqual([first.krn, first.accountId, first.type, first.sessionName, first.cacheSeconds], [b, OTHER_ACCOUNT, PrincipalType.USER, "", 300]);
      assert.equal((await authenticate(["spiffe://example.org/unmapped"], ["nope.example.org", "SVC.Example.org"])).principal!.krn, dns);
      assert.equal((await authenticate([], ["svc.example.org"])).principal!.krn, dns);
    });

    test("a URI matches only URI mappings, a DNS name only DNS ones", async () => {
      assert.deepEqual(await refusal(authenticate(["svc.example.org"])), UNAUTHENTICATED);
      assert.deepEqual(await refusal(authenticate([], [URI_A])), UNAUTHENTICATED);
    });

    test("nothing mapped, or nothing given, is UNAUTHENTICATED; a credential, when given, decides alone", async () => {
      assert.deepEqual(await refusal(authenticate(["spiffe://example.org/x"], ["x.example.org"])), UNAUTHENTICATED);
      assert.deepEqual(await refusal(authenticate([], [])), UNAUTHENTICATED);
      assert.deepEqual(await refusal(authenticate([URI_A], [], "khk_wrong")), UNAUTHENTICATED);
      const alice = await service.user(ACCOUNT, "cert-alice");
      assert.equal((await authenticate([URI_A], [], alice.token)).principal!.krn, alice.krn);
    });

    test("only the first 32 names of each kind are looked up; over-long names are skipped", async () => {
      const filler = Array.from({ length: 32 }, (_, i) => `spiffe://example.org/filler/${i}`);
      assert.deepEqual(await refusal(authenticate([...filler, URI_A])), UNAUTHENTICATED);
      assert.equal((await authenticate([`spiffe://example.org/${"x".repeat(3000)}`, URI_A])).principal!.krn, a);
    });
  });
});
