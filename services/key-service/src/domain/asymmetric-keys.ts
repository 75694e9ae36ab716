// Resolving the version an asymmetric operation uses: the key's primary version, once the key
// is usable (state checked) and asymmetric.
import { KeyholdError } from "@keyhold/server-kit";
import type { KeyStore } from "../store/key-store.ts";
import type { KeyRecord, KeyVersionRecord } from "../store/records.ts";
import { assertEnabled } from "./key-resolver.ts";
import { isAsymmetric } from "./key-specs.ts";
import { primaryVersion } from "./symmetric-operations.ts";

export async function asymmetricVersion(deps: { readonly store: KeyStore }, key: KeyRecord, now: Date, field = "key_id"): Promise<KeyVersionRecord> {
  assertEnabled(key, field, now);
  if (!isAsymmetric(key.keySpec)) {
    throw new KeyholdError("KEY_USAGE_MISMATCH", `${field}: the key is not an asymmetric key`, { field });
  }
  return primaryVersion(deps.store, key);
}
