import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parsePolicyDocument } from "./document.ts";
import { evaluate, type AttachedPolicy, type AuthorizationContext, type AuthorizationPrincipal, type Decision, type Grant, type PolicySet } from "./evaluate.ts";
import { defaultKeyPolicy } from "./managed.ts";
import {
  ALICE,
  BOB,
  KEY,
  KEY_ID,
  NOW,
  OTHER,
  OTHER_KEY,
  OWNER,
  REGION,
  THIRD,
  allow,
  attach,
  deny,
  identity,
  keyPolicy,
  policies,
  request,
  rootOf,
  roleOf,
  userOf,
} from "./test-support.ts";

const NO_DEPENDENCIES = { encryptionContext: false, sourceIp: false, time: false };

function decide(
  set: PolicySet,
  options: { principal?: AuthorizationPrincipal; action?: string; resource?: string; resourceAccountId?: string; context?: Partial<AuthorizationContext> } = {},
): Decision {
  return evaluate(request(options), set);
}

describe("actions", () => {
  const cases: readonly (readonly [pattern: string | string[], action: string, allowed: boolean])[] = [
    ["*", "kms:Encrypt", true],
    ["*", "secrets:GetSecretValue", true],
    ["kms:*", "kms:Encrypt", true],
    ["kms:*", "secrets:GetSecretValue", false],
    ["kms:*", "kmsx:Encrypt", false],
    ["kms:Encrypt", "kms:Encrypt", true],
    ["kms:Encrypt", "kms:Decrypt", false],
    ["kms:Encrypt", "kms:EncryptX", false],
    ["kms:List*", "kms:ListKeys", true],
    ["kms:List*", "kms:ListAliases", true],
    ["kms:List*", "kms:GetKey", false],
    ["kms:GenerateDataKey*", "kms:GenerateDataKey", true],
    ["kms:GenerateDataKey*", "kms:GenerateDataKeyWithoutPlaintext", true],
    ["kms:GenerateDataKey*", "kms:GenerateRandom", false],
    ["kms:*Key", "kms:CreateKey", true],
    ["kms:*Key", "kms:CreateKeys", false],
    ["kms:Encryp?", "kms:Encrypt", true],
    ["kms:Encryp?", "kms:Encryp", false],
    ["kms:?ecrypt", "kms:Decrypt", true],
    ["kms:?ecrypt", "kms:Encrypt", false],
    ["kms:Re?ncrypt*", "kms:ReEncryptFrom", true],
    [["secrets:*", "kms:Decrypt"], "kms:Decrypt", true],
    [["secrets:*", "kms:Decrypt"], "kms:Encrypt", false],
    // Case-insensitive both ways.
    ["KMS:ENCRYPT", "kms:encrypt", true],
    ["kms:encrypt", "KMS:Encrypt", true],
    ["Kms:list*", "kms:LISTKEYS", true],
    ["iam:CreateUser", "IAM:createuser", true],
  ];
  for (const [pattern, action, allowed] of cases) {
    test(`${JSON.stringify(pattern)} ${allowed ? "matches" : "does not match"} ${action}`, () => {
      const d = decide(policies({ identity: [identity(allow(pattern))] }), { action });
      assert.equal(d.allowed, allowed);
    });
  }
});

describe("resources", () => {
  const cases: readonly (readonly [pattern: string | string[], resource: string, allowed: boolean])[] = [
    ["*", KEY, true],
    [KEY, KEY, true],
    [KEY, OTHER_KEY, false],
    [`krn:keyhold:kms:*:${OWNER}:key/*`, KEY, true],
    [`krn:keyhold:kms:*:${OWNER}:key/*`, `krn:keyhold:kms:${REGION}:${OWNER}:alias/app`, false],
    [`krn:keyhold:kms:*:${OWNER}:alias/*`, `krn:keyhold:kms:${REGION}:${OWNER}:alias/app`, true],
    [`krn:keyhold:kms:*:${OTHER}:key/*`, KEY, false],
    [`krn:keyhold:kms:${REGION}:${OWNER}:key/6b8f4c2e-????-*`, KEY, true],
    [`krn:keyhold:kms:${REGION}:${OWNER}:key/6b8f4c2e-???-*`, KEY, false],
    [`krn:keyhold:kms:?????????:${OWNER}:*`, KEY, true],
    [`krn:keyhold:kms:?????????:${OWNER}:*`, `krn:keyhold:kms:ap-southeast-2:${OWNER}:key/x`, false],
    [`krn:keyhold:secrets:*:${OWNER}:secret/db-*`, `krn:keyhold:secrets:${REGION}:${OWNER}:secret/db-password`, true],
    // Case-sensitive.
    [KEY.toUpperCase().replace("KRN:KEYHOLD", "krn:keyhold"), KEY, false],
    [`krn:keyhold:kms:*:${OWNER}:Key/*`, KEY, false],
    [`krn:keyhold:kms:${REGION}:${OWNER}:key/${KEY_ID.toUpperCase()}`, KEY, false],
  ];
  for (const [pattern, resource, allowed] of cases) {
    test(`${JSON.stringify(pattern)} ${allowed ? "matches" : "does not match"} ${resource}`, () => {
      const d = decide(policies({ identity: [identity({ Effect: "Allow", Action: "kms:*", Resource: pattern })] }), { resource });
      assert.equal(d.allowed, allowed);
    });
  }
});

