import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { PolicyValidationError, parsePolicyDocument } from "./document.ts";
import { evaluate, type AttachedPolicy } from "./evaluate.ts";
import { MANAGED_POLICY_NAMES, defaultKeyPolicy, managedPolicy, type ManagedPolicyName } from "./managed.ts";
import { ALICE, BOB, KEY, OTHER, OWNER, REGION, keyPolicy, allow, policies, request, rootOf } from "./test-support.ts";

const ALIAS = `krn:keyhold:kms:${REGION}:${OWNER}:alias/app`;

/** Every crypto operation a key administrator or auditor must never get. */
const CRYPTO_ACTIONS = [
  "kms:Encrypt",
  "kms:Decrypt",
  "kms:ReEncrypt",
  "kms:ReEncryptFrom",
  "kms:ReEncryptTo",
  "kms:GenerateDataKey",
  "kms:GenerateDataKeyWithoutPlaintext",
  "kms:GenerateDataKeyPair",
  "kms:GenerateDataKeyPairWithoutPlaintext",
  "kms:GenerateRandom",
  "kms:Sign",
  "kms:Verify",
  "kms:GenerateMac",
  "kms:VerifyMac",
] as const;

function attached(name: ManagedPolicyName, accountId = OWNER): AttachedPolicy {
  return { id: `managed/${name}`, name, document: parsePolicyDocument(managedPolicy(name, accountId), "identity") };
}

function can(name: ManagedPolicyName, action: string, resource = KEY): boolean {
  return evaluate(request({ action, resource }), policies({ identity: [attached(name)] })).allowed;
}

describe("managed policies", () => {
  test("MANAGED_POLICY_NAMES", () => {
    assert.deepEqual(MANAGED_POLICY_NAMES, ["AdministratorAccess", "KeyAdministrator", "KeyUser", "ReadOnlyAudit"]);
  });

  for (const name of MANAGED_POLICY_NAMES) {
    test(`${name} parses as an identity policy and names the account`, () => {
      const json = managedPolicy(name, OWNER);
      const doc = parsePolicyDocument(json, "identity");
      assert.ok(doc.statements.length >= 1);
      assert.ok(doc.statements.every((s) => s.effect === "Allow"), "managed policies only allow");
      if (name !== "AdministratorAccess") assert.ok(json.includes(`:${OWNER}:`));
      assert.ok(!json.includes(OTHER));
    });
  }

  const keyAdminCan = [
    "kms:CreateKey",
    "kms:CreateAlias",
    "kms:DescribeKey",
    "kms:GetKey",
    "kms:ListKeys",
    "kms:ListAliases",
    "kms:ListGrants",
    "kms:UpdateKey",
    "kms:UpdateAlias",
    "kms:EnableKey",
    "kms:DisableKey",
    "kms:EnableKeyRotation",
    "kms:DisableKeyRotation",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:DeleteAlias",
    "kms:DeleteImportedKeyMaterial",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ListResourceTags",
    "kms:ImportKeyMaterial",
    "kms:GetParametersForImport",
    "kms:RotateKey",
    "kms:PutKeyPolicy",
    "kms:GetKeyPolicy",
    "kms:GetPublicKey",
    "kms:RevokeGrant",
    "kms:CreateExternalKeyStore",
    "kms:GetExternalKeyStore",
    "kms:ListExternalKeyStores",
    "kms:UpdateExternalKeyStore",
    "kms:DeleteExternalKeyStore",
    "kms:ConnectExternalKeyStore",
    "kms:DisconnectExternalKeyStore",
  ];
  for (const action of keyAdminCan) {
    test(`KeyAdministrator can ${action}`, () => assert.equal(can("KeyAdministrator", action), true));
  }
  for (const action of [...CRYPTO_ACTIONS, "kms:CreateGrant", "kms:RetireGrant", "secrets:GetSecretValue", "iam:CreateUser", "audit:ListEvents"]) {
    test(`KeyAdministrator cannot ${action}`, () => assert.equal(can("KeyAdministrator", action), false));
  }

  const keyUserCan = [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GenerateDataKeyPair",
    "kms:GenerateRandom",
    "kms:Sign",
    "kms:Verify",
    "kms:GenerateMac",
    "kms:VerifyMac",
    "kms:GetPublicKey",
    "kms:DescribeKey",
    "kms:GetKey",
    "kms:ListKeys",
    "kms:ListAliases",
  ];
  for (const action of keyUserCan) {
    test(`KeyUser can ${action}`, () => assert.equal(can("KeyUser", action), true));
  }
  const keyUserCannot = [
    "kms:CreateKey",
    "kms:CreateAlias",
    "kms:CreateGrant",
    "kms:UpdateKey",
    "kms:UpdateAlias",
    "kms:EnableKey",
    "kms:DisableKey",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:DeleteAlias",
    "kms:PutKeyPolicy",
    "kms:GetKeyPolicy",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ImportKeyMaterial",
    "kms:RotateKey",
    "secrets:GetSecretValue",
  ];
  for (const action of keyUserCannot) {
    test(`KeyUser cannot ${action}`, () => assert.equal(can("KeyUser", action), false));
  }

  for (const action of ["kms:ListKeys", "kms:ListAliases", "kms:DescribeKey", "kms:GetKey", "kms:GetKeyPolicy", "kms:GetPublicKey", "kms:ListResourceTags", "audit:ListEvents", "audit:GetCheckpoint", "audit:ExportLog", "audit:VerifyLog"]) {
    test(`ReadOnlyAudit can ${action}`, () => assert.equal(can("ReadOnlyAudit", action), true));
  }
  for (const action of [...CRYPTO_ACTIONS, "kms:CreateKey", "kms:PutKeyPolicy", "kms:DisableKey", "kms:ScheduleKeyDeletion", "kms:TagResource", "audit:DeleteEvents", "audit:PutCheckpoint", "secrets:GetSecretValue"]) {
    test(`ReadOnlyAudit cannot ${action}`, () => assert.equal(can("ReadOnlyAudit", action), false));
  }

  for (const action of ["kms:Encrypt", "kms:CreateKey", "kms:PutKeyPolicy", "secrets:GetSecretValue", "iam:CreateUser", "audit:ListEvents"]) {
    test(`AdministratorAccess can ${action}`, () => assert.equal(can("AdministratorAccess", action), true));
  }

  test("aliases are in scope of the kms policies", () => {
    assert.equal(can("KeyAdministrator", "kms:UpdateAlias", ALIAS), true);
    assert.equal(can("KeyUser", "kms:Encrypt", ALIAS), true);
  });

  test("the kms policies do not reach other services' resources or other accounts' keys", () => {
    assert.equal(can("KeyUser", "kms:Encrypt", `krn:keyhold:kms:${REGION}:${OTHER}:key/x`), false);
    assert.equal(can("KeyAdministrator", "kms:DisableKey", `krn:keyhold:secrets:${REGION}:${OWNER}:secret/db`), false);
  });

  test("a user with both KeyAdministrator and KeyUser can do both (no hidden Deny)", () => {
    const set = policies({ identity: [attached("KeyAdministrator"), attached("KeyUser")] });
    for (const action of ["kms:Encrypt", "kms:DisableKey"]) assert.equal(evaluate(request({ action }), set).allowed, true, action);
  });

  test("another account's KeyUser still needs the key policy", () => {
    const bobKeyUserForOwnerKeys: AttachedPolicy = {
      id: "b",
      name: "b",
      // KeyUser written for the key's account, attached in Bob's account (as a customer might).
      document: parsePolicyDocument(managedPolicy("KeyUser", OWNER), "identity"),
    };
    const without = evaluate(request({ principal: BOB }), policies({ identity: [bobKeyUserForOwnerKeys] }));
    assert.equal(without.reason, "cross-account-missing-resource-allow");
    const withKeyPolicy = evaluate(request({ principal: BOB }), policies({ identity: [bobKeyUserForOwnerKeys], resource: keyPolicy({ ...allow("kms:Encrypt"), Principal: { KRN: OTHER } }) }));
    assert.equal(withKeyPolicy.allowed, true);
  });

  test("bad arguments", () => {
    assert.throws(() => managedPolicy("KeyUser", "1234"), (e: unknown) => e instanceof PolicyValidationError && e.field === "accountId");
    assert.throws(() => managedPolicy("KeyUser", `${OWNER}:*`), (e: unknown) => e instanceof PolicyValidationError && e.field === "accountId");
    assert.throws(() => managedPolicy("PowerUser" as ManagedPolicyName, OWNER), (e: unknown) => e instanceof PolicyValidationError && e.field === "name");
    assert.throws(() => defaultKeyPolicy("owner"), (e: unknown) => e instanceof PolicyValidationError && e.field === "ownerAccountId");
  });
});

