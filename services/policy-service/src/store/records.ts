// What policy-service stores. Plain data: no transport, no crypto. Credentials (API key secrets,
// session tokens, grant tokens) appear only as SHA-256 digests of their secret part.

export interface AccountRecord {
  /** 12 digits. */
  readonly accountId: string;
  readonly name: string;
  readonly createdAt: Date;
}

/** A stored principal: users and roles. Each account's root is implicit and never stored. */
export interface PrincipalRecord {
  /** krn:keyhold:iam::<account>:user/<name> or .../role/<name> */
  readonly krn: string;
  readonly accountId: string;
  readonly type: "user" | "role";
  readonly name: string;
  /** Roles only: the trust policy document (JSON, validated at upload). */
  readonly trustPolicy: string | undefined;
  readonly createdAt: Date;
}

export type ApiKeyStatusName = "active" | "disabled";

export interface ApiKeyRecord {
  /** 16 lowercase hex digits: the public part of `khk_<id>_<secret>`. */
  readonly apiKeyId: string;
  /** A user krn or an account root krn. */
  readonly principalKrn: string;
  readonly accountId: string;
  readonly description: string;
  readonly status: ApiKeyStatusName;
  readonly createdAt: Date;
  readonly lastUsedAt: Date | undefined;
  /** SHA-256 of the secret (32 bytes). */
  readonly secretHash: Buffer;
}

/** A customer-managed identity policy. */
export interface PolicyRecord {
  /** krn:keyhold:iam::<account>:policy/<name> */
  readonly krn: string;
  readonly accountId: string;
  readonly name: string;
  readonly description: string;
  readonly document: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface AttachmentRecord {
  readonly principalKrn: string;
  /** A customer policy krn or a managed one (krn:keyhold:iam::keyhold:policy/<Name>). */
  readonly policyKrn: string;
  readonly attachedAt: Date;
}

/** A resource (key) policy. */
export interface ResourcePolicyRecord {
  readonly resourceKrn: string;
  readonly accountId: string;
  readonly document: string;
  readonly updatedAt: Date;
}

export interface GrantConstraintsRecord {
  readonly encryptionContextEquals: Readonly<Record<string, string>> | undefined;
  readonly encryptionContextSubset: Readonly<Record<string, string>> | undefined;
}

export interface GrantRecord {
  readonly grantId: string;
  readonly keyKrn: string;
  /** The key's account. */
  readonly accountId: string;
  readonly granteePrincipal: string;
  readonly retiringPrincipal: string | undefined;
  /** Canonical action names, e.g. kms:Encrypt. */
  readonly operations: readonly string[];
  readonly constraints: GrantConstraintsRecord | undefined;
  readonly name: string;
  readonly issuingPrincipal: string;
  /** SHA-256 of the grant token's secret part. */
  readonly tokenHash: Buffer;
  readonly createdAt: Date;
}

/** A temporary credential from AssumeRole. */
export interface RoleSessionRecord {
  /** 16 lowercase hex digits: the public part of `khs_<id>_<secret>`. */
  readonly sessionId: string;
  readonly roleKrn: string;
  /** The role's account. */
  readonly accountId: string;
  readonly sessionName: string;
  /** Who assumed the role (krn; for a chained assumption, the source role's krn). */
  readonly sourcePrincipal: string;
  /** SHA-256 of the secret. */
  readonly secretHash: Buffer;
  readonly createdAt: Date;
  readonly expiresAt: Date;
}

export type SubjectAltNameTypeName = "uri" | "dns";

/** A client certificate identity (a SAN) mapped to a user or role; a SAN maps to one principal system-wide. */
export interface CertificateIdentityRecord {
  /** The SAN value: a URI (e.g. spiffe://trust-domain/path) as given, or a DNS name in lower case. */
  readonly san: string;
  readonly type: SubjectAltNameTypeName;
  /** A user or role krn. */
  readonly principalKrn: string;
  readonly accountId: string;
  readonly createdAt: Date;
}

/** What changed, as WatchChanges reports it. */
export type ChangeKind = "account" | "principal" | "credential" | "policy" | "resource-policy" | "grant";

export interface ChangeEvent {
  /** Increases by one with every committed mutation; persisted. */
  readonly sequence: bigint;
  readonly kind: ChangeKind;
}