describe("NotAction and NotResource", () => {
  test("Allow NotAction: everything except the named actions", () => {
    const set = policies({ identity: [identity({ Effect: "Allow", NotAction: ["kms:Decrypt", "kms:Schedule*"], Resource: "*" })] });
    assert.equal(decide(set, { action: "kms:Encrypt" }).allowed, true);
    assert.equal(decide(set, { action: "kms:Decrypt" }).allowed, false);
    assert.equal(decide(set, { action: "KMS:DECRYPT" }).allowed, false);
    assert.equal(decide(set, { action: "kms:ScheduleKeyDeletion" }).allowed, false);
  });

  test("Deny NotAction: deny everything but the named actions", () => {
    const set = policies({ identity: [identity([allow("*"), { Effect: "Deny", NotAction: "kms:Encrypt", Resource: "*" }])] });
    assert.equal(decide(set, { action: "kms:Encrypt" }).reason, "allowed");
    assert.equal(decide(set, { action: "kms:Decrypt" }).reason, "explicit-deny");
  });

  test("Allow NotResource: every resource except the named ones", () => {
    const set = policies({ identity: [identity({ Effect: "Allow", Action: "kms:*", NotResource: KEY })] });
    assert.equal(decide(set, { resource: OTHER_KEY }).allowed, true);
    assert.equal(decide(set, { resource: KEY }).allowed, false);
  });

  test("Deny NotResource with wildcards", () => {
    const set = policies({ identity: [identity([allow("kms:*"), { Effect: "Deny", Action: "kms:*", NotResource: `krn:keyhold:kms:*:${OWNER}:key/6b8f*` }])] });
    assert.equal(decide(set, { resource: KEY }).allowed, true);
    assert.equal(decide(set, { resource: OTHER_KEY }).reason, "explicit-deny");
  });

  test("NotAction and NotResource together", () => {
    const set = policies({ identity: [identity({ Effect: "Allow", NotAction: "kms:Decrypt", NotResource: KEY })] });
    assert.equal(decide(set, { action: "kms:Encrypt", resource: OTHER_KEY }).allowed, true);
    assert.equal(decide(set, { action: "kms:Decrypt", resource: OTHER_KEY }).allowed, false);
    assert.equal(decide(set, { action: "kms:Encrypt", resource: KEY }).allowed, false);
  });
});

describe("default deny and explicit deny", () => {
  test("no policies at all: implicit deny", () => {
    const d = decide(policies({}));
    assert.deepEqual(d, { allowed: false, reason: "implicit-deny", decidedBy: undefined, dependsOn: NO_DEPENDENCIES });
  });

  test("an Allow for another action only: implicit deny", () => {
    assert.equal(decide(policies({ identity: [identity(allow("kms:Decrypt"))] })).reason, "implicit-deny");
  });

  test("identity Deny wins over identity Allow (in another policy, listed first)", () => {
    const d = decide(policies({ identity: [identity(allow("kms:*"), "p-allow", "AllowAll"), identity(deny("kms:Encrypt", { Sid: "NoEncrypt" }), "p-deny", "DenyEncrypt")] }));
    assert.deepEqual(d, {
      allowed: false,
      reason: "explicit-deny",
      decidedBy: { kind: "identity", policyId: "p-deny", policyName: "DenyEncrypt", statementIndex: 0, sid: "NoEncrypt" },
      dependsOn: NO_DEPENDENCIES,
    });
  });

  test("key policy Deny wins over identity Allow", () => {
    const d = decide(
      policies({
        identity: [identity(allow("*"))],
        resource: keyPolicy([{ ...allow("kms:*"), Principal: "*" }, { ...deny("kms:Encrypt"), Principal: "*" }], "kp", "KeyPolicy"),
      }),
    );
    assert.equal(d.reason, "explicit-deny");
    assert.deepEqual(d.decidedBy, { kind: "resource", policyId: "kp", policyName: "KeyPolicy", statementIndex: 1 });
  });

  test("identity Deny wins over key policy Allow", () => {
    const d = decide(policies({ identity: [identity(deny("kms:*"))], resource: keyPolicy({ ...allow("kms:*"), Principal: "*" }) }));
    assert.equal(d.reason, "explicit-deny");
    assert.equal(d.decidedBy?.kind, "identity");
  });

  test("Deny wins over a grant", () => {
    const grant: Grant = { grantId: "g-1", keyKrn: KEY, granteePrincipal: ALICE.krn, operations: ["Encrypt"] };
    const d = decide(policies({ resource: keyPolicy({ ...deny("kms:Encrypt"), Principal: "*" }), grants: [grant] }));
    assert.equal(d.reason, "explicit-deny");
    const d2 = decide(policies({ identity: [identity(deny("kms:*"))], grants: [grant] }));
    assert.equal(d2.reason, "explicit-deny");
  });

  test("Deny wins in cross-account calls too", () => {
    const d = decide(
      policies({ identity: [identity([allow("kms:*"), deny("kms:Encrypt")])], resource: keyPolicy({ ...allow("kms:*"), Principal: { KRN: OTHER } }) }),
      { principal: BOB },
    );
    assert.equal(d.reason, "explicit-deny");
  });

  test("a key policy Deny for * denies even the owner's root", () => {
    const d = decide(policies({ resource: keyPolicy([{ ...allow("kms:*"), Principal: { KRN: OWNER } }, { ...deny("kms:ScheduleKeyDeletion"), Principal: "*" }]) }), {
      principal: rootOf(OWNER),
      action: "kms:ScheduleKeyDeletion",
    });
    assert.equal(d.reason, "explicit-deny");
  });
});

