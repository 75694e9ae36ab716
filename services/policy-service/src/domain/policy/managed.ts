// Managed identity policies and the default key policy, as JSON documents an account can
// attach (they parse as kind "identity" and "resource" respectively).
//
// The key-administrator / key-user split:
// - KeyAdministrator manages keys and never uses them: no Encrypt, Decrypt, ReEncrypt*,
//   GenerateDataKey*, GenerateRandom, Sign, Verify, GenerateMac, VerifyMac. It gets
//   kms:CreateKey and kms:CreateAlias but not kms:Create*, which would include
//   kms:CreateGrant — a grant to oneself is a way to crypto. It can revoke grants (that only
//   removes access). It does get kms:PutKeyPolicy (administrators own key policies), so an
//   administrator can still rewrite a key policy to let itself use the key: the split guards
//   against mistakes and keeps duties visible in the audit log, it is not a hard boundary
//   against a malicious administrator (the same holds in AWS KMS).
// - KeyUser uses keys and reads their metadata; it cannot create, change, disable, delete or
//   re-policy them.
// - ReadOnlyAudit reads key metadata and policies and the audit log; no crypto, no changes.
// The wildcards `kms:Get*`, `kms:List*`, `kms:Describe*` match no crypto action (those are
// Encrypt, Decrypt, ReEncrypt*, Generate*, Sign, Verify*); managed.test.ts checks every one.
//
// KMS actions are scoped to krn:keyhold:kms:*:<account>:* — keys and aliases of the account.
// Services authorize account-level actions (CreateKey, ListKeys, GenerateRandom, ...) against
// a krn inside the account, e.g. krn:keyhold:kms:<region>:<account>:key/*.
import { PolicyValidationError, rootKrn } from "./document.ts";

export const MANAGED_POLICY_NAMES = ["AdministratorAccess", "KeyAdministrator", "KeyUser", "ReadOnlyAudit"] as const;
export type ManagedPolicyName = (typeof MANAGED_POLICY_NAMES)[number];

const ACCOUNT_ID = /^[0-9]{12}$/;

interface StatementJson {
  readonly Sid: string;
  readonly Effect: "Allow" | "Deny";
  readonly Action: string | readonly string[];
  readonly Resource: string;
  readonly Principal?: { readonly KRN: string };
}

function documentJson(statements: readonly StatementJson[]): string {
  return JSON.stringify({ Version: "2012-10-17", Statement: statements }, null, 2);
}

function checkAccount(accountId: string, field: string): void {
  if (typeof accountId !== "string" || !ACCOUNT_ID.test(accountId)) {
    throw new PolicyValidationError(field, undefined, `${field}: must be a 12-digit account id`);
  }
}

function kmsResources(accountId: string): string {
  return `krn:keyhold:kms:*:${accountId}:*`;
}

const KEY_ADMINISTRATOR_ACTIONS = [
  "kms:CreateKey",
  "kms:CreateAlias",
  "kms:List*",
  "kms:Describe*",
  "kms:Get*",
  "kms:Enable*",
  "kms:Disable*",
  "kms:Update*",
  "kms:Delete*",
  "kms:Schedule*",
  "kms:Cancel*",
  "kms:TagResource",
  "kms:UntagResource",
  "kms:ListResourceTags",
  "kms:ImportKeyMaterial",
  "kms:GetParametersForImport",
  "kms:RotateKey",
  "kms:PutKeyPolicy",
  "kms:GetKeyPolicy",
  "kms:RevokeGrant",
  // External key stores (Get*, List*, Update*, Delete* cover the others).
  "kms:CreateExternalKeyStore",
  "kms:ConnectExternalKeyStore",
  "kms:DisconnectExternalKeyStore",
] as const;

const KEY_USER_ACTIONS = [
  "kms:Encrypt",
  "kms:Decrypt",
  "kms:ReEncrypt*",
  "kms:GenerateDataKey*",
  "kms:GenerateRandom",
  "kms:Sign",
  "kms:Verify",
  "kms:GenerateMac",
  "kms:VerifyMac",
  "kms:GetPublicKey",
  "kms:DescribeKey",
  "kms:GetKey",
  "kms:List*",
] as const;

const READ_ONLY_KMS_ACTIONS = ["kms:List*", "kms:Get*", "kms:Describe*"] as const;
const READ_ONLY_AUDIT_ACTIONS = ["audit:Get*", "audit:List*", "audit:Lookup*", "audit:Describe*", "audit:Export*", "audit:Verify*"] as const;

/**
 * The JSON of a managed identity policy for an account. Throws PolicyValidationError for an
 * unknown name or an account id that is not 12 digits.
 */
export function managedPolicy(name: ManagedPolicyName, accountId: string): string {
  checkAccount(accountId, "accountId");
  switch (name) {
    case "AdministratorAccess":
      return documentJson([{ Sid: "AdministratorAccess", Effect: "Allow", Action: "*", Resource: "*" }]);
    case "KeyAdministrator":
      return documentJson([{ Sid: "KeyAdministration", Effect: "Allow", Action: KEY_ADMINISTRATOR_ACTIONS, Resource: kmsResources(accountId) }]);
    case "KeyUser":
      return documentJson([{ Sid: "KeyUse", Effect: "Allow", Action: KEY_USER_ACTIONS, Resource: kmsResources(accountId) }]);
    case "ReadOnlyAudit":
      return documentJson([
        { Sid: "ReadKeyMetadata", Effect: "Allow", Action: READ_ONLY_KMS_ACTIONS, Resource: kmsResources(accountId) },
        // The audit service's own resources are not named yet; "*" is safe in an identity
        // policy because another account's resources also need that account's allow.
        { Sid: "ReadAuditLog", Effect: "Allow", Action: READ_ONLY_AUDIT_ACTIONS, Resource: "*" },
      ]);
    default:
      throw new PolicyValidationError("name", undefined, `name: unknown managed policy ${JSON.stringify(String(name))} (known: ${MANAGED_POLICY_NAMES.join(", ")})`);
  }
}

/**
 * The key policy a new key gets: the owner account's root may do everything with the key.
 * The owner's users and roles need identity policies (a same-account root krn matches only
 * the root), which keeps the administrator / user split meaningful.
 */
export function defaultKeyPolicy(ownerAccountId: string): string {
  checkAccount(ownerAccountId, "ownerAccountId");
  return documentJson([
    { Sid: "EnableOwnerRoot", Effect: "Allow", Principal: { KRN: rootKrn(ownerAccountId) }, Action: "kms:*", Resource: "*" },
  ]);
}
