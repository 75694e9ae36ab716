// Names in the IAM namespace: account ids, principal, policy, role and key krns, and the
// validation of every name a request carries (INVALID_ARGUMENT naming the field).
import { invalidArgument } from "@keyhold/server-kit";
import { MANAGED_POLICY_NAMES, type ManagedPolicyName } from "./policy/index.ts";

const ACCOUNT_ID = /^[0-9]{12}$/;
/** User, role and policy names: letters, digits and + = , . @ _ - (as in AWS IAM). */
const IAM_NAME = /^[A-Za-z0-9+=,.@_-]+$/;
const PRINCIPAL_KRN = /^krn:keyhold:iam::([0-9]{12}):(root|user\/([A-Za-z0-9+=,.@_-]{1,64})|role\/([A-Za-z0-9+=,.@_-]{1,64}))$/;
const POLICY_KRN = /^krn:keyhold:iam::([0-9]{12}|keyhold):policy\/([A-Za-z0-9+=,.@_-]{1,128})$/;
const KEY_KRN = /^krn:keyhold:kms:([a-z0-9-]{1,32}):([0-9]{12}):key\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

export const MAX_USER_NAME_LENGTH = 64;
export const MAX_ROLE_NAME_LENGTH = 64;
export const MAX_POLICY_NAME_LENGTH = 128;
export const MAX_KRN_LENGTH = 2048;
/** The pseudo-account of Keyhold-managed policies. */
export const MANAGED_POLICY_ACCOUNT = "keyhold";

export type PrincipalKind = "root" | "user" | "role";

export interface ParsedPrincipalKrn {
  readonly krn: string;
  readonly accountId: string;
  readonly kind: PrincipalKind;
  /** "root" for the account root. */
  readonly name: string;
}

export type ParsedPolicyKrn =
  | { readonly managed: false; readonly krn: string; readonly accountId: string; readonly name: string }
  | { readonly managed: true; readonly krn: string; readonly name: ManagedPolicyName };

export function isAccountId(value: string): boolean {
  return ACCOUNT_ID.test(value);
}

export function rootKrn(accountId: string): string {
  return `krn:keyhold:iam::${accountId}:root`;
}

export function userKrn(accountId: string, name: string): string {
  return `krn:keyhold:iam::${accountId}:user/${name}`;
}

export function roleKrn(accountId: string, name: string): string {
  return `krn:keyhold:iam::${accountId}:role/${name}`;
}

export function policyKrn(accountId: string, name: string): string {
  return `krn:keyhold:iam::${accountId}:policy/${name}`;
}

export function managedPolicyKrn(name: ManagedPolicyName): string {
  return `krn:keyhold:iam::${MANAGED_POLICY_ACCOUNT}:policy/${name}`;
}

export function accountKrn(managementAccountId: string, accountId: string): string {
  return `krn:keyhold:iam::${managementAccountId}:account/${accountId}`;
}

/** Everything in an account's IAM namespace: the resource of account-wide IAM actions (lists). */
export function iamAccountResource(accountId: string): string {
  return `krn:keyhold:iam::${accountId}:*`;
}

/**
 * The account segment of a krn (`krn:<partition>:<service>:<region>:<account>:<resource>`),
 * or "" when the krn has none.
 */
export function accountOfKrn(krn: string): string {
  let start = 0;
  for (let i = 0; i < 4; i++) {
    const colon = krn.indexOf(":", start);
    if (colon < 0) return "";
    start = colon + 1;
  }
  const end = krn.indexOf(":", start);
  return end < 0 ? "" : krn.slice(start, end);
}

export function parsePrincipalKrn(value: string): ParsedPrincipalKrn | undefined {
  const m = PRINCIPAL_KRN.exec(value);
  if (m === null) return undefined;
  const accountId = m[1]!;
  if (m[2] === "root") return { krn: value, accountId, kind: "root", name: "root" };
  if (m[3] !== undefined) return { krn: value, accountId, kind: "user", name: m[3] };
  return { krn: value, accountId, kind: "role", name: m[4]! };
}

