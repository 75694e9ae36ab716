// The rows both stores read, and their records. Times are epoch milliseconds in SQLite and
// Dates (timestamptz) in PostgreSQL; the mappers take either.
import type {
  AccountRecord,
  ApiKeyRecord,
  ApiKeyStatusName,
  AttachmentRecord,
  CertificateIdentityRecord,
  GrantConstraintsRecord,
  GrantRecord,
  PolicyRecord,
  PrincipalRecord,
  ResourcePolicyRecord,
  RoleSessionRecord,
  SubjectAltNameTypeName,
} from "./records.ts";
import type { Page } from "./policy-store.ts";

export type Time = number | Date;

export interface AccountRow {
  account_id: string;
  name: string;
  created_at: Time;
}

export interface PrincipalRow {
  krn: string;
  account_id: string;
  type: "user" | "role";
  name: string;
  trust_policy: string | null;
  created_at: Time;
}

export interface ApiKeyRow {
  api_key_id: string;
  principal_krn: string;
  account_id: string;
  description: string;
  status: ApiKeyStatusName;
  created_at: Time;
  last_used_at: Time | null;
  secret_hash: Buffer;
}

export interface CertificateIdentityRow {
  san: string;
  type: SubjectAltNameTypeName;
  principal_krn: string;
  account_id: string;
  created_at: Time;
}

export interface PolicyRow {
  krn: string;
  account_id: string;
  name: string;
  description: string;
  document: string;
  created_at: Time;
  updated_at: Time;
}

export interface AttachmentRow {
  principal_krn: string;
  policy_krn: string;
  attached_at: Time;
}

export interface ResourcePolicyRow {
  resource_krn: string;
  account_id: string;
  document: string;
  updated_at: Time;
}

export interface GrantRow {
  grant_id: string;
  key_krn: string;
  account_id: string;
  grantee_principal: string;
  retiring_principal: string | null;
  operations: string;
  constraints: string | null;
  name: string;
  issuing_principal: string;
  token_hash: Buffer;
  created_at: Time;
}

export interface SessionRow {
  session_id: string;
  role_krn: string;
  account_id: string;
  session_name: string;
  source_principal: string;
  secret_hash: Buffer;
  created_at: Time;
  expires_at: Time;
}

export const toAccount = (row: AccountRow): AccountRecord => ({ accountId: row.account_id, name: row.name, createdAt: new Date(row.created_at) });

export const toPrincipal = (row: PrincipalRow): PrincipalRecord => ({
  krn: row.krn,
  accountId: row.account_id,
  type: row.type,
  name: row.name,
  trustPolicy: row.trust_policy ?? undefined,
  createdAt: new Date(row.created_at),
});

export const toApiKey = (row: ApiKeyRow): ApiKeyRecord => ({
  apiKeyId: row.api_key_id,
  principalKrn: row.principal_krn,
  accountId: row.account_id,
  description: row.description,
  status: row.status,
  createdAt: new Date(row.created_at),
  lastUsedAt: row.last_used_at === null ? undefined : new Date(row.last_used_at),
  secretHash: row.secret_hash,
});

export const toCertificateIdentity = (row: CertificateIdentityRow): CertificateIdentityRecord => ({
  san: row.san,
  type: row.type,
  principalKrn: row.principal_krn,
  accountId: row.account_id,
  createdAt: new Date(row.created_at),
});

export const toPolicy = (row: PolicyRow): PolicyRecord => ({
  krn: row.krn,
  accountId: row.account_id,
  name: row.name,
  description: row.description,
  document: row.document,
  createdAt: new Date(row.created_at),
  updatedAt: new Date(row.updated_at),
});

export const toAttachment = (row: AttachmentRow): AttachmentRecord => ({
  principalKrn: row.principal_krn,
  policyKrn: row.policy_krn,
  attachedAt: new Date(row.attached_at),
});

export const toResourcePolicy = (row: ResourcePolicyRow): ResourcePolicyRecord => ({
  resourceKrn: row.resource_krn,
  accountId: row.account_id,
  document: row.document,
  updatedAt: new Date(row.updated_at),
});

export interface ConstraintsJson {
  readonly equals?: Record<string, string>;
  readonly subset?: Record<string, string>;
}

export function constraintsToJson(constraints: GrantConstraintsRecord | undefined): string | null {
  if (constraints === undefined) return null;
  const json: { equals?: Readonly<Record<string, string>>; subset?: Readonly<Record<string, string>> } = {};
  if (constraints.encryptionContextEquals !== undefined) json.equals = constraints.encryptionContextEquals;
  if (constraints.encryptionContextSubset !== undefined) json.subset = constraints.encryptionContextSubset;
  return JSON.stringify(json);
}

export function constraintsFromJson(text: string | null): GrantConstraintsRecord | undefined {
  if (text === null) return undefined;
  const json = JSON.parse(text) as ConstraintsJson;
  return { encryptionContextEquals: json.equals, encryptionContextSubset: json.subset };
}

export const toGrant = (row: GrantRow): GrantRecord => ({
  grantId: row.grant_id,
  keyKrn: row.key_krn,
  accountId: row.account_id,
  granteePrincipal: row.grantee_principal,
  retiringPrincipal: row.retiring_principal ?? undefined,
  operations: JSON.parse(row.operations) as string[],
  constraints: constraintsFromJson(row.constraints),
  name: row.name,
  issuingPrincipal: row.issuing_principal,
  tokenHash: row.token_hash,
  createdAt: new Date(row.created_at),
});

export const toSession = (row: SessionRow): RoleSessionRecord => ({
  sessionId: row.session_id,
  roleKrn: row.role_krn,
  accountId: row.account_id,
  sessionName: row.session_name,
  sourcePrincipal: row.source_principal,
  secretHash: row.secret_hash,
  createdAt: new Date(row.created_at),
  expiresAt: new Date(row.expires_at),
});

/** A write's result, and whether it changed anything (only changes bump the sequence). */
export interface Written<T> {
  readonly value: T;
  readonly changed: boolean;
}

export const changed = <T>(value: T): Written<T> => ({ value, changed: true });
export const unchanged = <T>(value: T): Written<T> => ({ value, changed: false });

/** A page from `limit + 1` rows: the extra row only says there is more. */
export function page<T>(rows: T[], limit: number, sortKey: (item: T) => string): Page<T> {
  if (rows.length <= limit) return { items: rows, next: undefined };
  const items = rows.slice(0, limit);
  return { items, next: sortKey(items[items.length - 1]!) };
}
