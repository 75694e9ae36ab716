// What key-service stores. Plain data: no transport, no crypto.
import type {
  ExternalKeyStoreConnectionErrorCode, ExternalKeyStoreConnectionState, KeyManager, KeySpec, KeyState, KeyUsage, KeyVersionSource, Origin, WrappingAlgorithm,
} from "@keyhold/proto";

export interface KeyRecord {
  readonly keyId: string;
  readonly accountId: string;
  readonly description: string;
  readonly keySpec: KeySpec;
  readonly keyUsage: KeyUsage;
  readonly origin: Origin;
  readonly keyManager: KeyManager;
  readonly state: KeyState;
  readonly createdAt: Date;
  readonly primaryVersionId: string;
  /** When a key pending deletion is destroyed. */
  readonly deletionDate: Date | undefined;
  /** Automatic rotation period in days; 0 when automatic rotation is off. */
  readonly rotationPeriodDays: number;
  /** When the scheduler rotates the key next (set while automatic rotation is on). */
  readonly nextRotationAt: Date | undefined;
  /** While true, deletion cannot be scheduled. */
  readonly deletionProtection: boolean;
  /** EXTERNAL keys: when the imported material expires (undefined: it does not). */
  readonly materialExpiresAt: Date | undefined;
  /** EXTERNAL keys: a commitment to the material first imported (re-imports must match). */
  readonly importedMaterialDigest: Buffer | undefined;
  /** EXTERNAL_KEY_STORE keys: the store and the key's id in the external key manager. */
  readonly externalKey: ExternalKeyRef | undefined;
}

export interface ExternalKeyRef {
  readonly externalKeyStoreId: string;
  readonly xksKeyId: string;
}

/** The lifecycle fields a new key starts with. */
export const NEW_KEY_LIFECYCLE = {
  deletionDate: undefined,
  rotationPeriodDays: 0,
  nextRotationAt: undefined,
  deletionProtection: false,
  materialExpiresAt: undefined,
  importedMaterialDigest: undefined,
  externalKey: undefined,
} as const satisfies Partial<KeyRecord>;

export interface KeyVersionRecord {
  readonly versionId: string;
  readonly keyId: string;
  readonly accountId: string;
  /**
   * Key material wrapped by the root key; never stored in the clear. Empty while an EXTERNAL
   * key has no imported material.
   */
  readonly wrappedMaterial: Buffer;
  /** Which root key wrapped it (provider description). */
  readonly wrappedBy: string;
  readonly createdAt: Date;
  readonly source: KeyVersionSource;
  /** Asymmetric keys: the DER SubjectPublicKeyInfo. */
  readonly publicKey: Buffer | undefined;
}

export interface AliasRecord {
  readonly accountId: string;
  /** alias/<name> */
  readonly aliasName: string;
  readonly targetKeyId: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface TagRecord {
  readonly key: string;
  readonly value: string;
}

export interface IdempotencyRecord {
  readonly requestHash: string;
  readonly resourceId: string;
}

/** The RSA wrapping key and token GetParametersForImport hands out for one key. */
export interface ImportTokenRecord {
  readonly tokenId: string;
  readonly accountId: string;
  readonly keyId: string;
  readonly wrappingAlgorithm: WrappingAlgorithm;
  /** The wrapping key's modulus bits. */
  readonly wrappingKeySpec: number;
  /** The wrapping key's PKCS#8 private key, wrapped by the root key. */
  readonly wrappedPrivateKey: Buffer;
  readonly createdAt: Date;
  readonly expiresAt: Date;
}

/** An external key store: where its XKS proxy is and how to authenticate to it. */
export interface ExternalKeyStoreRecord {
  readonly externalKeyStoreId: string;
  readonly accountId: string;
  readonly name: string;
  /** https://host[:port] */
  readonly endpoint: string;
  /** [/<prefix>]/kms/xks/v1 */
  readonly uriPath: string;
  readonly accessKeyId: string;
  /** The SigV4 secret access key, wrapped by the root key. */
  readonly wrappedSecretAccessKey: Buffer;
  readonly tlsCaPem: string;
  readonly tlsClientCertificatePem: string;
  /** The mTLS client private key, wrapped by the root key; empty when none. */
  readonly wrappedTlsClientKey: Buffer;
  readonly tlsServerName: string;
  readonly connectionState: ExternalKeyStoreConnectionState;
  readonly connectionErrorCode: ExternalKeyStoreConnectionErrorCode;
  readonly createdAt: Date;
  /** Changes with every update of the proxy settings (clients are rebuilt then). */
  readonly updatedAt: Date;
}