describe("same account: any allow", () => {
  test("identity Allow alone", () => {
    const d = decide(policies({ identity: [identity(allow("kms:Encrypt", { Sid: "Use" }), "p1", "Use")] }));
    assert.deepEqual(d.decidedBy, { kind: "identity", policyId: "p1", policyName: "Use", statementIndex: 0, sid: "Use" });
    assert.equal(d.allowed, true);
  });

  test("key policy Allow naming the user alone", () => {
    const d = decide(policies({ resource: keyPolicy({ ...allow("kms:Encrypt"), Principal: { KRN: ALICE.krn } }, "kp", "KP") }));
    assert.deepEqual(d, {
      allowed: true,
      reason: "allowed",
      decidedBy: { kind: "resource", policyId: "kp", policyName: "KP", statementIndex: 0 },
      dependsOn: NO_DEPENDENCIES,
    });
  });

  test("grant alone", () => {
    const d = decide(policies({ grants: [{ grantId: "g-7", keyKrn: KEY, granteePrincipal: ALICE.krn, operations: ["Encrypt", "Decrypt"] }] }));
    assert.deepEqual(d.decidedBy, { kind: "grant", policyId: "g-7", policyName: "g-7", statementIndex: 0 });
    assert.equal(d.reason, "allowed");
  });

  test("identity Allow is reported first when several allow", () => {
    const d = decide(
      policies({
        identity: [identity(allow("kms:Encrypt"), "p1", "Identity")],
        resource: keyPolicy({ ...allow("kms:Encrypt"), Principal: "*" }),
        grants: [{ grantId: "g", keyKrn: KEY, granteePrincipal: ALICE.krn, operations: ["Encrypt"] }],
      }),
    );
    assert.equal(d.decidedBy?.kind, "identity");
  });

  test("key policy before grant", () => {
    const d = decide(
      policies({ resource: keyPolicy({ ...allow("kms:Encrypt"), Principal: "*" }), grants: [{ grantId: "g", keyKrn: KEY, granteePrincipal: ALICE.krn, operations: ["Encrypt"] }] }),
    );
    assert.equal(d.decidedBy?.kind, "resource");
  });

  test("decidedBy names the first allowing statement, by index", () => {
    const d = decide(policies({ identity: [identity([allow("kms:Decrypt", { Sid: "A" }), allow("kms:Encrypt"), allow("kms:*", { Sid: "C" })], "p", "n")] }));
    assert.deepEqual(d.decidedBy, { kind: "identity", policyId: "p", policyName: "n", statementIndex: 1 });
  });

  test("decidedBy names the deny statement, after an earlier allow", () => {
    const d = decide(policies({ identity: [identity([allow("kms:*", { Sid: "A" }), allow("kms:Encrypt"), deny("kms:Enc*", { Sid: "D" })], "p", "n")] }));
    assert.deepEqual(d.decidedBy, { kind: "identity", policyId: "p", policyName: "n", statementIndex: 2, sid: "D" });
  });
});

