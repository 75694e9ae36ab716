import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { PrincipalType } from "@keyhold/proto";
import {
  ACCOUNT,
  assertDenied,
  documentJson,
  invalid,
  OTHER_ACCOUNT,
  refusal,
  START,
  startTestPolicyService,
  UNAUTHENTICATED,
  type TestPolicyService,
  type TestUser,
} from "../test-support.ts";

const ROLE = `krn:keyhold:iam::${ACCOUNT}:role/isv-access`;

describe("AssumeRole", () => {
  let service: TestPolicyService;
  let owner: TestUser;
  let bobAdmin: TestUser;
  let bobPlain: TestUser;
  let carol: TestUser;
  before(async () => {
    service = await startTestPolicyService();
    owner = await service.user(ACCOUNT, "owner", ["AdministratorAccess"]);
    carol = await service.user(ACCOUNT, "carol");
    bobAdmin = await service.user(OTHER_ACCOUNT, "bob", ["AdministratorAccess"]);
    bobPlain = await service.user(OTHER_ACCOUNT, "plain");
    await owner.clients.iam.createRole({
      roleName: "isv-access",
      trustPolicy: documentJson([
        { Sid: "Isv", Effect: "Allow", Principal: { KRN: OTHER_ACCOUNT }, Action: "sts:AssumeRole" },
        { Sid: "Carol", Effect: "Allow", Principal: { KRN: carol.krn }, Action: "sts:AssumeRole" },
      ]),
    });
    await owner.clients.iam.attachPolicy({ principalKrn: ROLE, policyKrn: "krn:keyhold:iam::keyhold:policy/KeyUser" });
  });
  after(() => service.close());

  test("cross-account: trusted by the role and allowed by its own policies; the session acts as the role", async () => {
    const response = await bobAdmin.clients.sts.assumeRole({ roleKrn: ROLE, roleSessionName: "nightly-batch", durationSeconds: 900 });
    assert.match(response.sessionToken, /^khs_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    assert.equal(response.assumedRoleKrn, ROLE);
    assert.deepEqual(timestampDate(response.expiration!), new Date(START.getTime() + 900_000));
    const session = service.as(response.sessionToken);
    const identity = await session.sts.getCallerIdentity({});
    assert.deepEqual([identity.principalKrn, identity.accountId, identity.type, identity.sessionName], [ROLE, ACCOUNT, PrincipalType.ROLE, "nightly-batch"]);
    const stored = (await service.app.context.store.getRoleSession(response.sessionToken.slice(4, 20)))!;
    assert.equal(stored.sourcePrincipal, bobAdmin.krn);
    assert.equal(stored.secretHash.length, 32);
    // The session has the role's KeyUser permissions in the role's account, not IAM ones.
    await assertDenied(session.iam.listPrincipals({}), "iam:ListPrincipals", `krn:keyhold:iam::${ACCOUNT}:*`);
  });

  test("cross-account without an identity allow is denied, even though the trust policy names the account", async () => {
    await assertDenied(bobPlain.clients.sts.assumeRole({ roleKrn: ROLE, roleSessionName: "s1" }), "sts:AssumeRole", ROLE);
  });

  test("same account: the trust policy must name the caller; an identity allow alone is not enough", async () => {
    assert.ok((await carol.clients.sts.assumeRole({ roleKrn: ROLE, roleSessionName: "carol" })).sessionToken.startsWith("khs_"));
    await assertDenied(owner.clients.sts.assumeRole({ roleKrn: ROLE, roleSessionName: "owner" }), "sts:AssumeRole", ROLE);
  });

  test("an explicit Deny in the trust policy wins", async () => {
    const role = `krn:keyhold:iam::${ACCOUNT}:role/guarded`;
    await owner.clients.iam.createRole({
      roleName: "guarded",
      trustPolicy: documentJson([
        { Effect: "Allow", Principal: { KRN: OTHER_ACCOUNT }, Action: "sts:AssumeRole" },
        { Effect: "Deny", Principal: { KRN: bobAdmin.krn }, Action: "sts:AssumeRole" },
      ]),
    });
    await assertDenied(bobAdmin.clients.sts.assumeRole({ roleKrn: role, roleSessionName: "s1" }), "sts:AssumeRole", role);
  });

  test("a missing role of another account is ACCESS_DENIED like an unassumable one", async () => {
    const missing = `krn:keyhold:iam::${ACCOUNT}:role/missing`;
    await assertDenied(bobAdmin.clients.sts.assumeRole({ roleKrn: missing, roleSessionName: "s1" }), "sts:AssumeRole", missing);
  });

  test("sessions expire; deleting the role or changing its trust ends or refuses sessions", async () => {
    const token = (await bobAdmin.clients.sts.assumeRole({ roleKrn: ROLE, roleSessionName: "short", durationSeconds: 900 })).sessionToken;
    const session = service.as(token);
    service.clock.advance(899_000);
    assert.equal((await session.sts.getCallerIdentity({})).sessionName, "short");
    service.clock.advance(1000);
    assert.deepEqual(await refusal(session.sts.getCallerIdentity({})), UNAUTHENTICATED);

    await owner.clients.iam.createRole({ roleName: "temp", trustPolicy: documentJson({ Effect: "Allow", Principal: { KRN: OTHER_ACCOUNT }, Action: "sts:AssumeRole" }) });
    const temp = `krn:keyhold:iam::${ACCOUNT}:role/temp`;
    const tempToken = (await bobAdmin.clients.sts.assumeRole({ roleKrn: temp, roleSessionName: "t1" })).sessionToken;
    await owner.clients.iam.updateRoleTrustPolicy({ roleKrn: temp, trustPolicy: documentJson({ Effect: "Allow", Principal: { KRN: carol.krn }, Action: "sts:AssumeRole" }) });
    await assertDenied(bobAdmin.clients.sts.assumeRole({ roleKrn: temp, roleSessionName: "t1" }), "sts:AssumeRole", temp);
    await owner.clients.iam.deletePrincipal({ principalKrn: temp });
    assert.deepEqual(await refusal(service.as(tempToken).sts.getCallerIdentity({})), UNAUTHENTICATED);
  });

  test("validation: role krn, session name, duration; chained sessions last at most an hour", async () => {
    const sts = bobAdmin.clients.sts;
    assert.deepEqual(await refusal(sts.assumeRole({ roleKrn: "", roleSessionName: "ok" })), invalid("role_krn"));
    assert.deepEqual(await refusal(sts.assumeRole({ roleKrn: `krn:keyhold:iam::${ACCOUNT}:user/x`, roleSessionName: "ok" })), invalid("role_krn"));
    for (const name of ["", "x", "n".repeat(65), "with space", "slash/x"]) {
      assert.deepEqual(await refusal(sts.assumeRole({ roleKrn: ROLE, roleSessionName: name })), invalid("role_session_name"), name);
    }
    for (const durationSeconds of [1, 899, 43_201, -5]) {
      assert.deepEqual(await refusal(sts.assumeRole({ roleKrn: ROLE, roleSessionName: "ok", durationSeconds })), invalid("duration_seconds"));
    }
    const long = await sts.assumeRole({ roleKrn: ROLE, roleSessionName: "long", durationSeconds: 43_200 });
    assert.deepEqual(timestampDate(long.expiration!), new Date(service.clock.now().getTime() + 43_200_000));
    const defaulted = await sts.assumeRole({ roleKrn: ROLE, roleSessionName: "default" });
    assert.deepEqual(timestampDate(defaulted.expiration!), new Date(service.clock.now().getTime() + 3_600_000));
    // Role chaining: a session of a role allowed to assume another.
    await owner.clients.iam.createRole({ roleName: "hop", trustPolicy: documentJson({ Effect: "Allow", Principal: { KRN: ROLE }, Action: "sts:AssumeRole" }) });
    const hop = `krn:keyhold:iam::${ACCOUNT}:role/hop`;
    const session = service.as(long.sessionToken);
    assert.deepEqual(await refusal(session.sts.assumeRole({ roleKrn: hop, roleSessionName: "hop", durationSeconds: 7200 })), invalid("duration_seconds"));
    assert.ok((await session.sts.assumeRole({ roleKrn: hop, roleSessionName: "hop", durationSeconds: 3600 })).sessionToken.startsWith("khs_"));
  });
});
