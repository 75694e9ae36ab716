// What secrets-service stores. Values exist only sealed (envelope-encrypted); metadata is clear.
import type { SecretType } from "@keyhold/proto";

export interface SecretRecord {
  /** Internal id (UUID), stable across renames of nothing: names never change. */
  readonly secretId: string;
  readonly accountId: string;
  readonly name: string;
  readonly description: string;
  readonly secretType: SecretType;
  /** The key reference the owner chose ("" = the account's default secrets key). */
  readonly kmsKeyId: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly rotationEnabled: boolean;
  readonly rotationIntervalSeconds: number;
  readonly rotationHandlerUrl: string;
  readonly lastRotatedAt: Date | undefined;
  readonly nextRotationAt: Date | undefined;
  /** The version id of the rotation in progress or last failed (resumed with the same id). */
  readonly rotationToken: string | undefined;
  /** Until when a running rotation holds the secret. */
  readonly rotationLeaseUntil: Date | undefined;
  readonly lastRotationError: string;
  readonly deletionDate: Date | undefined;
  readonly apiKeyPrincipalKrn: string;
  readonly apiKeyGracePeriodSeconds: number;
}

export const VALUE_KINDS = { string: 1, binary: 2 } as const;
export type ValueKind = (typeof VALUE_KINDS)[keyof typeof VALUE_KINDS];

export interface SecretVersionRecord {
  readonly secretId: string;
  readonly versionId: string;
  readonly createdAt: Date;
  /** The krn of the key the data key is encrypted under. */
  readonly keyKrn: string;
  /** The data key, encrypted by key-service (a key-service ciphertext). */
  readonly encryptedDataKey: Buffer;
  /** format byte ‖ IV ‖ AES-256-GCM ciphertext ‖ tag (see domain/envelope.ts). */
  readonly sealedValue: Buffer;
  readonly valueKind: ValueKind;
}

export interface TagRecord {
  readonly key: string;
  readonly value: string;
}

/** An API key a rotation replaced: disabled once the grace period ends. */
export interface ApiKeyRetirement {
  readonly secretId: string;
  readonly accountId: string;
  readonly principalKrn: string;
  readonly apiKeyId: string;
  readonly disableAt: Date;
}