describe("defaultKeyPolicy", () => {
  const policy: AttachedPolicy = { id: "default", name: "default", document: parsePolicyDocument(defaultKeyPolicy(OWNER), "resource") };

  test("is the owner root, kms:*, on *", () => {
    assert.deepEqual(JSON.parse(defaultKeyPolicy(OWNER)), {
      Version: "2012-10-17",
      Statement: [{ Sid: "EnableOwnerRoot", Effect: "Allow", Principal: { KRN: `krn:keyhold:iam::${OWNER}:root` }, Action: "kms:*", Resource: "*" }],
    });
  });

  test("the owner root may do every kms action; users need identity policies", () => {
    for (const action of ["kms:Encrypt", "kms:ScheduleKeyDeletion", "kms:PutKeyPolicy", "kms:CreateGrant"]) {
      assert.equal(evaluate(request({ principal: rootOf(OWNER), action }), policies({ resource: policy })).allowed, true, action);
      assert.equal(evaluate(request({ principal: ALICE, action }), policies({ resource: policy })).allowed, false, action);
    }
    assert.equal(evaluate(request({ principal: rootOf(OWNER), action: "secrets:GetSecretValue" }), policies({ resource: policy })).allowed, false);
  });

  test("with managed policies the administrator / user split holds", () => {
    const admin = policies({ identity: [attached("KeyAdministrator")], resource: policy });
    const user = policies({ identity: [attached("KeyUser")], resource: policy });
    assert.equal(evaluate(request({ action: "kms:DisableKey" }), admin).allowed, true);
    assert.equal(evaluate(request({ action: "kms:Encrypt" }), admin).allowed, false);
    assert.equal(evaluate(request({ action: "kms:Encrypt" }), user).allowed, true);
    assert.equal(evaluate(request({ action: "kms:DisableKey" }), user).allowed, false);
  });
});