describe("cross account: both sides must allow", () => {
  const keyPolicyForOther = keyPolicy({ ...allow("kms:Encrypt"), Principal: { KRN: OTHER }, Sid: "OtherAccount" }, "kp", "KP");
  const bobIdentity = identity({ Effect: "Allow", Action: "kms:Encrypt", Resource: `krn:keyhold:kms:*:${OWNER}:key/*` }, "bob-p", "BobUse");

  test("key policy + identity: allowed, decided by the key policy", () => {
    const d = decide(policies({ identity: [bobIdentity], resource: keyPolicyForOther }), { principal: BOB });
    assert.deepEqual(d, {
      allowed: true,
      reason: "allowed",
      decidedBy: { kind: "resource", policyId: "kp", policyName: "KP", statementIndex: 0, sid: "OtherAccount" },
      dependsOn: NO_DEPENDENCIES,
    });
  });

  test("key policy only: missing identity allow", () => {
    const d = decide(policies({ resource: keyPolicyForOther }), { principal: BOB });
    assert.deepEqual(d, { allowed: false, reason: "cross-account-missing-identity-allow", decidedBy: undefined, dependsOn: NO_DEPENDENCIES });
  });

  test("identity only: missing resource allow", () => {
    const d = decide(policies({ identity: [bobIdentity] }), { principal: BOB });
    assert.deepEqual(d, { allowed: false, reason: "cross-account-missing-resource-allow", decidedBy: undefined, dependsOn: NO_DEPENDENCIES });
  });

  test("identity + a key policy that names someone else: missing resource allow", () => {
    const d = decide(policies({ identity: [bobIdentity], resource: keyPolicy({ ...allow("kms:*"), Principal: { KRN: THIRD } }) }), { principal: BOB });
    assert.equal(d.reason, "cross-account-missing-resource-allow");
  });

  test("neither side: implicit deny", () => {
    assert.equal(decide(policies({}), { principal: BOB }).reason, "implicit-deny");
  });

  test("grant + identity: allowed, decided by the grant", () => {
    const grant: Grant = { grantId: "g-x", keyKrn: KEY, granteePrincipal: BOB.krn, operations: ["kms:Encrypt"] };
    const d = decide(policies({ identity: [bobIdentity], grants: [grant] }), { principal: BOB });
    assert.deepEqual(d.decidedBy, { kind: "grant", policyId: "g-x", policyName: "g-x", statementIndex: 0 });
  });

  test("grant without identity: missing identity allow", () => {
    const grant: Grant = { grantId: "g-x", keyKrn: KEY, granteePrincipal: BOB.krn, operations: ["Encrypt"] };
    assert.equal(decide(policies({ grants: [grant] }), { principal: BOB }).reason, "cross-account-missing-identity-allow");
  });

  test("identity policy scoped to its own account does not reach another account's key", () => {
    const own = identity({ Effect: "Allow", Action: "kms:*", Resource: `krn:keyhold:kms:*:${OTHER}:*` });
    assert.equal(decide(policies({ identity: [own], resource: keyPolicyForOther }), { principal: BOB }).reason, "cross-account-missing-identity-allow");
  });
});

describe("principals in key policies", () => {
  const defaultPolicy: AttachedPolicy = { id: "default", name: "default", document: parsePolicyDocument(defaultKeyPolicy(OWNER), "resource") };
  const useAll = identity(allow("kms:*"), "use", "use");

  test("default key policy: the owner's root may do everything", () => {
    for (const action of ["kms:Encrypt", "kms:ScheduleKeyDeletion", "kms:PutKeyPolicy"]) {
      const d = decide(policies({ resource: defaultPolicy }), { principal: rootOf(OWNER), action });
      assert.equal(d.allowed, true, action);
      assert.equal(d.decidedBy?.kind, "resource");
    }
  });

  test("default key policy: the owner's users need identity policies", () => {
    assert.equal(decide(policies({ resource: defaultPolicy }), { principal: ALICE }).reason, "implicit-deny");
    assert.equal(decide(policies({ resource: defaultPolicy }), { principal: roleOf(OWNER, "app", "s1") }).reason, "implicit-deny");
    const d = decide(policies({ identity: [useAll], resource: defaultPolicy }), { principal: ALICE });
    assert.equal(d.allowed, true);
    assert.equal(d.decidedBy?.kind, "identity");
  });

  test("default key policy: other accounts get nothing, even their root with AdministratorAccess", () => {
    const d = decide(policies({ identity: [useAll], resource: defaultPolicy }), { principal: rootOf(OTHER) });
    assert.equal(d.reason, "cross-account-missing-resource-allow");
  });

  for (const form of [`krn:keyhold:iam::${OTHER}:root`, OTHER]) {
    test(`another account's root (${form === OTHER ? "account id" : "krn"}) delegates to that account`, () => {
      const kp = keyPolicy({ ...allow("kms:Encrypt"), Principal: { KRN: [`krn:keyhold:iam::${OWNER}:root`, form] } });
      // Its root, users and roles all match, but each still needs its own identity allow.
      for (const principal of [rootOf(OTHER), BOB, roleOf(OTHER, "ci", "run-1")]) {
        assert.equal(decide(policies({ resource: kp }), { principal }).reason, "cross-account-missing-identity-allow", principal.krn);
        assert.equal(decide(policies({ identity: [useAll], resource: kp }), { principal }).reason, "allowed", principal.krn);
      }
      // A third account is not named.
      assert.equal(decide(policies({ identity: [useAll], resource: kp }), { principal: userOf(THIRD, "eve") }).reason, "cross-account-missing-resource-allow");
    });
  }

  test("the resource's own account root matches only the root (not its users)", () => {
    const kp = keyPolicy({ ...allow("kms:Encrypt"), Principal: { KRN: OWNER } });
    assert.equal(decide(policies({ resource: kp }), { principal: rootOf(OWNER) }).allowed, true);
    assert.equal(decide(policies({ resource: kp }), { principal: ALICE }).allowed, false);
  });

  test("an exact user krn matches that user only", () => {
    const kp = keyPolicy({ ...allow("kms:Encrypt"), Principal: { KRN: BOB.krn } });
    assert.equal(decide(policies({ identity: [useAll], resource: kp }), { principal: BOB }).allowed, true);
    assert.equal(decide(policies({ identity: [useAll], resource: kp }), { principal: userOf(OTHER, "carol") }).reason, "cross-account-missing-resource-allow");
    assert.equal(decide(policies({ identity: [useAll], resource: kp }), { principal: rootOf(OTHER) }).reason, "cross-account-missing-resource-allow");
  });

  test("an exact role krn matches its assumed-role sessions", () => {
    const kp = keyPolicy({ ...allow("kms:Encrypt"), Principal: { KRN: `krn:keyhold:iam::${OWNER}:role/app` } });
    assert.equal(decide(policies({ resource: kp }), { principal: roleOf(OWNER, "app", "session-1") }).allowed, true);
    assert.equal(decide(policies({ resource: kp }), { principal: roleOf(OWNER, "other", "session-1") }).allowed, false);
  });

  test('"*" and {"KRN": "*"} match anyone (cross-account still needs identity)', () => {
    for (const principal of ["*", { KRN: "*" }]) {
      const kp = keyPolicy({ ...allow("kms:Encrypt"), Principal: principal });
      assert.equal(decide(policies({ resource: kp }), { principal: ALICE }).allowed, true);
      assert.equal(decide(policies({ resource: kp }), { principal: BOB }).reason, "cross-account-missing-identity-allow");
      assert.equal(decide(policies({ identity: [useAll], resource: kp }), { principal: BOB }).allowed, true);
    }
  });

  test("a Deny naming another account's root denies all of that account", () => {
    const kp = keyPolicy([{ ...allow("kms:*"), Principal: "*" }, { ...deny("kms:*"), Principal: { KRN: OTHER } }]);
    assert.equal(decide(policies({ identity: [useAll], resource: kp }), { principal: BOB }).reason, "explicit-deny");
    assert.equal(decide(policies({ identity: [useAll], resource: kp }), { principal: userOf(THIRD, "eve") }).reason, "allowed");
  });

  test("an identity document passed as the key policy grants nobody", () => {
    const misuse: AttachedPolicy = { id: "x", name: "x", document: parsePolicyDocument(JSON.stringify({ Version: "2012-10-17", Statement: allow("*") }), "identity") };
    assert.equal(decide(policies({ resource: misuse }), { principal: ALICE }).reason, "implicit-deny");
  });
});