export function parsePolicyKrn(value: string): ParsedPolicyKrn | undefined {
  const m = POLICY_KRN.exec(value);
  if (m === null) return undefined;
  const name = m[2]!;
  if (m[1] === MANAGED_POLICY_ACCOUNT) {
    return (MANAGED_POLICY_NAMES as readonly string[]).includes(name) ? { managed: true, krn: value, name: name as ManagedPolicyName } : undefined;
  }
  return { managed: false, krn: value, accountId: m[1]!, name };
}

export interface ParsedKeyKrn {
  readonly krn: string;
  readonly region: string;
  readonly accountId: string;
  readonly keyId: string;
}

export function parseKeyKrn(value: string): ParsedKeyKrn | undefined {
  const m = KEY_KRN.exec(value);
  return m === null ? undefined : { krn: value, region: m[1]!, accountId: m[2]!, keyId: m[3]! };
}

// ---------------------------------------------------------------------------------------------
// Request validation: INVALID_ARGUMENT naming the field.

export function requireIamName(value: string, field: string, maxLength: number): string {
  if (value === "") throw invalidArgument(field, "is required");
  if (value.length > maxLength) throw invalidArgument(field, `must be at most ${maxLength} characters`);
  if (!IAM_NAME.test(value)) throw invalidArgument(field, "may contain only letters, digits and + = , . @ _ -");
  return value;
}

export function requirePrincipalKrn(value: string, field: string): ParsedPrincipalKrn {
  if (value === "") throw invalidArgument(field, "is required");
  const parsed = value.length > MAX_KRN_LENGTH ? undefined : parsePrincipalKrn(value);
  if (parsed === undefined) {
    throw invalidArgument(field, "must be a principal krn: krn:keyhold:iam::<account>:root, ...:user/<name> or ...:role/<name>");
  }
  return parsed;
}

export function requireRoleKrn(value: string, field: string): ParsedPrincipalKrn {
  const parsed = requirePrincipalKrn(value, field);
  if (parsed.kind !== "role") throw invalidArgument(field, "must be a role krn: krn:keyhold:iam::<account>:role/<name>");
  return parsed;
}

export function requirePolicyKrn(value: string, field: string): ParsedPolicyKrn {
  if (value === "") throw invalidArgument(field, "is required");
  const parsed = value.length > MAX_KRN_LENGTH ? undefined : parsePolicyKrn(value);
  if (parsed === undefined) {
    throw invalidArgument(
      field,
      `must be a policy krn: krn:keyhold:iam::<account>:policy/<name>, or krn:keyhold:iam::keyhold:policy/<name> for ${MANAGED_POLICY_NAMES.join(", ")}`,
    );
  }
  return parsed;
}

export function requireKeyKrn(value: string, field: string): ParsedKeyKrn {
  if (value === "") throw invalidArgument(field, "is required");
  const parsed = value.length > MAX_KRN_LENGTH ? undefined : parseKeyKrn(value);
  if (parsed === undefined) throw invalidArgument(field, "must be a key krn: krn:keyhold:kms:<region>:<account>:key/<key-id>");
  return parsed;
}

/** A resource krn as the Authorize RPC takes it: krn:<partition>:<service>:<region>:<account>:<resource>. */
export function requireResourceKrn(value: string, field: string): string {
  if (value === "") throw invalidArgument(field, "is required");
  if (value.length > MAX_KRN_LENGTH) throw invalidArgument(field, `must be at most ${MAX_KRN_LENGTH} characters`);
  if (!/^krn:[a-z0-9-]+:[a-z0-9-]+:[a-z0-9-]*:([0-9]{12}|keyhold)?:[\x21-\x7e]+$/.test(value)) {
    throw invalidArgument(field, "must be a krn: krn:<partition>:<service>:<region>:<account>:<resource>");
  }
  return value;
}

const ACTION = /^[a-z0-9-]+:[A-Za-z0-9]+$/;

/** An action name `<service>:<Action>` (no wildcards), e.g. kms:Encrypt. */
export function requireAction(value: string, field: string): string {
  if (value === "") throw invalidArgument(field, "is required");
  if (value.length > 128 || !ACTION.test(value)) throw invalidArgument(field, "must be <service>:<Action>, e.g. kms:Encrypt (no wildcards)");
  return value;
}
