// What a key update and a conditional purge mean, shared by every KeyStore implementation so
// they cannot drift: the patch applied to a record, and when a key pending deletion is due.
import { KeyState } from "@keyhold/proto";
import type { KeyPatch, PurgeCondition } from "./key-store.ts";
import type { KeyRecord } from "./records.ts";

const orCurrent = <T>(value: T | null | undefined, current: T | undefined): T | undefined => (value === undefined ? current : (value ?? undefined));

/** The record after `patch` (null clears an optional field, undefined keeps it). */
export function applyPatch(current: KeyRecord, patch: KeyPatch): KeyRecord {
  return {
    ...current,
    description: patch.description ?? current.description,
    state: patch.state ?? current.state,
    deletionDate: orCurrent(patch.deletionDate, current.deletionDate),
    rotationPeriodDays: patch.rotationPeriodDays ?? current.rotationPeriodDays,
    nextRotationAt: orCurrent(patch.nextRotationAt, current.nextRotationAt),
    deletionProtection: patch.deletionProtection ?? current.deletionProtection,
    materialExpiresAt: orCurrent(patch.materialExpiresAt, current.materialExpiresAt),
    importedMaterialDigest: patch.importedMaterialDigest ?? current.importedMaterialDigest,
  };
}

/** Whether a key still is pending deletion with its deletion date at or before the condition's time. */
export function purgeDue(key: KeyRecord, condition: PurgeCondition): boolean {
  return key.state === KeyState.PENDING_DELETION && key.deletionDate !== undefined && key.deletionDate.getTime() <= condition.dueBy.getTime();
}
