// Key versions by rotation: on demand (RotateKey) and automatic (the rotation policy, run by the
// jobs). A new version gets fresh material, wrapped by the root key, and becomes primary; every
// older version keeps decrypting because each ciphertext names its version.
import { KeySpec, type KeyVersionSource, Origin } from "@keyhold/proto";
import { invalidArgument, KeyholdError } from "@keyhold/server-kit";
import type { KeyStore } from "../store/key-store.ts";
import type { KeyRecord, KeyVersionRecord } from "../store/records.ts";
import { HSM_TOKEN_OBJECT, type HsmKeys } from "./hsm-keys.ts";
import type { KeyMaterials } from "./key-materials.ts";
import type { RootKeyProvider } from "./root-key.ts";

export const MIN_ROTATION_PERIOD_DAYS = 7;
export const MAX_ROTATION_PERIOD_DAYS = 2560;
export const DEFAULT_ROTATION_PERIOD_DAYS = 365;
export const DAY_MS = 86_400_000;

/** The period an UpdateRotationPolicy request sets: 0 when off; 0 in the request means 365. */
export function requestedRotationPeriod(enabled: boolean, days: number, field: string): number {
  if (!enabled) {
    if (days !== 0) throw invalidArgument(field, "must be unset when automatic rotation is turned off");
    return 0;
  }
  if (days === 0) return DEFAULT_ROTATION_PERIOD_DAYS;
  if (!Number.isInteger(days) || days < MIN_ROTATION_PERIOD_DAYS || days > MAX_ROTATION_PERIOD_DAYS) {
    throw invalidArgument(field, `must be between ${MIN_ROTATION_PERIOD_DAYS} and ${MAX_ROTATION_PERIOD_DAYS} days`);
  }
  return days;
}

/**
 * Refuses keys Keyhold cannot make new versions of: material held elsewhere (imported,
 * external key store) and asymmetric and HMAC keys, whose users hold public keys or MACs tied
 * to one version (as AWS KMS). Software and HSM symmetric keys rotate.
 */
export function assertRotatable(key: KeyRecord, field: string): void {
  if (key.origin === Origin.EXTERNAL) {
    throw new KeyholdError("UNSUPPORTED_OPERATION", `${field}: keys with imported key material cannot be rotated: import new material into a new key`, { field });
  }
  if (key.origin === Origin.EXTERNAL_KEY_STORE) {
    throw new KeyholdError("UNSUPPORTED_OPERATION", `${field}: the key's material is held in an external key store, which rotates it`, { field });
  }
  if (key.origin !== Origin.SOFTWARE && key.origin !== Origin.HSM) {
    throw new KeyholdError("UNSUPPORTED_OPERATION", `${field}: keys of this origin cannot be rotated by Keyhold`, { field });
  }
  if (key.keySpec !== KeySpec.SYMMETRIC_DEFAULT) {
    throw new KeyholdError("UNSUPPORTED_OPERATION", `${field}: only SYMMETRIC_DEFAULT keys can be rotated`, { field });
  }
}

export interface RotationDeps {
  readonly store: KeyStore;
  readonly materials: KeyMaterials;
  readonly hsmKeys: HsmKeys;
  readonly rootKey: RootKeyProvider;
  readonly newId: () => string;
}

/**
 * Makes a new primary version. With `schedule`, only while the key's next rotation is still
 * `schedule.expected` (else undefined: another run rotated it for this period already).
 */
export async function rotate(
  deps: RotationDeps,
  key: KeyRecord,
  source: KeyVersionSource,
  now: Date,
  schedule?: { readonly expected: Date; readonly next: Date },
): Promise<{ key: KeyRecord; version: KeyVersionRecord } | undefined> {
  const versionId = deps.newId();
  // An HSM key's new version is a new token object (named by its version id); the old ones stay.
  const inToken = key.origin === Origin.HSM;
  if (inToken) await deps.hsmKeys.create(versionId, "AES_256", "key_id");
  const wrapped = inToken ? Buffer.alloc(0) : await deps.materials.generateSymmetric(key.accountId, key.keyId, versionId);
  const version: KeyVersionRecord = {
    versionId,
    keyId: key.keyId,
    accountId: key.accountId,
    wrappedMaterial: wrapped,
    wrappedBy: inToken ? HSM_TOKEN_OBJECT : deps.rootKey.description,
    createdAt: now,
    source,
    publicKey: undefined,
  };
  let updated: KeyRecord | undefined;
  try {
    updated = await deps.store.addPrimaryVersion(schedule === undefined ? { version } : { version, schedule });
  } catch (error) {
    if (inToken) await deps.hsmKeys.destroy(versionId).catch(() => false);
    throw error;
  }
  if (updated === undefined) {
    deps.materials.forget(versionId);
    // Another run rotated it first: its token object is the one in use, this one goes.
    if (inToken) await deps.hsmKeys.destroy(versionId).catch(() => false);
    return undefined;
  }
  return { key: updated, version };
}

/** When a key rotated on schedule at `due` rotates next: one period on, never in the past. */
export function nextRotation(due: Date, periodDays: number, now: Date): Date {
  const next = due.getTime() + periodDays * DAY_MS;
  return new Date(next > now.getTime() ? next : now.getTime() + periodDays * DAY_MS);
}

/**
 * Refuses version listing and lookup for EXTERNAL_KEY_STORE keys: their material, and any
 * versioning of it, lives in the external key manager (as AWS KMS refuses ListKeyRotations).
 */
export function assertVersionsListable(key: KeyRecord, field: string): void {
  if (key.origin === Origin.EXTERNAL_KEY_STORE) {
    throw new KeyholdError("UNSUPPORTED_OPERATION", `${field}: the key's material is held in an external key store, which versions it; Keyhold keeps no versions to list`, { field });
  }
}
