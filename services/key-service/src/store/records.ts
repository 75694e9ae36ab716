// What key-service stores. Plain data: no transport, no crypto.
import type { KeyManager, KeySpec, KeyState, KeyUsage, Origin } from "@keyhold/proto";

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
  readonly deletionDate: Date | undefined;
}

export interface KeyVersionRecord {
  readonly versionId: string;
  readonly keyId: string;
  readonly accountId: string;
  /** Key material wrapped by the root key; never stored in the clear. */
  readonly wrappedMaterial: Buffer;
  /** Which root key wrapped it (provider description). */
  readonly wrappedBy: string;
  readonly createdAt: Date;
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
