// Store records → API messages. Never carries a secret or a secret's digest.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  AccountSchema,
  ApiKeySchema,
  ApiKeyStatus,
  CertificateIdentitySchema,
  GrantSchema,
  PolicySchema,
  PrincipalSchema,
  PrincipalType,
  SubjectAltNameType,
  type Account,
  type ApiKey,
  type CertificateIdentity,
  type Grant,
  type Policy,
  type Principal as PrincipalMessage,
} from "@keyhold/proto";
import type { Principal } from "@keyhold/server-kit";
import { managedPolicyKrn, rootKrn } from "../domain/names.ts";
import { managedPolicy, type ManagedPolicyName } from "../domain/policy/index.ts";
import type { AccountRecord, ApiKeyRecord, CertificateIdentityRecord, GrantRecord, PolicyRecord, PrincipalRecord } from "../store/records.ts";

export const PRINCIPAL_TYPE_OF_KIND: Readonly<Record<Principal["kind"], PrincipalType>> = {
  root: PrincipalType.ROOT,
  user: PrincipalType.USER,
  role: PrincipalType.ROLE,
  service: PrincipalType.SERVICE,
};

export function accountView(account: AccountRecord): Account {
  return create(AccountSchema, { accountId: account.accountId, name: account.name, creationDate: timestampFromDate(account.createdAt) });
}

export function principalView(principal: PrincipalRecord): PrincipalMessage {
  return create(PrincipalSchema, {
    krn: principal.krn,
    accountId: principal.accountId,
    type: principal.type === "user" ? PrincipalType.USER : PrincipalType.ROLE,
    name: principal.name,
    creationDate: timestampFromDate(principal.createdAt),
    trustPolicy: principal.trustPolicy ?? "",
  });
}

/** The implicit root principal of an account. */
export function rootPrincipalView(account: AccountRecord): PrincipalMessage {
  return create(PrincipalSchema, {
    krn: rootKrn(account.accountId),
    accountId: account.accountId,
    type: PrincipalType.ROOT,
    name: "root",
    creationDate: timestampFromDate(account.createdAt),
  });
}

export function apiKeyView(apiKey: ApiKeyRecord): ApiKey {
  return create(ApiKeySchema, {
    apiKeyId: apiKey.apiKeyId,
    principalKrn: apiKey.principalKrn,
    description: apiKey.description,
    status: apiKey.status === "active" ? ApiKeyStatus.ACTIVE : ApiKeyStatus.DISABLED,
    creationDate: timestampFromDate(apiKey.createdAt),
    ...(apiKey.lastUsedAt === undefined ? {} : { lastUsedDate: timestampFromDate(apiKey.lastUsedAt) }),
  });
}

export function certificateIdentityView(identity: CertificateIdentityRecord): CertificateIdentity {
  return create(CertificateIdentitySchema, {
    san: identity.san,
    type: identity.type === "uri" ? SubjectAltNameType.URI : SubjectAltNameType.DNS,
    principalKrn: identity.principalKrn,
    creationDate: timestampFromDate(identity.createdAt),
  });
}

export function policyView(policy: PolicyRecord): Policy {
  return create(PolicySchema, {
    krn: policy.krn,
    name: policy.name,
    description: policy.description,
    document: policy.document,
    managed: false,
    creationDate: timestampFromDate(policy.createdAt),
    updateDate: timestampFromDate(policy.updatedAt),
  });
}

const MANAGED_DESCRIPTIONS: Readonly<Record<ManagedPolicyName, string>> = {
  AdministratorAccess: "Every action on every resource of the account.",
  KeyAdministrator: "Manage keys (create, describe, enable, disable, rotate, schedule deletion, key policies); no cryptographic use.",
  KeyUser: "Use keys for cryptographic operations and read their metadata; no management.",
  ReadOnlyAudit: "Read key metadata, key policies and the audit log; no changes, no cryptographic use.",
};

/** A Keyhold-managed policy as it applies in `accountId` (its resources name that account). */
export function managedPolicyView(name: ManagedPolicyName, accountId: string): Policy {
  return create(PolicySchema, {
    krn: managedPolicyKrn(name),
    name,
    description: MANAGED_DESCRIPTIONS[name],
    document: managedPolicy(name, accountId),
    managed: true,
  });
}

export function grantView(grant: GrantRecord): Grant {
  return create(GrantSchema, {
    grantId: grant.grantId,
    keyId: grant.keyKrn,
    granteePrincipal: grant.granteePrincipal,
    retiringPrincipal: grant.retiringPrincipal ?? "",
    operations: [...grant.operations],
    ...(grant.constraints === undefined
      ? {}
      : {
          constraints: {
            encryptionContextEquals: { ...grant.constraints.encryptionContextEquals },
            encryptionContextSubset: { ...grant.constraints.encryptionContextSubset },
          },
        }),
    name: grant.name,
    issuingPrincipal: grant.issuingPrincipal,
    creationDate: timestampFromDate(grant.createdAt),
  });
}
