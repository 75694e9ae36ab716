// Finds the key a request names, for the caller's account, and checks it may be used. A key
// of another account answers exactly like a key that does not exist.
import { KeyState, type KeySpec, type KeyUsage } from "@keyhold/proto";
import { KeyholdError } from "@keyhold/server-kit";
import type { KeyStore } from "../store/key-store.ts";
import type { KeyRecord } from "../store/records.ts";
import { parseKeyRef, type KeyRef } from "./names.ts";

export function keyNotFound(field: string): KeyholdError {
  return new KeyholdError("KEY_NOT_FOUND", `${field}: key not found`, { field });
}

export function aliasNotFound(field: string): KeyholdError {
  return new KeyholdError("ALIAS_NOT_FOUND", `${field}: alias not found`, { field });
}

/** How often an alias write re-checks after other writers moved the alias in between. */
export const ALIAS_WRITE_ATTEMPTS = 8;

/** The alias kept moving under concurrent writers: the caller may retry. */
export function aliasContended(field: string): KeyholdError {
  return new KeyholdError("SERVICE_UNAVAILABLE", `${field}: the alias is being changed concurrently; retry`, { field });
}

export async function resolveKeyRef(store: KeyStore, region: string, accountId: string, ref: KeyRef, field: string): Promise<KeyRecord> {
  if ((ref.accountId !== undefined && ref.accountId !== accountId) || (ref.region !== undefined && ref.region !== region)) {
    throw ref.kind === "key" ? keyNotFound(field) : aliasNotFound(field);
  }
  let keyId: string;
  if (ref.kind === "alias") {
    const alias = await store.getAlias(accountId, ref.aliasName);
    if (alias === undefined) throw aliasNotFound(field);
    keyId = alias.targetKeyId;
  } else {
    keyId = ref.keyId;
  }
  const key = await store.getKey(accountId, keyId);
  if (key === undefined) throw keyNotFound(field);
  return key;
}

/** Parses and resolves a key_id-style field. */
export async function resolveKey(store: KeyStore, region: string, accountId: string, value: string, field: string): Promise<KeyRecord> {
  return resolveKeyRef(store, region, accountId, parseKeyRef(value, field), field);
}

/** Whether an EXTERNAL key's imported material has expired at `now` (it is then unusable). */
export function materialExpired(key: KeyRecord, now: Date): boolean {
  return key.materialExpiresAt !== undefined && key.materialExpiresAt.getTime() <= now.getTime();
}

/**
 * Refuses a key whose state does not allow a cryptographic operation: Disabled,
 * PendingDeletion, PendingImport (also imported material that expired by `now`), Unavailable.
 */
export function assertEnabled(key: KeyRecord, field: string, now?: Date): void {
  switch (key.state) {
    case KeyState.ENABLED:
      break;
    case KeyState.DISABLED:
      throw new KeyholdError("KEY_DISABLED", `${field}: the key is disabled`, { field });
    case KeyState.PENDING_DELETION:
      throw new KeyholdError("KEY_PENDING_DELETION", `${field}: the key is pending deletion`, { field });
    case KeyState.PENDING_IMPORT:
      throw new KeyholdError("KEY_PENDING_IMPORT", `${field}: the key has no key material yet`, { field });
    case KeyState.UNAVAILABLE:
      throw new KeyholdError("EXTERNAL_KEY_STORE_UNAVAILABLE", `${field}: the key's external key store is unavailable`, { field });
    default:
      throw new KeyholdError("INTERNAL", "key in an unknown state");
  }
  if (now !== undefined && materialExpired(key, now)) {
    throw new KeyholdError("KEY_PENDING_IMPORT", `${field}: the key's imported key material has expired`, { field });
  }
}

/** Refuses a key whose state, usage or spec does not allow a cryptographic operation. */
export function assertUsableFor(key: KeyRecord, usage: KeyUsage, field: string, now?: Date, specs?: readonly KeySpec[]): void {
  assertEnabled(key, field, now);
  if (key.keyUsage !== usage || (specs !== undefined && !specs.includes(key.keySpec))) {
    throw new KeyholdError("KEY_USAGE_MISMATCH", `${field}: the key's usage does not allow this operation`, { field });
  }
}
