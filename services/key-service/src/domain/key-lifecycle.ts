// State rules for the management RPCs (the data plane uses assertUsableFor) and the deletion
// window.
import { KeyState } from "@keyhold/proto";
import { invalidArgument, KeyholdError } from "@keyhold/server-kit";
import type { KeyStore } from "../store/key-store.ts";
import type { KeyRecord } from "../store/records.ts";

export const MIN_PENDING_WINDOW_DAYS = 7;
export const MAX_PENDING_WINDOW_DAYS = 30;

/** ScheduleKeyDeletion's waiting period: 7-30 days, 0 (unset) meaning 30. */
export function pendingWindowDays(days: number, field: string): number {
  if (days === 0) return MAX_PENDING_WINDOW_DAYS;
  if (!Number.isInteger(days) || days < MIN_PENDING_WINDOW_DAYS || days > MAX_PENDING_WINDOW_DAYS) {
    throw invalidArgument(field, `must be between ${MIN_PENDING_WINDOW_DAYS} and ${MAX_PENDING_WINDOW_DAYS} days`);
  }
  return days;
}

/** Refuses changes to a key pending deletion (cancel the deletion first), as AWS KMS. */
export function assertNotPendingDeletion(key: KeyRecord, field: string): void {
  if (key.state === KeyState.PENDING_DELETION) {
    throw new KeyholdError("KEY_PENDING_DELETION", `${field}: the key is pending deletion; cancel the deletion first`, { field });
  }
}

/** Whether the key's primary version holds key material (imported keys may have none). */
export async function hasMaterial(store: KeyStore, key: KeyRecord): Promise<boolean> {
  const version = await store.getVersion(key.primaryVersionId);
  return version !== undefined && version.wrappedMaterial.length > 0;
}