describe("trust policies (sts:AssumeRole)", () => {
  const ROLE = `krn:keyhold:iam::${OWNER}:role/deployer`;
  const trust = attach("trust", { Effect: "Allow", Principal: { KRN: [OTHER, ALICE.krn] }, Action: "sts:AssumeRole" }, "trust", "deployer-trust");
  const assume = identity({ Effect: "Allow", Action: "sts:AssumeRole", Resource: ROLE });

  test("a named same-account user may assume the role", () => {
    const d = decide(policies({ resource: trust }), { principal: ALICE, action: "sts:AssumeRole", resource: ROLE });
    assert.equal(d.allowed, true);
    assert.equal(d.decidedBy?.policyName, "deployer-trust");
  });

  test("another account's principals need their own identity allow", () => {
    assert.equal(decide(policies({ resource: trust }), { principal: BOB, action: "sts:AssumeRole", resource: ROLE }).reason, "cross-account-missing-identity-allow");
    assert.equal(decide(policies({ identity: [assume], resource: trust }), { principal: BOB, action: "sts:AssumeRole", resource: ROLE }).allowed, true);
  });

  test("only sts:AssumeRole", () => {
    assert.equal(decide(policies({ resource: trust }), { principal: ALICE, action: "sts:TagSession", resource: ROLE }).allowed, false);
  });
});

