// What key-service stores. Plain data: no transport, no crypto.
import type { KeyManager, KeySpec, KeyState, KeyUsage, KeyVersionSource, Origin, WrappingAlgorithm } from "@keyhold/proto";

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
}

/** The lifecycle fields a new key starts with. */
export const NEW_KEY_LIFECYCLE = {
  deletionDate: undefined,
  rotationPeriodDays: 0,
  nextRotationAt: undefined,
  deletionProtection: false,
  materialExpiresAt: undefined,
  importedMaterialDigest: undefined,
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