describe("grants", () => {
  function grantDecision(grant: Partial<Grant>, options: { action?: string; context?: Partial<AuthorizationContext>; principal?: AuthorizationPrincipal; resource?: string } = {}): Decision {
    const full: Grant = { grantId: "g", keyKrn: KEY, granteePrincipal: ALICE.krn, operations: ["Encrypt"], ...grant };
    return decide(policies({ grants: [full] }), options);
  }

  const cases: readonly (readonly [name: string, grant: Partial<Grant>, options: Parameters<typeof grantDecision>[1], allowed: boolean])[] = [
    ["plain grant", {}, {}, true],
    ["operation case-insensitive", { operations: ["eNcRyPt"] }, {}, true],
    ["operation with service prefix", { operations: ["KMS:Encrypt"] }, {}, true],
    ["operation not granted", { operations: ["Decrypt"] }, {}, false],
    ["operation is an exact name, no wildcards", { operations: ["Enc*"] }, {}, false],
    ["operation prefix is not a match", { operations: ["Encryp"] }, {}, false],
    ["bare operation names only mean kms actions", { operations: ["GetSecretValue"] }, { action: "secrets:GetSecretValue" }, false],
    ["one of several operations", { operations: ["Decrypt", "GenerateDataKey", "Encrypt"] }, {}, true],
    ["other grantee", { granteePrincipal: userOf(OWNER, "mallory").krn }, {}, false],
    ["grantee compared exactly", { granteePrincipal: ALICE.krn.toUpperCase() }, {}, false],
    ["other key", { keyKrn: OTHER_KEY }, {}, false],
    ["equals: exact context", { constraints: { encryptionContextEquals: { tenant: "acme", purpose: "backup" } } }, { context: { encryptionContext: { purpose: "backup", tenant: "acme" } } }, true],
    ["equals: extra request key", { constraints: { encryptionContextEquals: { tenant: "acme" } } }, { context: { encryptionContext: { tenant: "acme", x: "1" } } }, false],
    ["equals: missing request key", { constraints: { encryptionContextEquals: { tenant: "acme", purpose: "backup" } } }, { context: { encryptionContext: { tenant: "acme" } } }, false],
    ["equals: different value", { constraints: { encryptionContextEquals: { tenant: "acme" } } }, { context: { encryptionContext: { tenant: "ACME" } } }, false],
    ["equals: no request context", { constraints: { encryptionContextEquals: { tenant: "acme" } } }, {}, false],
    ["equals {}: no request context", { constraints: { encryptionContextEquals: {} } }, {}, true],
    ["equals {}: some request context", { constraints: { encryptionContextEquals: {} } }, { context: { encryptionContext: { a: "1" } } }, false],
    ["subset: exact context", { constraints: { encryptionContextSubset: { tenant: "acme" } } }, { context: { encryptionContext: { tenant: "acme" } } }, true],
    ["subset: superset context", { constraints: { encryptionContextSubset: { tenant: "acme" } } }, { context: { encryptionContext: { tenant: "acme", x: "1" } } }, true],
    ["subset: missing pair", { constraints: { encryptionContextSubset: { tenant: "acme", purpose: "backup" } } }, { context: { encryptionContext: { tenant: "acme" } } }, false],
    ["subset: different value", { constraints: { encryptionContextSubset: { tenant: "acme" } } }, { context: { encryptionContext: { tenant: "other" } } }, false],
    ["subset: no request context", { constraints: { encryptionContextSubset: { tenant: "acme" } } }, {}, false],
    ["subset: inherited names are not context keys", { constraints: { encryptionContextSubset: { toString: "x" } } }, { context: { encryptionContext: {} } }, false],
    ["empty constraints object", { constraints: {} }, {}, true],
  ];
  for (const [name, grant, options, allowed] of cases) {
    test(`${name} → ${allowed ? "allowed" : "denied"}`, () => {
      const d = grantDecision(grant, options);
      assert.equal(d.allowed, allowed);
      assert.equal(d.decidedBy?.kind, allowed ? "grant" : undefined);
    });
  }

  test("the first matching grant decides", () => {
    const d = decide(
      policies({
        grants: [
          { grantId: "g-other", keyKrn: OTHER_KEY, granteePrincipal: ALICE.krn, operations: ["Encrypt"] },
          { grantId: "g-ctx", keyKrn: KEY, granteePrincipal: ALICE.krn, operations: ["Encrypt"], constraints: { encryptionContextEquals: { a: "1" } } },
          { grantId: "g-plain", keyKrn: KEY, granteePrincipal: ALICE.krn, operations: ["Encrypt"] },
        ],
      }),
    );
    assert.equal(d.decidedBy?.policyId, "g-plain");
  });
});

describe("dependsOn", () => {
  const ipAllow = allow("kms:Encrypt", { Condition: { IpAddress: { "keyhold:SourceIp": "10.0.0.0/8" } } });
  const timeAllow = allow("kms:Encrypt", { Condition: { DateLessThan: { "keyhold:CurrentTime": "2030-01-01" } } });
  const ecAllow = allow("kms:Encrypt", { Condition: { StringEquals: { "kms:EncryptionContext:tenant": "acme" } } });

  test("no conditions: nothing", () => {
    assert.deepEqual(decide(policies({ identity: [identity(allow("kms:*"))] })).dependsOn, NO_DEPENDENCIES);
  });

  test("an examined condition marks its attribute, whether it held or not", () => {
    assert.deepEqual(decide(policies({ identity: [identity(ipAllow)] }), { context: { sourceIp: "10.0.0.1" } }).dependsOn, { ...NO_DEPENDENCIES, sourceIp: true });
    assert.deepEqual(decide(policies({ identity: [identity(ipAllow)] }), { context: { sourceIp: "11.0.0.1" } }).dependsOn, { ...NO_DEPENDENCIES, sourceIp: true });
    assert.deepEqual(decide(policies({ identity: [identity(ipAllow)] })).dependsOn, { ...NO_DEPENDENCIES, sourceIp: true });
    assert.deepEqual(decide(policies({ identity: [identity(timeAllow)] })).dependsOn, { ...NO_DEPENDENCIES, time: true });
    assert.deepEqual(decide(policies({ identity: [identity(ecAllow)] })).dependsOn, { ...NO_DEPENDENCIES, encryptionContext: true });
  });

  test("all attributes of a statement are marked even when an earlier condition already failed", () => {
    const both = allow("kms:Encrypt", { Condition: { IpAddress: { "keyhold:SourceIp": "10.0.0.0/8" }, DateLessThan: { "keyhold:CurrentTime": "2030-01-01" } } });
    const d = decide(policies({ identity: [identity(both)] }), { context: { sourceIp: "11.0.0.1" } });
    assert.deepEqual(d.dependsOn, { encryptionContext: false, sourceIp: true, time: true });
  });

  test("Null and ForAllValues on encryption context keys mark the encryption context", () => {
    const nul = allow("kms:Encrypt", { Condition: { Null: { "kms:EncryptionContext:x": false } } });
    const keys = allow("kms:Encrypt", { Condition: { "ForAllValues:StringEquals": { "kms:EncryptionContextKeys": "x" } } });
    assert.equal(decide(policies({ identity: [identity(nul)] })).dependsOn.encryptionContext, true);
    assert.equal(decide(policies({ identity: [identity(keys)] })).dependsOn.encryptionContext, true);
  });

  test("conditions on other keys mark nothing", () => {
    const other = allow("kms:Encrypt", { Condition: { StringEquals: { "kms:ViaService": "x", "kms:CallerAccount": OWNER }, Bool: { "keyhold:SecureTransport": true } } });
    assert.deepEqual(decide(policies({ identity: [identity(other)] })).dependsOn, NO_DEPENDENCIES);
  });

  test("statements for other actions, resources or principals are not examined", () => {
    const otherAction = { ...ipAllow, Action: "kms:Decrypt" };
    const otherResource = { ...timeAllow, Resource: OTHER_KEY };
    const kp = keyPolicy({ ...ecAllow, Principal: { KRN: userOf(OWNER, "mallory").krn } });
    assert.deepEqual(decide(policies({ identity: [identity([otherAction, otherResource])], resource: kp })).dependsOn, NO_DEPENDENCIES);
  });

  test("an explicit Deny that matched stops evaluation: later statements are not examined", () => {
    const d = decide(policies({ identity: [identity([deny("kms:*"), ipAllow]), identity(timeAllow)] }));
    assert.equal(d.reason, "explicit-deny");
    assert.deepEqual(d.dependsOn, NO_DEPENDENCIES);
  });

  test("a conditional Deny that did not match is still a dependency", () => {
    const d = decide(policies({ identity: [identity([allow("kms:*"), deny("kms:*", { Condition: { NotIpAddress: { "keyhold:SourceIp": "10.0.0.0/8" } } })])] }), {
      context: { sourceIp: "10.0.0.1" },
    });
    assert.equal(d.allowed, true);
    assert.deepEqual(d.dependsOn, { ...NO_DEPENDENCIES, sourceIp: true });
  });

  test("Allow statements after the first identity Allow are skipped; Deny statements are not", () => {
    const d = decide(policies({ identity: [identity([allow("kms:*"), ipAllow, deny("kms:*", { Condition: { DateGreaterThan: { "keyhold:CurrentTime": "2030-01-01" } } })])] }));
    assert.equal(d.allowed, true);
    assert.deepEqual(d.dependsOn, { ...NO_DEPENDENCIES, time: true });
  });

  test("same account with an identity Allow: key policy Allows and grants are not examined", () => {
    const d = decide(
      policies({
        identity: [identity(allow("kms:*"))],
        resource: keyPolicy({ ...ipAllow, Principal: "*" }),
        grants: [{ grantId: "g", keyKrn: KEY, granteePrincipal: ALICE.krn, operations: ["Encrypt"], constraints: { encryptionContextSubset: { a: "1" } } }],
      }),
    );
    assert.deepEqual(d.dependsOn, NO_DEPENDENCIES);
  });

  test("key policy conditions are examined when the identity side did not allow", () => {
    const d = decide(policies({ resource: keyPolicy({ ...timeAllow, Principal: "*" }) }));
    assert.equal(d.allowed, true);
    assert.deepEqual(d.dependsOn, { ...NO_DEPENDENCIES, time: true });
  });

  test("grant constraints mark the encryption context when the grant is examined", () => {
    const g: Grant = { grantId: "g", keyKrn: KEY, granteePrincipal: ALICE.krn, operations: ["Encrypt"], constraints: { encryptionContextSubset: { a: "1" } } };
    assert.equal(decide(policies({ grants: [g] })).dependsOn.encryptionContext, true);
    assert.equal(decide(policies({ grants: [g] }), { action: "kms:Decrypt" }).dependsOn.encryptionContext, false);
    assert.equal(decide(policies({ grants: [{ ...g, granteePrincipal: BOB.krn }] })).dependsOn.encryptionContext, false);
    assert.equal(decide(policies({ grants: [{ ...g, constraints: undefined }] })).dependsOn.encryptionContext, false);
  });

  test("cross account: both sides are examined", () => {
    const d = decide(policies({ identity: [identity(timeAllow)], resource: keyPolicy({ ...ipAllow, Principal: { KRN: OTHER } }) }), {
      principal: BOB,
      context: { sourceIp: "10.0.0.1" },
    });
    assert.equal(d.allowed, true);
    assert.deepEqual(d.dependsOn, { encryptionContext: false, sourceIp: true, time: true });
  });

  // The property caches rely on: varying an attribute the decision does not depend on never
  // changes the decision. Checked over a deterministic family of policy sets and requests.
  test("caching soundness: attributes marked false never change the decision", () => {
    let seed = 7;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const pick = <T>(items: readonly T[]): T => items[next(items.length)]!;
    const conditions: readonly (object | undefined)[] = [
      undefined,
      { IpAddress: { "keyhold:SourceIp": "10.0.0.0/8" } },
      { NotIpAddress: { "keyhold:SourceIp": "10.0.0.0/8" } },
      { Null: { "keyhold:SourceIp": true } },
      { DateLessThan: { "keyhold:CurrentTime": "2025-06-01T12:00:00Z" } },
      { DateGreaterThanEquals: { "keyhold:CurrentTime": "2025-06-01T12:00:00Z" } },
      { StringEquals: { "kms:EncryptionContext:tenant": "acme" } },
      { StringNotLike: { "kms:EncryptionContext:tenant": "a*" } },
      { "ForAllValues:StringEquals": { "kms:EncryptionContextKeys": ["tenant"] } },
      { "ForAnyValue:StringEquals": { "kms:EncryptionContextKeys": ["purpose"] } },
      { StringEqualsIfExists: { "kms:EncryptionContext:purpose": "x" }, IpAddressIfExists: { "keyhold:SourceIp": "192.0.2.0/24" } },
    ];
    const statement = (principal: boolean): object => {
      const condition = pick(conditions);
      return {
        Effect: pick(["Allow", "Allow", "Deny"]),
        Action: pick(["kms:*", "kms:Encrypt", "kms:Decrypt"]),
        Resource: "*",
        ...(principal ? { Principal: pick(["*", { KRN: OTHER }, { KRN: ALICE.krn }]) } : {}),
        ...(condition === undefined ? {} : { Condition: condition }),
      };
    };
    const ips = [undefined, "10.0.0.1", "192.0.2.9", "8.8.8.8", "::ffff:10.1.1.1"];
    const times = [new Date("2025-06-01T11:00:00Z"), NOW, new Date("2025-06-01T13:00:00Z")];
    const contexts = [undefined, {}, { tenant: "acme" }, { tenant: "other" }, { tenant: "acme", purpose: "x" }, { purpose: "y" }];
    let checked = 0;
    for (let round = 0; round < 300; round++) {
      const set = policies({
        identity: [identity(Array.from({ length: 1 + next(3) }, () => statement(false)))],
        resource: next(4) === 0 ? undefined : keyPolicy(Array.from({ length: 1 + next(3) }, () => statement(true))),
        grants: next(2) === 0 ? [] : [{ grantId: "g", keyKrn: KEY, granteePrincipal: pick([ALICE.krn, BOB.krn]), operations: ["Encrypt"], constraints: { encryptionContextSubset: { tenant: "acme" } } }],
      });
      const principal = pick([ALICE, BOB]);
      const base = { sourceIp: pick(ips), currentTime: pick(times), encryptionContext: pick(contexts) };
      const first = evaluate(request({ principal, context: base }), set);
      const variants: Partial<AuthorizationContext>[] = [];
      if (!first.dependsOn.sourceIp) for (const sourceIp of ips) variants.push({ ...base, sourceIp });
      if (!first.dependsOn.time) for (const currentTime of times) variants.push({ ...base, currentTime });
      if (!first.dependsOn.encryptionContext) for (const encryptionContext of contexts) variants.push({ ...base, encryptionContext });
      for (const context of variants) {
        const again = evaluate(request({ principal, context }), set);
        assert.deepEqual({ allowed: again.allowed, reason: again.reason, decidedBy: again.decidedBy }, { allowed: first.allowed, reason: first.reason, decidedBy: first.decidedBy });
        checked++;
      }
    }
    assert.ok(checked > 500, `only ${checked} variants checked`);
  });
});

describe("performance", () => {
  test("a realistic policy set evaluates in a few microseconds", () => {
    const set = policies({
      identity: [
        identity([
          allow(["kms:Describe*", "kms:List*"]),
          allow(["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"], { Resource: `krn:keyhold:kms:*:${OWNER}:key/*`, Condition: { StringEquals: { "kms:EncryptionContext:tenant": "acme" } } }),
          deny("kms:*", { Condition: { NotIpAddress: { "keyhold:SourceIp": ["10.0.0.0/8", "2001:db8::/32"] } } }),
        ]),
      ],
      resource: { id: "default", name: "default", document: parsePolicyDocument(defaultKeyPolicy(OWNER), "resource") },
      grants: [],
    });
    const req = request({ action: "kms:Decrypt", context: { sourceIp: "10.1.2.3", encryptionContext: { tenant: "acme" } } });
    assert.equal(evaluate(req, set).allowed, true);
    const n = 100_000;
    const start = performance.now();
    for (let i = 0; i < n; i++) evaluate(req, set);
    const micros = ((performance.now() - start) * 1000) / n;
    assert.ok(micros < 20, `${micros.toFixed(2)} µs per evaluation`);
  });
});
